/**
 * Predictive health: from at least 10 samples of a resource (a share 0..1, with its time), when
 * will it be exhausted (reach 1.0)? Three models predict the growth rate:
 *   - a least-squares line over all samples,
 *   - a least-squares line over the newer half (reacts to a recent change),
 *   - the slope of the EWMA-smoothed values over the newer half (robust to one outlier).
 * Each model's score is its fit (R² for the lines; for the EWMA, how well its slope agrees with
 * the others). The confidence is the spec's: the average score minus half the variance of the
 * models' normalised rates — it falls when the models disagree. Rates ≤ 0 mean no exhaustion.
 */
import type { Prediction } from '../../contracts/health-monitor';
import { linearFit, mean } from './stats';

export type { Prediction } from '../../contracts/health-monitor';

export const MIN_PREDICTIVE_SAMPLES = 10;

const HOUR = 3_600_000;

export function predictExhaustion(
  values: readonly number[],
  times: readonly number[],
  alpha = 0.3,
): Prediction | undefined {
  const n = Math.min(values.length, times.length);
  if (n < MIN_PREDICTIVE_SAMPLES) return undefined;
  const v = values.slice(-n);
  const t = times.slice(-n);
  const all = linearFit(v, t);
  const half = Math.floor(n / 2);
  const recent = linearFit(v.slice(half), t.slice(half));
  let ewma = v[0] as number;
  const smoothed = v.map((x) => (ewma = alpha * x + (1 - alpha) * ewma));
  // Over the newer half only: by then the EWMA's lag behind a steady trend is constant, so its
  // difference measures the rate rather than the warm-up.
  const span = (t[n - 1] as number) - (t[half] as number);
  const ewmaSlope = span > 0 ? ((smoothed[n - 1] as number) - (smoothed[half] as number)) / span : 0;
  const rates = [all.slope * HOUR, recent.slope * HOUR, ewmaSlope * HOUR];
  const scale = Math.max(...rates.map(Math.abs), 1e-12);
  const normalised = rates.map((r) => r / scale);
  const agreement = 1 - Math.min(1, Math.abs((normalised[2] as number) - mean(normalised.slice(0, 2))));
  const scores = [all.r2, recent.r2, agreement];
  const nm = mean(normalised);
  const variance = mean(normalised.map((x) => (x - nm) * (x - nm)));
  const confidence = clamp(mean(scores) - variance / 2);
  const ratePerHour = mean(rates);
  const last = v[n - 1] as number;
  const hoursToExhaustion = ratePerHour > 0 ? Math.max(0, (1 - last) / ratePerHour) : null;
  return {
    ratePerHour,
    hoursToExhaustion,
    confidence,
    models: [
      { name: 'linear (all)', ratePerHour: rates[0] as number, score: scores[0] as number },
      { name: 'linear (recent half)', ratePerHour: rates[1] as number, score: scores[1] as number },
      { name: 'ewma', ratePerHour: rates[2] as number, score: scores[2] as number },
    ],
    samples: n,
  };
}

function clamp(x: number): number {
  return Math.max(0, Math.min(1, x));
}
