/**
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016). Each target gets a permutation of the
 * M table slots from two hashes of its name (offset, skip); targets take turns claiming their
 * next preferred free slot until the table is full. Every target owns ⌊M/N⌋ or ⌈M/N⌉ slots, and
 * when one of N targets leaves only its slots (about 1/N of the keys) plus a small extra move.
 * M must be prime (so every skip generates a full permutation) and ≫ N; 65537 is the paper's.
 * Build: O(M log M) expected; lookup: one hash and one array read.
 *
 * Beyond the departed target's own slots, some others change hands too (the fill order shifts).
 * That extra shrinks only slowly as M/N grows (measured, `npm run bench -- router`: when one of
 * 1,000 leaves, ~7/N of the keys move at 65 or 131 slots per target, ~3/N at 1,000 per target).
 * `maglevTableSizeFor` keeps ≥ 100 slots per target when the operator sets no size, which keeps
 * every target's share of keys within 1 % of fair (65537 slots give 5,000 targets up to 7 % more).
 */
import { isPrime } from '../../contracts/primes';
import { murmur3 } from './hash';

export interface MaglevTable {
  size: number;
  /** Slot → index into the names the table was built from. */
  slots: Int32Array;
}

export { isPrime };

/**
 * Sizes chosen automatically: the primes next above 65537 × 2^k. A change of M remaps nearly every
 * key, so M moves only in these doubling steps, never with each target that joins or leaves.
 */
export const MAGLEV_SIZES = [65_537, 131_101, 262_151, 524_309, 1_048_601] as const;
/** Slots per target the automatic size provides at least (up to the largest size: N ≤ 10,486). */
export const MAGLEV_SLOTS_PER_TARGET = 100;

/**
 * The table size for `targets` targets: the smallest of MAGLEV_SIZES with ≥ 100 slots per target.
 * `previous` (the size in use) is kept while it is that step or the one above, so a target count
 * that hovers around a step boundary does not resize the table, and so remap every key, each time
 * it crosses. It grows as soon as 100 slots per target no longer fit.
 */
export function maglevTableSizeFor(targets: number, previous?: number): number {
  const last = MAGLEV_SIZES.length - 1;
  let need = MAGLEV_SIZES.findIndex((m) => m >= targets * MAGLEV_SLOTS_PER_TARGET);
  if (need < 0) need = last;
  const held = previous === undefined ? -1 : MAGLEV_SIZES.indexOf(previous as (typeof MAGLEV_SIZES)[number]);
  return MAGLEV_SIZES[held >= need && held <= need + 1 ? held : need] as number;
}

export function buildMaglev(names: readonly string[], size = 65_537): MaglevTable {
  if (!isPrime(size)) throw new RangeError(`maglev table size must be prime, got ${size}`);
  const n = names.length;
  const slots = new Int32Array(size).fill(-1);
  if (n === 0) return { size, slots };
  const offset = new Uint32Array(n);
  const skip = new Uint32Array(n);
  const next = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const name = names[i] as string;
    offset[i] = murmur3(name, 0x9747b28c) % size;
    skip[i] = (murmur3(name, 0x5bd1e995) % (size - 1)) + 1;
  }
  let filled = 0;
  for (;;) {
    for (let i = 0; i < n; i++) {
      let c = ((offset[i] as number) + (next[i] as number) * (skip[i] as number)) % size;
      while (slots[c] !== -1) {
        next[i] = (next[i] as number) + 1;
        c = ((offset[i] as number) + (next[i] as number) * (skip[i] as number)) % size;
      }
      slots[c] = i;
      next[i] = (next[i] as number) + 1;
      if (++filled === size) return { size, slots };
    }
  }
}

/** Index of the target a key maps to, or -1 for an empty table. */
export function maglevLookup(table: MaglevTable, key: string): number {
  return table.slots[murmur3(key, 0x2f1b3c4d) % table.size] as number;
}
