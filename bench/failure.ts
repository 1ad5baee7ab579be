/**
 * Failure detection benchmarks (`npm run bench -- failure|false-positives|fd-scale`).
 *
 *   detection        SIGKILL a host worker process → the FailureDetector's dead verdict (workflow
 *                    time, same machine clock), over N kills at 0.5 s heartbeats and a 1.5 s lease
 *                    timeout, with the FailureDetector's defaults; also → visible in `nodes`.
 *   probe round trip indirect probe activity scheduled on a peer's queue → result in the agent.
 *   false positives  N hosts for S seconds while two busy-loop processes keep both cores busy:
 *                    suspicions, refutations and dead verdicts (every one of them false).
 *   signals/s        N simulated hosts (each its own `host.<id>` worker and NodeAgent, in this
 *                    process) in a steady state: signals that reach the cluster-level agents.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { type Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../src/activities';
import {
  AGENT_FAILURE_ERROR_TYPES,
  AGENT_RETRY,
  AGENT_WORKFLOW_TASK_TIMEOUT,
  TASK_QUEUE,
  hostTaskQueue,
} from '../src/contracts/agents';
import type { Member } from '../src/contracts/node-discovery';
import type { ProbeRecord, Verdict } from '../src/contracts/failure-detector';
import { hostStartedSignal, nodeAgentWorkflowId, type NodeAgentState } from '../src/contracts/node-agent';
import type { HealthMonitorState } from '../src/contracts/health-monitor';
import { probeSelf } from '../src/workers/self-probe';
import { startHealthServer } from '../src/workers/health-server';
import { VitalsSampler } from '../src/workers/vitals';
import { PeerWatcher } from '../src/workers/peer-watch';
import { spawnHostWorker, type HostProcess } from '../scripts/lib/processes';
import { summary } from './stats';
import { eventMs } from '../scripts/lib/history-events';

const LEASE = ['--lease-heartbeat', '500', '--lease-timeout', '1500'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number, everyMs = 20) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await read();
      if (ok(v)) return v;
    } catch {
      // the agent may be between tasks; ask again
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Starts an agent as `cluster start` does (task timeout, retry policy), with its default config. */
async function startAgentRun(client: Client, clusterId: string, type: string, role: string): Promise<void> {
  await client.workflow.start(type, {
    workflowId: `${clusterId}/${role}`,
    taskQueue: TASK_QUEUE,
    workflowTaskTimeout: AGENT_WORKFLOW_TASK_TIMEOUT,
    retry: AGENT_RETRY,
    args: [{ clusterId, config: {} }],
  });
}

const startFd = (client: Client, clusterId: string) =>
  startAgentRun(client, clusterId, 'failureDetectorWorkflow', 'failure-detector');

function hosts(env: NodeJS.ProcessEnv, prefix: string, n: number): HostProcess[] {
  return Array.from({ length: n }, (_, i) =>
    spawnHostWorker({ nodeId: `${prefix}-${i + 1}`, args: ['--health-port', '0', ...LEASE], env }),
  );
}

export interface DetectionResult {
  lease: { heartbeatMs: number; timeoutMs: number };
  killToDead: number[];
  killToSuspect: number[];
  killToVisible: number[];
  /** Kills first suspected on a peer's watch report (the rest on the lease). */
  byWatch: number;
  /** Kills after which the victim's own NodeAgent took the verdict (status dead, same incarnation). */
  agentDead: number;
  /** SIGSTOP past the acceptable pause (a silent loss: no socket closes) → dead verdict. */
  stopToDead: number[];
  /** SIGTERM: the host left (NodeDiscovery says so) / was suspected meanwhile (never, if right). */
  leaves: { n: number; left: number; suspected: number; dead: number };
  probeRoundTrips: number[];
  /** The probe itself (connect + GET on the peer), as the activity measured it. */
  probeOwnMs: number[];
  /** From the server's event times: ActivityTaskScheduled → the workflow task that takes the result starts. */
  probeRoundTripsServer: ActivityTimes;
  reasons: Record<string, number>;
}

export interface DetectionOptions {
  kills: number;
  /** SIGSTOPs held past the acceptable pause (silent losses). */
  stops: number;
  /** Graceful leaves (SIGTERM). */
  leaves: number;
  /** `default` (1 s / 3 s, as `npm run worker` runs) or `fast` (0.5 s / 1.5 s). */
  lease: 'default' | 'fast';
}

export const LEASES = {
  default: { heartbeatMs: 1_000, timeoutMs: 3_000 },
  fast: { heartbeatMs: 500, timeoutMs: 1_500 },
} as const;

export async function benchDetection(
  client: Client,
  env: NodeJS.ProcessEnv,
  o: DetectionOptions,
): Promise<DetectionResult> {
  const clusterId = env.CLUSTER_ID as string;
  const nd = client.workflow.getHandle(`${clusterId}/node-discovery`);
  const fd = client.workflow.getHandle(`${clusterId}/failure-detector`);
  const lease = LEASES[o.lease];
  const leaseArgs = ['--lease-heartbeat', String(lease.heartbeatMs), '--lease-timeout', String(lease.timeoutMs)];
  const stable = Array.from({ length: 5 }, (_, i) =>
    spawnHostWorker({ nodeId: `peer-${i + 1}`, args: ['--health-port', '0', ...leaseArgs], env }),
  );
  const r: DetectionResult = {
    lease,
    killToDead: [],
    killToSuspect: [],
    killToVisible: [],
    byWatch: 0,
    agentDead: 0,
    stopToDead: [],
    leaves: { n: 0, left: 0, suspected: 0, dead: 0 },
    probeRoundTrips: [],
    probeOwnMs: [],
    probeRoundTripsServer: { total: [], dispatch: [], run: [], delivery: [] },
    reasons: {},
  };
  const victimUp = async (): Promise<HostProcess> => {
    const victim = spawnHostWorker({ nodeId: 'victim', args: ['--health-port', '0', ...leaseArgs], env });
    await victim.waitFor(/ ready /, 120_000);
    const agent = client.workflow.getHandle(nodeAgentWorkflowId(clusterId, 'victim'));
    await until(
      'victim alive',
      async () => [await nd.query<Member[]>('nodes'), await agent.query<NodeAgentState>('node')] as const,
      ([nodes, a]) => nodes.some((m) => m.nodeId === 'victim' && m.status === 'alive') && a.status === 'alive',
      30_000,
    );
    // A few beats (the lease holds, φ has intervals) and a refresh of its watchers' ring (2 s).
    await sleep(Math.max(3 * lease.heartbeatMs, 2_500));
    return victim;
  };
  /** Until NodeDiscovery lists the victim with `status` (its `nodes` query, as `cluster nodes` reads it). */
  const victimIs = (status: Member['status'], timeoutMs: number, everyMs: number) =>
    until(
      `${status} in nodes`,
      () => nd.query<Member[]>('nodes'),
      (n) => n.some((m) => m.nodeId === 'victim' && m.status === status),
      timeoutMs,
      everyMs,
    );
  const verdictAfter = (from: number, kind: Verdict['verdict']) =>
    until(
      `${kind} verdict`,
      () => fd.query<Verdict[]>('verdicts'),
      (v) => v.some((x) => x.nodeId === 'victim' && x.verdict === kind && x.at >= from),
      60_000,
    ).then(
      (v) => v.find((x) => x.nodeId === 'victim' && x.verdict === kind && x.at >= from) as Verdict,
      async (err: Error) => {
        // Say what the detector and the victim's agent hold instead.
        const [verdicts, suspects, agent] = await Promise.all([
          fd.query<Verdict[]>('verdicts').catch((e: Error) => e.message),
          fd.query<unknown[]>('suspects').catch((e: Error) => e.message),
          client.workflow
            .getHandle(nodeAgentWorkflowId(clusterId, 'victim'))
            .query<NodeAgentState>('node')
            .then((a) => ({ status: a.status, incarnation: a.incarnation, transitions: a.transitions.slice(-4) }))
            .catch((e: Error) => e.message),
        ]);
        const mine = Array.isArray(verdicts) ? verdicts.filter((x) => x.nodeId === 'victim').slice(-4) : verdicts;
        throw new Error(
          `${err.message}; since +0: verdicts ${JSON.stringify(mine)}; suspects ${JSON.stringify(suspects)}; victim's agent ${JSON.stringify(agent)}`,
        );
      },
    );
  try {
    await Promise.all(stable.map((h) => h.waitFor(/ ready /, 120_000)));
    await startFd(client, clusterId);
    for (let i = 1; i <= o.kills; i++) {
      const victim = await victimUp();
      const killedAt = Date.now();
      victim.child.kill('SIGKILL');
      await victim.exited;
      const verdict = await verdictAfter(killedAt, 'dead');
      await victimIs('dead', 60_000, 10);
      r.killToVisible.push(Date.now() - killedAt);
      r.killToDead.push(verdict.at - killedAt);
      r.killToSuspect.push(verdict.at - (verdict.afterMs ?? 0) - killedAt);
      const suspect = (await fd.query<Verdict[]>('verdicts')).find(
        (x) => x.nodeId === 'victim' && x.verdict === 'suspect' && x.at >= killedAt,
      );
      if (suspect && /'s watch: /.test(suspect.reason)) r.byWatch += 1;
      const agent = await client.workflow
        .getHandle(nodeAgentWorkflowId(clusterId, 'victim'))
        .query<NodeAgentState>('node')
        .catch(() => undefined);
      if (agent?.status === 'dead' && agent.incarnation === verdict.incarnation) r.agentDead += 1;
      const kind = verdict.reason.replace(/[\d.]+/g, 'n');
      r.reasons[kind] = (r.reasons[kind] ?? 0) + 1;
      process.stderr.write('k');
    }
    for (let i = 1; i <= o.stops; i++) {
      const victim = await victimUp();
      const stoppedAt = Date.now();
      victim.child.kill('SIGSTOP');
      try {
        const verdict = await verdictAfter(stoppedAt, 'dead');
        r.stopToDead.push(verdict.at - stoppedAt);
      } finally {
        victim.child.kill('SIGKILL');
        victim.child.kill('SIGCONT');
        await victim.exited;
      }
      process.stderr.write('s');
    }
    for (let i = 1; i <= o.leaves; i++) {
      const victim = await victimUp();
      const termAt = Date.now();
      await victim.stop('SIGTERM');
      r.leaves.n += 1;
      try {
        await victimIs('left', 15_000, 20);
        r.leaves.left += 1;
      } catch {
        // counted as not left
      }
      // Past the lease timeout: any suspicion (a watch taking the exit for a crash, or the lease) is in.
      await sleep(lease.timeoutMs + 1_000);
      const v = (await fd.query<Verdict[]>('verdicts')).filter((x) => x.nodeId === 'victim' && x.at >= termAt);
      if (v.some((x) => x.verdict === 'suspect')) r.leaves.suspected += 1;
      if (v.some((x) => x.verdict === 'dead')) r.leaves.dead += 1;
      process.stderr.write('l');
    }
    // Round trips of probes that got an answer or a refusal: a probe of a paused host waits out its
    // own timeout (500 ms), which says nothing about the path.
    const probes = (await fd.query<ProbeRecord[]>('probes')).filter((p) => p.evidence !== 'timeout');
    r.probeRoundTrips = probes.map((p) => p.roundTripMs);
    r.probeOwnMs = probes.map((p) => p.latencyMs);
    r.probeRoundTripsServer = await activityRoundTrips(
      client,
      `${clusterId}/failure-detector`,
      'probeNode',
      (x) => (x as { evidence?: string }).evidence !== 'timeout',
    );
  } finally {
    process.stderr.write('\n');
    await Promise.all(stable.map((h) => h.stop('SIGKILL')));
  }
  return r;
}

export function detectionRows(r: DetectionResult): (string | number)[][] {
  const t = r.lease.timeoutMs;
  const row = (name: string, values: number[], ratio: boolean, target = '') => {
    const s = summary(values);
    return [
      name,
      s.n,
      s.p50,
      s.p99,
      s.max,
      ratio ? (s.p50 / t).toFixed(2) : '-',
      ratio ? (s.p99 / t).toFixed(2) : '-',
      target,
    ];
  };
  const l = r.leaves;
  /** A row that counts (no latencies): its name, n and the count in the target column. */
  const count = (name: string, n: number, text: string) => [name, n, '-', '-', '-', '-', '-', text];
  return [
    row('SIGKILL → suspect', r.killToSuspect, true),
    row('SIGKILL → declared dead (verdict)', r.killToDead, true, 'p99 ≤ 500'),
    count(
      `  of which first suspected on a peer's watch`,
      r.killToDead.length,
      `${r.byWatch} of ${r.killToDead.length}`,
    ),
    count(
      `  the victim's NodeAgent took the verdict (dead, same incarnation)`,
      r.killToDead.length,
      `${r.agentDead} of ${r.killToDead.length}`,
    ),
    row('SIGKILL → dead in `nodes` (query)', r.killToVisible, true),
    row('SIGSTOP past the acceptable pause → dead (silent loss)', r.stopToDead, true, `p99 ≤ ${1.3 * t}`),
    count('SIGTERM → left, never suspected', l.n, `${l.n - l.suspected - l.dead} of ${l.n} (left: ${l.left})`),
    row(
      'probe round trip, agent clock (probes answered or refused; task that schedules → task that reads)',
      r.probeRoundTrips,
      false,
    ),
    row(
      'probe round trip, server events (scheduled → result task started)',
      r.probeRoundTripsServer.total,
      false,
      'p50 ≤ 30',
    ),
    row('  of which: scheduled → started on the peer', r.probeRoundTripsServer.dispatch, false),
    row('  of which: started → completed (probe + worker)', r.probeRoundTripsServer.run, false),
    row('    the probe itself (connect + GET, on the peer)', r.probeOwnMs, false),
    row('  of which: completed → agent task started', r.probeRoundTripsServer.delivery, false),
  ];
}

/** Two processes that spin for `seconds` and exit by themselves. */
function cpuHogs(seconds: number): { stop(): void; done: Promise<unknown> } {
  const code = `const end = Date.now() + ${seconds * 1000}; let x = 0; while (Date.now() < end) { x += Math.sqrt(x + 1); }`;
  const procs = [0, 1].map(() => spawn(process.execPath, ['-e', code], { stdio: 'ignore' }));
  return {
    stop: () => procs.forEach((p) => p.kill('SIGKILL')),
    done: Promise.all(procs.map((p) => new Promise((ok) => p.once('exit', ok)))),
  };
}

export interface FalsePositiveResult {
  hosts: number;
  seconds: number;
  suspicions: number;
  refuted: number;
  dead: number;
  deadReasons: string[];
  ndNotAlive: number;
}

export async function benchFalsePositives(
  client: Client,
  env: NodeJS.ProcessEnv,
  n: number,
  seconds: number,
): Promise<FalsePositiveResult> {
  const clusterId = env.CLUSTER_ID as string;
  const nd = client.workflow.getHandle(`${clusterId}/node-discovery`);
  const fd = client.workflow.getHandle(`${clusterId}/failure-detector`);
  const procs = hosts(env, 'calm', n);
  try {
    await Promise.all(procs.map((h) => h.waitFor(/ ready /, 180_000)));
    await startFd(client, clusterId);
    await until(
      'all alive',
      () => nd.query<Member[]>('nodes'),
      (m) => m.filter((x) => x.status === 'alive').length === n,
      60_000,
      200,
    );
    await sleep(3_000);
    const from = Date.now();
    const hog = cpuHogs(seconds);
    let ndNotAlive = 0;
    const deadline = from + seconds * 1000;
    while (Date.now() < deadline) {
      await sleep(1_000);
      const nodes = await nd.query<Member[]>('nodes').catch(() => []);
      ndNotAlive = Math.max(ndNotAlive, nodes.filter((m) => m.status !== 'alive').length);
      process.stderr.write('.');
    }
    hog.stop();
    await hog.done;
    await sleep(3_000); // let late verdicts land
    const v = (await fd.query<Verdict[]>('verdicts')).filter((x) => x.at >= from);
    return {
      hosts: n,
      seconds,
      suspicions: v.filter((x) => x.verdict === 'suspect').length,
      refuted: v.filter((x) => x.verdict === 'refuted').length,
      dead: v.filter((x) => x.verdict === 'dead').length,
      deadReasons: v.filter((x) => x.verdict === 'dead').map((x) => `${x.nodeId}: ${x.reason}`),
      ndNotAlive,
    };
  } finally {
    process.stderr.write('\n');
    await Promise.all(procs.map((h) => h.stop('SIGKILL')));
  }
}

export interface ScaleResult {
  hosts: number;
  windowS: number;
  signalsPerS: number;
  byAgent: Record<string, number>;
  leaseTermsPerS: number;
  /** What the HealthMonitor did meanwhile: nodes it follows, vitals rounds, nodes with a prediction. */
  monitor: { nodes: number; vitalsRounds: number; withRisk: number };
  /** Peer watches of the simulated hosts at the end: open, reconnects and crashes reported in the window. */
  watches: { open: number; reconnects: number; reported: number };
}

/** N hosts simulated in this process: each a `host.<id>` worker with a real lease and health endpoint. */
export async function benchSignals(
  client: Client,
  address: string,
  bundle: string,
  n: number,
  windowS: number,
): Promise<ScaleResult> {
  const clusterId = `scale-${randomUUID().slice(0, 6)}`;
  const vitals = new VitalsSampler().start();
  const connection = await NativeConnection.connect({ address });
  const workers: Worker[] = [];
  const servers: { close(): Promise<void> }[] = [];
  const running: Promise<void>[] = [];
  const watchers: PeerWatcher[] = [];
  try {
    const agents = await Worker.create({
      connection,
      taskQueue: TASK_QUEUE,
      workflowBundle: { codePath: bundle },
      activities: createActivities({ nodeId: 'agents', client }),
      maxCachedWorkflows: 1000,
      workflowFailureErrorTypes: AGENT_FAILURE_ERROR_TYPES,
    });
    workers.push(agents);
    running.push(agents.run());
    await startFd(client, clusterId);
    // The LoadBalancer too: hosts send it their load when it moves (NodeAgent load reports).
    await startAgentRun(client, clusterId, 'loadBalancerWorkflow', 'load-balancer');
    const nd = await client.workflow.start('nodeDiscoveryWorkflow', {
      workflowId: `${clusterId}/node-discovery`,
      taskQueue: TASK_QUEUE,
      args: [{ clusterId, config: { strategies: ['registry'] } }],
    });
    // And the HealthMonitor, as `npm run up` runs it: it reads the hosts' lease vitals (no signal)
    // and tells NodeDiscovery each node's first failure prediction (once per node, in the warm-up).
    await startAgentRun(client, clusterId, 'healthMonitorWorkflow', 'health-monitor');
    for (let i = 0; i < n; i++) {
      const nodeId = `sim-${i}`;
      const bootId = randomUUID();
      const health = await startHealthServer(
        { nodeId, clusterId, zone: 'z', address: '127.0.0.1', bootId, startedAt: Date.now(), services: {} },
        vitals,
        { host: '127.0.0.1', port: 0 },
      );
      servers.push(health);
      const w = await Worker.create({
        connection,
        taskQueue: hostTaskQueue(nodeId),
        activities: createActivities({
          nodeId,
          client,
          // The lease's self-check asks this host's own /healthz every beat, as on a real host.
          host: {
            bootId,
            vitals: () => vitals.current(),
            probeSelf: () => probeSelf('127.0.0.1', health.port, 1_000),
            holdsIncarnation: (x) => health.setIncarnation(x),
          },
        }),
        maxHeartbeatThrottleInterval: '50ms',
      });
      workers.push(w);
      running.push(w.run());
      await client.workflow.signalWithStart('nodeAgentWorkflow', {
        workflowId: nodeAgentWorkflowId(clusterId, nodeId),
        taskQueue: TASK_QUEUE,
        args: [{ clusterId, config: {} }],
        signal: hostStartedSignal,
        signalArgs: [
          { nodeId, bootId, address: '127.0.0.1', healthPort: health.port, zone: 'z', startedAt: Date.now() },
        ],
      });
      await nd.signal('announce', {
        nodeId,
        bootId,
        address: '127.0.0.1',
        healthPort: health.port,
        zone: 'z',
        startedAt: Date.now(),
      });
      // Each host watches 3 peers, as a host worker does (idle connections, a membership read every 2 s).
      watchers.push(
        new PeerWatcher({ nodeId, clusterId, client, k: 3, refreshMs: 2_000, reconnectTimeoutMs: 500 }).start(),
      );
    }
    // Steady state: every lease has run a full term, the HealthMonitor has read their vitals and
    // sent each node's first prediction.
    await sleep(45_000);
    const termsBefore = await leaseTerms(client, clusterId, n);
    const watchCount = () =>
      watchers.reduce(
        (a, w) => {
          const c = w.current();
          return {
            open: a.open + c.watching,
            reconnects: a.reconnects + c.reconnects,
            reported: a.reported + c.reported,
          };
        },
        { open: 0, reconnects: 0, reported: 0 },
      );
    const watchesBefore = watchCount();
    const from = Date.now();
    await sleep(windowS * 1000);
    const to = Date.now();
    const watchesAfter = watchCount();
    const termsAfter = await leaseTerms(client, clusterId, n);
    const byAgent: Record<string, number> = {};
    for (const role of ['failure-detector', 'node-discovery', 'load-balancer', 'health-monitor']) {
      byAgent[role] = await signalsBetween(client, `${clusterId}/${role}`, from, to);
    }
    const total = Object.values(byAgent).reduce((a, b) => a + b, 0);
    const hm = await client.workflow
      .getHandle(`${clusterId}/health-monitor`)
      .query<{ agent: HealthMonitorState }>('state');
    const monitor = {
      nodes: Object.keys(hm.agent.nodes).length,
      vitalsRounds: hm.agent.checks.vitals ?? 0,
      withRisk: Object.values(hm.agent.nodes).filter((x) => x.risk !== undefined && x.vitalsSeenAt !== undefined)
        .length,
    };
    return {
      hosts: n,
      windowS,
      signalsPerS: total / windowS,
      byAgent,
      leaseTermsPerS: (termsAfter - termsBefore) / windowS,
      monitor,
      watches: {
        open: watchesAfter.open,
        reconnects: watchesAfter.reconnects - watchesBefore.reconnects,
        reported: watchesAfter.reported - watchesBefore.reported,
      },
    };
  } finally {
    for (const w of watchers) w.stop();
    for (const w of workers) w.shutdown();
    await Promise.allSettled(running);
    await Promise.all(servers.map((s) => s.close()));
    await connection.close();
    vitals.stop();
  }
}

async function leaseTerms(client: Client, clusterId: string, n: number): Promise<number> {
  let total = 0;
  for (let i = 0; i < n; i++) {
    const s = await client.workflow.getHandle(nodeAgentWorkflowId(clusterId, `sim-${i}`)).query<NodeAgentState>('node');
    total += s.leaseTerms;
  }
  return total;
}

export interface ActivityTimes {
  /** ActivityTaskScheduled → the workflow task that received the result started. */
  total: number[];
  /** Scheduled → started on the peer (matching + poll). */
  dispatch: number[];
  /** Started → completed (the probe itself plus the worker's overhead). */
  run: number[];
  /** Completed → the agent's workflow task started. */
  delivery: number[];
}

/**
 * Round trips of every activity of `type` in every run of the workflow, from the server's event
 * times; with `keep`, only those whose (JSON) result it keeps.
 */
async function activityRoundTrips(
  client: Client,
  workflowId: string,
  type: string,
  keep?: (result: unknown) => boolean,
): Promise<ActivityTimes> {
  const out: ActivityTimes = { total: [], dispatch: [], run: [], delivery: [] };
  for await (const wf of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    const events = (await client.workflow.getHandle(workflowId, wf.runId).fetchHistory()).events ?? [];
    const scheduled = new Map<string, number>();
    const started = new Map<string, number>();
    const waiting: { at: number; done: number }[] = []; // completed, waiting for the next workflow task
    for (const e of events) {
      const a = e.activityTaskScheduledEventAttributes;
      if (a && a.activityType?.name === type) scheduled.set(String(e.eventId), eventMs(e));
      const st = e.activityTaskStartedEventAttributes;
      if (st) started.set(String(st.scheduledEventId), eventMs(e));
      const done =
        e.activityTaskCompletedEventAttributes ??
        e.activityTaskFailedEventAttributes ??
        e.activityTaskTimedOutEventAttributes;
      const result = e.activityTaskCompletedEventAttributes?.result?.payloads?.[0]?.data;
      let kept = true;
      if (keep && result) {
        try {
          kept = keep(JSON.parse(Buffer.from(result).toString('utf8')));
        } catch {
          kept = true;
        }
      }
      if (done && kept) {
        const id = String(done.scheduledEventId);
        const at = scheduled.get(id);
        const began = started.get(id);
        if (at !== undefined) {
          waiting.push({ at, done: eventMs(e) });
          if (began !== undefined) {
            out.dispatch.push(began - at);
            out.run.push(eventMs(e) - began);
          }
        }
      }
      if (e.workflowTaskStartedEventAttributes && waiting.length) {
        for (const w of waiting.splice(0)) {
          out.total.push(eventMs(e) - w.at);
          out.delivery.push(eventMs(e) - w.done);
        }
      }
    }
  }
  return out;
}

async function signalsBetween(client: Client, workflowId: string, from: number, to: number): Promise<number> {
  let count = 0;
  // every run of the agent (continue-as-new starts new ones)
  for await (const wf of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    const history = await client.workflow.getHandle(workflowId, wf.runId).fetchHistory();
    for (const e of history.events ?? []) {
      if (!e.workflowExecutionSignaledEventAttributes) continue;
      const t = eventMs(e);
      if (t >= from && t < to) count += 1;
    }
  }
  return count;
}
