/**
 * The FailureDetector's verdict on one suspect, as a pure function of what it has heard.
 *
 * Evidence comes from indirect probes (SWIM): k live peers each probe the suspect's health
 * endpoint from their own host.
 *   - `answered` (an HTTP answer from the same boot) refutes: it counts as an arrival for φ and
 *     voids every earlier confirmation.
 *   - `refused` (nothing listens: the process is gone) and `rebooted` (another boot answers: the
 *     suspected incarnation is gone) are strong: each observer that saw one is a confirmation that
 *     shortens the Lifeguard suspicion timeout.
 *   - `timeout` / `error` are weak: a paused, overloaded or cut-off host looks the same as a dead
 *     one, so they only let φ decide, and φ carries the acceptable pause.
 *
 * Invariants:
 * 1. One observer never condemns a host alone on weak evidence: the lease (the server's view) and
 *    two peers (or all asked, when fewer) must agree, and φ must pass the threshold.
 * 2. Evidence counts only if it is newer than both the suspicion and the last arrival.
 * 3. A suspect with no peers to ask is judged on φ alone (a one-host cluster still detects).
 */
import type { Judgement, ProbeEvidence, ProbeEvidenceKind, Suspicion } from '../../contracts/failure-detector';
import { elapsedForPhi, phi, type PhiParams } from './phi';
import { suspicionTimeout, type SuspicionParams } from './suspicion';
import { murmur3 } from '../lb/hash';

export type { Judgement, ProbeEvidence, ProbeEvidenceKind, Suspicion };

export const STRONG: readonly ProbeEvidenceKind[] = ['refused', 'rebooted'];

/** With no peer able to answer, how many maximum suspicion timeouts the lease alone must last. */
export const SILENT_PEERS_FACTOR = 10;

export interface JudgeParams extends PhiParams {
  phiThreshold: number;
  suspicion: SuspicionParams;
  /** The host's configured heartbeat interval, φ's mean until intervals are known (ms). */
  heartbeatIntervalMs: number;
}

/** Records a probe result; an answer from the same boot is an arrival (invariant 2). */
export function recordProbe(s: Suspicion, e: ProbeEvidence): void {
  s.probes[e.observer] = e;
  if (e.evidence === 'answered') s.lastArrivalAt = Math.max(s.lastArrivalAt, e.at);
}

export function judge(s: Suspicion, now: number, p: JudgeParams): Judgement {
  const after = Math.max(s.since, s.lastArrivalAt);
  const fresh = Object.values(s.probes).filter((e) => e.at >= after);
  const confirmations = fresh.filter((e) => STRONG.includes(e.evidence)).map((e) => e.observer);
  const weak = fresh.filter((e) => e.evidence === 'timeout' || e.evidence === 'error').map((e) => e.observer);
  const expected = s.asked.length;
  // A crash a peer's watch saw (its kernel closed the sockets), confirmed by every peer asked (the
  // port is closed to all): nothing listens that could refute it, so no minimum wait is left.
  const watched = s.source === 'watch';
  const timeoutMs = suspicionTimeout(
    confirmations.length,
    expected,
    watched ? { ...p.suspicion, minMs: 0 } : p.suspicion,
  );
  const silentMs = now - s.lastArrivalAt;
  const phiNow = phi(silentMs, s.arrivals, p, p.heartbeatIntervalMs);
  const phiAt = s.lastArrivalAt + elapsedForPhi(p.phiThreshold, s.arrivals, p, p.heartbeatIntervalMs);
  const base = { phi: round(phiNow), confirmations: confirmations.sort(), weak: weak.sort(), timeoutMs };

  if (confirmations.length > 0 && now - after >= timeoutMs) {
    const kinds = [...new Set(fresh.filter((e) => STRONG.includes(e.evidence)).map((e) => e.evidence))].join('/');
    return {
      ...base,
      verdict: 'dead',
      recheckAt: now,
      // More confirmations than observers asked: a peer's watch saw it too (it is not asked).
      reason:
        confirmations.length <= expected
          ? `${confirmations.length} of ${expected} observers confirm (${kinds}) after ${now - after} ms suspect`
          : `${confirmations.length} observers confirm (${kinds}) after ${now - after} ms suspect: ${expected} asked and a peer's watch`,
    };
  }
  // Silence is condemned only when more than one observer saw it: the lease (the server's view) and
  // at least two peers, or every peer asked when fewer were (invariant 1).
  const peersAgree = confirmations.length + weak.length >= Math.min(2, Math.max(1, expected));
  const noPeers = expected === 0;
  // Peers were asked but none could say anything (their probes got no answer in time): the lease
  // alone is one observer, so it condemns only after ten maximum suspicion timeouts (a minute by
  // default) — a starved cluster stays suspicious rather than declaring its hosts dead.
  const waitedOut = now - s.since >= SILENT_PEERS_FACTOR * p.suspicion.maxMs;
  if (phiNow >= p.phiThreshold && (peersAgree || noPeers || waitedOut)) {
    const why = peersAgree
      ? `${confirmations.length + weak.length} observers agree`
      : noPeers
        ? 'no peer to ask'
        : 'no peer answered';
    return {
      ...base,
      verdict: 'dead',
      recheckAt: now,
      reason: `φ ${round(phiNow)} ≥ ${p.phiThreshold} after ${silentMs} ms silent; ${why}`,
    };
  }
  const candidates = [phiAt];
  if (confirmations.length > 0) candidates.push(after + timeoutMs);
  if (!peersAgree && !noPeers) candidates.push(s.since + SILENT_PEERS_FACTOR * p.suspicion.maxMs);
  const recheckAt = Math.max(now + 1, Math.min(...candidates));
  return { ...base, verdict: 'wait', recheckAt, reason: `φ ${round(phiNow)} after ${silentMs} ms silent` };
}

/**
 * A suspicion raised by a peer's broken watch (not by the lease) ends, with the reason returned:
 *   - when the probers reach the same boot: at least two of them (every one asked, when fewer were
 *     asked) answered after the suspicion began, and no strong evidence came after the last answer.
 *     The lease still holds, so the watch broke, not the process;
 *   - when another boot answers: the process restarted at once (a supervisor restarts it), and its
 *     NodeAgent, with a new incarnation, speaks for it from here; the lease bounds a bad restart.
 * A lease suspicion is never refuted by probes: only its NodeAgent's renewed lease ends it.
 */
export function refutedByPeers(s: Suspicion): string | undefined {
  if (s.source !== 'watch' || s.asked.length === 0) return undefined;
  const since = Object.values(s.probes).filter((e) => e.at >= s.since);
  if (since.some((e) => e.evidence === 'rebooted')) return 'another boot answers: the host restarted';
  const answered = since.filter((e) => e.evidence === 'answered');
  if (answered.length < Math.min(2, s.asked.length)) return undefined;
  const lastAnswer = Math.max(...answered.map((e) => e.at));
  if (Object.values(s.probes).some((e) => STRONG.includes(e.evidence) && e.at > lastAnswer)) return undefined;
  return `${answered.length} peers reached the same boot`;
}

/**
 * Lifeguard's local health awareness (memberlist's awareness.go): when the detector's own probes
 * do not come back (its observers are overloaded or cut off), its judgement is less reliable, so
 * every timeout is stretched by (score + 1). The score rises by one per probe that got no answer
 * at all and falls by one per round whose probes all answered, within 0..max.
 */
export function awarenessScaled(p: JudgeParams, score: number): JudgeParams {
  const f = score + 1;
  return {
    ...p,
    acceptablePauseMs: p.acceptablePauseMs * f,
    suspicion: { minMs: p.suspicion.minMs * f, maxMs: p.suspicion.maxMs * f },
  };
}

/**
 * Up to k probers for `suspect`, from the live peers, rotated by round so that one slow peer is
 * not asked every time; deterministic (a workflow calls it).
 */
export function chooseProbers(peers: readonly string[], suspect: string, k: number, round: number): string[] {
  return peers
    .filter((id) => id !== suspect)
    .map((id) => ({ id, h: murmur3(`${suspect}/${round}/${id}`) }))
    .sort((a, b) => a.h - b.h || a.id.localeCompare(b.id))
    .slice(0, k)
    .map((x) => x.id);
}

/** Three decimals; ∞ becomes 999 so that state stays JSON (JSON has no Infinity). */
function round(x: number): number {
  return Number.isFinite(x) ? Math.min(999, Math.round(x * 1000) / 1000) : 999;
}
