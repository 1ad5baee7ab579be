/**
 * The LoadBalancer agent's state changes, as pure functions: targets from the topology, health
 * verdicts, capacity and load reports, outcome batches, surges. Each returns whether the routing
 * table must be republished.
 */
import type { MemberSummary, NodeHealth, NodeStatus } from '../../contracts/common';
import type {
  CapacityUpdate,
  HealthVerdict,
  LbStrategy,
  LoadBalancerConfig,
  LoadBalancerState,
  OutcomeReport,
  Thresholds,
  TrafficSurge,
} from '../../contracts/load-balancer';
import { pushBounded } from '../bounded';
import { closedBreaker, maxEjected, recordOutcomes, tickBreaker } from './breaker';
import { isLive } from './table';

const LOAD_SAMPLES_KEPT = 30;
/** The service name of a host that announced none: its health endpoint is the target. */
export const HOST_SERVICE = 'host';

export function emptyLbState(): LoadBalancerState {
  return {
    targets: {},
    verdicts: {},
    breakers: {},
    loadHistory: {},
    tableVersion: 0,
    history: [],
    patterns: [],
    topologyVersion: 0,
    outcomes: { reports: 0, outcomes: 0 },
  };
}

export const effectiveStrategy = (s: LoadBalancerState, c: LoadBalancerConfig): LbStrategy => s.strategy ?? c.strategy;
/**
 * A surge's thresholds, else those adapted to what the agent observed — never above the config's,
 * which an operator may have lowered since the last adaptation —, else the config's.
 */
export const effectiveThresholds = (s: LoadBalancerState, c: LoadBalancerConfig): Thresholds => {
  if (s.thresholds) return s.thresholds;
  const a = s.adapted?.thresholds;
  if (!a) return c.thresholds;
  const l = c.thresholds;
  return {
    cpu: Math.min(a.cpu, l.cpu),
    memory: l.memory,
    connections: Math.min(a.connections, l.connections),
    responseTimeMs: Math.min(a.responseTimeMs, l.responseTimeMs),
    errorRate: l.errorRate,
  };
};

/** Targets of one member: each announced service, or the host's health endpoint. */
export function targetsOf(
  m: Pick<MemberSummary, 'nodeId' | 'address' | 'healthPort' | 'services'>,
): { service: string; port: number }[] {
  const services = Object.entries(m.services ?? {});
  if (!services.length) return [{ service: HOST_SERVICE, port: m.healthPort }];
  return services.map(([service, port]) => ({ service, port })).sort((a, b) => a.service.localeCompare(b.service));
}

/**
 * Reconciles targets with a full member list: new members' targets are added, known ones take the
 * member's address, zone, status and health, and targets of nodes no longer listed are removed.
 */
export function syncTargets(s: LoadBalancerState, members: MemberSummary[], now: number): boolean {
  let changed = false;
  const seen = new Set<string>();
  for (const member of members) {
    const v = liftStaleLiveness(s, member);
    const m = v ? { ...member, status: v.status ?? member.status, health: v.health ?? member.health } : member;
    for (const { service, port } of targetsOf(m)) {
      const id = `${m.nodeId}/${service}`;
      seen.add(id);
      const t = s.targets[id];
      if (!t) {
        s.targets[id] = {
          id,
          nodeId: m.nodeId,
          service,
          address: m.address,
          port,
          zone: m.zone,
          status: m.status,
          health: m.health,
          incarnation: m.incarnation,
          capacity: { cpu: 1, memory: 1, network: 1, maxConnections: 1_000 },
          load: { cpu: 0, memory: 0, network: 0, connections: 0 },
          requests: 0,
          failures: 0,
        };
        s.breakers[id] = closedBreaker(now);
        changed = true;
        continue;
      }
      if (
        t.address !== m.address ||
        t.port !== port ||
        t.zone !== m.zone ||
        t.status !== m.status ||
        t.health !== m.health
      ) {
        Object.assign(t, { address: m.address, port, zone: m.zone, status: m.status, health: m.health });
        changed = true;
      }
      // Not a routing input: no republish for it alone. Verdicts are keyed to it (applyVerdict).
      t.incarnation = m.incarnation;
    }
  }
  for (const id of Object.keys(s.targets)) {
    if (!seen.has(id)) {
      delete s.targets[id];
      delete s.breakers[id];
      delete s.loadHistory[id];
      changed = true;
    }
  }
  return changed;
}

/**
 * A newer incarnation of a node lifts the liveness verdict (alive/suspect/dead) given about an
 * older one: the node refuted it. A health verdict (the HealthMonitor's: unhealthy, a quarantine)
 * is not about an incarnation — the monitor keeps it across them and signals only when it changes,
 * so it holds until the monitor sends another. Returns the node's verdict after that.
 */
function liftStaleLiveness(
  s: LoadBalancerState,
  member: MemberSummary,
): LoadBalancerState['verdicts'][string] | undefined {
  const v = s.verdicts[member.nodeId];
  if (!v || member.incarnation <= v.incarnation) return v;
  if (v.health === undefined) {
    delete s.verdicts[member.nodeId];
    return undefined;
  }
  const kept = { health: v.health, incarnation: member.incarnation, at: v.at };
  s.verdicts[member.nodeId] = kept;
  return kept;
}

/**
 * A liveness or health verdict about a node (FailureDetector, HealthMonitor). A liveness verdict
 * holds for the incarnation it was given about; a health verdict until the next health verdict
 * (see liftStaleLiveness).
 */
export function applyVerdict(s: LoadBalancerState, v: HealthVerdict, now: number): boolean {
  let changed = false;
  const targets = Object.values(s.targets).filter((t) => t.nodeId === v.nodeId);
  const incarnation = Math.max(0, ...targets.map((t) => t.incarnation));
  const prev = s.verdicts[v.nodeId];
  s.verdicts[v.nodeId] = {
    status: v.status ?? (prev?.incarnation === incarnation ? prev.status : undefined),
    health: v.health ?? prev?.health,
    incarnation,
    at: now,
  };
  for (const t of targets) {
    if (v.status !== undefined && t.status !== v.status) {
      t.status = v.status as NodeStatus;
      changed = true;
    }
    if (v.health !== undefined && t.health !== v.health) {
      t.health = v.health as NodeHealth;
      changed = true;
    }
  }
  return changed;
}

/** Applies a capacity/load report; returns the ids of the targets it touched. */
export function applyCapacity(
  s: LoadBalancerState,
  u: CapacityUpdate,
  now: number,
  o: {
    /**
     * Connections are the routers' in-flight counts (agents that observe routers): a host's load
     * report (whose schema fills connections with 0) must not wipe them until the next router report.
     */
    connectionsFromRouters?: boolean;
  } = {},
): string[] {
  const touched: string[] = [];
  for (const t of Object.values(s.targets)) {
    if (t.nodeId !== u.nodeId || (u.service !== undefined && t.service !== u.service)) continue;
    if (u.capacity) t.capacity = { ...t.capacity, ...u.capacity };
    if (u.load) {
      t.load = o.connectionsFromRouters
        ? { ...t.load, ...u.load, connections: t.load.connections }
        : { ...t.load, ...u.load };
      t.loadUpdatedAt = now;
      pushBounded((s.loadHistory[t.id] ??= []), { at: now, cpu: t.load.cpu }, LOAD_SAMPLES_KEPT);
    }
    touched.push(t.id);
  }
  return touched;
}

/** True when any routed weight moved by more than `threshold` (relative), or the routed set changed. */
export function weightsMoved(
  before: Record<string, number>,
  after: Record<string, number>,
  threshold: number,
): boolean {
  const ids = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const id of ids) {
    const a = before[id];
    const b = after[id];
    if (a === undefined || b === undefined) return true;
    if (Math.abs(b - a) / Math.max(a, 1) > threshold) return true;
  }
  return false;
}

/** Folds a router's batch into EWMAs, counters and breakers; true when a breaker changed state. */
export function applyOutcomes(
  s: LoadBalancerState,
  report: OutcomeReport,
  c: LoadBalancerConfig,
  now: number,
): boolean {
  let changed = false;
  s.outcomes.reports += 1;
  const live = Object.values(s.targets).filter(isLive).length;
  const limit = maxEjected(live, c.breaker);
  const errorRate = effectiveThresholds(s, c).errorRate;
  for (const o of report.outcomes) {
    const t = s.targets[o.targetId];
    if (!t) continue;
    const failures = Math.min(o.count, o.failures ?? (o.ok ? 0 : o.count));
    s.outcomes.outcomes += o.count;
    t.requests += o.count;
    t.failures += failures;
    t.ewmaMs = t.ewmaMs === undefined ? o.latencyMs : t.ewmaMs + c.ewmaAlpha * (o.latencyMs - t.ewmaMs);
    const b = (s.breakers[t.id] ??= closedBreaker(now));
    const open = Object.values(s.breakers).filter((x) => x.state === 'open').length;
    if (recordOutcomes(b, { successes: o.count - failures, failures }, now, c.breaker, errorRate, open < limit))
      changed = true;
  }
  return changed;
}

/**
 * Half-opens breakers whose ejection is over and ends an expired surge; true when anything changed.
 * `adaptive`: the thresholds after a surge are the adapted ones again (whatever they became
 * meanwhile), not a copy of those in force when it began (runs before adaptive thresholds).
 */
export function tick(s: LoadBalancerState, now: number, o: { adaptive?: boolean } = {}): boolean {
  let changed = false;
  for (const b of Object.values(s.breakers)) if (tickBreaker(b, now)) changed = true;
  if (s.surge && now >= s.surge.until) {
    s.strategy = s.surge.previousStrategy;
    s.thresholds = o.adaptive ? undefined : s.surge.previousThresholds;
    s.surge = undefined;
    changed = true;
  }
  return changed;
}

/** The strategy a surge moves to: spread by live load instead of by a fixed order. */
export function surgeStrategy(current: LbStrategy): LbStrategy {
  return current === 'least_connections' || current === 'latency_aware'
    ? 'adaptive'
    : current === 'adaptive'
      ? 'adaptive'
      : 'least_connections';
}

/** Under a surge, targets count as overloaded earlier so that weights move off hot ones sooner. */
export function surgeThresholds(t: Thresholds): Thresholds {
  return { ...t, cpu: round2(t.cpu * 0.9), memory: round2(t.memory * 0.95), connections: round2(t.connections * 0.9) };
}

export function applySurge(s: LoadBalancerState, u: TrafficSurge, c: LoadBalancerConfig, now: number): void {
  const from = effectiveStrategy(s, c);
  const until = now + (u.durationMs ?? c.surgeHoldMs);
  if (s.surge) s.surge.until = Math.max(s.surge.until, until);
  else {
    const thresholds = effectiveThresholds(s, c);
    s.surge = { until, previousStrategy: from, previousThresholds: thresholds };
    s.strategy = surgeStrategy(from);
    s.thresholds = surgeThresholds(thresholds);
  }
  pushBounded(
    s.patterns,
    {
      at: now,
      requestsPerSecond: u.requestsPerSecond,
      baselinePerSecond: u.baselinePerSecond,
      source: u.source,
      from,
      to: effectiveStrategy(s, c),
    },
    c.patternHistorySize,
  );
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
