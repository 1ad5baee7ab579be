/**
 * What the LoadBalancer publishes about its traffic for the orchestrator (memo `traffic`, read with
 * `describe`, no worker needed): the routers' request rate and mean response time, and the load
 * imbalance across the routed targets. Pure: the same state and table give the same summary.
 */
import type { LbStrategy, LoadBalancerState, RoutingTable } from '../../contracts/load-balancer';
import { imbalance, meanPerUnit, type TargetLoad } from '../orchestrator/imbalance';

export interface TrafficSummary {
  at: number;
  tableVersion: number;
  strategy: LbStrategy;
  /** Requests/s the routers reported over the last complete window (none reported yet: absent). */
  requestRate?: number;
  /** Mean response time the routers see, ms: the targets' EWMAs weighted by their requests. */
  latencyMs?: number;
  /** Mean load per unit of capacity (CPU share, or requests in flight per unit). */
  meanLoad: number;
  /** max / mean load per unit of capacity over the routed targets (1 = even, and when idle). */
  imbalance: number;
  /** What the imbalance was computed from: hosts' CPU reports, or requests in flight per capacity. */
  basis: 'cpu' | 'connections' | 'none';
  /** Per routed node: its load share per unit capacity (for the procedure's timeline). */
  loads: { nodeId: string; load: number; capacity: number }[];
}

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;
/** Below this mean load the imbalance is not judged: 20 % CPU, or 2 requests in flight per unit of capacity. */
export const IDLE_FLOOR = { cpu: 0.2, connections: 2 } as const;

export function trafficSummary(s: LoadBalancerState, table: RoutingTable, now: number): TrafficSummary {
  const routed = new Set(table.targets.map((t) => t.id));
  const targets = Object.values(s.targets)
    .filter((t) => routed.has(t.id))
    .sort((a, b) => a.id.localeCompare(b.id));
  // One entry per node (a node with several services carries one host's load).
  const byNode = new Map<string, (typeof targets)[number]>();
  for (const t of targets) if (!byNode.has(t.nodeId)) byNode.set(t.nodeId, t);
  const nodes = [...byNode.values()];
  const cpuKnown = nodes.length > 0 && nodes.every((t) => t.loadUpdatedAt !== undefined);
  const connections = nodes.some((t) => t.load.connections > 0);
  const basis = cpuKnown ? 'cpu' : connections ? 'connections' : 'none';
  const loads: TargetLoad[] = nodes.map((t) => ({
    nodeId: t.nodeId,
    // CPU utilisation is already a share of the host's own capacity: capacity 1.
    load: basis === 'cpu' ? t.load.cpu : t.load.connections,
    capacity: basis === 'cpu' ? 1 : t.capacity.cpu,
  }));
  const mean = meanPerUnit(loads);
  let weighted = 0;
  let requests = 0;
  for (const t of targets)
    if (t.ewmaMs !== undefined && t.requests > 0) {
      weighted += t.ewmaMs * t.requests;
      requests += t.requests;
    }
  return {
    at: now,
    tableVersion: table.version,
    strategy: table.strategy,
    ...(s.traffic?.rate !== undefined ? { requestRate: s.traffic.rate } : {}),
    ...(requests > 0 ? { latencyMs: round(weighted / requests, 1) } : {}),
    meanLoad: round(mean),
    // An idle cluster's shares are noise (2 % against 1 % is "2.0"): below the floor it counts as even.
    imbalance: basis === 'none' || mean < IDLE_FLOOR[basis] ? 1 : round(imbalance(loads)),
    basis,
    loads: loads.map((l) => ({ nodeId: l.nodeId, load: round(l.load), capacity: l.capacity })),
  };
}

/** Worth a new memo: anything but the time changed. */
export function trafficChanged(a: TrafficSummary | undefined, b: TrafficSummary): boolean {
  if (!a) return true;
  const { at: _a, ...x } = a;
  const { at: _b, ...y } = b;
  return JSON.stringify(x) !== JSON.stringify(y);
}

/** Strategies that ignore load: a rebalance moves them to one that weighs free capacity. */
export function loadBlindAlternative(strategy: LbStrategy): LbStrategy | undefined {
  return strategy === 'round_robin' ? 'weighted_round_robin' : undefined;
}
