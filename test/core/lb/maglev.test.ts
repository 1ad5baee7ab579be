import { buildMaglev, isPrime, maglevLookup } from '../../../src/core/lb/maglev';

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
});
