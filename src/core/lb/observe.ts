/**
 * What the LoadBalancer learns from the routers, as pure functions: requests in flight per target
 * (summed over routers: the target's connections), the request rate and its baseline (surge
 * detection), and thresholds adapted to what the targets carry.
 *
 * Adaptive thresholds: a target is overloaded when it carries well over its peers, or past the
 * operator's limit — whichever comes first. Every `thresholdAdaptIntervalMs` the agent sets
 *   cpu           median of the targets' reported CPU + 0.25, within [min(0.5, limit), limit]
 *   connections   median share of max connections + 0.3, within [min(0.5, limit), limit]
 *   response time 3 × the median EWMA of targets with outcomes, within [min(50 ms, limit), limit]
 * in steps of 0.05 (shares) and 10 ms, so that a drift by a hair publishes no new table,
 * and keeps memory and error rate at their limits (routing does not move memory; an error rate is
 * already relative). With fewer than two targets reporting a metric, its limit holds: there are no
 * peers to compare with. A surge lowers whatever is in force (surgeThresholds).
 */
import type {
  LoadBalancerConfig,
  LoadBalancerState,
  OutcomeReport,
  Target,
  Thresholds,
  TrafficSurge,
} from '../../contracts/load-balancer';
import { isLive } from './table';

/** Routers whose in-flight counts are kept at most (a foreign client could invent any number). */
export const MAX_ROUTERS = 1_000;
export const CPU_MARGIN = 0.25;
export const CONNECTIONS_MARGIN = 0.3;
export const RESPONSE_TIME_FACTOR = 3;
export const RESPONSE_TIME_FLOOR_MS = 50;
const SHARE_FLOOR = 0.5;

export function median(xs: readonly number[]): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
const round3 = (x: number) => Math.round(x * 1000) / 1000;
/** Adapted shares move in steps of 0.05, response times of 10 ms: drift by a hair publishes no table. */
const step = (x: number, unit: number) => Math.round(Math.round(x / unit) * unit * 1000) / 1000;

/** Sets each target's connections to the sum of what the routers have in flight there. */
export function sumInFlight(s: LoadBalancerState): void {
  const sums: Record<string, number> = {};
  for (const r of Object.values(s.routers ?? {}))
    for (const [id, n] of Object.entries(r.inFlight)) sums[id] = (sums[id] ?? 0) + n;
  for (const t of Object.values(s.targets)) t.load.connections = sums[t.id] ?? 0;
}

/**
 * Records one router's report: its in-flight counts (targets the agent knows only) and its
 * requests in the traffic window. Returns whether a routed target's connection share moved by more
 * than `threshold` (the table should be rebuilt) and the surge the rate shows, if any.
 */
export function observeReport(
  s: LoadBalancerState,
  r: OutcomeReport,
  c: Pick<LoadBalancerConfig, 'surgeDetection' | 'rebalanceThreshold'>,
  now: number,
): { connectionsMoved: boolean; surge?: TrafficSurge } {
  let connectionsMoved = false;
  if (r.inFlight) {
    const before = connectionShares(s);
    const routers = (s.routers ??= {});
    if (!routers[r.router] && Object.keys(routers).length >= MAX_ROUTERS) {
      const oldest = Object.entries(routers).sort((a, b) => a[1].at - b[1].at)[0];
      if (oldest) delete routers[oldest[0]];
    }
    const inFlight: Record<string, number> = {};
    for (const [id, n] of Object.entries(r.inFlight)) if (s.targets[id] && n > 0) inFlight[id] = n;
    routers[r.router] = { at: now, inFlight };
    sumInFlight(s);
    const after = connectionShares(s);
    connectionsMoved = Object.keys(after).some(
      (id) => Math.abs((after[id] ?? 0) - (before[id] ?? 0)) > c.rebalanceThreshold,
    );
  }
  const requests = r.outcomes.reduce((a, o) => a + o.count, 0);
  return { connectionsMoved, surge: countRequests(s, requests, c.surgeDetection, now) };
}

function connectionShares(s: LoadBalancerState): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of Object.values(s.targets)) out[t.id] = t.load.connections / t.capacity.maxConnections;
  return out;
}

/** Drops the in-flight counts of routers silent for `ttlMs`; true when a target's connections changed. */
export function expireRouters(s: LoadBalancerState, now: number, ttlMs: number): boolean {
  const routers = s.routers;
  if (!routers) return false;
  let gone = false;
  for (const [name, r] of Object.entries(routers))
    if (now - r.at >= ttlMs) {
      delete routers[name];
      gone = true;
    }
  if (!gone) return false;
  const before = Object.values(s.targets).map((t) => t.load.connections);
  sumInFlight(s);
  return Object.values(s.targets).some((t, i) => t.load.connections !== before[i]);
}

/**
 * Counts requests into the current window; when the window is over, its rate is judged against the
 * baseline: past `factor` × baseline and `minRequestsPerSecond`, a surge (the window does not enter
 * the baseline); otherwise it joins the baseline (a running mean over the last `baselineWindows`·2
 * windows, so the baseline follows slow growth). Windows with no report at all count as zero.
 */
export function countRequests(
  s: LoadBalancerState,
  requests: number,
  p: LoadBalancerConfig['surgeDetection'],
  now: number,
): TrafficSurge | undefined {
  const w = (s.traffic ??= { windowStart: now, requests: 0, windows: 0 });
  let surge: TrafficSurge | undefined;
  if (now - w.windowStart >= p.windowMs) {
    // The window just closed (and any empty ones after it).
    const elapsed = Math.floor((now - w.windowStart) / p.windowMs);
    const rate = w.requests / (p.windowMs / 1000);
    w.rate = round3(rate);
    surge = judgeWindow(w, rate, p);
    for (let i = 1; i < Math.min(elapsed, p.baselineWindows * 2); i++) joinBaseline(w, 0, p);
    w.windowStart += elapsed * p.windowMs;
    w.requests = 0;
  }
  w.requests += requests;
  return surge;
}

function judgeWindow(w: NonNullable<LoadBalancerState['traffic']>, rate: number, p: LoadBalancerConfig['surgeDetection']) {
  if (w.windows >= p.baselineWindows && w.baseline !== undefined) {
    const limit = Math.max(p.factor * w.baseline, p.minRequestsPerSecond);
    if (rate > limit && rate >= p.minRequestsPerSecond)
      return {
        requestsPerSecond: round3(rate),
        baselinePerSecond: round3(Math.max(w.baseline, 0.001)),
        source: 'load-balancer (routers’ reported rate)',
      };
  }
  joinBaseline(w, rate, p);
  return undefined;
}

function joinBaseline(w: NonNullable<LoadBalancerState['traffic']>, rate: number, p: LoadBalancerConfig['surgeDetection']) {
  const n = Math.min(w.windows, p.baselineWindows * 2);
  w.baseline = round3(((w.baseline ?? 0) * n + rate) / (n + 1));
  w.windows += 1;
}

/** The thresholds in force after adapting to the targets (see the file comment); `limit` is the operator's. */
export function adaptThresholds(targets: readonly Target[], limit: Thresholds): { thresholds: Thresholds; reasons: string[] } {
  const live = targets.filter(isLive);
  const reasons: string[] = [];
  const t: Thresholds = { ...limit };
  const cpus = live.filter((x) => x.loadUpdatedAt !== undefined).map((x) => x.load.cpu);
  if (cpus.length >= 2) {
    const m = median(cpus);
    t.cpu = clamp(step(m + CPU_MARGIN, 0.05), Math.min(SHARE_FLOOR, limit.cpu), limit.cpu);
    reasons.push(`cpu: median ${round3(m)} + ${CPU_MARGIN} → ${t.cpu} (limit ${limit.cpu})`);
  }
  const busy = live.filter((x) => x.load.connections > 0);
  if (live.length >= 2 && busy.length > 0) {
    const m = median(live.map((x) => x.load.connections / x.capacity.maxConnections));
    t.connections = clamp(step(m + CONNECTIONS_MARGIN, 0.05), Math.min(SHARE_FLOOR, limit.connections), limit.connections);
    reasons.push(`connections: median share ${round3(m)} + ${CONNECTIONS_MARGIN} → ${t.connections} (limit ${limit.connections})`);
  }
  const ewmas = live.filter((x) => x.ewmaMs !== undefined && x.requests > 0).map((x) => x.ewmaMs as number);
  if (ewmas.length >= 2) {
    const m = median(ewmas);
    t.responseTimeMs = clamp(
      step(RESPONSE_TIME_FACTOR * m, 10),
      Math.min(RESPONSE_TIME_FLOOR_MS, limit.responseTimeMs),
      limit.responseTimeMs,
    );
    reasons.push(`response time: ${RESPONSE_TIME_FACTOR} × median ${Math.round(m)} ms → ${t.responseTimeMs} ms (limit ${limit.responseTimeMs} ms)`);
  }
  return { thresholds: t, reasons };
}

export function sameThresholds(a: Thresholds, b: Thresholds): boolean {
  return (
    a.cpu === b.cpu &&
    a.memory === b.memory &&
    a.connections === b.connections &&
    a.responseTimeMs === b.responseTimeMs &&
    a.errorRate === b.errorRate
  );
}
