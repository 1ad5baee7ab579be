/**
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016). Each target gets a permutation of the
 * M table slots from two hashes of its name (offset, skip); targets take turns claiming their
 * next preferred free slot until the table is full. Every target owns ⌊M/N⌋ or ⌈M/N⌉ slots, and
 * when one of N targets leaves only its slots (about 1/N of the keys) plus a small extra move.
 * M must be prime (so every skip generates a full permutation) and ≫ N; 65537 is the paper's.
 * Build: O(M log M) expected; lookup: one hash and one array read.
 */
import { murmur3 } from './hash';

export interface MaglevTable {
  size: number;
  /** Slot → index into the names the table was built from. */
  slots: Int32Array;
}

export function isPrime(n: number): boolean {
  if (n < 2 || !Number.isInteger(n)) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
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
