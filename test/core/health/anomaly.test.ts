import { DEFAULT_MODELS, detectAnomaly } from '../../../src/core/health/anomaly';
import { MIN_PREDICTIVE_SAMPLES, predictExhaustion } from '../../../src/core/health/predict';
import { linearFit, percentile, stdDev } from '../../../src/core/health/stats';

/** 19 samples alternating 0.30 / 0.50 (mean 0.40, σ 0.1 over the history) then `last`. */
const cpuSeries = (last: number) => [...Array.from({ length: 19 }, (_, i) => (i % 2 ? 0.5 : 0.3)), last];

describe('anomaly models (the spec’s)', () => {
  it('cpu: 2.5σ over 20 samples', () => {
    const history = cpuSeries(0).slice(0, 19);
    const sigma = stdDev(history); // ≈ 0.0997
    expect(sigma).toBeCloseTo(0.0997, 3);
    expect(detectAnomaly('cpu', cpuSeries(0.64), DEFAULT_MODELS.cpu)).toBeUndefined(); // 2.4σ
    const a = detectAnomaly('cpu', cpuSeries(0.7), DEFAULT_MODELS.cpu); // 3σ
    expect(a).toMatchObject({ metric: 'cpu', threshold: 2.5 });
    expect(a?.score).toBeCloseTo((0.7 - 0.3947) / sigma, 1);
    expect(a?.message).toMatch(/cpu 70 % is 3\.\dσ above its mean/);
  });

  it('cpu: only the newest 20 samples count, and 10 are needed at all', () => {
    expect(detectAnomaly('cpu', [0.1, 0.1, 0.1, 0.9], DEFAULT_MODELS.cpu)).toBeUndefined();
    const old = Array.from({ length: 30 }, () => 0.9);
    expect(detectAnomaly('cpu', [...old, ...cpuSeries(0.4)], DEFAULT_MODELS.cpu)).toBeUndefined();
  });

  it('memory: 2σ over 15 samples (a tighter model)', () => {
    const hist = Array.from({ length: 14 }, (_, i) => (i % 2 ? 0.52 : 0.48)); // mean 0.5, σ 0.02
    expect(detectAnomaly('memory', [...hist, 0.539], DEFAULT_MODELS.memory)).toBeUndefined(); // 1.95σ
    expect(detectAnomaly('memory', [...hist, 0.545], DEFAULT_MODELS.memory)?.metric).toBe('memory'); // 2.25σ
  });

  it('σ has a floor: a flat metric does not flag a tiny change', () => {
    const flat = Array.from({ length: 19 }, () => 0.2);
    expect(detectAnomaly('cpu', [...flat, 0.24], DEFAULT_MODELS.cpu)).toBeUndefined(); // 2σ of the 0.02 floor
    expect(detectAnomaly('cpu', [...flat, 0.3], DEFAULT_MODELS.cpu)?.score).toBeCloseTo(5, 5);
  });

  it('network: a rising trend of more than 30 % over 30 samples', () => {
    const rising = (total: number) => Array.from({ length: 30 }, (_, i) => 10 * (1 + (total * i) / 29));
    // slope × 29 relative to the mean: 10·total / (10·(1 + total/2))
    expect(detectAnomaly('network', rising(0.3), DEFAULT_MODELS.network)).toBeUndefined(); // 26 %
    const a = detectAnomaly('network', rising(0.5), DEFAULT_MODELS.network); // 40 %
    expect(a?.score).toBeCloseTo(0.5 / 1.25, 6);
    expect(a?.message).toMatch(/\+40 % over 30 samples/);
    const falling = Array.from({ length: 30 }, (_, i) => 20 - (10 * i) / 29); // −67 %: faster is not sick
    expect(detectAnomaly('network', falling, DEFAULT_MODELS.network)).toBeUndefined();
  });

  it('a change too small to matter is not an anomaly (loopback latencies of a fraction of a ms)', () => {
    const subMs = Array.from({ length: 30 }, (_, i) => 0.2 + (0.3 * i) / 29); // +150 %, but 0.3 ms
    expect(detectAnomaly('network', subMs, DEFAULT_MODELS.network)).toBeUndefined();
    const fast = Array.from({ length: 49 }, () => 0.5);
    expect(detectAnomaly('responseTime', [...fast, 9], DEFAULT_MODELS.responseTime)).toBeUndefined(); // 2 × floor 5
    expect(detectAnomaly('responseTime', [...fast, 11], DEFAULT_MODELS.responseTime)?.baseline).toBe(5);
  });

  it('response time: more than 2 × the p95 of the window', () => {
    const hist = Array.from({ length: 49 }, (_, i) => 10 + (i % 10)); // p95 = 19
    expect(percentile(hist, 95)).toBe(19);
    expect(detectAnomaly('responseTime', [...hist, 38], DEFAULT_MODELS.responseTime)).toBeUndefined();
    expect(detectAnomaly('responseTime', [...hist, 40], DEFAULT_MODELS.responseTime)).toMatchObject({
      baseline: 19,
      score: 40 / 19,
    });
  });
});

describe('predictive trends', () => {
  const HOUR = 3_600_000;
  const times = (n: number) => Array.from({ length: n }, (_, i) => i * 60_000); // one sample a minute

  it(`needs ${MIN_PREDICTIVE_SAMPLES} samples`, () => {
    expect(predictExhaustion([0.1, 0.2, 0.3], times(3))).toBeUndefined();
  });

  it('a steady climb: exhaustion predicted from the rate, with high confidence', () => {
    // +1 % a minute from 50 %: 60 %/h; after 20 samples at 69 %, 31 % is left → 0.52 h
    const v = Array.from({ length: 20 }, (_, i) => 0.5 + 0.01 * i);
    const p = predictExhaustion(v, times(20));
    expect(p?.ratePerHour).toBeCloseTo(0.6, 2);
    expect(p?.hoursToExhaustion).toBeCloseTo(0.31 / 0.6, 1);
    expect(p?.confidence).toBeGreaterThan(0.9);
    expect(linearFit(v, times(20)).slope * HOUR).toBeCloseTo(0.6, 6);
  });

  it('a flat or falling resource is never exhausted', () => {
    expect(predictExhaustion(Array(12).fill(0.4), times(12))?.hoursToExhaustion).toBeNull();
    const falling = Array.from({ length: 12 }, (_, i) => 0.8 - 0.01 * i);
    expect(predictExhaustion(falling, times(12))?.hoursToExhaustion).toBeNull();
  });

  it('confidence falls when the models disagree (a recent reversal) and when the fit is noisy', () => {
    const up = Array.from({ length: 10 }, (_, i) => 0.3 + 0.04 * i);
    const reversal = [...up, ...Array.from({ length: 10 }, (_, i) => 0.66 - 0.04 * i)];
    const steady = Array.from({ length: 20 }, (_, i) => 0.3 + 0.01 * i);
    const noisy = steady.map((x, i) => x + (i % 2 ? 0.08 : -0.08));
    const c = (v: number[]) => predictExhaustion(v, times(v.length))?.confidence ?? -1;
    expect(c(reversal)).toBeLessThan(c(steady));
    expect(c(noisy)).toBeLessThan(c(steady));
    expect(c(reversal)).toBeGreaterThanOrEqual(0);
  });
});
