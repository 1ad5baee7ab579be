import { LoadBalancerConfig, type LoadBalancerState, type Target } from '../../../src/contracts/load-balancer';
import {
  CPU_MARGIN,
  adaptThresholds,
  countRequests,
  expireRouters,
  median,
  observeReport,
} from '../../../src/core/lb/observe';
import { effectiveThresholds, emptyLbState, tick, applySurge } from '../../../src/core/lb/state';
import { target } from './fixtures';

const c = LoadBalancerConfig.parse({});
const limit = c.thresholds;

function state(targets: Target[]): LoadBalancerState {
  const s = emptyLbState();
  for (const t of targets) s.targets[t.id] = t;
  return s;
}

const withCpu = (id: string, cpu: number, extra: Partial<Target> = {}) =>
  target(id, { load: { cpu, memory: 0.1, network: 0, connections: 0 }, loadUpdatedAt: 1, ...extra });

describe('median', () => {
  it.each([
    [[], 0],
    [[3], 3],
    [[3, 1], 2],
    [[5, 1, 3], 3],
  ])('%j → %d', (xs, m) => expect(median(xs)).toBe(m));
});

describe('adaptThresholds', () => {
  it.each<[string, Target[], Partial<typeof limit>]>([
    ['no targets: the limits', [], {}],
    ['one target reporting: no peers, the limits', [withCpu('a', 0.1)], {}],
    ['an idle cluster: CPU at the floor (0.5)', [withCpu('a', 0.05), withCpu('b', 0.1), withCpu('c', 0.1)], { cpu: 0.5 }],
    ['peers at 0.4: overloaded past 0.65', [withCpu('a', 0.4), withCpu('b', 0.4), withCpu('c', 0.9)], { cpu: 0.65 }],
    ['a busy cluster: the limit is the ceiling', [withCpu('a', 0.7), withCpu('b', 0.75), withCpu('c', 0.9)], { cpu: 0.8 }],
    [
      'dead targets are no peers',
      [withCpu('a', 0.4), withCpu('b', 0.4), withCpu('c', 0.05, { status: 'dead' }), withCpu('d', 0.05, { status: 'dead' })],
      { cpu: 0.65 },
    ],
    [
      'response time: 3 × the median EWMA, at least 50 ms',
      [
        target('a', { ewmaMs: 40, requests: 10 }),
        target('b', { ewmaMs: 60, requests: 10 }),
        target('c', { ewmaMs: 500, requests: 10 }),
      ],
      { responseTimeMs: 180 },
    ],
    [
      'response time floor',
      [target('a', { ewmaMs: 2, requests: 10 }), target('b', { ewmaMs: 3, requests: 10 })],
      { responseTimeMs: 50 },
    ],
    [
      'connections: median share + 0.3, at least 0.5',
      [
        target('a', { load: { cpu: 0, memory: 0, network: 0, connections: 400 } }),
        target('b', { load: { cpu: 0, memory: 0, network: 0, connections: 400 } }),
        target('c', { load: { cpu: 0, memory: 0, network: 0, connections: 0 } }),
      ],
      { connections: 0.7 },
    ],
  ])('%s', (_name, targets, expected) => {
    const { thresholds, reasons } = adaptThresholds(targets, limit);
    expect(thresholds).toEqual({ ...limit, ...expected });
    expect(reasons).toHaveLength(Object.keys(expected).length);
  });

  it('never above a lowered limit, and the shares move in steps of 0.05', () => {
    const low = { ...limit, cpu: 0.3 };
    expect(adaptThresholds([withCpu('a', 0.4), withCpu('b', 0.4)], low).thresholds.cpu).toBe(0.3);
    const t = adaptThresholds([withCpu('a', 0.31), withCpu('b', 0.33)], limit).thresholds.cpu;
    expect(t).toBe(0.55); // 0.32 + 0.25 = 0.57 → 0.55
    expect(Math.abs(t - (0.32 + CPU_MARGIN))).toBeLessThan(0.05);
  });

  it('the thresholds in force: a surge first, then the adapted ones capped by the config, then the config', () => {
    const s = state([withCpu('a', 0.2), withCpu('b', 0.2)]);
    expect(effectiveThresholds(s, c)).toEqual(limit);
    s.adapted = { at: 1, ...adaptThresholds(Object.values(s.targets), limit) };
    expect(effectiveThresholds(s, c).cpu).toBe(0.5);
    // An operator lowers the limit below the adapted value: it holds at once.
    expect(effectiveThresholds(s, { ...c, thresholds: { ...limit, cpu: 0.4 } }).cpu).toBe(0.4);
    applySurge(s, { requestsPerSecond: 100 }, c, 10);
    expect(effectiveThresholds(s, c).cpu).toBe(0.45); // 0.5 × 0.9
    // The surge ends: the adapted thresholds again, whatever they became meanwhile.
    s.adapted = { at: 2, thresholds: { ...limit, cpu: 0.6 }, reasons: [] };
    expect(tick(s, 10 + c.surgeHoldMs, { adaptive: true })).toBe(true);
    expect(effectiveThresholds(s, c).cpu).toBe(0.6);
  });
});

describe('routers in flight', () => {
  it('sums each router’s in-flight counts into the targets’ connections; unknown targets are ignored', () => {
    const s = state([target('a'), target('b')]);
    expect(observeReport(s, { router: 'r1', outcomes: [], inFlight: { a: 300, x: 5 } }, c, 1).connectionsMoved).toBe(
      true,
    );
    observeReport(s, { router: 'r2', outcomes: [], inFlight: { a: 100, b: 2 } }, c, 2);
    expect(s.targets.a?.load.connections).toBe(400);
    expect(s.targets.b?.load.connections).toBe(2);
    expect(s.routers?.r1?.inFlight).toEqual({ a: 300 });
    // A small move (2 of 1000 connections) does not ask for a new table.
    expect(observeReport(s, { router: 'r2', outcomes: [], inFlight: { a: 100, b: 0 } }, c, 3).connectionsMoved).toBe(
      false,
    );
    expect(s.targets.b?.load.connections).toBe(0);
    // r1 goes silent: after the TTL its 300 no longer count.
    expect(expireRouters(s, 1 + c.routerReportTtlMs - 1, c.routerReportTtlMs)).toBe(false);
    expect(expireRouters(s, 1 + c.routerReportTtlMs, c.routerReportTtlMs)).toBe(true);
    expect(s.targets.a?.load.connections).toBe(100);
  });

  it('keeps at most 1000 routers, dropping the one heard from longest ago', () => {
    const s = state([target('a')]);
    for (let i = 0; i < 1_001; i++) observeReport(s, { router: `r${i}`, outcomes: [], inFlight: { a: 1 } }, c, i);
    expect(Object.keys(s.routers ?? {})).toHaveLength(1_000);
    expect(s.routers?.r0).toBeUndefined();
    expect(s.targets.a?.load.connections).toBe(1_000);
  });
});

describe('surge detection from the reported rate', () => {
  const p = { factor: 2, minRequestsPerSecond: 10, windowMs: 1_000, baselineWindows: 3 };

  /** One window per entry: that many requests reported in it; returns the window that closed as a surge. */
  function run(perWindow: number[]): (number | undefined)[] {
    const s = emptyLbState();
    const out: (number | undefined)[] = [];
    perWindow.forEach((n, i) => {
      const surge = countRequests(s, n, p, i * 1_000);
      out.push(surge?.requestsPerSecond);
    });
    return out;
  }

  const u = undefined;
  it.each<[string, number[], (number | undefined)[]]>([
    ['steady traffic is no surge', [20, 20, 20, 20, 20, 20], [u, u, u, u, u, u]],
    ['three windows of baseline, then × 3: a surge when that window closes', [20, 20, 20, 60, 0], [u, u, u, u, 60]],
    ['× 1.5 is no surge', [20, 20, 20, 30, 0], [u, u, u, u, u]],
    ['no baseline yet: no surge', [20, 60, 0], [u, u, u]],
    ['under the minimum rate: no surge', [1, 1, 1, 8, 0], [u, u, u, u, u]],
  ])('%s', (_name, perWindow, expected) => {
    expect(run(perWindow)).toEqual(expected);
  });

  it('the surge does not enter the baseline; quiet windows do (as zero)', () => {
    const s = emptyLbState();
    for (let i = 0; i < 3; i++) countRequests(s, 20, p, i * 1_000);
    countRequests(s, 100, p, 3_000);
    expect(countRequests(s, 0, p, 4_000)).toMatchObject({ requestsPerSecond: 100, baselinePerSecond: 20 });
    expect(s.traffic?.baseline).toBe(20);
    // Ten silent seconds: the baseline falls (at most 2 × baselineWindows of them count).
    countRequests(s, 0, p, 14_000);
    expect(s.traffic?.baseline).toBeLessThan(20);
  });
});
