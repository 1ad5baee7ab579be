/**
 * Phi-accrual failure detection (Hayashibara et al., 2004), in the form Akka and Cassandra use.
 *
 *   φ(Δt) = −log10(1 − F(Δt))
 *
 * where Δt is the time since the last arrival (a lease heartbeat reaching the server, or a peer's
 * probe answered) and F is the CDF of a normal distribution with
 *   mean = mean of the recent inter-arrival intervals + acceptable pause,
 *   σ    = max(standard deviation of those intervals, minimum σ).
 * F is computed with the logistic approximation Akka uses, 1 / (1 + e^(−y(1.5976 + 0.070566 y²)))
 * with y = (Δt − mean) / σ (error below 1.4 × 10⁻⁴ against the exact CDF).
 *
 * φ = 1 means about a 10 % chance that declaring the node dead is a mistake, φ = 8 one in 10⁸.
 * The acceptable pause shifts the mean: a stop-the-world pause (GC, SIGSTOP, a starved VM) shorter
 * than it keeps φ low, so it never condemns a host.
 */
import type { ArrivalStats } from '../../contracts/failure-detector';

/** What φ needs to know about a host's arrivals; JSON-safe, kept in agent state. */
export type { ArrivalStats };

export interface PhiParams {
  /** Added to the mean interval (ms). */
  acceptablePauseMs: number;
  /** Lower bound of σ (ms): with perfectly regular beats σ → 0 and φ would jump from 0 to ∞. */
  minStdDevMs: number;
}

/** Mean and standard deviation of a window of intervals (ms). */
export function arrivalStats(intervals: readonly number[]): ArrivalStats {
  const n = intervals.length;
  if (n === 0) return { count: 0, meanMs: 0, stdMs: 0 };
  let sum = 0;
  for (const x of intervals) sum += x;
  const mean = sum / n;
  let sq = 0;
  for (const x of intervals) sq += (x - mean) * (x - mean);
  return { count: n, meanMs: mean, stdMs: Math.sqrt(sq / n) };
}

/**
 * φ after `elapsedMs` without an arrival. With no intervals yet, `fallbackIntervalMs` (the
 * configured heartbeat interval) stands in for the mean.
 */
export function phi(elapsedMs: number, stats: ArrivalStats, params: PhiParams, fallbackIntervalMs: number): number {
  const mean = (stats.count > 0 ? stats.meanMs : fallbackIntervalMs) + params.acceptablePauseMs;
  const sigma = Math.max(stats.count > 1 ? stats.stdMs : 0, params.minStdDevMs);
  const y = (elapsedMs - mean) / sigma;
  const e = Math.exp(-y * (1.5976 + 0.070566 * y * y));
  // Two branches keep precision: 1 − F for large Δt is e / (1 + e), not 1 − 1 / (1 + e).
  const p = elapsedMs > mean ? e / (1 + e) : 1 - 1 / (1 + e);
  return p <= 0 ? Number.POSITIVE_INFINITY : -Math.log10(p);
}

/**
 * The smallest elapsed time (ms, to 1 ms) at which φ reaches `threshold`: when to look again if
 * nothing arrives. φ grows monotonically with Δt, so a bisection finds it.
 */
export function elapsedForPhi(
  threshold: number,
  stats: ArrivalStats,
  params: PhiParams,
  fallbackIntervalMs: number,
): number {
  let lo = 0;
  let hi = 1;
  while (phi(hi, stats, params, fallbackIntervalMs) < threshold) hi *= 2;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (phi(mid, stats, params, fallbackIntervalMs) >= threshold) hi = mid;
    else lo = mid;
  }
  return hi;
}
