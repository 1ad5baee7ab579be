/**
 * `npm run bench -- [discovery|up|router|control|load|balance|all] [--runs N] [--up-runs N] [--routers N] [--calls N]`:
 * benchmarks that print tables (`npm run bench -- faults`: the fault suite, bench/faults.ts).
 * Each starts its own Temporal dev server on free ports; nothing touches a running `npm run up`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { writeWorkflowBundle } from '../scripts/lib/bundle';
import { startDevServer } from '../scripts/lib/dev-server';
import { benchBalance } from './balance';
import { benchControl, controlRows } from './control';
import { benchLoad, loadRows } from './load';
import { benchDiscovery, discoveryRows } from './discovery';
import { LEASES, benchDetection, benchFalsePositives, benchSignals, detectionRows } from './failure';
import { FAULT_ARGS, FAULT_USAGE, benchFaults } from './faults';
import { printTable, summary } from './stats';
import { MASS_WINDOW_MS, benchRecovery, recoveryRows } from './recovery';
import { benchMaglev, benchRouter } from './router';
import { benchUp } from './up';
import { benchConsensus, consensusRows } from './consensus';
import { FAULT_KINDS, benchPartition, partitionRows } from './partition';
import { benchQueryFailover, queryFailoverRows } from './query-failover';

const BENCHES = [
  'discovery',
  'up',
  'router',
  'control',
  'load',
  'balance',
  'failure',
  'false-positives',
  'fd-scale',
  'faults',
  'query-failover',
  'recovery',
  'consensus',
  'partition',
  'all',
];
const USAGE =
  'usage: npm run bench -- [discovery|up|router|control|balance|all] [--runs N (default 20)] [--up-runs N (default 3)]' +
  ' [--routers N (default 5)] [--calls N (default 200)]\n' +
  '       npm run bench -- load [--runs N (default 20)] [--routers N (default 5)]\n' +
  '       npm run bench -- query-failover [--kills N (default 20)]\n' +
  '       npm run bench -- recovery [--kills N (default 20)] [--runs N drains (default 20)] [--routers N (default 5)] [--terminations N (default 12)]\n' +
  '       npm run bench -- consensus [--runs N rounds (default 100)]\n' +
  '       npm run bench -- partition [--runs N cuts (default 20)] [--nemesis S (default 0)] [--stable-ms MS (default: the handler\'s)] [--faults KIND,… (nemesis fault kinds; default all)] [--dump-history FILE (every run of the handler\'s history, JSON)]\n' +
  '       npm run bench -- failure [--kills N (default 20)] [--stops N (default 10)] [--leaves N (default 20)] [--lease default|fast]\n' +
  '       npm run bench -- [false-positives|fd-scale] [--fp-hosts N (default 10)]' +
  ' [--fp-seconds S (default 300)] [--hosts N (default 50)] [--window S (default 60)]\n' +
  FAULT_USAGE;

function count(name: string, raw: string | undefined, def: number, min = 1): number {
  if (raw === undefined) return def;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > 1000)
    throw new Error(`--${name}: expected an integer ${min}-1000, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

async function main(): Promise<void> {
  // Workers created in this process (fd-scale) log warnings only.
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: {
      runs: { type: 'string' },
      'dump-history': { type: 'string' },
      'up-runs': { type: 'string' },
      routers: { type: 'string' },
      calls: { type: 'string' },
      kills: { type: 'string' },
      'fp-hosts': { type: 'string' },
      'fp-seconds': { type: 'string' },
      hosts: { type: 'string' },
      window: { type: 'string' },
      terminations: { type: 'string' },
      stops: { type: 'string' },
      leaves: { type: 'string' },
      lease: { type: 'string' },
      nemesis: { type: 'string' },
      'stable-ms': { type: 'string' },
      faults: { type: 'string' },
      ...FAULT_ARGS,
    },
  });
  const which = positionals[0] ?? 'all';
  if (!BENCHES.includes(which))
    throw new Error(`BENCH: expected one of ${BENCHES.join(', ')}, got ${JSON.stringify(which)}\n${USAGE}`);
  const runs = count('runs', values.runs, 20);
  const upRuns = count('up-runs', values['up-runs'], 3);
  const routers = count('routers', values.routers, 5);
  const calls = count('calls', values.calls, 200);
  const kills = count('kills', values.kills, 20);
  const fpHosts = count('fp-hosts', values['fp-hosts'], 10);
  const fpSeconds = count('fp-seconds', values['fp-seconds'], 300);
  const simHosts = count('hosts', values.hosts, 50);
  const windowS = count('window', values.window, 60);
  const terminations = count('terminations', values.terminations, 12);
  const stops = count('stops', values.stops, 10, 0);
  const leaves = count('leaves', values.leaves, 20, 0);
  const lease = values.lease ?? 'default';
  if (lease !== 'default' && lease !== 'fast')
    throw new Error(`--lease: expected default (1 s / 3 s) or fast (0.5 s / 1.5 s), got ${JSON.stringify(lease)}`);
  console.log(
    `bench: node ${process.version}, ${(await import('node:os')).cpus().length} cpus, ${new Date().toISOString()}`,
  );

  if (which === 'faults') {
    if (await benchFaults(values)) process.exitCode = 1;
    return;
  }
  if (which === 'query-failover') {
    const r = await benchQueryFailover(kills);
    printTable(
      `an agent whose sticky worker dies while queries come in (${kills} SIGKILLs; sdk-core can then send commands that a replay decides otherwise: the run must fail and restart, never wedge)`,
      ['measure', 'observed'],
      queryFailoverRows(r),
    );
    for (const l of [...r.wftFailed.slice(0, 3), ...r.ndeRuns.slice(0, 5)]) console.log(`  ${l}`);
    if (r.wftFailed.length > 0 || !r.answers.startsWith('answers')) process.exitCode = 1;
    return;
  }
  if (which === 'recovery') {
    await withServer(`bench-recovery-${Date.now()}`, async (_client, env, address) => {
      const r = await benchRecovery({ address, env, kills, routers, drains: runs, terminations });
      printTable(
        `the orchestrator heals, ms (5 host workers, 0.5 s heartbeats / 1.5 s lease; replacement hook = a local launcher that starts a host worker; ${routers} routers; ${kills} SIGKILLs spaced past the 10 s replacement rate limit and the mass-failure window (set to ${MASS_WINDOW_MS / 1000} s), ${runs} drains, ${terminations} agents terminated)`,
        ['measure', 'n', 'p50', 'p99', 'min', 'max', 'target'],
        recoveryRows(r, routers),
      );
      const outcomes: Record<string, number> = {};
      for (const o of r.outcomes) {
        const k = o.replace(/[rs]-\d+/g, 'X').replace(/\d+/g, 'n');
        outcomes[k] = (outcomes[k] ?? 0) + 1;
      }
      console.log(`node_failure outcomes: ${JSON.stringify(outcomes)}`);
      console.log(`agents terminated: ${r.terminated.join(', ')}`);
      for (const l of r.slow) console.log(l);
    });
    return;
  }
  if (which === 'partition') {
    const dir = mkdtempSync(join(tmpdir(), 'cluster-agents-bench-'));
    const bundle = await writeWorkflowBundle(join(dir, 'bundle.js'));
    const nemesisSeconds = values.nemesis === undefined ? 0 : count('nemesis', values.nemesis, 0, 0) ;
    const stableRaw = values['stable-ms'];
    if (stableRaw !== undefined && (!/^\d+$/.test(stableRaw) || Number(stableRaw) > 600_000))
      throw new Error(`--stable-ms: expected milliseconds 0-600000, got ${JSON.stringify(stableRaw)}`);
    const faults = values.faults?.split(',');
    const unknownFault = faults?.find((k) => !FAULT_KINDS.includes(k));
    if (faults && (unknownFault !== undefined || !faults.length))
      throw new Error(`--faults: expected a comma-separated list of ${FAULT_KINDS.join(', ')}, got ${JSON.stringify(values.faults)}`);
    const serverLog = join(dir, 'server.log');
    console.log(`partition bench: the Temporal server logs to ${serverLog}`);
    const r = await benchPartition({
      bundle,
      serverLog,
      ...(faults ? { faults } : {}),
      runs: count('runs', values.runs, 20, 0),
      nemesisSeconds,
      ...(values['dump-history'] ? { dumpHistory: values['dump-history'] } : {}),
      ...(stableRaw !== undefined ? { stableMs: Number(stableRaw) } : {}),
    });
    printTable(
      `partitions cut for real, ms (5 host workers in network namespaces, nftables drops; stable window ${r.windowMs} ms; ${r.fenced.length} cuts: one host isolated or a minority of 2, then healed)`,
      ['measure', 'n', 'p50', 'p99', 'min', 'max', 'target'],
      partitionRows(r),
    );
    const late = summary(r.timerLateness);
    console.log(
      `the handler's timers (every run of its history): ${late.n} fired, late by p50 ${late.p50} / p99 ${late.p99} / max ${late.max} ms; ${r.timerLateness.filter((x) => x > 1_000).length} more than 1 s late`,
    );
    for (const l of r.slowHealDiagnostics) console.log(`  slow heal, ${l}`);
    if (r.nemesis) {
      const n = r.nemesis;
      // A heal the bench gave up on (never whole) counts as never in the percentiles: a p99 over the
      // heals that finished alone would read green while one never did (nemesis run E).
      const healed = (fs: typeof n.perFault) => fs.map((f) => f.healMs ?? Infinity);
      const heal = summary(healed(n.perFault));
      const crashHeal = summary(healed(n.perFault.filter((f) => f.crashed)));
      const never = n.perFault.filter((f) => f.healMs === undefined).length;
      const ms = (x: number) => (Number.isFinite(x) ? String(x) : 'never');
      // No heal of that kind drawn: nothing measured (not "never").
      const heals = (x: ReturnType<typeof summary>, extra = '') =>
        x.n ? `${ms(x.p50)} / ${ms(x.p99)} / ${ms(x.max)} (n ${x.n}${extra})` : `none (n 0${extra})`;
      const decided = n.perFault.filter((f) => f.decidedMs !== undefined);
      const worst = decided.reduce<(typeof decided)[number] | undefined>((w, f) => (!w || f.decidedMs! > w.decidedMs! ? f : w), undefined);
      // A cut (a fault with sides) held past the window + 3 s that no decision answered.
      const cuts = ['isolate-one', 'halves', 'bridge', 'one-way', 'crash-in-cut', 'majorities-ring'];
      const undecided = n.perFault.filter((f) => cuts.includes(f.kind) && f.decidedMs === undefined);
      const minority = summary(n.perFault.filter((f) => f.minorityFencedMs !== undefined).map((f) => f.minorityFencedMs!));
      const runsFenced = summary(r.fenced);
      const held = n.perFault.reduce<Record<string, number>>((acc, f) => ({ ...acc, [`${f.holdMs / 1000} s`]: (acc[`${f.holdMs / 1000} s`] ?? 0) + 1 }), {});
      printTable(
        `nemesis: ${n.seconds} s, a fault every ~10 s held 10 s or 30 s (${JSON.stringify(n.faults)}; held ${JSON.stringify(held)}), /healthz of every host and the fences memo sampled every 200 ms; window ${r.windowMs} ms`,
        ['measure', 'observed', 'target'],
        [
          ['split-brain moments (two disjoint sides serving, window + 3 s after a cut)', n.splitBrain.length, '0'],
          ['samples', n.samples, ''],
          ['cut → minority fenced, p50 / p99 / max (the cut phase)', `${runsFenced.p50} / ${runsFenced.p99} / ${runsFenced.max}`, `p99 ≤ ${r.windowMs + 2_000}`],
          ['fault → minority fenced, p50 / p99 / max (nemesis faults with a minority)', `${minority.p50} / ${minority.p99} / ${minority.max} (n ${minority.n})`, `p99 ≤ ${r.windowMs + 2_000}`],
          ['worst time to a decision, any fault (fault → fences memo)', worst ? `${worst.decidedMs} (${worst.kind})` : '-', `≤ ${r.windowMs + 3_000}`],
          ['cuts never decided', undecided.length, '0'],
          ['heal → every live host serves, unfenced: p50 / p99 / max', heals(heal, never ? `, ${never} never whole` : ''), `p99 ≤ ${r.windowMs + 2_000}`],
          ['  of which after a crash during a cut: p50 / p99 / max', heals(crashHeal), `p99 ≤ ${r.windowMs + 2_000}`],
          ['heals slower than the window + 2 s (or never)', n.slowHeals.length, ''],
          ['flips of the serving side (after a decision, within a fault)', n.flips.length, '0'],
          ['moments the majority side was not routed', n.majorityNotRouting.length, '0'],
          ['agents running at the end', n.agentsRunning, 'all'],
          ['histories replayed (failures)', `${n.replayed} (${n.replayFailures.length})`, '0 failures'],
        ],
      );
      const kinds = [...new Set(n.perFault.map((f) => f.kind))].sort();
      printTable(
        'nemesis per fault kind, ms after the fault (decided: the fences memo changed; heal: after the heal)',
        ['fault', 'n', 'decided p50', 'decided max', 'minority fenced max', 'heal p50', 'heal max'],
        kinds.map((k) => {
          const fs = n.perFault.filter((f) => f.kind === k);
          const d = summary(fs.filter((f) => f.decidedMs !== undefined).map((f) => f.decidedMs!));
          const m = summary(fs.filter((f) => f.minorityFencedMs !== undefined).map((f) => f.minorityFencedMs!));
          const h = summary(fs.filter((f) => f.healMs !== undefined).map((f) => f.healMs!));
          return [k, fs.length, d.n ? d.p50 : '-', d.n ? d.max : '-', m.n ? m.max : '-', h.n ? h.p50 : '-', h.n ? h.max : '-'];
        }),
      );
      printTable(
        "agents' histories over the run (a full replay is what a task on the shared queue costs; the agents' task timeout is 4 s)",
        ['agent', 'runs', 'events, longest run', 'slowest full replay, ms (events)', 'task timeouts', 'task failures'],
        n.histories
          .filter((a) => a.runs > 1 || a.maxEvents > 200 || a.taskTimeouts > 0)
          .slice(0, 16)
          .map((a) => [
            a.agent,
            a.runs,
            a.maxEvents,
            `${a.slowestReplayMs} (${a.slowestReplayEvents})`,
            a.taskTimeouts,
            Object.entries(a.taskFailures).map(([c, k]) => `${c} ×${k}`).join(', ') || '0',
          ]),
      );
      for (const l of n.flips.slice(0, 10)) console.log(`  flip: ${l}`);
      console.log(`faults in order: ${n.perFault.map((f) => `${f.kind}/${f.holdMs / 1000}s d${f.decidedMs ?? '-'} h${f.healMs ?? '-'}`).join(' ')}`);
      for (const l of [...n.splitBrain, ...n.majorityNotRouting, ...n.slowHeals, ...n.replayFailures].slice(0, 20)) console.log(`  ${l}`);
      for (const l of n.diagnostics) console.log(`  ${l}`);
      if (n.splitBrain.length || n.flips.length || n.replayFailures.length) process.exitCode = 1;
    }
    return;
  }
  if (which === 'consensus') {
    await withServer(`bench-consensus-${Date.now()}`, async (_client, env, address) => {
      const rounds = count('runs', values.runs, 100);
      const r = await benchConsensus({ address, env, rounds });
      printTable(
        `consensus rounds, ms (3 host workers running every agent; ${rounds} rounds one after another, each voted on by the coordinator's default participants)`,
        ['measure', 'n', 'p50', 'p99', 'min', 'max', 'target'],
        consensusRows(r),
      );
      console.log(`results: ${JSON.stringify(r.results)}`);
    });
    return;
  }
  if (which === 'router' || which === 'all') {
    printTable(
      'router decision cost (one core, batches of 1000; target RR and P2C at 100: p99 ≤ 10 µs, ≥ 1 M/s)',
      ['strategy', 'targets', 'ns p50', 'ns p99', 'decisions/s'],
      benchRouter(),
    );
    printTable(
      'Maglev: build time, and keys moved when one target leaves (ideal 1/N)',
      ['targets', 'table size', 'build ms', 'keys moved %', 'ideal %', 'moved / ideal', 'max slots / mean'],
      benchMaglev(),
    );
  }
  if (which === 'balance' || which === 'all') {
    printTable(
      'balance under skewed capacities: max/mean load per unit of capacity (1.00 = proportional; 50,000 simulated requests)',
      ['capacities', 'strategy', 'served max/mean', 'peak conns max/mean'],
      benchBalance(),
    );
  }
  if (which === 'discovery' || which === 'all') {
    await withServer('bench', async (client, env) => {
      const r = await benchDiscovery(client, env, runs);
      printTable(
        `discovery latency, ms (${runs} worker starts; target: poll → alive p50 ≤ 300 ms)`,
        ['measure', 'n', 'p50', 'p99', 'min', 'max'],
        discoveryRows(r),
      );
    });
  }
  if (which === 'control' || which === 'all') {
    await withServer('bench-control', async (_client, env, address) => {
      const r = await benchControl({ address, env, routers, updates: runs, calls });
      printTable(
        `load-balancer control plane, ms (3 host workers, ${routers} routers; targets: capacity update → all routers p50 ≤ 100 ms, distributeLoad p50 ≤ 20 ms)`,
        ['measure', 'n', 'p50', 'p99', 'min', 'max'],
        controlRows(r, routers),
      );
    });
  }
  if (which === 'load' || which === 'all') {
    await withServer(`bench-load-${Date.now()}`, async (_client, env, address) => {
      const r = await benchLoad({ address, env, routers, runs });
      printTable(
        `a host's real load → routers, ms (3 host workers in cgroups of their own, one busy core moved into ld1's; ${routers} routers; ${runs} runs; load steady > report interval before each step)`,
        ['measure', 'n', 'p50', 'p99', 'min', 'max'],
        loadRows(r, routers),
      );
      console.log(`ld1's weight before → under load, per run: ${r.loadedWeights.join(', ')}`);
    });
  }
  if (which === 'failure' || which === 'all') {
    await withServer(`bench-fd-${Date.now()}`, async (client, env) => {
      const r = await benchDetection(client, env, { kills, stops, leaves, lease });
      const l = LEASES[lease];
      printTable(
        `failure detection, ms (5 host workers and a victim at ${l.heartbeatMs / 1000} s heartbeats / ${l.timeoutMs / 1000} s lease timeout (--lease ${lease}), FailureDetector defaults, peer watches k = 3: ${kills} SIGKILLs, ${stops} SIGSTOPs held until dead, ${leaves} SIGTERMs)`,
        ['measure', 'n', 'p50', 'p99', 'max', 'p50 / lease', 'p99 / lease', 'target'],
        detectionRows(r),
      );
      console.log(`verdict reasons: ${JSON.stringify(r.reasons)}`);
    });
  }
  if (which === 'false-positives' || which === 'all') {
    await withServer(`bench-fp-${Date.now()}`, async (client, env) => {
      const r = await benchFalsePositives(client, env, fpHosts, fpSeconds);
      printTable(
        'false positives under CPU stress (two busy loops on the two cores; 0.5 s heartbeats, 1.5 s lease timeout; target: 0 dead)',
        ['hosts', 'seconds', 'suspicions', 'refuted', 'declared dead', 'most not-alive at once (nodes)'],
        [[r.hosts, r.seconds, r.suspicions, r.refuted, r.dead, r.ndNotAlive]],
      );
      for (const reason of r.deadReasons) console.log(`declared dead: ${reason}`);
    });
  }
  if (which === 'fd-scale' || which === 'all') {
    await withServer(`bench-scale-${Date.now()}`, async (client, env, address) => {
      const r = await benchSignals(client, address, env.CLUSTER_WORKFLOW_BUNDLE as string, simHosts, windowS);
      printTable(
        `signals reaching the cluster-level agents from ${simHosts} hosts in a steady state (${windowS} s window; default 1 s / 3 s leases, 15 s terms; every host watches 3 peers)`,
        [
          'hosts',
          'signals/s',
          'to failure-detector',
          'to node-discovery',
          'to load-balancer',
          'to health-monitor',
          'lease terms/s (NodeAgents)',
          'monitor: nodes / vitals rounds / nodes read + predicted',
          'peer watches open / reconnects / crashes reported',
        ],
        [
          [
            r.hosts,
            r.signalsPerS.toFixed(3),
            r.byAgent['failure-detector'] ?? 0,
            r.byAgent['node-discovery'] ?? 0,
            r.byAgent['load-balancer'] ?? 0,
            r.byAgent['health-monitor'] ?? 0,
            r.leaseTermsPerS.toFixed(2),
            `${r.monitor.nodes} / ${r.monitor.vitalsRounds} / ${r.monitor.withRisk}`,
            `${r.watches.open} / ${r.watches.reconnects} / ${r.watches.reported}`,
          ],
        ],
      );
    });
  }
  if (which === 'up' || which === 'all') {
    const r = await benchUp(upRuns);
    printTable(
      'npm run up on a warm machine, ms (spawn → "ready"; stop = SIGINT → exit 0 with no process left)',
      ['run', 'data folder', 'spawn → ready', 'up.ts own clock', 'stop'],
      r.map((x) => [x.run, x.data, x.readyMs, x.reportedMs, x.stopMs]),
    );
  }
}

/** A fresh dev server and workflow bundle for one benchmark; host workers get `env`. */
async function withServer(
  clusterId: string,
  fn: (client: Client, env: NodeJS.ProcessEnv, address: string) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cluster-agents-bench-'));
  const [server, bundle] = await Promise.all([
    startDevServer({ port: 0 }),
    writeWorkflowBundle(join(dir, 'bundle.js')),
  ]);
  const connection = await Connection.connect({ address: server.address });
  try {
    const env = {
      TEMPORAL_ADDRESS: server.address,
      CLUSTER_WORKFLOW_BUNDLE: bundle,
      CLUSTER_ID: clusterId,
      CLUSTER_MULTICAST: 'off',
    };
    await fn(new Client({ connection }), env, server.address);
  } finally {
    await connection.close();
    await server.stop();
  }
}

main().catch((err: Error) => {
  console.error(`bench: ${err.message}`);
  process.exit(1);
});
