import { arrivalStats, elapsedForPhi, phi } from '../../../src/core/fd/phi';
import { suspicionTimeout } from '../../../src/core/fd/suspicion';

const stats = { count: 10, meanMs: 1000, stdMs: 100 };
const noPause = { acceptablePauseMs: 0, minStdDevMs: 100 };

describe('phi accrual', () => {
  // Expected values worked out by hand from φ = −log10(1 − F), F the logistic approximation of the normal CDF.
  it.each([
    [900, 0.075],
    [1000, 0.301],
    [1200, 1.6428],
    [1500, 7.2999],
    [1700, 15.3685],
  ])('after %d ms silent with mean 1000 ms, σ 100 ms: φ = %d', (elapsed, expected) => {
    expect(phi(elapsed, stats, noPause, 1000)).toBeCloseTo(expected, 3);
  });

  it('the acceptable pause shifts the mean: 4030 ms silent after 500 ms beats with a 3 s pause is φ 8.24', () => {
    const beats = { count: 20, meanMs: 500, stdMs: 10 };
    const p = { acceptablePauseMs: 3000, minStdDevMs: 100 };
    expect(phi(4000, beats, p, 500)).toBeCloseTo(7.2999, 3);
    expect(phi(4030, beats, p, 500)).toBeCloseTo(8.2398, 3);
    // a pause shorter than the acceptable one stays far below the threshold
    expect(phi(3000, beats, p, 500)).toBeLessThan(0.01);
  });

  it('σ never falls below the minimum, so perfectly regular beats do not make φ jump to ∞', () => {
    const regular = arrivalStats([500, 500, 500, 500]);
    expect(regular).toEqual({ count: 4, meanMs: 500, stdMs: 0 });
    expect(phi(700, regular, noPause, 500)).toBeCloseTo(1.6428, 3);
  });

  it('without intervals the configured heartbeat interval stands in for the mean', () => {
    expect(phi(1200, arrivalStats([]), noPause, 1000)).toBeCloseTo(1.6428, 3);
  });

  it('is infinite, not NaN, far past the mean', () => {
    expect(phi(60_000, stats, noPause, 1000)).toBe(Number.POSITIVE_INFINITY);
  });

  it('finds the elapsed time at which φ reaches the threshold', () => {
    const p = { acceptablePauseMs: 3000, minStdDevMs: 100 };
    const beats = { count: 20, meanMs: 500, stdMs: 10 };
    const t = elapsedForPhi(8, beats, p, 500);
    expect(t).toBeGreaterThan(4020);
    expect(t).toBeLessThan(4030);
    expect(phi(t, beats, p, 500)).toBeGreaterThanOrEqual(8);
    expect(phi(t - 1, beats, p, 500)).toBeLessThan(8);
  });

  it('computes mean and standard deviation of the intervals', () => {
    const s = arrivalStats([400, 600, 500, 500]);
    expect(s.count).toBe(4);
    expect(s.meanMs).toBe(500);
    expect(s.stdMs).toBeCloseTo(Math.sqrt(5000), 6);
  });
});

describe('Lifeguard suspicion timeout', () => {
  const p = { minMs: 200, maxMs: 5000 };
  it.each([
    [0, 3, 5000],
    [1, 3, 2600],
    [2, 3, 1196],
    [3, 3, 200],
    [4, 3, 200],
    [1, 1, 200],
    [1, 0, 5000],
  ])('%d of %d confirmations → %d ms', (c, k, expected) => {
    expect(suspicionTimeout(c, k, p)).toBe(expected);
  });
});
