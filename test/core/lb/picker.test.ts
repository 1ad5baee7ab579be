import { Picker } from '../../../src/core/lb/picker';
import { counts, routeTarget, seeded, table } from './fixtures';

const ids = (n: number) => Array.from({ length: n }, (_, i) => `n${i}/web`);
const pickN = (p: Picker, n: number, req = {}) => Array.from({ length: n }, () => p.pick(req));

describe('strategies', () => {
  it('round_robin cycles in table order', () => {
    const p = new Picker(table(ids(3).map((id) => routeTarget(id))));
    expect(pickN(p, 7)).toEqual([0, 1, 2, 0, 1, 2, 0]);
  });

  it.each([
    [
      [5, 1, 1],
      [0, 0, 0, 1, 0, 0, 2],
    ],
    [
      [3, 2],
      [0, 1, 0, 0, 1],
    ],
    [
      [1, 2, 4],
      [0, 2, 1, 2, 2, 1, 2],
    ],
    [
      [1, 1],
      [0, 1],
    ],
    [
      [2, 1],
      [0, 0, 1],
    ],
  ])('weighted_round_robin with weights %j, one cycle: %j', (weights, sequence) => {
    const p = new Picker(
      table(
        weights.map((w, i) => routeTarget(`n${i}/web`, { weight: w })),
        { strategy: 'weighted_round_robin' },
      ),
    );
    expect(pickN(p, sequence.length)).toEqual(sequence);
  });

  it('weighted_round_robin gives each target its share of weight over a cycle', () => {
    const weights = [100, 50, 25, 25];
    const p = new Picker(
      table(
        weights.map((w, i) => routeTarget(`n${i}/web`, { weight: w })),
        { strategy: 'weighted_round_robin' },
      ),
    );
    expect(counts(pickN(p, 200 * 4), 4)).toEqual([400, 200, 100, 100]);
  });

  it.each([
    [[1]],
    [[7, 3]],
    [[100, 50, 25, 25]],
    [[100, 1, 1, 1, 1, 1, 1, 1, 1, 1]],
    [Array.from({ length: 1000 }, (_, i) => 1 + ((i * 37) % 100))],
  ])('weighted_round_robin over weights %j: exact shares per cycle, every prefix within two picks', (weights) => {
    const p = new Picker(
      table(
        weights.map((w, i) => routeTarget(`n${i}/web`, { weight: w })),
        { strategy: 'weighted_round_robin' },
      ),
    );
    const total = weights.reduce((a, b) => a + b, 0);
    const seen = new Array<number>(weights.length).fill(0);
    let worst = 0;
    for (let m = 1; m <= 3 * total; m++) {
      const i = p.pick();
      seen[i] = (seen[i] as number) + 1;
      if (m % total === 0) expect(seen).toEqual(weights.map((w) => (w * m) / total));
      // An entry's lead (picks − exact share) falls between its picks and jumps by 1 at each: its
      // extremes are just after a pick (lead) and just before it (lead − 1), so checking there covers every prefix.
      const lead = (seen[i] as number) - (m * (weights[i] as number)) / total;
      worst = Math.max(worst, Math.abs(lead), Math.abs(lead - 1));
    }
    expect(worst).toBeLessThan(2); // nginx smooth WRR reaches 1.6 on some weight sets too
  });

  it('weighted_round_robin: the same table gives the same sequence in every picker (agent and routers)', () => {
    const t = table(
      [9, 4, 4, 1].map((w, i) => routeTarget(`n${i}/web`, { weight: w })),
      { strategy: 'weighted_round_robin' },
    );
    expect(pickN(new Picker(t), 40)).toEqual(pickN(new Picker(t), 40));
  });

  it('least_connections (P2C) never picks the busier of its two choices', () => {
    const targets = [0, 500, 900].map((c, i) => routeTarget(`n${i}/web`, { connections: c }));
    const p = new Picker(table(targets, { strategy: 'least_connections' }), { random: seeded(1) });
    const c = counts(pickN(p, 3000), 3);
    // With 3 targets, P2C compares two distinct ones: the busiest one (n2) always loses.
    expect(c[2]).toBe(0);
    expect(c[0]).toBeGreaterThan(c[1] as number);
  });

  it("least_connections counts this router's in-flight requests", () => {
    const p = new Picker(table([routeTarget('a/web'), routeTarget('b/web')], { strategy: 'least_connections' }), {
      random: seeded(2),
    });
    p.begin(0);
    p.begin(0);
    expect(new Set(pickN(p, 50))).toEqual(new Set([1]));
    p.end(0, 5);
    p.end(0, 5);
    p.begin(1);
    expect(new Set(pickN(p, 50))).toEqual(new Set([0]));
  });

  it('latency_aware prefers the fast target and, for a zoned client, the local one', () => {
    const t = [routeTarget('fast/web', { ewmaMs: 5, zone: 'b' }), routeTarget('slow/web', { ewmaMs: 200, zone: 'a' })];
    const p = new Picker(table(t, { strategy: 'latency_aware' }), { random: seeded(3) });
    expect(new Set(pickN(p, 50))).toEqual(new Set([0]));
    // Zone penalty 20 ms: a client in zone a pays 25 ms for `fast`, which still beats 200 ms.
    expect(new Set(pickN(p, 50, { clientZone: 'a' }))).toEqual(new Set([0]));
    const near = [routeTarget('far/web', { ewmaMs: 5, zone: 'b' }), routeTarget('near/web', { ewmaMs: 15, zone: 'a' })];
    const q = new Picker(table(near, { strategy: 'latency_aware' }), { random: seeded(4) });
    expect(new Set(pickN(q, 50, { clientZone: 'a' }))).toEqual(new Set([1]));
    expect(new Set(pickN(q, 50))).toEqual(new Set([0]));
  });

  it("latency_aware learns from this router's own outcomes", () => {
    const p = new Picker(
      table([routeTarget('a/web', { ewmaMs: 10 }), routeTarget('b/web', { ewmaMs: 10 })], {
        strategy: 'latency_aware',
      }),
      {
        random: seeded(5),
      },
    );
    for (let i = 0; i < 5; i++) p.end(0, 500);
    expect(new Set(pickN(p, 50))).toEqual(new Set([1]));
  });

  it('capacity_aware picks the target with more headroom', () => {
    const t = [routeTarget('busy/web', { headroom: 0.2 }), routeTarget('idle/web', { headroom: 0.9 })];
    const p = new Picker(table(t, { strategy: 'capacity_aware' }), { random: seeded(6) });
    expect(new Set(pickN(p, 50))).toEqual(new Set([1]));
  });

  it('geographic stays in the client zone, and spills over when too few of its targets are routable', () => {
    const t = [
      routeTarget('a1/web', { zone: 'a' }),
      routeTarget('a2/web', { zone: 'a' }),
      routeTarget('b1/web', { zone: 'b' }),
    ];
    const p = new Picker(table(t, { strategy: 'geographic' }));
    expect(pickN(p, 4, { clientZone: 'a' })).toEqual([0, 1, 0, 1]);
    expect(pickN(p, 2, { clientZone: 'b' })).toEqual([2, 2]);
    expect(new Set(pickN(p, 6, { clientZone: 'x' }))).toEqual(new Set([0, 1, 2]));
    // Zone a has 4 live targets but only 1 routable (25 % < 50 %): spill over to every zone.
    const degraded = table([routeTarget('a1/web', { zone: 'a' }), routeTarget('b1/web', { zone: 'b' })], {
      strategy: 'geographic',
      zones: { a: { live: 4, routed: 1 }, b: { live: 1, routed: 1 } },
    });
    expect(new Set(pickN(new Picker(degraded), 4, { clientZone: 'a' }))).toEqual(new Set([0, 1]));
  });

  it('consistent_hash maps a key to the same target every time, and spreads keys', () => {
    const p = new Picker(
      table(
        ids(5).map((id) => routeTarget(id)),
        { strategy: 'consistent_hash', maglevTableSize: 1_009 },
      ),
    );
    const first = p.pick({ key: 'session-42' });
    expect(pickN(p, 20, { key: 'session-42' })).toEqual(new Array(20).fill(first));
    const spread = counts(
      Array.from({ length: 5000 }, (_, i) => p.pick({ key: `user-${i}` })),
      5,
    );
    for (const c of spread) expect(c).toBeGreaterThan(700);
  });

  it('a request with a key is sticky whatever the strategy: the same Maglev target', () => {
    const targets = ids(5).map((id) => routeTarget(id));
    const sticky = new Picker(table(targets, { strategy: 'consistent_hash' })).pick({ key: 'user-7' });
    for (const strategy of ['round_robin', 'weighted_round_robin', 'least_connections', 'geographic'] as const) {
      const p = new Picker(table(targets, { strategy }), { random: seeded(8) });
      expect(pickN(p, 10, { key: 'user-7', clientZone: 'a' })).toEqual(new Array(10).fill(sticky));
    }
  });

  it('adaptive avoids a target whose cpu is rising', () => {
    const t = [routeTarget('rising/web', { trend: 0.05 }), routeTarget('flat/web', { trend: 0 })];
    const p = new Picker(table(t, { strategy: 'adaptive' }), { random: seeded(7) });
    expect(new Set(pickN(p, 50))).toEqual(new Set([1]));
  });

  it('filters by service, and answers -1 when nothing is routable', () => {
    const p = new Picker(table([routeTarget('a/web'), routeTarget('a/db'), routeTarget('b/web')]));
    expect(new Set(pickN(p, 6, { service: 'web' }))).toEqual(new Set([0, 2]));
    expect(p.pick({ service: 'cache' })).toBe(-1);
    expect(new Picker(table([])).pick()).toBe(-1);
  });
});
