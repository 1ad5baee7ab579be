import { loadReportDue, smoothedLoad, type LoadPoint } from '../../../src/core/lb/load-report';

const policy = { step: 0.1, intervalMs: 5_000 };
const at = (cpu: number, memory: number, t: number): LoadPoint => ({ cpu, memory, at: t });

describe('loadReportDue', () => {
  it.each<[string, LoadPoint | undefined, LoadPoint, boolean]>([
    ['first report: always', undefined, at(0.02, 0.3, 0), true],
    ['at rest: jitter under the step', at(0.05, 0.3, 0), at(0.12, 0.33, 60_000), false],
    ['cpu moved past the step', at(0.05, 0.3, 0), at(0.5, 0.3, 6_000), true],
    ['cpu fell past the step', at(0.6, 0.3, 0), at(0.1, 0.3, 6_000), true],
    ['memory moved past the step', at(0.05, 0.3, 0), at(0.05, 0.45, 6_000), true],
    ['exactly the step is not a change', at(0.1, 0.3, 0), at(0.2, 0.3, 6_000), false],
    ['moved, but within the interval of the last report', at(0.05, 0.3, 0), at(0.9, 0.3, 4_999), false],
    ['moved, at the interval', at(0.05, 0.3, 0), at(0.9, 0.3, 5_000), true],
  ])('%s', (_, last, now, due) => {
    expect(loadReportDue(last, now, policy)).toBe(due);
  });
});

describe('smoothedLoad', () => {
  it('takes the median of the last three samples per resource, measured at the last', () => {
    const s = [at(0.9, 0.9, 1), at(0.1, 0.2, 2), at(0.2, 0.4, 3), at(0.6, 0.3, 4)];
    expect(smoothedLoad(s)).toEqual({ cpu: 0.2, memory: 0.3, at: 4 });
  });
  it('a step is one change, at its full height, on its second sample', () => {
    const quiet = smoothedLoad([at(0.05, 0.3, 1), at(0.05, 0.3, 2), at(0.05, 0.3, 3)]) as LoadPoint;
    const one = smoothedLoad([at(0.05, 0.3, 2), at(0.05, 0.3, 3), at(0.6, 0.3, 6_000)]) as LoadPoint;
    const two = smoothedLoad([at(0.05, 0.3, 3), at(0.6, 0.3, 6_000), at(0.6, 0.3, 7_000)]) as LoadPoint;
    expect(one.cpu).toBe(0.05);
    expect(two.cpu).toBe(0.6);
    expect(loadReportDue(quiet, two, policy)).toBe(true);
  });
  it('fewer samples than three: the median of those', () => {
    expect(smoothedLoad([at(0.2, 0.2, 1), at(0.4, 0.6, 2)])).toEqual({ cpu: 0.3, memory: 0.4, at: 2 });
  });
  it('one busy sample among quiet ones stays under a 0.1 step from quiet', () => {
    const quiet = smoothedLoad([at(0.05, 0.3, 1), at(0.05, 0.3, 2), at(0.05, 0.3, 3)]) as LoadPoint;
    const burst = smoothedLoad([at(0.05, 0.3, 4), at(0.05, 0.3, 5), at(0.3, 0.3, 10_000)]) as LoadPoint;
    expect(loadReportDue(quiet, burst, policy)).toBe(false);
  });
  it('none without samples', () => {
    expect(smoothedLoad([])).toBeUndefined();
  });
});
