import { Thresholds } from '../../../src/contracts/load-balancer';
import { closedBreaker } from '../../../src/core/lb/breaker';
import {
  buildRoutingTable,
  trendPerSecond,
  weightsFromFreeCapacity,
  type TableInputs,
} from '../../../src/core/lb/table';
import { target } from './fixtures';

const base = (targets: ReturnType<typeof target>[], extra: Partial<TableInputs> = {}): TableInputs => ({
  clusterId: 'c',
  version: 1,
  now: 0,
  strategy: 'round_robin',
  thresholds: Thresholds.parse({}),
  config: { panicThreshold: 0.5, zonePenaltyMs: 20, spilloverThreshold: 0.5, maglevTableSize: 65_537 },
  targets: Object.fromEntries(targets.map((t) => [t.id, t])),
  breakers: {},
  ...extra,
});

describe('routing table', () => {
  it('routes to healthy, degraded and unknown targets; not to unhealthy, dead, left or ejected ones', () => {
    const open = { ...closedBreaker(0), state: 'open' as const, lastReason: '5 consecutive failures' };
    const t = buildRoutingTable(
      base(
        [
          target('a/w'),
          target('b/w', { health: 'degraded' }),
          target('c/w', { health: 'unknown', status: 'suspect' }),
          target('d/w', { health: 'unhealthy' }),
          target('e/w', { status: 'dead' }),
          target('f/w', { status: 'left' }),
          target('g/w'),
          target('h/w'),
        ],
        { breakers: { 'g/w': open } },
      ),
    );
    expect(t.targets.map((x) => x.id)).toEqual(['a/w', 'b/w', 'c/w', 'h/w']);
    expect(t.excluded).toEqual([
      { id: 'd/w', reason: 'unhealthy' },
      { id: 'e/w', reason: 'node dead' },
      { id: 'f/w', reason: 'node left' },
      { id: 'g/w', reason: 'breaker open: 5 consecutive failures' },
    ]);
    expect(t.panic).toBe(false);
    expect(t.healthyShare).toBeCloseTo(4 / 6);
  });

  it('a cordoned node is routed to by no strategy, not even in panic, and does not count toward panic; sticky keys move', () => {
    const targets = [target('a/w'), target('a/api'), target('b/w'), target('c/w', { health: 'unhealthy' })];
    const before = buildRoutingTable(base(targets, { strategy: 'consistent_hash' }));
    const t = buildRoutingTable(
      base(targets, { strategy: 'consistent_hash', cordoned: { a: { since: 1, reason: 'kernel update', by: 'op' } } }),
    );
    expect(t.targets.map((x) => x.id)).toEqual(['b/w']);
    expect(t.excluded).toEqual([
      { id: 'a/api', reason: 'cordoned' },
      { id: 'a/w', reason: 'cordoned' },
      { id: 'c/w', reason: 'unhealthy' },
    ]);
    // 1 routable of 2 live (the cordoned node is out on purpose): the threshold, not panic.
    expect(t.panic).toBe(false);
    // Panic routes to every live target, but never to a cordoned one.
    const panic = buildRoutingTable(
      base([...targets, target('d/w', { health: 'unhealthy' })], { cordoned: { a: { since: 1 } } }),
    );
    expect(panic.panic).toBe(true);
    expect(panic.targets.map((x) => x.id)).toEqual(['b/w', 'c/w', 'd/w']);
    expect(before.targets.some((x) => x.nodeId === 'a')).toBe(true);
  });

  it.each([
    ['3 of 4 routable: normal', 1, false, 3],
    ['2 of 4 routable: exactly the threshold, normal', 2, false, 2],
    ['1 of 4 routable: panic, route to all 4 live', 3, true, 4],
  ])('%s', (_n, unhealthy, panic, routed) => {
    const targets = ['a', 'b', 'c', 'd'].map((id, i) =>
      target(`${id}/w`, { health: i < unhealthy ? 'unhealthy' : 'healthy' }),
    );
    const t = buildRoutingTable(base([...targets, target('x/w', { status: 'dead' })]));
    expect(t.panic).toBe(panic);
    expect(t.targets).toHaveLength(routed);
    expect(t.targets.some((x) => x.id === 'x/w')).toBe(false); // a dead node is never routed, not even in panic
  });

  it.each([
    [
      'equal targets',
      [
        [1, 0],
        [1, 0],
      ],
      [100, 100],
    ],
    [
      'twice the capacity',
      [
        [2, 0],
        [1, 0],
      ],
      [100, 50],
    ],
    [
      'half loaded',
      [
        [1, 0.5],
        [1, 0],
      ],
      [50, 100],
    ],
    [
      'full',
      [
        [1, 1],
        [1, 0],
      ],
      [1, 100],
    ],
  ])('weights from free capacity: %s', (_n, spec, expected) => {
    const targets = spec.map(([cap, util], i) =>
      target(`n${i}/w`, {
        capacity: { cpu: cap as number, memory: cap as number, network: cap as number, maxConnections: 100 },
        load: { cpu: util as number, memory: util as number, network: util as number, connections: 0 },
      }),
    );
    expect(weightsFromFreeCapacity(targets)).toEqual(expected);
  });

  it('an overloaded target keeps a quarter of its weight and is marked', () => {
    const t = buildRoutingTable(
      base([target('hot/w', { load: { cpu: 0.85, memory: 0, network: 0, connections: 0 } }), target('cool/w')]),
    );
    const hot = t.targets.find((x) => x.id === 'hot/w');
    expect(hot).toMatchObject({ overloaded: true });
    // free: cpu .15 → weight round(100 × (.4 × .15 + .3 + .3)) = 66, a quarter: 17
    expect(hot?.weight).toBe(17);
  });

  it.each([
    [[], 0],
    [
      [
        { at: 0, cpu: 0.1 },
        { at: 1000, cpu: 0.2 },
        { at: 2000, cpu: 0.3 },
      ],
      0.1,
    ],
    [
      [
        { at: 0, cpu: 0.5 },
        { at: 1000, cpu: 0.5 },
        { at: 2000, cpu: 0.5 },
      ],
      0,
    ],
  ])('cpu trend of %j is %d per second', (samples, slope) => expect(trendPerSecond(samples)).toBeCloseTo(slope));

  it('sizes the Maglev table from the routed targets unless the config sets a size', () => {
    const auto = { panicThreshold: 0.5, zonePenaltyMs: 20, spilloverThreshold: 0.5 };
    const many = (n: number) => Array.from({ length: n }, (_, i) => target(`n${i}/w`));
    expect(buildRoutingTable(base(many(3), { config: auto })).maglevTableSize).toBe(65_537);
    expect(buildRoutingTable(base(many(700), { config: auto })).maglevTableSize).toBe(131_101);
    // A table that already uses the larger size keeps it when targets leave (no remap of every key).
    expect(buildRoutingTable(base(many(600), { config: auto, previousMaglevTableSize: 131_101 })).maglevTableSize).toBe(
      131_101,
    );
    expect(buildRoutingTable(base(many(700))).maglevTableSize).toBe(65_537); // explicit in `base`
  });
});
