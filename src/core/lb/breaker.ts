/**
 * Per-target circuit breaker (Envoy's outlier detection, simplified), as plain JSON state.
 *
 * closed ──(consecutive failures ≥ N, or error rate > threshold over a window with enough requests)──► open
 * open ──(ejection time over: n-th ejection lasts min(n × base, max))──► half_open
 * half_open ──(k successes)──► closed        half_open ──(a failure)──► open (next ejection, longer)
 *
 * Invariants:
 * 1. At most max(1, ⌊share × targets⌋) breakers are open at once: a cluster-wide fault must not
 *    eject every target (Envoy's max_ejection_percent; one ejection is always allowed).
 * 2. Transitions are functions of (state, outcome, now); no clock is read here.
 */
import type { Breaker, BreakerConfig } from '../../contracts/load-balancer';

export function closedBreaker(now: number): Breaker {
  return {
    state: 'closed',
    consecutiveFailures: 0,
    windowStart: now,
    windowRequests: 0,
    windowFailures: 0,
    ejections: 0,
    halfOpenSuccesses: 0,
  };
}

export function ejectionMs(ejections: number, cfg: BreakerConfig): number {
  return Math.min(Math.max(1, ejections) * cfg.baseEjectionMs, cfg.maxEjectionMs);
}

export interface OutcomeInput {
  successes: number;
  failures: number;
}

/**
 * Applies outcomes to one breaker. `errorRate` is the trip point (the agent's adaptive
 * threshold); `canEject` says whether invariant 1 allows one more open breaker. Returns true when
 * the state changed.
 */
export function recordOutcomes(
  b: Breaker,
  o: OutcomeInput,
  now: number,
  cfg: BreakerConfig,
  errorRate: number,
  canEject: boolean,
): boolean {
  const before = b.state;
  if (now - b.windowStart >= cfg.windowMs) {
    b.windowStart = now;
    b.windowRequests = 0;
    b.windowFailures = 0;
  }
  b.windowRequests += o.successes + o.failures;
  b.windowFailures += o.failures;
  if (b.state === 'open') return false; // outcomes of requests sent before the ejection
  if (b.state === 'half_open') {
    if (o.failures > 0) open(b, now, cfg, 'failed while half-open');
    else {
      b.halfOpenSuccesses += o.successes;
      if (b.halfOpenSuccesses >= cfg.halfOpenSuccesses) close(b, now);
    }
    return b.state !== before;
  }
  // closed: a batch with failures and successes counts its failures as consecutive only when it has no success after them.
  b.consecutiveFailures =
    o.successes > 0 && o.failures === 0 ? 0 : o.successes > 0 ? o.failures : b.consecutiveFailures + o.failures;
  const rate = b.windowRequests ? b.windowFailures / b.windowRequests : 0;
  let reason: string | undefined;
  if (b.consecutiveFailures >= cfg.consecutiveFailures) reason = `${b.consecutiveFailures} consecutive failures`;
  else if (b.windowRequests >= cfg.minRequests && rate > errorRate) {
    reason = `error rate ${(rate * 100).toFixed(1)} % over ${b.windowRequests} requests`;
  }
  if (reason && canEject) open(b, now, cfg, reason);
  else if (reason) b.lastReason = `${reason} (not ejected: ejection limit reached)`;
  return b.state !== before;
}

/** Moves an open breaker whose ejection is over to half-open. Returns true when it did. */
export function tickBreaker(b: Breaker, now: number): boolean {
  if (b.state === 'open' && b.openUntil !== undefined && now >= b.openUntil) {
    b.state = 'half_open';
    b.halfOpenSuccesses = 0;
    return true;
  }
  return false;
}

/** The earliest time an open breaker becomes half-open, for the agent's timer. */
export function nextBreakerDue(breakers: Record<string, Breaker>): number | undefined {
  let due: number | undefined;
  for (const b of Object.values(breakers)) {
    if (b.state === 'open' && b.openUntil !== undefined && (due === undefined || b.openUntil < due)) due = b.openUntil;
  }
  return due;
}

export function maxEjected(targets: number, cfg: BreakerConfig): number {
  return Math.max(1, Math.floor(cfg.maxEjectionShare * targets));
}

function open(b: Breaker, now: number, cfg: BreakerConfig, reason: string): void {
  b.ejections += 1;
  b.state = 'open';
  b.openedAt = now;
  b.openUntil = now + ejectionMs(b.ejections, cfg);
  b.halfOpenSuccesses = 0;
  b.lastReason = reason;
}

function close(b: Breaker, now: number): void {
  b.state = 'closed';
  b.consecutiveFailures = 0;
  b.windowStart = now;
  b.windowRequests = 0;
  b.windowFailures = 0;
  b.halfOpenSuccesses = 0;
}
