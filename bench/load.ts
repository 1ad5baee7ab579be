/**
 * `npm run bench -- load`: a host's real load reaching every router. Three host worker processes,
 * each in a CPU accounting group of its own and reporting that group's CPU (`--cpu-source cgroup`),
 * the LoadBalancer, and N routers in this process on their own gRPC connections.
 *
 * A run: with ld1's load steady for longer than the report interval, a CPU burner (one busy core,
 * bounded) is moved into ld1's group; measured until the first and the last router hold a table in
 * which ld1's weight fell by at least 10 %, and until the LoadBalancer recorded the host's signal
 * (its history's event time, the same machine's clock). Then the same after the burner is killed,
 * until ld1 regained at least half of what it lost. What it includes: the host's sampling (1 s beats, median of the
 * last three: a step shows on its second sample), the NodeAgent's workflow task and signal, the
 * LoadBalancer's task, and the routers' long-polls.
 *
 * Then ld2's /healthz is made to answer 500 (its health file): measured until the first and the
 * last router hold a table without ld2 (the host's own lease sees it, its NodeAgent tells the
 * HealthMonitor, which tells the LoadBalancer), and after the file is removed, until ld2 is back
 * (the HealthMonitor confirms with a check of its own when one of its checks failed meanwhile).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import type { RoutingTable, Target } from '../src/contracts/load-balancer';
import { Router } from '../src/router/router';
import { canMakeCgroup, makeCgroup, type Cgroup } from '../scripts/lib/cgroups';
import { spawnHostWorker, type HostProcess } from '../scripts/lib/processes';
import { startAgent, startLoadBalancer, waitUntil } from './control';
import { summary } from './stats';

export interface LoadOptions {
  address: string;
  env: NodeJS.ProcessEnv;
  routers: number;
  runs: number;
}

export interface LoadResult {
  upSignal: number[];
  upFirst: number[];
  upAll: number[];
  downSignal: number[];
  downFirst: number[];
  downAll: number[];
  loadedWeights: string[];
  failFirst: number[];
  failAll: number[];
  backFirst: number[];
  backAll: number[];
}

const HOSTS = 3;
/** Longer than the NodeAgent's default load report interval (5 s): each step is reported on its merits. */
const STEADY_MS = 6_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const weightOf = (t: RoutingTable, nodeId: string) => t.targets.find((x) => x.nodeId === nodeId)?.weight ?? 0;

/** Event times (epoch ms) of the nodeCapacityUpdate signals in the LoadBalancer's history. */
async function capacitySignals(lb: WorkflowHandle): Promise<number[]> {
  const out: number[] = [];
  for (const e of (await lb.fetchHistory()).events ?? []) {
    if (e.workflowExecutionSignaledEventAttributes?.signalName !== 'nodeCapacityUpdate') continue;
    const t = e.eventTime;
    out.push(Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6));
  }
  return out;
}

export async function benchLoad(opts: LoadOptions): Promise<LoadResult> {
  if (!canMakeCgroup)
    throw new Error('load: needs a cgroup v1 cpuacct hierarchy it may write (/sys/fs/cgroup/cpuacct, as root)');
  const clusterId = opts.env.CLUSTER_ID ?? 'bench-load';
  const hosts: HostProcess[] = [];
  const groups: Cgroup[] = [];
  const connections: Connection[] = [];
  const routers: Router[] = [];
  let burner: ChildProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'bench-load-'));
  /** While it exists, ld2's /healthz answers 500. */
  const failFile = join(dir, 'ld2.status');
  try {
    for (let i = 1; i <= HOSTS; i++) {
      const h = spawnHostWorker({
        nodeId: `ld${i}`,
        args: ['--health-port', '0', '--cpu-source', 'cgroup', ...(i === 2 ? ['--health-file', failFile] : [])],
        env: opts.env,
      });
      hosts.push(h);
      const g = makeCgroup(`${clusterId}-ld${i}-${process.pid}`);
      groups.push(g);
      g.add(h.child.pid);
    }
    await Promise.all(hosts.map((h) => h.waitFor(/ ready /, 120_000)));
    const connection = await Connection.connect({ address: opts.address });
    connections.push(connection);
    const client = new Client({ connection });
    const lb = await startLoadBalancer(client, clusterId);
    // As `npm run up` runs it: a host's health goes to the HealthMonitor, which tells the balancer.
    await startAgent(client, clusterId, 'health-monitor');
    await waitUntil(
      'a load report from every host',
      () => lb.query<Target[]>('targets'),
      (ts) => ts.length === HOSTS && ts.every((t) => t.loadUpdatedAt !== undefined),
      120_000,
    );

    // Each router notes when it first holds a table that meets the run's condition.
    let want: ((t: RoutingTable) => boolean) | undefined;
    let since = 0;
    let met: number[] = [];
    for (let r = 0; r < opts.routers; r++) {
      const c = await Connection.connect({ address: opts.address });
      connections.push(c);
      let metThisRun = false;
      let runSeen = -1;
      const router = new Router({
        client: new Client({ connection: c }),
        clusterId,
        name: `load-router-${r}`,
        onTable: (t) => {
          if (runSeen !== since) {
            runSeen = since;
            metThisRun = false;
          }
          if (!want || metThisRun || !want(t)) return;
          metThisRun = true;
          met.push(Date.now() - since);
        },
      });
      routers.push(await router.start());
    }

    const result: LoadResult = {
      upSignal: [],
      upFirst: [],
      upAll: [],
      downSignal: [],
      downFirst: [],
      downAll: [],
      loadedWeights: [],
      failFirst: [],
      failAll: [],
      backFirst: [],
      backAll: [],
    };
    const routes = (t: RoutingTable, nodeId: string) => t.targets.some((x) => x.nodeId === nodeId);
    // Conditions on ld1's own weight (the others' reports move it too): down by at least 10 % of
    // what it was before the burner; back up by at least half of what it lost.
    const w1 = () => weightOf(routers[0]?.table as RoutingTable, 'ld1');
    const inStep = () => routers.every((r) => r.table && r.version === routers[0]?.version);
    const step = async (
      what: string,
      cond: (t: RoutingTable) => boolean,
      act: () => void,
      first: number[],
      all: number[],
      sig: number[],
    ) => {
      met = [];
      want = cond;
      since = Date.now();
      const from = since;
      act();
      try {
        await waitUntil(
          `all ${opts.routers} routers`,
          async () => met.length >= opts.routers,
          (x) => x,
          60_000,
        );
      } catch (err) {
        const ts = await lb.query<Target[]>('targets').catch(() => []);
        throw new Error(
          `${what}: ${met.length}/${opts.routers} routers met it in 60 s; router weights ld1/ld2/ld3 ${['ld1', 'ld2', 'ld3'].map((n) => weightOf(routers[0]?.table as RoutingTable, n)).join('/')}; reported cpu ${ts.map((t) => `${t.nodeId} ${t.load.cpu}`).join(', ')} (${(err as Error).message})`,
        );
      }
      want = undefined;
      first.push(Math.min(...met));
      all.push(Math.max(...met));
      const signals = (await capacitySignals(lb)).filter((t) => t >= from);
      if (signals[0] !== undefined) sig.push(signals[0] - from);
    };
    /** Every router holds the same table, then nothing happens for `ms`. */
    const settle = async (ms: number) => {
      await waitUntil('routers in step', async () => inStep(), (x) => x);
      await sleep(ms);
    };
    for (let run = 0; run < opts.runs; run++) {
      await settle(STEADY_MS);
      const before = w1();
      await step(
        `run ${run} load up (ld1 weight ${before})`,
        (t) => weightOf(t, 'ld1') <= 0.9 * before,
        () => {
          // One busy core, bounded: it stops by itself after 60 s.
          burner = spawn(process.execPath, ['-e', 'const end = Date.now() + 60_000; while (Date.now() < end) {}']);
          (groups[0] as Cgroup).add(burner.pid);
        },
        result.upFirst,
        result.upAll,
        result.upSignal,
      );
      await settle(STEADY_MS);
      const loaded = w1();
      result.loadedWeights.push(`${before}→${loaded}`);
      await step(
        `run ${run} load down (ld1 weight ${loaded}, before ${before})`,
        (t) => weightOf(t, 'ld1') >= loaded + 0.5 * (before - loaded),
        () => {
          burner?.kill('SIGKILL');
          burner = undefined;
        },
        result.downFirst,
        result.downAll,
        result.downSignal,
      );
      // At a random point of the host's 1 s beat: detection waits for its next beat.
      await settle(2_000 + Math.random() * 1_000);
      await step(
        `run ${run} ld2 answers 500`,
        (t) => !routes(t, 'ld2'),
        () => writeFileSync(failFile, '500 bench\n'),
        result.failFirst,
        result.failAll,
        [],
      );
      await settle(2_000 + Math.random() * 1_000);
      await step(
        `run ${run} ld2 answers 200 again`,
        (t) => routes(t, 'ld2'),
        () => rmSync(failFile, { force: true }),
        result.backFirst,
        result.backAll,
        [],
      );
      process.stderr.write('.');
    }
    process.stderr.write('\n');
    return result;
  } finally {
    burner?.kill('SIGKILL');
    await Promise.all(routers.map((r) => r.close()));
    await Promise.all(hosts.map((h) => h.stop('SIGTERM')));
    await Promise.all(connections.map((c) => c.close()));
    for (const g of groups) await g.remove().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

export function loadRows(r: LoadResult, routers: number): (string | number)[][] {
  return [
    ['load up (burner) → LoadBalancer has the host’s report', r.upSignal],
    ['load up → first router has the lowered weight', r.upFirst],
    [`load up → all ${routers} routers have it`, r.upAll],
    ['load down (burner killed) → LoadBalancer has the report', r.downSignal],
    ['load down → first router has the weight back', r.downFirst],
    [`load down → all ${routers} routers have it`, r.downAll],
    ['/healthz answers 500 → first router routes around the host', r.failFirst],
    [`/healthz answers 500 → all ${routers} routers do`, r.failAll],
    ['/healthz answers 200 again → first router routes to it', r.backFirst],
    [`/healthz answers 200 again → all ${routers} routers do`, r.backAll],
  ].map(([name, values]) => {
    const s = summary(values as number[]);
    return [name as string, s.n, s.p50, s.p99, s.min, s.max];
  });
}
