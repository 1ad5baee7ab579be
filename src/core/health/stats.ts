/** Small statistics over plain arrays, shared by the health models. */

export function mean(xs: readonly number[]): number {
  if (!xs.length) return 0;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Population standard deviation. */
export function stdDev(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) * (x - m);
  return Math.sqrt(s / xs.length);
}

/** Nearest-rank percentile, p in 0..100. */
export function percentile(xs: readonly number[], p: number): number {
  if (!xs.length) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/** Least-squares line through (i, xs[i]) — or through (ts[i], xs[i]) when times are given. */
export function linearFit(
  xs: readonly number[],
  ts?: readonly number[],
): { slope: number; intercept: number; r2: number } {
  const n = xs.length;
  if (n < 2) return { slope: 0, intercept: xs[0] ?? 0, r2: 0 };
  const t = ts ?? xs.map((_, i) => i);
  const mt = mean(t);
  const mx = mean(xs);
  let sxy = 0;
  let stt = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    const dt = (t[i] as number) - mt;
    const dx = (xs[i] as number) - mx;
    sxy += dt * dx;
    stt += dt * dt;
    sxx += dx * dx;
  }
  const slope = stt === 0 ? 0 : sxy / stt;
  const intercept = mx - slope * mt;
  const r2 = sxx === 0 || stt === 0 ? 0 : (sxy * sxy) / (stt * sxx);
  return { slope, intercept, r2 };
}
