import { LoadBalancerConfig } from '../../../src/contracts/load-balancer';
import { MAGLEV_SIZES, buildMaglev, isPrime, maglevLookup, maglevTableSizeFor } from '../../../src/core/lb/maglev';
import { describeZodError } from '../../../src/core/validation';

const names = (n: number, prefix = 'node') => Array.from({ length: n }, (_, i) => `${prefix}-${i}/web`);

describe('Maglev', () => {
  it.each([
    [3, 1_009],
    [10, 65_537],
    [100, 65_537],
    [1000, 65_537],
  ])('%d targets over %d slots: each owns ⌊M/N⌋ or ⌈M/N⌉ slots', (n, size) => {
    const t = buildMaglev(names(n), size);
    const owned = new Array<number>(n).fill(0);
    for (const s of t.slots) owned[s] = (owned[s] ?? 0) + 1;
    expect(Math.min(...owned)).toBeGreaterThanOrEqual(Math.floor(size / n));
    expect(Math.max(...owned)).toBeLessThanOrEqual(Math.ceil(size / n));
  });

  it.each([5, 10, 50, 100])('when one of %d targets leaves, about 1/N of the keys move', (n) => {
    const before = names(n);
    const after = before.filter((_, i) => i !== Math.floor(n / 2));
    const a = buildMaglev(before, 65_537);
    const b = buildMaglev(after, 65_537);
    const keys = 20_000;
    let moved = 0;
    for (let k = 0; k < keys; k++) {
      const key = `key-${k}`;
      if (before[maglevLookup(a, key)] !== after[maglevLookup(b, key)]) moved++;
    }
    const share = moved / keys;
    expect(share).toBeGreaterThanOrEqual((1 / n) * 0.8);
    expect(share).toBeLessThan((1 / n) * 2); // the paper: a little above 1/N (its slots plus some reshuffle)
  });

  it('is deterministic and independent of insertion into other tables', () => {
    expect(Array.from(buildMaglev(names(7), 1_009).slots)).toEqual(Array.from(buildMaglev(names(7), 1_009).slots));
  });

  it('rejects a table size that is not prime, and maps nothing with no targets', () => {
    expect(() => buildMaglev(names(3), 1_000)).toThrow(/prime, got 1000/);
    expect(maglevLookup(buildMaglev([], 7), 'k')).toBe(-1);
    expect([2, 3, 65_537].map(isPrime)).toEqual([true, true, true]);
    expect([1, 9, 65_535].map(isPrime)).toEqual([false, false, false]);
  });

  it('every automatic size is a prime next above 65537 × 2^k', () => {
    MAGLEV_SIZES.forEach((m, k) => {
      expect(isPrime(m)).toBe(true);
      for (let x = 65_537 * 2 ** k; x < m; x++) expect(isPrime(x)).toBe(false);
    });
  });

  it.each([
    // targets, size in use, size chosen
    [0, undefined, 65_537],
    [3, undefined, 65_537],
    [655, undefined, 65_537], // 100 × 655 = 65,500 ≤ 65,537
    [656, undefined, 131_101], // grows as soon as 100 slots per target no longer fit
    [656, 65_537, 131_101],
    [655, 131_101, 131_101], // one leaves again: kept (a resize would remap every key)
    [10, 131_101, 131_101], // one step above what is needed: kept
    [10, 262_151, 65_537], // two steps above: shrinks to what is needed
    [1_000, undefined, 131_101],
    [5_000, undefined, 524_309],
    [20_000, undefined, 1_048_601], // beyond the largest size: the largest
    [3, 1_009, 65_537], // an explicit size that is no longer configured is not an automatic one
  ])('%d targets, size in use %p: %d slots', (n, previous, size) => {
    expect(maglevTableSizeFor(n, previous)).toBe(size);
  });

  it('with automatic sizes, a target that leaves moves its own keys and a few more, not all of them', () => {
    const moved = (n: number, sizeBefore: number, sizeAfter: number) => {
      const before = names(n);
      const after = before.filter((_, i) => i !== Math.floor(n / 2));
      const a = buildMaglev(before, sizeBefore);
      const b = buildMaglev(after, sizeAfter);
      let m = 0;
      for (let k = 0; k < 20_000; k++)
        if (before[maglevLookup(a, `key-${k}`)] !== after[maglevLookup(b, `key-${k}`)]) m++;
      return m / 20_000;
    };
    // At a step boundary (656 → 655 targets) the size in use is kept.
    const size = maglevTableSizeFor(656);
    expect(maglevTableSizeFor(655, size)).toBe(size);
    expect(moved(656, size, size)).toBeLessThan(10 / 656);
    // Sizing by the target count alone (next prime ≥ 100 × N) would remap nearly everything.
    expect(moved(656, 65_599, 65_537)).toBeGreaterThan(0.9);
  });

  it('an explicit size must be a prime within range; the error names the field', () => {
    expect(LoadBalancerConfig.parse({ maglevTableSize: 1_009 }).maglevTableSize).toBe(1_009);
    expect(LoadBalancerConfig.parse({}).maglevTableSize).toBeUndefined();
    const bad = LoadBalancerConfig.safeParse({ maglevTableSize: 1_000 });
    expect(bad.success).toBe(false);
    if (!bad.success) expect(describeZodError(bad.error, 'config')).toMatch(/maglevTableSize.*prime/);
    expect(LoadBalancerConfig.safeParse({ maglevTableSize: 2_000_003 }).success).toBe(false);
  });
});
