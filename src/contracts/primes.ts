/** Number checks the contracts validate with (and core reuses): no imports, pure. */
/** True for a prime n (Maglev's table size must be prime). */
export function isPrime(n: number): boolean {
  if (n < 2 || !Number.isInteger(n)) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}
