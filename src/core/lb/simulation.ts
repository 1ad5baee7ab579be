/**
 * How load spreads under skewed capacities, simulated in virtual time with the real table builder
 * and picker (no server, no clock). Shared by the simulation tests and `npm run bench -- balance`;
 * no agent runs it.
 *
 * One request arrives per time unit and holds a connection for ⌈serviceUnits / capacity⌉ units (a
 * bigger host serves faster); its latency is that hold time, so latency-driven strategies see it.
 * Load is requests served per unit of capacity; max/mean of it is 1 when the spread follows capacity.
 */
import { LoadBalancerConfig, type LbStrategy, type RoutingTable } from '../../contracts/load-balancer';
import { Picker } from './picker';
import { applyCapacity, emptyLbState, syncTargets } from './state';
import { buildRoutingTable } from './table';

/** A seeded PRNG (mulberry32): reproducible P2C choices in tests and benchmarks. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * An agent state with hosts n0, n1, ... of these capacities (cpu, memory, network alike; 100
 * connections per unit), its config, and a builder of its routing table at a given time.
 */
export function skewedCluster(strategy: LbStrategy, capacities: number[], cfgPatch: Record<string, unknown> = {}) {
  const cfg = LoadBalancerConfig.parse({ strategy, ...cfgPatch });
  const s = emptyLbState();
  syncTargets(
    s,
    capacities.map((_, i) => ({
      nodeId: `n${i}`,
      status: 'alive' as const,
      health: 'healthy' as const,
      address: '10.0.0.1',
      healthPort: 80,
      zone: 'a',
      incarnation: 1,
    })),
    0,
  );
  capacities.forEach((c, i) =>
    applyCapacity(s, { nodeId: `n${i}`, capacity: { cpu: c, memory: c, network: c, maxConnections: 100 * c } }, 0),
  );
  let version = 0;
  const build = (now: number): RoutingTable =>
    buildRoutingTable({
      clusterId: 'sim',
      version: ++version,
      now,
      strategy: cfg.strategy,
      thresholds: cfg.thresholds,
      config: cfg,
      targets: s.targets,
      breakers: s.breakers,
    });
  return { cfg, s, build };
}

export interface SpreadOptions {
  strategy: LbStrategy;
  capacities: number[];
  /** Requests (= time units) simulated (default 8000). */
  requests?: number;
  /** Work per request: a host of capacity c holds it ⌈serviceUnits / c⌉ units (default 40). */
  serviceUnits?: number;
  seed?: number;
  /** Distinct sticky keys, one per request in turn (consistent hashing); none when absent. */
  keys?: number;
}

export interface Spread {
  served: number[];
  /** max/mean of served per unit of capacity (1 = proportional to capacity). */
  imbalance: number;
  /** max/mean of peak concurrent connections per unit of capacity. */
  peakImbalance: number;
}

/** max/mean of per-target load relative to capacity. */
export function imbalance(perTarget: number[], capacities: number[]): number {
  const util = perTarget.map((r, i) => r / (capacities[i] as number));
  return Math.max(...util) / (util.reduce((a, b) => a + b, 0) / util.length);
}

export function simulateSpread(o: SpreadOptions): Spread {
  const { capacities } = o;
  const requests = o.requests ?? 8_000;
  const work = o.serviceUnits ?? 40;
  const picker = new Picker(skewedCluster(o.strategy, capacities).build(0), { random: seeded(o.seed ?? 11) });
  // Ends due per time unit (a ring of the longest hold), so the loop stays O(requests).
  const longest = Math.ceil(work / Math.min(...capacities)) + 1;
  const due: number[][] = Array.from({ length: longest }, () => []);
  const served = new Array<number>(capacities.length).fill(0);
  const active = new Array<number>(capacities.length).fill(0);
  const peak = new Array<number>(capacities.length).fill(0);
  for (let t = 0; t < requests; t++) {
    const ending = due[t % longest] as number[];
    for (const i of ending) {
      picker.end(i, Math.ceil(work / (capacities[i] as number)));
      active[i] = (active[i] as number) - 1;
    }
    ending.length = 0;
    const i = picker.pick(o.keys ? { key: `session-${t % o.keys}` } : undefined);
    picker.begin(i);
    served[i] = (served[i] as number) + 1;
    active[i] = (active[i] as number) + 1;
    peak[i] = Math.max(peak[i] as number, active[i] as number);
    (due[(t + Math.ceil(work / (capacities[i] as number))) % longest] as number[]).push(i);
  }
  return { served, imbalance: imbalance(served, capacities), peakImbalance: imbalance(peak, capacities) };
}
