/**
 * Builds the routing table routers hold from the agent's state: which targets are eligible, their
 * weights from free capacity, panic mode. Pure; the agent rebuilds it whenever an input changes.
 *
 * Eligible: status alive or suspect (not yet confirmed dead), health healthy, degraded or unknown,
 * breaker not open. Panic (Envoy): when eligible / live < panicThreshold, every live target is
 * routed to, because sending a surge to the few left would take them down too.
 * Weight (weighted_round_robin): free capacity per resource, free_r = capacity_r × (1 − utilization_r),
 * normalised by the largest free_r among the routed targets, combined as 0.4 cpu + 0.3 memory +
 * 0.3 network, scaled to 1-100; an overloaded target keeps a quarter of its weight (min 1).
 */
import type {
  Breaker,
  LbStrategy,
  LoadBalancerConfig,
  RouteTarget,
  RoutingTable,
  Target,
  Thresholds,
} from '../../contracts/load-balancer';
import { isLiveStatus } from '../membership';
import { maglevTableSizeFor } from './maglev';

export const RESOURCE_WEIGHTS = { cpu: 0.4, memory: 0.3, network: 0.3 } as const;
const OVERLOADED_WEIGHT_FACTOR = 0.25;

export interface TableInputs {
  clusterId: string;
  version: number;
  now: number;
  strategy: LbStrategy;
  thresholds: Thresholds;
  config: Pick<LoadBalancerConfig, 'panicThreshold' | 'zonePenaltyMs' | 'spilloverThreshold' | 'maglevTableSize'>;
  targets: Record<string, Target>;
  breakers: Record<string, Breaker>;
  loadHistory?: Record<string, { at: number; cpu: number }[]>;
  /** Maglev size of the table in use: an automatic size keeps it while it still fits (maglevTableSizeFor). */
  previousMaglevTableSize?: number;
  /** Cordoned nodes: their targets are left out before anything else (never routed, not even in panic). */
  cordoned?: Readonly<Record<string, unknown>>;
  /** Hosts fenced by the partition handler, with the fence generation. */
  fenced?: Readonly<Record<string, unknown>>;
  fenceGeneration?: number;
}

export function isLive(t: Target): boolean {
  return isLiveStatus(t.status);
}

export function overloadReasons(t: Target, th: Thresholds): string[] {
  const out: string[] = [];
  if (t.load.cpu > th.cpu) out.push(`cpu ${t.load.cpu} > ${th.cpu}`);
  if (t.load.memory > th.memory) out.push(`memory ${t.load.memory} > ${th.memory}`);
  const conns = t.load.connections / t.capacity.maxConnections;
  if (conns > th.connections) out.push(`connections ${conns.toFixed(2)} > ${th.connections}`);
  if (t.ewmaMs !== undefined && t.ewmaMs > th.responseTimeMs)
    out.push(`response time ${Math.round(t.ewmaMs)} ms > ${th.responseTimeMs}`);
  const errorRate = t.requests ? t.failures / t.requests : 0;
  if (t.requests >= 20 && errorRate > th.errorRate) out.push(`error rate ${errorRate.toFixed(2)} > ${th.errorRate}`);
  return out;
}

/** Least-squares slope of cpu utilization per second over the samples (0 with fewer than 3). */
export function trendPerSecond(samples: { at: number; cpu: number }[] | undefined): number {
  if (!samples || samples.length < 3) return 0;
  const n = samples.length;
  const t0 = (samples[0] as { at: number }).at;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let sxy = 0;
  for (const s of samples) {
    const x = (s.at - t0) / 1000;
    sx += x;
    sy += s.cpu;
    sxx += x * x;
    sxy += x * s.cpu;
  }
  const den = n * sxx - sx * sx;
  return den === 0 ? 0 : (n * sxy - sx * sy) / den;
}

export function weightsFromFreeCapacity(targets: Target[]): number[] {
  const free = targets.map((t) => ({
    cpu: t.capacity.cpu * (1 - t.load.cpu),
    memory: t.capacity.memory * (1 - t.load.memory),
    network: t.capacity.network * (1 - t.load.network),
  }));
  const max = {
    cpu: Math.max(1e-9, ...free.map((f) => f.cpu)),
    memory: Math.max(1e-9, ...free.map((f) => f.memory)),
    network: Math.max(1e-9, ...free.map((f) => f.network)),
  };
  return free.map((f) =>
    Math.max(
      1,
      Math.round(
        100 *
          (RESOURCE_WEIGHTS.cpu * (f.cpu / max.cpu) +
            RESOURCE_WEIGHTS.memory * (f.memory / max.memory) +
            RESOURCE_WEIGHTS.network * (f.network / max.network)),
      ),
    ),
  );
}

export function buildRoutingTable(input: TableInputs): RoutingTable {
  const cordoned = input.cordoned ?? {};
  const fenced = input.fenced ?? {};
  const excluded: { id: string; reason: string }[] = [];
  // A cordoned or fenced node is out on purpose: it neither routes nor counts toward panic.
  const all = Object.values(input.targets)
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .filter((t) => {
      if (Object.hasOwn(fenced, t.nodeId)) {
        excluded.push({ id: t.id, reason: `fenced (generation ${input.fenceGeneration ?? 0})` });
        return false;
      }
      if (!Object.hasOwn(cordoned, t.nodeId)) return true;
      excluded.push({ id: t.id, reason: 'cordoned' });
      return false;
    });
  const live = all.filter(isLive);
  const eligible: Target[] = [];
  for (const t of all) {
    const b = input.breakers[t.id];
    if (!isLive(t)) excluded.push({ id: t.id, reason: `node ${t.status}` });
    else if (t.health === 'unhealthy') excluded.push({ id: t.id, reason: 'unhealthy' });
    else if (b?.state === 'open') excluded.push({ id: t.id, reason: `breaker open: ${b.lastReason ?? ''}`.trim() });
    else eligible.push(t);
  }
  const healthyShare = live.length ? eligible.length / live.length : 0;
  const panic = live.length > 0 && healthyShare < input.config.panicThreshold;
  const routed = panic ? live : eligible;
  const weights = weightsFromFreeCapacity(routed);
  const targets: RouteTarget[] = routed.map((t, i) => {
    const overloaded = overloadReasons(t, input.thresholds).length > 0;
    const base = weights[i] as number;
    return {
      id: t.id,
      nodeId: t.nodeId,
      service: t.service,
      address: t.address,
      port: t.port,
      zone: t.zone,
      weight: overloaded ? Math.max(1, Math.round(base * OVERLOADED_WEIGHT_FACTOR)) : base,
      headroom:
        RESOURCE_WEIGHTS.cpu * (1 - t.load.cpu) +
        RESOURCE_WEIGHTS.memory * (1 - t.load.memory) +
        RESOURCE_WEIGHTS.network * (1 - t.load.network),
      ewmaMs: t.ewmaMs ?? 0,
      connections: t.load.connections,
      maxConnections: t.capacity.maxConnections,
      trend: trendPerSecond(input.loadHistory?.[t.id]),
      overloaded,
      breaker: input.breakers[t.id]?.state ?? 'closed',
    };
  });
  return {
    version: input.version,
    clusterId: input.clusterId,
    builtAt: input.now,
    strategy: input.strategy,
    panic,
    healthyShare,
    zonePenaltyMs: input.config.zonePenaltyMs,
    spilloverThreshold: input.config.spilloverThreshold,
    maglevTableSize: input.config.maglevTableSize ?? maglevTableSizeFor(targets.length, input.previousMaglevTableSize),
    targets,
    excluded: panic ? excluded.filter((e) => !routed.some((t) => t.id === e.id)) : excluded,
    zones: zoneCounts(live, routed),
  };
}

function zoneCounts(live: Target[], routed: Target[]): Record<string, { live: number; routed: number }> {
  const out: Record<string, { live: number; routed: number }> = {};
  for (const t of live) (out[t.zone] ??= { live: 0, routed: 0 }).live += 1;
  for (const t of routed) (out[t.zone] ??= { live: 0, routed: 0 }).routed += 1;
  return out;
}
