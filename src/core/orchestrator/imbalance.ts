/**
 * Load imbalance across the routed targets: max / mean of load per unit of capacity. The
 * orchestrator runs `rebalance_load` when it stays above a threshold for a whole window.
 */

export interface TargetLoad {
  nodeId: string;
  /** Load share 0..1 (CPU), or requests in flight. */
  load: number;
  /** Relative capacity (> 0). */
  capacity: number;
}

/** Load per unit capacity of each target that has a capacity. */
export function perUnit(targets: readonly TargetLoad[]): number[] {
  return targets.filter((t) => t.capacity > 0).map((t) => t.load / t.capacity);
}

const meanOf = (xs: readonly number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/** Mean load per unit capacity (0 with no target). */
export function meanPerUnit(targets: readonly TargetLoad[]): number {
  return meanOf(perUnit(targets));
}

/** max / mean of load per unit capacity; 1 when balanced or when there is nothing to compare. */
export function imbalance(targets: readonly TargetLoad[]): number {
  const per = perUnit(targets);
  if (per.length < 2) return 1;
  const mean = meanOf(per);
  if (mean <= 0) return 1;
  return Math.max(...per) / mean;
}

export interface ImbalanceSample {
  at: number;
  value: number;
}

/**
 * True when every sample of the last `windowMs` is above `threshold` and the samples span the
 * window (a single high sample is not a trend).
 */
export function imbalanceSustained(
  samples: readonly ImbalanceSample[],
  threshold: number,
  windowMs: number,
  now: number,
): boolean {
  const inWindow = samples.filter((s) => now - s.at <= windowMs);
  if (inWindow.length < 2) return false;
  const oldest = Math.min(...inWindow.map((s) => s.at));
  // Spans the window, give or take one sampling interval.
  const span = now - oldest;
  const interval = inWindow.length > 1 ? span / (inWindow.length - 1) : windowMs;
  if (span + interval < windowMs) return false;
  return inWindow.every((s) => s.value > threshold);
}
