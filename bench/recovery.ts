/**
 * `npm run bench -- recovery`: the orchestrator heals a real local cluster, measured from the
 * routers' side. Four stable host worker processes and a victim (0.5 s heartbeats, 1.5 s lease
 * timeout), every agent started as `cluster start` does, the orchestrator's replacement hook an
 * HTTP launcher in this process that starts a new host worker (as `npm run up` configures it),
 * and N routers on their own gRPC connections, as separate services would be.
 *
 * Measured, on this machine's clock:
 *   kill → routers stop picking   SIGKILL of the victim → the last of the N routers installed a
 *                                 table without it (from then on no router picks it).
 *   kill → replacement routed     SIGKILL → the last router installed a table with the host the
 *                                 hook started (the LoadBalancer routes only alive hosts). The
 *                                 replacement is the next victim. Kills are spaced past the
 *                                 replacement rate limit (10 s), so it never waits for a slot.
 *   drain → no new picks          `cluster drain` (the orchestrator's `maintenance` update) sent →
 *                                 the last router's table without the node; also from the
 *                                 procedure's cordon step. `cluster uncordon` between runs.
 *   supervision                   an agent terminated (the roles in turn) → running again, as
 *                                 `describe` reports it, at the default 5 s interval.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { nodeAgentWorkflowId } from '../src/contracts/node-agent';
import type { RoutingTable } from '../src/contracts/load-balancer';
import type { ProcedureReport } from '../src/contracts/orchestrator';
import { ClusterClient } from '../src/client/cluster-client';
import { Router } from '../src/router/router';
import { spawnHostWorker, type HostProcess } from '../scripts/lib/processes';
import type { Verdict } from '../src/contracts/failure-detector';
import { waitUntil } from './control';
import { stickyHolder } from './fault-lab';
import { summary } from './stats';

export interface RecoveryOptions {
  address: string;
  env: NodeJS.ProcessEnv;
  kills: number;
  routers: number;
  drains: number;
  terminations: number;
}

export interface RecoveryResult {
  stopPicking: number[];
  replacementRouted: number[];
  /** kill → the node_failure procedure's first step (detection, verdict, orchestrator, child start). */
  procedureStarted: number[];
  /** kill → the launcher was asked for a replacement (detection + procedure's first steps). */
  hookCalled: number[];
  /** replacement process spawned → the last router routes to it. */
  spawnToRouted: number[];
  procedureCompleted: number[];
  drainRequest: number[];
  drainCordon: number[];
  supervision: number[];
  /** kill → the FailureDetector's dead verdict (its clock). */
  verdict: number[];
  /** kill → dead verdict of the kills whose victim ran its own NodeAgent's last task (its sticky queue died with it). */
  verdictOwnAgent: number[];
  /** Kills slower than the target, with what was in the way. */
  slow: string[];
  /** Roles terminated, in order. */
  terminated: string[];
  outcomes: string[];
}

const LEASE = ['--lease-heartbeat', '500', '--lease-timeout', '1500'];
const REPLACEMENT_EVERY_MS = 10_000; // the orchestrator's default
export const MASS_WINDOW_MS = 5_000;
const ROLES = ['load-balancer', 'health-monitor', 'failure-detector', 'node-discovery'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Watch = (t: RoutingTable) => void;
/** A router and the conditions waiting on the tables it installs. */
interface RouterEntry {
  router: Router;
  watches: Set<Watch>;
}

/** Resolves when `pred` holds for the table every router holds, with when each got there (ms since `from`). */
function watchRouters(
  routers: RouterEntry[],
  pred: (t: RoutingTable) => boolean,
  from: number,
  what: string,
  timeoutMs = 60_000,
): Promise<number[]> {
  return new Promise((ok, fail) => {
    const at: (number | undefined)[] = routers.map(() => undefined);
    const check = () => {
      if (at.every((x) => x !== undefined)) {
        clearTimeout(timer);
        for (const r of routers) r.watches.delete(watches[routers.indexOf(r)] as Watch);
        ok(at as number[]);
      }
    };
    const watches: Watch[] = [];
    const timer = setTimeout(() => {
      for (const r of routers) r.watches.delete(watches[routers.indexOf(r)] as Watch);
      fail(
        new Error(
          `timed out after ${timeoutMs} ms waiting for ${what} (${at.filter((x) => x !== undefined).length}/${routers.length} routers)`,
        ),
      );
    }, timeoutMs);
    routers.forEach((r, i) => {
      const w: Watch = (t) => {
        if (at[i] === undefined && pred(t)) {
          at[i] = Date.now() - from;
          check();
        }
      };
      watches.push(w);
      r.watches.add(w);
      const held = r.router.table;
      if (held && pred(held)) at[i] = Date.now() - from;
    });
    check();
  });
}

export async function benchRecovery(opts: RecoveryOptions): Promise<RecoveryResult> {
  const clusterId = opts.env.CLUSTER_ID as string;
  const hosts: HostProcess[] = [];
  const connections: Connection[] = [];
  const routers: RouterEntry[] = [];
  const spawn = (nodeId: string, zone: string) => {
    const h = spawnHostWorker({ nodeId, args: ['--zone', zone, '--health-port', '0', ...LEASE], env: opts.env });
    hosts.push(h);
    return h;
  };
  // The replacement hook: a new host worker with a fresh node id, as `npm run up`'s launcher.
  let next = 1;
  const asked: { at: number; replaces: string; nodeId: string; spawnedAt: number }[] = [];
  const launcher = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const ctx = JSON.parse(body || '{}') as { nodeId?: string };
      const nodeId = `r-${next++}`;
      const at = Date.now();
      const h = spawn(nodeId, 'zone-r');
      asked.push({ at, replaces: String(ctx.nodeId), nodeId, spawnedAt: h.spawnedAt });
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ nodeId }));
    });
  });
  await new Promise<void>((ok) => launcher.listen(0, '127.0.0.1', ok));
  const hookUrl = `http://127.0.0.1:${(launcher.address() as AddressInfo).port}/hosts`;
  const cluster = await ClusterClient.connect(opts.env);
  /** A wait that fails says where the procedure was. */
  const explain = async <T>(id: string, p: Promise<T>): Promise<T> => {
    try {
      return await p;
    } catch (err) {
      const where = await cluster.procedure(id).then(
        (x) =>
          `${x.status} at ${x.step ?? '?'}: ${x.timeline.map((e) => `${e.step} ${e.status} ${e.detail}`).join(' / ')}`,
        (e: Error) => e.message,
      );
      throw new Error(`${(err as Error).message}; ${id}: ${where}`);
    }
  };
  const r: RecoveryResult = {
    stopPicking: [],
    replacementRouted: [],
    hookCalled: [],
    procedureStarted: [],
    verdict: [],
    verdictOwnAgent: [],
    slow: [],
    spawnToRouted: [],
    procedureCompleted: [],
    drainRequest: [],
    drainCordon: [],
    supervision: [],
    terminated: [],
    outcomes: [],
  };
  try {
    for (const [id, zone] of [
      ['s-1', 'zone-a'],
      ['s-2', 'zone-b'],
      ['s-3', 'zone-c'],
      ['s-4', 'zone-d'],
      ['r-0', 'zone-r'],
    ] as const)
      spawn(id, zone);
    await Promise.all(hosts.map((h) => h.waitFor(/ ready /, 120_000)));
    await cluster.start({
      orchestrator: {
        replacementHook: { http: { url: hookUrl }, timeoutMs: 5_000 },
        // Kills come 11 s apart and every victim is its predecessor's replacement, in one zone: with
        // the default 60 s window the zone guard rightly calls that a crash loop and escalates (the
        // e2e tests that). Here each kill is a failure on its own.
        massFailure: { windowMs: MASS_WINDOW_MS },
      },
    });
    for (let i = 0; i < opts.routers; i++) {
      const connection = await Connection.connect({ address: opts.address });
      connections.push(connection);
      const watches = new Set<Watch>();
      const entry: RouterEntry = {
        watches,
        router: new Router({
          client: new Client({ connection }),
          clusterId,
          name: `bench-recovery-${i}`,
          onTable: (t) => {
            for (const w of [...watches]) w(t);
          },
        }),
      };
      routers.push(entry);
      await entry.router.start();
    }
    const has = (t: RoutingTable, id: string) => t.targets.some((x) => x.nodeId === id);
    await watchRouters(
      routers,
      (t) => ['s-1', 's-2', 's-3', 's-4', 'r-0'].every((id) => has(t, id)),
      Date.now(),
      'five hosts routed',
      120_000,
    );

    // Kills: the victim is the newest host; its replacement is the next victim.
    let victim = hosts.find((h) => h.nodeId === 'r-0') as HostProcess;
    for (let k = 1; k <= opts.kills; k++) {
      const lastAsked = asked.at(-1)?.at ?? 0;
      await sleep(Math.max(1_500, lastAsked + REPLACEMENT_EVERY_MS + 1_000 - Date.now()));
      const known = new Set(hosts.map((h) => h.nodeId));
      const onVictim: string[] = [];
      for (const role of ['failure-detector', 'node-discovery', 'load-balancer', 'orchestrator', 'health-monitor'])
        if ((await stickyHolder(cluster.client, `${clusterId}/${role}`).catch(() => undefined)) === victim.nodeId)
          onVictim.push(role);
      // Its own NodeAgent, whose lease times out: a task for it that waits on the dead host's
      // sticky queue goes to another worker only after stickyQueueScheduleToStartTimeout.
      if (
        (await stickyHolder(cluster.client, nodeAgentWorkflowId(clusterId, victim.nodeId)).catch(() => undefined)) ===
        victim.nodeId
      )
        onVictim.push(`its own node-agent`);
      const killedAt = Date.now();
      victim.child.kill('SIGKILL');
      const id = `${clusterId}/procedure/node_failure/${victim.nodeId}`;
      const [gone, routed] = await explain(
        id,
        Promise.all([
          watchRouters(routers, (t) => !has(t, victim.nodeId), killedAt, `routers dropping ${victim.nodeId}`),
          watchRouters(
            routers,
            (t) => t.targets.some((x) => !known.has(x.nodeId)),
            killedAt,
            `routers routing to ${victim.nodeId}'s replacement`,
          ),
        ]),
      );
      r.stopPicking.push(Math.max(...gone));
      r.replacementRouted.push(Math.max(...routed));
      const a = asked.find((x) => x.replaces === victim.nodeId);
      if (!a)
        throw new Error(
          `kill ${k}: routers route to a new host but the hook was not asked to replace ${victim.nodeId}`,
        );
      r.hookCalled.push(a.at - killedAt);
      r.spawnToRouted.push(killedAt + Math.max(...routed) - a.spawnedAt);
      const done = await waitUntil(
        `${id} completed`,
        () => cluster.procedure(id),
        (p: ProcedureReport) => p.endedAt !== undefined,
      );
      r.procedureCompleted.push((done.endedAt as number) - killedAt);
      r.procedureStarted.push((done.timeline.find((e) => e.step === 'incident')?.at ?? NaN) - killedAt);
      r.outcomes.push(`${done.status}: ${done.outcome ?? ''}`);
      const verdicts = await cluster.client.workflow
        .getHandle(`${clusterId}/failure-detector`)
        .query<Verdict[]>('verdicts')
        .catch(() => [] as Verdict[]);
      const v = verdicts.find((x) => x.nodeId === victim.nodeId && x.verdict === 'dead');
      r.verdict.push(v ? v.at - killedAt : NaN);
      if (onVictim.includes('its own node-agent')) r.verdictOwnAgent.push(v ? v.at - killedAt : NaN);
      if (Math.max(...gone) > 2_500)
        r.slow.push(
          `kill ${k} of ${victim.nodeId}: routers dropped it after ${Math.max(...gone)} ms, dead verdict after ${v ? v.at - killedAt : '?'} ms (${v?.reason ?? 'no verdict'}); agents whose last task ran on it: ${onVictim.join(', ') || 'none'}; ` +
            (await timeouts(cluster.client, clusterId, killedAt, killedAt + Math.max(...gone))),
        );
      victim = hosts.find((h) => h.nodeId === a.nodeId) as HostProcess;
      process.stderr.write('k');
    }

    // Drains of a stable host through the orchestrator, uncordoned between runs.
    for (let d = 0; d < opts.drains; d++) {
      const sentAt = Date.now();
      const started = await cluster.drain('s-1', { deadlineMs: 5_000, reason: 'bench', by: 'bench' });
      const out = await watchRouters(routers, (t) => !has(t, 's-1'), sentAt, 'routers dropping s-1 (drain)');
      const last = sentAt + Math.max(...out);
      r.drainRequest.push(Math.max(...out));
      const p = await waitUntil(
        'cordon step in the timeline',
        () => cluster.procedure(started.procedureId),
        (x: ProcedureReport) => x.timeline.some((e) => e.step === 'cordon' && e.status === 'done'),
      );
      const cordon = p.timeline.find((e) => e.step === 'cordon' && e.status === 'started') as { at: number };
      r.drainCordon.push(last - cordon.at);
      await waitUntil(
        'in maintenance',
        () => cluster.procedure(started.procedureId),
        (x: ProcedureReport) => x.step === 'in_maintenance',
      );
      await cluster.uncordon('s-1', 'bench');
      await watchRouters(routers, (t) => has(t, 's-1'), Date.now(), 'routers routing to s-1 again');
      process.stderr.write('d');
    }

    // Supervision: the roles in turn, each terminated at a different phase of the 5 s interval.
    for (let s = 0; s < opts.terminations; s++) {
      const role = ROLES[s % ROLES.length] as string;
      const handle = cluster.client.workflow.getHandle(`${clusterId}/${role}`);
      const before = (await handle.describe()).runId;
      await sleep(1_000 + ((s * 1_300) % 5_000));
      await handle.terminate('bench: supervision');
      const at = Date.now();
      await waitUntil(
        `${role} running again`,
        () => handle.describe(),
        (x) => x.status.name === 'RUNNING' && x.runId !== before,
        30_000,
      );
      r.supervision.push(Date.now() - at);
      r.terminated.push(role);
      process.stderr.write('s');
    }
    process.stderr.write('\n');
    return r;
  } finally {
    await Promise.all(routers.map((x) => x.router.close()));
    await Promise.all(hosts.map((h) => h.stop('SIGKILL')));
    await Promise.all(connections.map((c) => c.close()));
    await cluster.close();
    launcher.close();
  }
}

/** Workflow and activity tasks of the agents that timed out (or failed) between `from` and `to`. */
async function timeouts(client: Client, clusterId: string, from: number, to: number): Promise<string> {
  const out: string[] = [];
  for (const role of ['failure-detector', 'node-discovery', 'load-balancer', 'orchestrator']) {
    const events =
      (
        await client.workflow
          .getHandle(`${clusterId}/${role}`)
          .fetchHistory()
          .catch(() => undefined)
      )?.events ?? [];
    for (const e of events) {
      const at = Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
      if (at < from || at > to) continue;
      if (
        e.workflowTaskTimedOutEventAttributes ||
        e.activityTaskTimedOutEventAttributes ||
        e.workflowTaskFailedEventAttributes
      )
        out.push(
          `${role} ${e.workflowTaskTimedOutEventAttributes ? 'workflow task timed out' : e.activityTaskTimedOutEventAttributes ? 'activity timed out' : 'workflow task failed'} at +${at - from} ms`,
        );
    }
  }
  return out.length ? out.join(', ') : 'no task timed out';
}

export function recoveryRows(r: RecoveryResult, routers: number): (string | number)[][] {
  const row = (name: string, values: number[], target: string) => {
    const s = summary(values);
    return [name, s.n, s.p50, s.p99, s.min, s.max, target];
  };
  return [
    row(`kill → all ${routers} routers stop picking the host`, r.stopPicking, 'p99 ≤ 2500'),
    row(`kill → replacement alive and routed by all ${routers}`, r.replacementRouted, 'p99 ≤ 5000'),
    row('  of which: kill → dead verdict (FailureDetector)', r.verdict, ''),
    row('    when the victim ran its own NodeAgent (its sticky queue died)', r.verdictOwnAgent, ''),
    row('  of which: kill → node_failure procedure started', r.procedureStarted, ''),
    row('  of which: kill → replacement hook called', r.hookCalled, ''),
    row('  of which: replacement spawned → routed by all', r.spawnToRouted, ''),
    row('kill → node_failure procedure ended', r.procedureCompleted, ''),
    row(`drain requested → all ${routers} routers pick it no more`, r.drainRequest, ''),
    row(`drain: cordon step → all ${routers} routers pick it no more`, r.drainCordon, 'p99 ≤ 100'),
    row('supervision: agent terminated → running again (5 s interval)', r.supervision, 'p50 ≤ 6000'),
  ];
}
