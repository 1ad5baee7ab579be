/**
 * `npm run bench -- router`: router decision cost per strategy at 10, 100 and 1,000 targets, on
 * one core, no server. Decisions are timed in batches of 1,000 (a per-call clock read would cost
 * more than the decision); p50/p99 are over the batches' per-decision means.
 */
import {
  LB_STRATEGIES,
  LoadBalancerConfig,
  type LbStrategy,
  type RoutingTable,
  type Target,
} from '../src/contracts/load-balancer';
import { buildRoutingTable } from '../src/core/lb/table';
import { buildMaglev, maglevLookup, maglevTableSizeFor } from '../src/core/lb/maglev';
import { Picker } from '../src/core/lb/picker';
import { percentile } from './stats';

/** A table as the agent builds it (src/core/lb/table.ts), from n targets of varied capacity and load. */
function table(n: number, strategy: LbStrategy): RoutingTable {
  const targets: Record<string, Target> = {};
  for (let i = 0; i < n; i++) {
    const id = `node-${i}/web`;
    targets[id] = {
      id,
      nodeId: `node-${i}`,
      service: 'web',
      address: '10.0.0.1',
      port: 8000 + i,
      zone: `zone-${i % 3}`,
      status: 'alive',
      health: 'healthy',
      incarnation: 1,
      capacity: { cpu: 1 + (i % 7), memory: 1 + (i % 5), network: 1, maxConnections: 1000 },
      load: { cpu: (i % 5) / 10, memory: (i % 4) / 10, network: 0.1, connections: i % 17 },
      ewmaMs: 5 + (i % 11),
      requests: 0,
      failures: 0,
    };
  }
  const config = LoadBalancerConfig.parse({});
  return buildRoutingTable({
    clusterId: 'bench',
    version: 1,
    now: 0,
    strategy,
    thresholds: config.thresholds,
    config,
    targets,
    breakers: {},
  });
}

export function benchRouter(): (string | number)[][] {
  const rows: (string | number)[][] = [];
  const keys = Array.from({ length: 1024 }, (_, i) => `session-${i}`);
  for (const strategy of LB_STRATEGIES) {
    for (const n of [10, 100, 1000]) {
      const p = new Picker(table(n, strategy));
      const req = { clientZone: 'zone-1', key: undefined as string | undefined };
      const batch = 1_000;
      const per: number[] = [];
      let sink = 0;
      const t0 = process.hrtime.bigint();
      for (let b = 0; b < 300; b++) {
        const s = process.hrtime.bigint();
        for (let i = 0; i < batch; i++) {
          if (strategy === 'consistent_hash') req.key = keys[i & 1023];
          sink += p.pick(req);
        }
        per.push(Number(process.hrtime.bigint() - s) / batch);
      }
      const total = Number(process.hrtime.bigint() - t0) / 1e9;
      if (sink < 0) console.log(sink);
      const measured = per.slice(50); // after warm-up
      rows.push([strategy, n, percentile(measured, 50), percentile(measured, 99), Math.round((300 * batch) / total)]);
    }
  }
  return rows;
}

/**
 * Maglev build time and disruption: the share of 100,000 keys that map elsewhere when one of N
 * targets leaves (ideal 1/N), with the automatic size (maglevTableSizeFor) and, for comparison,
 * the fixed 65,537 slots that were the default before; and the most slots one target owns over
 * the mean (its share of keys over the fair share).
 */
export function benchMaglev(): (string | number)[][] {
  const rows: (string | number)[][] = [];
  const cases: [number, 'auto' | number][] = [
    [100, 'auto'],
    [1000, 'auto'],
    [1000, 65_537],
    [5000, 'auto'],
    [5000, 65_537],
  ];
  for (const [n, sizing] of cases) {
    const names = Array.from({ length: n }, (_, i) => `node-${i}/web`);
    const size = sizing === 'auto' ? maglevTableSizeFor(n) : sizing;
    const t0 = process.hrtime.bigint();
    const a = buildMaglev(names, size);
    const buildMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const owned = new Array<number>(n).fill(0);
    for (const slot of a.slots) owned[slot] = (owned[slot] as number) + 1;
    const balance = Math.max(...owned) / (size / n);
    const without = names.filter((_, i) => i !== Math.floor(n / 2));
    // The agent keeps the size in use when one target leaves.
    const b = buildMaglev(without, sizing === 'auto' ? maglevTableSizeFor(n - 1, size) : size);
    let moved = 0;
    const keys = 100_000;
    for (let k = 0; k < keys; k++) if (names[maglevLookup(a, `k${k}`)] !== without[maglevLookup(b, `k${k}`)]) moved++;
    const share = moved / keys;
    rows.push([
      n,
      sizing === 'auto' ? `${size} (auto)` : `${size} (fixed)`,
      buildMs,
      (share * 100).toFixed(3),
      (100 / n).toFixed(3),
      (share * n).toFixed(2),
      balance.toFixed(3),
    ]);
  }
  return rows;
}
