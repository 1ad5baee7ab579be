/**
 * Lifeguard's suspicion timeout (Dadgar et al., 2018; memberlist's suspicion.go): a suspect is
 * given `maxMs` to refute; each independent observer that confirms the suspicion shortens it, down
 * to `minMs` once the `expected` confirmations are in:
 *
 *   timeout(C) = max(minMs, maxMs − (maxMs − minMs) · log(C + 1) / log(K + 1))
 *
 * Logarithmic so that the first confirmation counts most: one observer halves the extra wait when
 * K = 3, three bring it to the minimum. With K = 0 (nobody could be asked) the timeout is maxMs.
 */
export interface SuspicionParams {
  /** Floor once every expected observer confirmed (ms). */
  minMs: number;
  /** Wait with no confirmation (ms). */
  maxMs: number;
}

export function suspicionTimeout(confirmations: number, expected: number, p: SuspicionParams): number {
  if (expected <= 0 || confirmations <= 0) return p.maxMs;
  const c = Math.min(confirmations, expected);
  const frac = Math.log(c + 1) / Math.log(expected + 1);
  return Math.max(p.minMs, Math.round(p.maxMs - (p.maxMs - p.minMs) * frac));
}
