import { loadReportDue, reportedLoad, smoothedLoad, type LoadPoint } from '../../../src/core/lb/load-report';

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
  const series = (cpus: number[], from = 0) => cpus.map((c, i) => at(c, 0.3, from + i * 1_000));
  it('takes the second smallest of the last six samples per resource, measured at the last', () => {
    const s = [
      at(0.01, 0.01, 0),
      at(0.9, 0.9, 1),
      at(0.1, 0.2, 2),
      at(0.2, 0.4, 3),
      at(0.6, 0.3, 4),
      at(0.3, 0.1, 5),
      at(0.4, 0.5, 6),
    ];
    expect(smoothedLoad(s)).toEqual({ cpu: 0.2, memory: 0.2, at: 6 });
  });
  it('a rise is one change, at its full height, on its fifth sample; a fall on its second', () => {
    const quiet = smoothedLoad(series([0.05, 0.05, 0.05, 0.05, 0.05, 0.05])) as LoadPoint;
    const rise = (n: number) => smoothedLoad(series([...Array(6).fill(0.05), ...Array(n).fill(0.6)], 10_000));
    expect(rise(4)?.cpu).toBe(0.05);
    expect(rise(5)?.cpu).toBe(0.6);
    expect(loadReportDue(quiet, rise(5) as LoadPoint, policy)).toBe(true);
    const fall = (n: number) => smoothedLoad(series([...Array(6).fill(0.6), ...Array(n).fill(0.05)], 10_000));
    expect(fall(1)?.cpu).toBe(0.6);
    expect(fall(2)?.cpu).toBe(0.05);
  });
  it('fewer than three samples: the smallest', () => {
    expect(smoothedLoad([at(0.2, 0.6, 1), at(0.4, 0.2, 2)])).toEqual({ cpu: 0.2, memory: 0.2, at: 2 });
  });
  it('bursts of four seconds among quiet ones are no change', () => {
    const quiet = smoothedLoad(series([0.1, 0.12, 0.1, 0.15, 0.1, 0.1])) as LoadPoint;
    const burst = smoothedLoad(series([0.1, 0.12, 0.9, 0.92, 0.9, 0.95], 10_000)) as LoadPoint;
    expect(loadReportDue(quiet, burst, policy)).toBe(false);
  });
  it('the noise of a 2-core machine at rest (1 s samples, measured): no report with the default step', () => {
    // Machine CPU samples while `bench fd-scale` ran 50 simulated hosts (see src/core/lb/load-report.ts).
    const noise = [
      0.097, 0.149, 0.208, 0.144, 0.164, 0.092, 0.171, 0.179, 0.254, 0.267, 0.097, 0.172, 0.176, 0.573, 0.924, 0.072,
      0.118, 0.342, 0.44, 0.662, 0.441, 0.119, 0.173, 0.17, 0.578, 0.578, 0.137, 0.223, 0.214, 0.114, 0.097, 0.134,
      0.193, 0.265, 0.136, 0.096, 0.129, 0.147, 0.177, 0.257, 0.325, 0.323, 0.678, 0.301, 0.222, 0.117, 0.421, 0.588,
      0.199, 0.127, 0.102, 0.162, 0.197, 0.178, 0.149, 0.179, 0.241, 0.271, 0.626, 0.462, 0.083, 0.113, 0.149, 0.639,
      0.4, 0.112, 0.113, 0.23, 0.139, 0.133, 0.102, 0.141, 0.179, 0.429, 0.173, 0.096, 0.098, 0.203, 0.555,
    ];
    const defaults = { step: 0.2, intervalMs: 5_000 };
    const samples = series(noise);
    let last = smoothedLoad(samples.slice(0, 6)) as LoadPoint;
    let reports = 0;
    for (let i = 7; i <= samples.length; i++) {
      const now = smoothedLoad(samples.slice(0, i)) as LoadPoint;
      if (loadReportDue(last, now, defaults)) {
        reports += 1;
        last = now;
      }
    }
    expect(reports).toBe(0);
  });
  it('none without samples', () => {
    expect(smoothedLoad([])).toBeUndefined();
    expect(reportedLoad([])).toBeUndefined();
  });
});

describe('reportedLoad', () => {
  it('a step that began half-way through a sample is reported whole, not at the partial sample', () => {
    // Rest, then a burner moved in half-way through the third sample.
    const samples = [0.02, 0.02, 0.25, 0.5, 0.5, 0.5, 0.5].map((c, i) => at(c, 0.3, i * 1_000));
    const rest = smoothedLoad(samples.slice(0, 2)) as LoadPoint;
    // The sustained value decides (the step shows on the fifth whole sample) ...
    expect(loadReportDue(rest, smoothedLoad(samples) as LoadPoint, policy)).toBe(true);
    expect(smoothedLoad(samples)?.cpu).toBe(0.25);
    // ... and the report carries the level of the last three samples.
    expect(reportedLoad(samples)).toEqual({ cpu: 0.5, memory: 0.3, at: 6_000 });
  });
});
