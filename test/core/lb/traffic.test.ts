import type { Target } from '../../../src/contracts/load-balancer';
import { emptyLbState } from '../../../src/core/lb/state';
import { loadBlindAlternative, trafficChanged, trafficSummary } from '../../../src/core/lb/traffic';
import { routeTarget, table, target } from './fixtures';

const load = (cpu: number, connections = 0) => ({ cpu, memory: 0, network: 0, connections });

describe('traffic summary (the LoadBalancer memo the orchestrator reads)', () => {
  const cases: [string, Target[], string[], { imbalance: number; basis: string; latencyMs?: number }][] = [
    [
      'no load reported: nothing to compare',
      [target('a/host'), target('b/host')],
      ['a/host', 'b/host'],
      { imbalance: 1, basis: 'none' },
    ],
    [
      'CPU reported by every routed host: max / mean',
      [
        target('a/host', { load: load(0.9), loadUpdatedAt: 1 }),
        target('b/host', { load: load(0.1), loadUpdatedAt: 1 }),
        target('c/host', { load: load(0.1), loadUpdatedAt: 1 }),
      ],
      ['a/host', 'b/host', 'c/host'],
      { imbalance: 2.455, basis: 'cpu' },
    ],
    [
      'an idle cluster is even: 2 % against 1 % CPU is noise (mean under 20 %)',
      [
        target('a/host', { load: load(0.02), loadUpdatedAt: 1 }),
        target('b/host', { load: load(0.01), loadUpdatedAt: 1 }),
      ],
      ['a/host', 'b/host'],
      { imbalance: 1, basis: 'cpu' },
    ],
    [
      'a host that is not routed (dead, cordoned) does not count',
      [
        target('a/host', { load: load(0.9), loadUpdatedAt: 1 }),
        target('b/host', { load: load(0.3), loadUpdatedAt: 1 }),
        target('c/host', { load: load(0.3), loadUpdatedAt: 1 }),
      ],
      ['b/host', 'c/host'],
      { imbalance: 1, basis: 'cpu' },
    ],
    [
      'no CPU from one host: requests in flight per unit of capacity',
      [
        target('a/host', { load: load(0.9, 30), loadUpdatedAt: 1 }),
        target('b/host', { load: load(0, 10), capacity: { cpu: 2, memory: 1, network: 1, maxConnections: 1000 } }),
      ],
      ['a/host', 'b/host'],
      // 30 / 1 and 10 / 2: max 30, mean 17.5
      { imbalance: 1.714, basis: 'connections' },
    ],
    [
      'latency: the EWMAs weighted by requests',
      [target('a/host', { ewmaMs: 10, requests: 300 }), target('b/host', { ewmaMs: 50, requests: 100 })],
      ['a/host', 'b/host'],
      { imbalance: 1, basis: 'none', latencyMs: 20 },
    ],
  ];
  it.each(cases)('%s', (_name, targets, routed, expected) => {
    const s = emptyLbState();
    for (const t of targets) s.targets[t.id] = t;
    const summary = trafficSummary(s, table(routed.map((id) => routeTarget(id))), 5);
    expect(summary).toMatchObject({ at: 5, tableVersion: 1, strategy: 'round_robin', ...expected });
    expect(summary.loads.map((l) => l.nodeId)).toEqual(routed.map((id) => id.split('/')[0]));
  });

  it('the rate is the last complete window the routers reported', () => {
    const s = emptyLbState();
    s.traffic = { windowStart: 0, requests: 5, windows: 2, rate: 42.5 };
    expect(trafficSummary(s, table([]), 0).requestRate).toBe(42.5);
  });

  it('a new memo only when something but the time changed', () => {
    const s = emptyLbState();
    const a = trafficSummary(s, table([]), 1);
    expect(trafficChanged(undefined, a)).toBe(true);
    expect(trafficChanged(a, trafficSummary(s, table([]), 2))).toBe(false);
    expect(trafficChanged(a, trafficSummary(s, table([], { version: 2 }), 2))).toBe(true);
  });

  it.each([
    ['round_robin', 'weighted_round_robin'],
    ['consistent_hash', undefined],
    ['least_connections', undefined],
  ] as const)('a rebalance switches %s to %s', (from, to) => {
    expect(loadBlindAlternative(from)).toBe(to);
  });
});
