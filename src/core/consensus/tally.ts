/**
 * Consensus rounds, the pure part: the rule a round is decided by, one vote per participant, and
 * the tally. A round (src/workflows/consensus/round.ts) feeds votes in and stops at the first
 * decided tally or its timeout. No I/O, no Temporal: table-tested (test/core/consensus).
 */

import type { Ballot, Rule } from '../../contracts/consensus';

export { parseRule } from '../../contracts/consensus';
export type { Ballot, BallotValue, Rule, RoundResult, VoteValue } from '../../contracts/consensus';

export interface Tally {
  accepts: number;
  rejects: number;
  absent: number;
  pending: number;
  /** Accepts the rule needs. */
  needed: number;
  /** Decided: accepted or rejected whatever the votes still pending say. */
  result?: 'accepted' | 'rejected';
}

/** Accepts that decide a round of `n` participants under `rule`. */
export function neededAccepts(rule: Rule, n: number): number {
  if (rule === 'majority') return Math.floor(n / 2) + 1;
  if (rule === 'unanimous') return n;
  return Number(rule.slice('quorum:'.length));
}

/**
 * The tally of `ballots` (one per participant at most; see `castBallot`). Accepted once enough
 * accept; rejected once too few are left that could (a reject or an absent participant counts
 * against); undecided otherwise — the round waits for more votes or its timeout.
 */
export function tally(rule: Rule, participants: readonly string[], ballots: readonly Ballot[]): Tally {
  const n = participants.length;
  const counted = new Set(participants);
  let accepts = 0;
  let rejects = 0;
  let absent = 0;
  for (const b of ballots) {
    if (!counted.has(b.participant)) continue;
    counted.delete(b.participant);
    if (b.vote === 'accept') accepts += 1;
    else if (b.vote === 'reject') rejects += 1;
    else absent += 1;
  }
  const pending = counted.size;
  const needed = neededAccepts(rule, n);
  const t: Tally = { accepts, rejects, absent, pending, needed };
  if (accepts >= needed) t.result = 'accepted';
  else if (accepts + pending < needed) t.result = 'rejected';
  return t;
}

/**
 * Adds a ballot when it counts: from a participant, its first, and before the round was decided.
 * Returns why it was ignored otherwise (the round records ignored votes too).
 */
export function castBallot(
  ballots: Ballot[],
  participants: readonly string[],
  decided: boolean,
  ballot: Ballot,
): { counted: true } | { counted: false; why: 'not a participant' | 'duplicate' | 'late' } {
  if (!participants.includes(ballot.participant)) return { counted: false, why: 'not a participant' };
  if (ballots.some((b) => b.participant === ballot.participant)) return { counted: false, why: 'duplicate' };
  if (decided) return { counted: false, why: 'late' };
  ballots.push(ballot);
  return { counted: true };
}

/** One line for the Web UI and the CLI: "accepted: 4 of 5 accept (needs 3), 1 rejects". */
export function describeTally(rule: Rule, t: Tally, timedOut = false): string {
  const n = t.accepts + t.rejects + t.absent + t.pending;
  const head = t.result ?? (timedOut ? 'timed_out' : 'open');
  const parts = [`${t.accepts} of ${n} accept (${rule} needs ${t.needed})`];
  if (t.rejects) parts.push(`${t.rejects} reject`);
  if (t.absent) parts.push(`${t.absent} absent`);
  if (t.pending) parts.push(`${t.pending} ${timedOut ? 'did not answer' : 'pending'}`);
  return `${head}: ${parts.join(', ')}`;
}

/** A round's summary with every vote and its reason, for the records of those that proposed it. */
export function roundText(r: { summary: string; votes: readonly { participant: string; vote: string; reason: string }[] }): string {
  return [r.summary, ...r.votes.map((v) => `${v.participant}: ${v.vote} (${v.reason})`)].join('; ').slice(0, 1_000);
}
