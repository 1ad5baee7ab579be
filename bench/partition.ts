/**
 * `npm run bench -- partition [--runs N] [--nemesis S] [--stable-ms MS]`: partitions cut for real
 * (scripts/lib/netlab.ts: five host workers, each in a network namespace of its own, nftables drops
 * inside the namespaces), the NetworkPartitionHandler at its default stable window (5 s + 0.2 s per
 * host) unless `--stable-ms`.
 *
 * Cycles (`--runs`, default 20): a cut (one host isolated, or random halves), then the heal, each
 * measured from the moment the rules went in:
 *   cut → minority fenced     the handler's memo fences exactly the minority (the LoadBalancer is
 *                             told in the same workflow task: out of every routing table)
 *   cut → minority's /healthz 503 fenced   every minority host says so itself (it read the memo)
 *   heal → all unfenced       the memo fences nobody
 *   heal → all serve          every host's /healthz answers 200
 *
 * Nemesis (`--nemesis S`, default 0 = none; the issue's run is 600): a fault every ~10 s for S
 * seconds — isolate one, random halves, a bridge, a majorities ring, the server cut from a minority,
 * 20 % loss on one link, halves cut one way, and a crash during a cut (halves; once the minority is
 * fenced, the lowest id of the kept side is SIGKILLed; it starts again after the heal) — each held
 * 10 s or 30 s, then healed. /healthz of every host, the handler's fences memo (describe) and the
 * routing table are sampled every 200 ms. Invariants: a split-brain moment is a sample, once a cut
 * has been in force for the stable window + 3 s, in which hosts on two disjoint sides of it both
 * answer 200; a flip is a sample, after a fault's first decision and before its heal, whose serving
 * hosts share none with the serving hosts of the sample before (a crash on the kept side shrinks
 * them; it must not move service to the side that was fenced); the majority keeps routing; after
 * every heal every live host serves again within the window + 2 s; the time from a fault to its
 * first decision (the memo's fences), and to its minority's fence; at the end every agent runs,
 * and every history replays.
 */
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { Client, Connection, type WorkflowClient, type WorkflowHandle } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { AGENTS, agentStartOptions } from '../src/contracts/agents';
import { FENCES_MEMO, FencesMemo, type PartitionRecord } from '../src/contracts/partition-handler';
import type { RoutingTable } from '../src/contracts/load-balancer';
import { PROCEDURE_MEMO, type ProcedureReport } from '../src/contracts/orchestrator';
import { MEMBERS_MEMO, MembersMemo } from '../src/contracts/node-discovery';
import type { RoundRecord } from '../src/contracts/consensus';
import { startDevServer } from '../scripts/lib/dev-server';
import { createLab, labSupport, relay, type Lab } from '../scripts/lib/netlab';
import { spawnHostWorker, type HostProcess } from '../scripts/lib/processes';
import { describeEvent, eventMs, onStickyQueue, taskFailedCause, timeoutTypeName } from '../scripts/lib/history-events';
import { waitUntil } from './control';
import { summary } from './stats';

export interface PartitionOptions {
  bundle: string;
  runs: number;
  nemesisSeconds: number;
  stableMs?: number;
  /** Write every run of the partition handler's history here (JSON array) before the server goes. */
  dumpHistory?: string;
  /** The nemesis's fault kinds (default: all six). */
  faults?: string[];
  /** The Temporal server's log (warnings and errors) goes here. */
  serverLog?: string;
}

export const FAULT_KINDS = ['isolate-one', 'halves', 'bridge', 'majorities-ring', 'server-cut', 'loss-20', 'one-way', 'crash-in-cut'];

export interface PartitionResult {
  windowMs: number;
  fenced: number[];
  hostsFenced: number[];
  unfenced: number[];
  serving: number[];
  /** From the handler's record of each cut: when the graph first changed, last changed, and how often. */
  firstChange: number[];
  lastChange: number[];
  shapes: number[];
  decided: number[];
  /** Heal → the handler held the graph whole and stable (told the procedure); told → the procedure's round lifted the fences. */
  healSeen: number[];
  procedureLift: number[];
  /** How late the handler's timers fired (ms after they were due), over every run of its history. */
  timerLateness: number[];
  /** Cut phase: what the handler held and the hosts said when a heal took longer than the window + 2 s. */
  slowHealDiagnostics: string[];
  nemesis?: {
    seconds: number;
    faults: Record<string, number>;
    samples: number;
    splitBrain: string[];
    /** Samples whose serving hosts share none with the sample before, after a decision, during a fault. */
    flips: string[];
    majorityNotRouting: string[];
    /** Per fault: how long it was held, when it was first decided and its minority fenced (ms after the fault). */
    perFault: { kind: string; holdMs: number; decidedMs?: number; minorityFencedMs?: number; healMs?: number; crashed?: string }[];
    slowHeals: string[];
    heal: number[];
    agentsRunning: string;
    replayed: number;
    replayFailures: string[];
    /**
     * Per agent (or kind of child workflow), over every run: how long its runs grew, what a full
     * replay of the longest cost, and the workflow tasks that timed out or failed (a full replay
     * that overran the 4 s task timeout spirals: run S, the partition handler for 31 s).
     */
    histories: AgentHistories[];
    /** What the handler and NodeDiscovery held at the first split-brain sample or slow heal of a fault. */
    diagnostics: string[];
  };
}

export interface AgentHistories {
  agent: string;
  runs: number;
  maxEvents: number;
  /** The longest full replay of one of its runs (ms), on this machine after the run, and its events. */
  slowestReplayMs: number;
  slowestReplayEvents: number;
  taskTimeouts: number;
  /** Workflow task failures by cause. */
  taskFailures: Record<string, number>;
}

const IDS = ['b1', 'b2', 'b3', 'b4', 'b5'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function healthz(lab: Lab, id: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: lab.host(id).ip, port: 7070, path: '/healthz', timeout: 300, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

/** A random order of the hosts (Math.random: a bench, not a workflow). */
const shuffled = () => [...IDS].sort(() => Math.random() - 0.5);

interface Fault {
  kind: string;
  apply: (lab: Lab, serverPort: number) => void;
  /** The groups that cannot reach each other (for the split-brain check); [] when none. */
  sides: string[][];
  /** The side that must be fenced (a strict minority), when there is one. */
  minority?: string[];
  /** Once the minority is fenced, this host (the lowest id of the kept side) is SIGKILLed. */
  crash?: string;
}

/** A fault of `kind` on hosts drawn at random. */
function randomFault(kind: string): Fault {
  const h = shuffled();
  switch (kind) {
    case 'isolate-one':
      return { kind, sides: [[h[0]!], h.slice(1)], minority: [h[0]!], apply: (lab) => lab.split([h[0]!], h.slice(1)) };
    case 'halves':
      return { kind, sides: [h.slice(0, 2), h.slice(2)], minority: h.slice(0, 2), apply: (lab) => lab.split(h.slice(0, 2), h.slice(2)) };
    case 'one-way':
      // The minority's packets to the majority are dropped (not the other way): a TCP check fails
      // both ways all the same (its answer cannot come back).
      return {
        kind,
        sides: [h.slice(0, 2), h.slice(2)],
        minority: h.slice(0, 2),
        apply: (lab) => {
          for (const a of h.slice(0, 2)) for (const b of h.slice(2)) lab.cutOneWay(a, b);
        },
      };
    case 'crash-in-cut':
      return {
        kind,
        sides: [h.slice(0, 2), h.slice(2)],
        minority: h.slice(0, 2),
        crash: [...h.slice(2)].sort()[0]!,
        apply: (lab) => lab.split(h.slice(0, 2), h.slice(2)),
      };
    case 'bridge':
      // h[2] sees both halves, which cannot see each other.
      return { kind, sides: [h.slice(0, 2), h.slice(3)], apply: (lab) => lab.split(h.slice(0, 2), h.slice(3)) };
    case 'majorities-ring':
      // Each host reaches only its two neighbours in a ring.
      return {
        kind,
        sides: [],
        apply: (lab) => {
          for (let i = 0; i < 5; i++)
            for (const d of [2, 3]) lab.split([h[i]!], [h[(i + d) % 5]!]);
        },
      };
    case 'server-cut':
      return { kind, sides: [], apply: (lab, port) => lab.isolateServer(h.slice(0, 2), port) };
    default:
      return { kind: 'loss-20', sides: [], apply: (lab) => lab.loss(h[0]!, h[1]!, 20) };
  }
}

export async function benchPartition(opts: PartitionOptions): Promise<PartitionResult> {
  const why = labSupport();
  if (why) throw new Error(`partition bench: ${why}`);
  const clusterId = `bench-part-${Date.now()}`;
  const lab = createLab(`bp${process.pid % 1000}`, IDS);
  const server = await startDevServer({ port: 0, ...(opts.serverLog ? { logFile: opts.serverLog } : {}) });
  const gateway = await relay(lab.bridgeIp, { host: '127.0.0.1', port: server.port });
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const hosts: HostProcess[] = [];
  try {
    const env: Record<string, string> = {
      TEMPORAL_ADDRESS: gateway.address,
      CLUSTER_ID: clusterId,
      CLUSTER_MULTICAST: 'off',
      CLUSTER_WORKFLOW_BUNDLE: opts.bundle,
    };
    for (const id of IDS)
      hosts.push(
        spawnHostWorker({
          nodeId: id,
          netns: lab.host(id).ns,
          args: ['--address', lab.host(id).ip, '--health-port', '7070'],
          env,
        }),
      );
    await Promise.all(hosts.map((h) => h.waitFor(/ ready /, 120_000)));
    const handlerConfig =
      opts.stableMs !== undefined ? { stableAfterMs: opts.stableMs, stableAfterPerHostMs: 0 } : {};
    for (const spec of Object.values(AGENTS))
      await client.workflow.start(spec.workflowType, {
        ...agentStartOptions(clusterId, spec, {
          clusterId,
          config: spec.role === 'partition-handler' ? handlerConfig : {},
        }),
        workflowIdConflictPolicy: 'USE_EXISTING',
      });
    const windowMs = opts.stableMs ?? 5_000 + 200 * IDS.length;
    const handler = client.workflow.getHandle(`${clusterId}/partition-handler`);
    const lb = client.workflow.getHandle(`${clusterId}/load-balancer`);
    const fences = async () => FencesMemo.parse((await handler.describe()).memo?.[FENCES_MEMO]);
    await waitUntil(
      '5 alive members',
      async () => MembersMemo.parse((await client.workflow.getHandle(`${clusterId}/node-discovery`).describe()).memo?.[MEMBERS_MEMO]),
      (m) => IDS.every((id) => m.members.some((x) => x.nodeId === id && x.status === 'alive')),
      60_000,
    );
    await waitUntil(
      'a whole graph reported',
      () => handler.query<Record<string, { reachable: string[] }>>('reachability'),
      (v) => IDS.every((id) => v[id]?.reachable.length === 4),
      60_000,
    );

    // Warm-up: the agents just started on the hosts (a busy host misses probes for a moment); the
    // cuts begin once the handler has held the graph whole for 5 s.
    await waitUntil(
      'the graph whole for 5 s',
      () => handler.query<PartitionRecord[]>('partitions').then(async (parts) => ({ parts, views: await handler.query<Record<string, { reachable: string[]; receivedAt: number }>>('reachability') })),
      ({ parts, views }) =>
        !parts.some((p) => p.unfencedAt === undefined) &&
        IDS.every((id) => views[id]?.reachable.length === 4 && Date.now() - views[id]!.receivedAt >= 5_000),
      120_000,
    );
    const r: PartitionResult = { windowMs, fenced: [], hostsFenced: [], unfenced: [], serving: [], firstChange: [], lastChange: [], shapes: [], decided: [], healSeen: [], procedureLift: [], timerLateness: [], slowHealDiagnostics: [] };
    const limit = windowMs + 20_000;
    for (let run = 0; run < opts.runs; run++) {
      const h = shuffled();
      const minority = run % 2 === 0 ? [h[0]!] : h.slice(0, 2);
      const majority = h.filter((x) => !minority.includes(x));
      const t0 = Date.now();
      lab.split(minority, majority);
      await waitUntil('minority fenced', fences, (f) => Object.keys(f.fenced).sort().join() === [...minority].sort().join(), limit).catch(
        async (err: Error) => {
          const parts = await handler.query<unknown[]>('partitions').catch(() => []);
          const views = await handler.query<unknown>('reachability').catch(() => undefined);
          throw new Error(
            `run ${run}: ${err.message} (minority ${minority.join(',')})\nfences: ${JSON.stringify(await fences().catch(() => undefined))}\nlast partitions: ${JSON.stringify(parts.slice(-2))}\nviews: ${JSON.stringify(views)}\nrules:\n${lab.describe()}`,
          );
        },
      );
      r.fenced.push(Date.now() - t0);
      const record = (await handler.query<PartitionRecord[]>('partitions')).reverse().find((p) => (p.decidedAt ?? 0) >= t0);
      const before = (record?.shapes ?? []).filter((x) => x.at <= (record?.decidedAt ?? 0));
      if (before.length) {
        r.firstChange.push(before[0]!.at - t0);
        r.lastChange.push(before.at(-1)!.at - t0);
        r.shapes.push(before.length);
        r.decided.push(record!.decidedAt! - t0);
      }
      await waitUntil('minority says fenced', async () => Promise.all(minority.map((id) => healthz(lab, id))), (codes) => codes.every((c) => c === 503), limit);
      r.hostsFenced.push(Date.now() - t0);
      const t1 = Date.now();
      lab.heal();
      await waitUntil('all unfenced', fences, (f) => Object.keys(f.fenced).length === 0, limit).catch(async (err: Error) => {
        const parts = await handler.query<PartitionRecord[]>('partitions').catch(() => []);
        const tasks = await taskTrouble(handler.client, handler.workflowId, t1 - 15_000).catch((e: Error) => e.message);
        throw new Error(
          `run ${run}: ${err.message} after the heal (minority ${minority.join(',')}, healed ${new Date(t1).toISOString()})\n` +
            `fences: ${JSON.stringify(await fences().catch(() => undefined))}\n` +
            `last partitions: ${JSON.stringify(parts.slice(-2).map(({ shapes: _s, ...p }) => p))}\n` +
            `procedures: ${(await procedureLines(handler, parts.slice(-2))).join('\n  ')}\n` +
            `handler tasks: ${tasks}`,
        );
      });
      r.unfenced.push(Date.now() - t1);
      await waitUntil('all serve', async () => Promise.all(IDS.map((id) => healthz(lab, id))), (codes) => codes.every((c) => c === 200), limit);
      r.serving.push(Date.now() - t1);
      const healed = (await handler.query<PartitionRecord[]>('partitions')).find((p) => p.id === record?.id);
      if (healed?.healedAt !== undefined && healed.unfencedAt !== undefined) {
        r.healSeen.push(healed.healedAt - t1);
        r.procedureLift.push(healed.unfencedAt - healed.healedAt);
      }
      if (r.unfenced.at(-1)! > windowMs + 2_000) {
        // Why: the shapes the graph took after the heal, when each host's last report reached the
        // handler, and the hosts' own reachability lines (timestamped), all relative to the heal.
        const views = await handler.query<Record<string, { reachable: string[]; receivedAt: number; at: number }>>('reachability').catch(() => ({}));
        const rel = (at: number | undefined) => (at === undefined ? '-' : `${at - t1 >= 0 ? '+' : ''}${at - t1}`);
        r.slowHealDiagnostics.push(
          `run ${run} (minority ${minority.join(',')}, healed ${new Date(t1).toISOString()}): unfenced +${r.unfenced.at(-1)} ms; ` +
            `record healedAt ${rel(healed?.healedAt)} unfencedAt ${rel(healed?.unfencedAt)} by ${healed?.unfencedBy ?? '-'}\n` +
            `    shapes: ${(healed?.shapes ?? []).map((x) => `${rel(x.at)} ${JSON.stringify(x.sides)}${x.indirect.length ? ` indirect ${x.indirect.join(',')}` : ''}`).join(' ; ')}\n` +
            `    last reports at the handler: ${Object.entries(views).map(([id, v]) => `${id} sent ${rel(v.at)} received ${rel(v.receivedAt)} reaches ${v.reachable.join(',')}`).join(' ; ')}\n` +
            `    hosts: ${hosts.map((h) => `${h.nodeId}: ${h.lines.filter((l) => /reachability/.test(l)).slice(-3).join(' | ')}`).join('\n      ')}`,
        );
      }
      process.stderr.write(minority.length === 1 ? 'i' : 'h');
      await sleep(1_000);
    }
    process.stderr.write('\n');

    const respawn = async (id: string) => {
      const i = IDS.indexOf(id);
      hosts[i] = spawnHostWorker({ nodeId: id, netns: lab.host(id).ns, args: ['--address', lab.host(id).ip, '--health-port', '7070'], env });
      await hosts[i]!.waitFor(/ ready /, 120_000);
    };
    const kill = async (id: string) => {
      await hosts[IDS.indexOf(id)]!.stop('SIGKILL');
    };
    // The hosts' last reachability lines (what each reported, and when), for a diagnosis.
    const logs = () =>
      hosts.map((h) => `${h.nodeId}: ${h.lines.filter((l) => /reachability/.test(l)).slice(-4).join(' | ')}`).join('\n    ');
    if (opts.nemesisSeconds > 0)
      r.nemesis = await nemesis(opts, lab, gateway.port, windowMs, fences, lb, handler, client.workflow.getHandle(`${clusterId}/node-discovery`), { kill, respawn, logs });
    if (r.nemesis) {
      const running = await Promise.all(
        Object.values(AGENTS).map(async (s) => [s.role, (await client.workflow.getHandle(`${clusterId}/${s.role}`).describe()).status.name] as const),
      );
      r.nemesis.agentsRunning = running.filter(([, st]) => st === 'RUNNING').length + ` of ${running.length}` +
        (running.some(([, st]) => st !== 'RUNNING') ? ` (not: ${running.filter(([, st]) => st !== 'RUNNING').map(([x, st]) => `${x} ${st}`).join(', ')})` : '');
      const replay = await replayEverything(client, opts.bundle);
      r.nemesis.replayed = replay.n;
      r.nemesis.replayFailures = replay.failures;
      r.nemesis.histories = replay.agents;
    }
    const runs = await handlerRuns(client, clusterId);
    for (const run of runs) r.timerLateness.push(...timerLateness(run.history));
    if (opts.dumpHistory) writeFileSync(opts.dumpHistory, JSON.stringify(runs));
    return r;
  } finally {
    lab.heal();
    await Promise.all(hosts.map((h) => h.stop('SIGKILL')));
    await connection.close();
    await gateway.close();
    await server.stop();
    lab.destroy();
  }
}

async function nemesis(
  opts: PartitionOptions,
  lab: Lab,
  serverPort: number,
  windowMs: number,
  fences: () => Promise<FencesMemo>,
  lb: ReturnType<Client['workflow']['getHandle']>,
  handler: ReturnType<Client['workflow']['getHandle']>,
  nd: ReturnType<Client['workflow']['getHandle']>,
  procs: { kill: (id: string) => Promise<void>; respawn: (id: string) => Promise<void>; logs: () => string },
): Promise<NonNullable<PartitionResult['nemesis']>> {
  const out: NonNullable<PartitionResult['nemesis']> = {
    seconds: opts.nemesisSeconds,
    faults: {},
    samples: 0,
    splitBrain: [],
    flips: [],
    majorityNotRouting: [],
    perFault: [],
    slowHeals: [],
    heal: [],
    agentsRunning: '',
    replayed: 0,
    replayFailures: [],
    histories: [],
    diagnostics: [],
  };
  const kinds = opts.faults ?? FAULT_KINDS;
  let diagnosedAt = 0;
  // Diagnoses run beside the measurements: awaited, their reads (histories of seven agents) held
  // the heal loop ~0.9 s and the slow heal it measured grew by that much (run R: 9,009 ms for a heal
  // whose hosts served from ~8.4 s).
  const diagnosing: Promise<void>[] = [];
  const diagnose = (what: string, at: number): void => {
    if (diagnosedAt === at) return;
    diagnosedAt = at;
    diagnosing.push(diagnoseNow(what, at).catch((e: Error) => void out.diagnostics.push(`diagnosis of ${what} failed: ${e.message}`)));
  };
  // What the handler and NodeDiscovery held, once per fault (the first bad sample or slow heal).
  const diagnoseNow = async (what: string, at: number) => {
    const [parts, views, members, f] = await Promise.all([
      handler.query<PartitionRecord[]>('partitions').catch((e: Error) => e.message),
      handler.query<unknown>('reachability').catch((e: Error) => e.message),
      nd.describe().then((d) => d.memo?.[MEMBERS_MEMO]).catch((e: Error) => e.message),
      fences().catch((e: Error) => e.message),
    ]);
    // The network_partition procedure of each of those partitions, as the server holds it (describe:
    // status and its report memo): a heal the procedure never lifted names the step it stopped in.
    const procedures = Array.isArray(parts) ? await procedureLines(handler, parts.slice(-2)) : [];
    const since = at - 15_000;
    const tasks = await Promise.all(
      ['orchestrator', 'partition-handler', 'consensus-coordinator', 'node-discovery', 'failure-detector', 'health-monitor', 'load-balancer'].map((role) =>
        taskTrouble(handler.client, handler.workflowId.replace(/partition-handler$/, role), since).catch(
          (e: Error) => `${role}: ${e.message}`,
        ),
      ),
    );
    out.diagnostics.push(
      `${new Date().toISOString()} ${what} (fault applied or healed ${new Date(at).toISOString()})\n` +
        `  workflow tasks from 15 s before: ${tasks.join(' | ')}\n` +
        `  fences: ${JSON.stringify(f)}\n  last partitions: ${JSON.stringify(Array.isArray(parts) ? parts.slice(-2) : parts)}\n` +
        `  procedures: ${procedures.join('\n    ')}\n` +
        `  views: ${JSON.stringify(views)}\n  members: ${JSON.stringify(members)}\n  hosts: ${procs.logs()}`,
    );
  };
  const end = Date.now() + opts.nemesisSeconds * 1_000;
  type Current = Fault & { at: number; generation: number; decidedAt?: number; minorityFencedAt?: number; serving?: string[] };
  let fault: Current | undefined;
  let dead: string | undefined;
  let stop = false;
  let lastMemo: FencesMemo | undefined;
  const sampler = (async () => {
    while (!stop) {
      const t = Date.now();
      const [codes, memo] = await Promise.all([Promise.all(IDS.map((id) => healthz(lab, id))), fences().catch(() => undefined)]);
      if (memo) lastMemo = memo;
      const serving = IDS.filter((_, i) => codes[i] === 200);
      out.samples += 1;
      const f = fault;
      if (f && memo) {
        if (f.decidedAt === undefined && memo.generation > f.generation && Object.keys(memo.fenced).length) f.decidedAt = t;
        if (f.minority && f.minorityFencedAt === undefined && f.minority.every((id) => memo.fenced[id])) f.minorityFencedAt = t;
      }
      if (f && f.decidedAt !== undefined && serving.length) {
        if (f.serving?.length && !serving.some((id) => f.serving!.includes(id)))
          out.flips.push(`${new Date(t).toISOString()} ${f.kind} ${JSON.stringify(f.sides)}: serving ${f.serving.join(',')} → ${serving.join(',')}`);
        f.serving = serving;
      }
      if (f && f.sides.length && t - f.at > windowMs + 3_000) {
        const touched = f.sides.filter((side) => side.some((id) => serving.includes(id)));
        if (touched.length > 1) {
          out.splitBrain.push(`${new Date(t).toISOString()} ${f.kind} ${JSON.stringify(f.sides)}: serving ${serving.join(',')}`);
          diagnose(`split brain in ${f.kind} ${JSON.stringify(f.sides)}`, f.at);
        }
        // The majority side keeps routing (not after a crash on it: it may be fenced as a whole then).
        const major = f.sides.find((s) => s.length * 2 > IDS.length);
        if (major && !f.crash) {
          const table = await lb.query<RoutingTable>('routingTable').catch(() => undefined);
          if (table && !table.targets.some((x) => major.includes(x.nodeId)))
            out.majorityNotRouting.push(`${new Date(t).toISOString()} ${f.kind}: table v${table.version} routes none of ${major.join(',')}`);
        }
      }
      await sleep(Math.max(0, 200 - (Date.now() - t)));
    }
  })();
  // Kinds are dealt from a shuffled deck, refilled when empty: every kind comes before any comes
  // again, so a run of ~20 faults holds each of the 8 at least twice (run N drew no crash-in-cut,
  // and its row "after a crash during a cut" measured nothing).
  const deck: string[] = [];
  const deal = () => {
    if (!deck.length) deck.push(...[...kinds].sort(() => Math.random() - 0.5));
    return deck.shift()!;
  };
  try {
    while (Date.now() < end) {
      const f = randomFault(deal());
      const holdMs = Math.random() < 0.5 ? 10_000 : 30_000;
      const generation = lastMemo?.generation ?? (await fences()).generation;
      f.apply(lab, serverPort);
      fault = { ...f, at: Date.now(), generation };
      out.faults[f.kind] = (out.faults[f.kind] ?? 0) + 1;
      process.stderr.write(f.kind[0]!);
      if (f.crash) {
        // Once the minority is fenced (or the window + 5 s passed), the kept side loses its lowest id.
        const by = fault.at + windowMs + 5_000;
        while (Date.now() < by && fault.minorityFencedAt === undefined) await sleep(100);
        await procs.kill(f.crash);
        dead = f.crash;
      }
      await sleep(Math.max(0, fault.at + holdMs - Date.now()));
      lab.heal();
      const healedAt = Date.now();
      const record: (typeof out.perFault)[number] = {
        kind: f.kind,
        holdMs,
        ...(fault.decidedAt !== undefined ? { decidedMs: fault.decidedAt - fault.at } : {}),
        ...(fault.minorityFencedAt !== undefined ? { minorityFencedMs: fault.minorityFencedAt - fault.at } : {}),
        ...(f.crash ? { crashed: f.crash } : {}),
      };
      if (record.decidedMs !== undefined && record.decidedMs > windowMs + 3_000)
        diagnose(`slow decision of ${f.kind} ${JSON.stringify(f.sides)}: ${record.decidedMs} ms`, fault.at);
      fault = undefined;
      // Every live host serves again (and nothing is fenced) within the window + 2 s.
      const live = IDS.filter((id) => id !== dead);
      const by = healedAt + windowMs + 2_000;
      for (;;) {
        const codes = await Promise.all(live.map((id) => healthz(lab, id)));
        const f2 = await fences().catch(() => undefined);
        if (codes.every((c) => c === 200) && f2 && live.every((id) => !f2.fenced[id])) {
          record.healMs = Date.now() - healedAt;
          out.heal.push(record.healMs);
          break;
        }
        if (Date.now() > by) diagnose(`slow heal of ${f.kind} ${JSON.stringify(f.sides)} (codes ${codes.join(',')})`, healedAt);
        if (Date.now() > by + 30_000) {
          out.slowHeals.push(`${f.kind}: not whole ${Date.now() - healedAt} ms after the heal (codes ${codes.join(',')})`);
          break;
        }
        await sleep(100);
      }
      out.perFault.push(record);
      if (record.healMs !== undefined && record.healMs > windowMs + 2_000) out.slowHeals.push(`${f.kind}: whole ${record.healMs} ms after the heal`);
      if (dead) {
        // The crashed host starts again (a new incarnation) and the cluster is whole before the next fault.
        await procs.respawn(dead);
        const back = dead;
        dead = undefined;
        await waitUntil(
          `${back} back and nothing fenced`,
          async () => ({ code: await healthz(lab, back), memo: await fences() }),
          (x) => x.code === 200 && Object.keys(x.memo.fenced).length === 0,
          90_000,
        );
      }
      await sleep(Math.max(0, 10_000 - (Date.now() - healedAt)));
    }
  } finally {
    stop = true;
    await sampler;
    await Promise.all(diagnosing);
    lab.heal();
    process.stderr.write('\n');
  }
  return out;
}

/** Every run of the handler's history (it continues as new), oldest first. */
async function handlerRuns(client: Client, clusterId: string) {
  const runs: { runId: string; startTime: Date; history: Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>> }[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowId = '${clusterId}/partition-handler'` }))
    runs.push({ runId: wf.runId, startTime: wf.startTime, history: await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory() });
  return runs.sort((a, b) => +a.startTime - +b.startTime);
}

type History = Awaited<ReturnType<typeof handlerRuns>>[number]['history'];

/**
 * What held an agent's workflow tasks up since `since` (every run of `workflowId` that ran then): task
 * failures by cause, and the longest wait from a task scheduled to started. A procedure started late
 * or a report taken late names its reason here (a continue-as-new that raced signals, a task that
 * waited on a killed host's sticky queue).
 */
async function taskTrouble(client: WorkflowClient, workflowId: string, since: number): Promise<string> {
  const failures: Record<string, number> = {};
  const details: string[] = [];
  let longest = { wait: 0, at: 0 };
  let runs = 0;
  for await (const wf of client.list({ query: `WorkflowId = '${workflowId}'` })) {
    if (wf.closeTime && +wf.closeTime < since) continue;
    runs += 1;
    const history = await client.getHandle(wf.workflowId, wf.runId).fetchHistory();
    const scheduled = new Map<string, { at: number; sticky: boolean }>();
    const startedBy = new Map<string, { at: number; identity: string }>();
    for (const e of history.events ?? []) {
      const at = eventMs(e);
      const sched = e.workflowTaskScheduledEventAttributes;
      if (sched) scheduled.set(String(e.eventId), { at, sticky: onStickyQueue(sched) });
      const started = e.workflowTaskStartedEventAttributes;
      if (started) startedBy.set(String(e.eventId), { at, identity: started.identity ?? '?' });
      const from = started ? scheduled.get(String(started.scheduledEventId))?.at : undefined;
      if (from !== undefined && at >= since && at - from > longest.wait) longest = { wait: at - from, at: from };
      const failed = e.workflowTaskFailedEventAttributes;
      const timedOut = e.workflowTaskTimedOutEventAttributes;
      const cause = failed ? taskFailedCause(failed).replace(/^WORKFLOW_TASK_FAILED_CAUSE_/, '') : timedOut ? 'TIMED_OUT' : '';
      if (!cause || at < since) continue;
      failures[cause] = (failures[cause] ?? 0) + 1;
      // Each one: when, which queue it waited on, who took it and how long it held it. A run of
      // TIMED_OUT names the worker that swallows the tasks (nemesis run E: 20 s with none done).
      const task = (failed ?? timedOut)!;
      const s = scheduled.get(String(task.scheduledEventId));
      const st = startedBy.get(String(task.startedEventId));
      const kind = timedOut ? ` ${timeoutTypeName(timedOut.timeoutType)}` : '';
      details.push(
        `${new Date(at).toISOString().slice(11, 23)} ${cause}${kind} (${s?.sticky ? 'sticky' : 'shared'} queue; ` +
          (st ? `taken by ${st.identity} ${s ? st.at - s.at : '?'} ms after scheduled, held ${at - st.at} ms` : 'never taken') + ')',
      );
    }
  }
  const causes = Object.entries(failures).map(([c, n]) => `${c} ×${n}`).join(', ') || 'none';
  const wait = longest.wait ? `; longest wait for a task ${longest.wait} ms (scheduled ${new Date(longest.at).toISOString().slice(11, 23)})` : '';
  const each = details.length ? `; each: ${details.slice(-8).join(', ')}` : '';
  return `${workflowId.replace(/^.*?\//, '')}: ${runs} run(s) since; task failures ${causes}${wait}${each}`;
}

/** For each timer of a history that fired: how long after it was due (ms). */
export function timerLateness(history: History): number[] {
  const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
    Number(t?.seconds ?? 0) * 1_000 + Math.round((t?.nanos ?? 0) / 1e6);
  const due = new Map<string, number>();
  const out: number[] = [];
  for (const e of history.events ?? []) {
    const started = e.timerStartedEventAttributes;
    if (started) due.set(String(e.eventId), ms(e.eventTime) + ms(started.startToFireTimeout));
    const fired = e.timerFiredEventAttributes;
    const at = fired ? due.get(String(fired.startedEventId)) : undefined;
    if (at !== undefined) out.push(ms(e.eventTime) - at);
  }
  return out;
}

/**
 * Replays every workflow history on the server (each run), as the replay tests do, one after
 * another once all are fetched: the time between results is each run's full replay.
 */
async function replayEverything(client: Client, bundle: string): Promise<{ n: number; failures: string[]; agents: AgentHistories[] }> {
  const failures: string[] = [];
  const fetched: { workflowId: string; history: Awaited<ReturnType<WorkflowHandle['fetchHistory']>> }[] = [];
  for await (const wf of client.workflow.list())
    fetched.push({ workflowId: wf.workflowId, history: await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory() });
  // The agent a run belongs to: its id without the cluster, numbers and partition ids folded.
  const agentOf = (id: string) => id.replace(/^[^/]*\//, '').replace(/\/(p-)?[0-9]+$/, '/*').replace(/^node\/.*/, 'node/*');
  const agents = new Map<string, AgentHistories>();
  let last = Date.now();
  let i = 0;
  for await (const r of Worker.runReplayHistories({ workflowBundle: { codePath: bundle } }, fetched)) {
    const now = Date.now();
    const f = fetched[i++]!;
    if (r.error) failures.push(`${r.workflowId}: ${String(r.error).slice(0, 300)}`);
    const name = agentOf(f.workflowId);
    const a = agents.get(name) ?? { agent: name, runs: 0, maxEvents: 0, slowestReplayMs: 0, slowestReplayEvents: 0, taskTimeouts: 0, taskFailures: {} };
    agents.set(name, a);
    const events = f.history.events ?? [];
    a.runs += 1;
    a.maxEvents = Math.max(a.maxEvents, events.length);
    if (now - last > a.slowestReplayMs) Object.assign(a, { slowestReplayMs: now - last, slowestReplayEvents: events.length });
    for (const e of events) {
      if (e.workflowTaskTimedOutEventAttributes) a.taskTimeouts += 1;
      const failed = e.workflowTaskFailedEventAttributes;
      if (failed) {
        const cause = taskFailedCause(failed).replace(/^WORKFLOW_TASK_FAILED_CAUSE_/, '');
        a.taskFailures[cause] = (a.taskFailures[cause] ?? 0) + 1;
      }
    }
    last = now;
  }
  return { n: fetched.length, failures, agents: [...agents.values()].sort((x, y) => y.slowestReplayMs - x.slowestReplayMs) };
}

export function partitionRows(r: PartitionResult): (string | number)[][] {
  const target = `≤ ${r.windowMs + 2_000}`;
  return [
    ['cut → the graph first changed (handler)', r.firstChange, ''],
    ['cut → its last change before the decision', r.lastChange, ''],
    ['shapes the graph took before the decision', r.shapes, ''],
    ['cut → decided (the handler workflow task that fenced)', r.decided, ''],
    ['cut → minority fenced (handler: memo, routing tables)', r.fenced, target],
    ["cut → the minority's /healthz says fenced", r.hostsFenced, ''],
    ['heal → the handler held the graph whole and stable (told the procedure)', r.healSeen, ''],
    ['  told → the procedure lifted the fences (its consensus round)', r.procedureLift, ''],
    ['heal → all unfenced (handler)', r.unfenced, target],
    ['heal → every /healthz 200', r.serving, ''],
  ].map(([name, values, t]) => {
    const s = summary(values as number[]);
    return [name as string, s.n, s.p50, s.p99, s.min, s.max, t as string];
  });
}

/**
 * The network_partition procedure of each partition, as the server holds it (describe: status and
 * its report memo): a heal the procedure never lifted names the step it stopped in.
 */
async function procedureLines(handler: WorkflowHandle, parts: PartitionRecord[]): Promise<string[]> {
  return Promise.all(
    parts.map(async (p) => {
      const id = handler.workflowId.replace(/partition-handler$/, `procedure/network_partition/${p.id}`);
      const h = handler.client.getHandle(id);
      const d = await h.describe().catch((e: Error) => e);
      if (d instanceof Error) return `${p.id}: ${d.message}`;
      const r = d.memo?.[PROCEDURE_MEMO] as ProcedureReport | undefined;
      const timeline = (r?.timeline ?? [])
        .slice(-8)
        .map((e) => `${new Date(e.at).toISOString().slice(11, 23)} ${e.step} ${e.status}${e.detail ? `: ${e.detail.slice(0, 160)}` : ''}`);
      // Its own events (the first 60): where the time between its start and its steps went (a task
      // on a dead host's queue, an activity that timed out) — the timeline says only what it noted.
      const events = await h
        .fetchHistory()
        .then((x) => (x.events ?? []).slice(0, 60).map((e) => `${new Date(eventMs(e)).toISOString().slice(17, 23)} ${describeEvent(e)}`))
        .catch((e: Error) => [e.message]);
      // Its consensus rounds, vote by vote (who answered when, who never did): a round that waits
      // on one participant holds the heal (nemesis run O: partition/34 had one pending after 7.7 s).
      const roundIds = [...new Set((r?.timeline ?? []).flatMap((e) => [...(e.detail ?? '').matchAll(/consensus ([\w.:-]+\/\d+)/g)].map((m) => m[1]!)))];
      const rounds = await Promise.all(roundIds.map((rid) => roundLine(handler, rid)));
      return `${p.id}: ${d.status.name}${r?.outcome ? ` (${r.outcome})` : ''}; ${timeline.join(' | ')}\n      rounds: ${rounds.join(' | ') || 'none'}\n      events: ${events.join(', ')}`;
    }),
  );
}

/** A consensus round's votes, each with its time after the round started; participants never heard from. */
async function roundLine(handler: WorkflowHandle, proposalId: string): Promise<string> {
  const id = handler.workflowId.replace(/partition-handler$/, `consensus/${proposalId}`);
  const h = handler.client.getHandle(id);
  const d = await h.describe().catch((e: Error) => e);
  if (d instanceof Error) return `${proposalId}: ${d.message}`;
  if (d.status.name !== 'COMPLETED') return `${proposalId}: ${d.status.name} since ${d.startTime.toISOString().slice(11, 23)}`;
  const rec = await h.result().catch((e: Error) => e);
  if (rec instanceof Error) return `${proposalId}: ${rec.message}`;
  const record = rec as RoundRecord;
  const votes = record.votes.map((v) => `${v.participant} ${v.vote} +${v.at - record.startedAt} ms`);
  const pending = record.participants.filter((p) => !record.votes.some((v) => v.participant === p));
  return `${proposalId} ${record.result} in ${record.durationMs} ms (proposed ${new Date(record.proposedAt).toISOString().slice(11, 23)}, started +${record.startedAt - record.proposedAt} ms): ${votes.join(', ')}${pending.length ? `; never heard from ${pending.join(', ')}` : ''}`;
}
