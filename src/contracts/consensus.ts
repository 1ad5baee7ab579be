/**
 * ConsensusCoordinator (`<clusterId>/consensus-coordinator`): proposals become rounds, each a child
 * workflow `<clusterId>/consensus/<topic>/<seq>` that asks its participants (agents, by role, or
 * NodeAgents as `node/<id>`) with `consensusRequest` and counts their `consensusVote` signals.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import { BaseConfig, FreeJson } from './common';

export const CONSENSUS_ROLE = 'consensus-coordinator';

export type VoteValue = 'accept' | 'reject';
/** `absent`: the participant could not be asked (its workflow does not run); it never accepts. */
export type BallotValue = VoteValue | 'absent';

export interface Ballot {
  participant: string;
  vote: BallotValue;
  reason: string;
  at: number;
}

/** `majority` (more than half accept), `unanimous` (every one), `quorum:N` (at least N accept). */
export type Rule = 'majority' | 'unanimous' | `quorum:${number}`;
export type RoundResult = 'accepted' | 'rejected' | 'timed_out';

const RULE = /^(majority|unanimous|quorum:([1-9][0-9]{0,3}))$/;

/** Parses a rule for a round of `participants`; the error names what was expected. */
export function parseRule(raw: string, participants: number): { rule: Rule } | { error: string } {
  const m = RULE.exec(raw);
  if (!m)
    return { error: `expected majority, unanimous or quorum:N (N a positive integer), got ${JSON.stringify(raw)}` };
  if (m[2] !== undefined && Number(m[2]) > participants)
    return { error: `quorum:${m[2]} needs more accepts than there are participants (${participants})` };
  return { rule: raw as Rule };
}

const Ms = (min: number, max: number) => z.number().int().min(min).max(max);

/** Part of the round's workflow id. */
export const ConsensusTopic = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$/, 'expected 1-63 letters, digits, "-", "_", "." or ":", starting with a letter or digit');

/** An agent role (`node-discovery`) or a NodeAgent (`node/<nodeId>`). */
export const Participant = z
  .string()
  .regex(
    /^(node\/[A-Za-z0-9][A-Za-z0-9_.-]{0,62}|[a-z][a-z0-9-]{0,62})$/,
    'expected an agent role (e.g. node-discovery) or node/<nodeId>',
  );

/** The agents that know about nodes and traffic: the default participants (5). */
export const DEFAULT_PARTICIPANTS = [
  'node-discovery',
  'failure-detector',
  'health-monitor',
  'load-balancer',
  'orchestrator',
] as const;

export const ConsensusCoordinatorConfig = BaseConfig.extend({
  /** A round's timeout when the proposal gives none (ms, default 45 s: the spec's). */
  consensusTimeoutMs: Ms(50, 600_000).default(45_000),
  /** A round's timeout for emergency proposals (ms, default 15 s). */
  emergencyTimeoutMs: Ms(50, 600_000).default(15_000),
  /** Participants when the proposal names none. */
  defaultParticipants: z.array(Participant).min(1).max(50).default([...DEFAULT_PARTICIPANTS]),
  /** Results kept (default 100). */
  historySize: z.number().int().min(1).max(10_000).default(100),
  /** Proposals that may wait per topic behind its running round (default 20). */
  maxQueuedPerTopic: z.number().int().min(1).max(1_000).default(20),
  /** Rounds that may run at once over all topics (default 50). */
  maxOpenRounds: z.number().int().min(1).max(1_000).default(50),
});
export type ConsensusCoordinatorConfig = z.infer<typeof ConsensusCoordinatorConfig>;

export const ProposePayload = z
  .object({
    topic: ConsensusTopic,
    value: FreeJson.default(null),
    /** Default: the coordinator's `defaultParticipants`. */
    participants: z.array(Participant).min(1).max(50).optional(),
    rule: z.string().default('majority'),
    /** Default: `emergencyTimeoutMs` for emergencies, else `consensusTimeoutMs`. */
    timeoutMs: Ms(50, 600_000).optional(),
    emergency: z.boolean().default(false),
    /** Who proposes (shown with the round). */
    from: z.string().min(1).max(200).default('operator'),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.participants && new Set(p.participants).size !== p.participants.length)
      ctx.addIssue({ code: 'custom', path: ['participants'], message: 'expected each participant once' });
    const r = parseRule(p.rule, p.participants?.length ?? Number.MAX_SAFE_INTEGER);
    if ('error' in r) ctx.addIssue({ code: 'custom', path: ['rule'], message: r.error });
  });
export type ProposePayload = z.infer<typeof ProposePayload>;

export const ConsensusVotePayload = z.object({
  proposalId: z.string().min(1).max(200),
  participant: z.string().min(1).max(200),
  vote: z.enum(['accept', 'reject']),
  reason: z.string().max(1_000).default(''),
});
export type ConsensusVotePayload = z.infer<typeof ConsensusVotePayload>;

export interface RoundInput {
  clusterId: string;
  proposalId: string;
  topic: string;
  seq: number;
  value: unknown;
  participants: string[];
  rule: Rule;
  timeoutMs: number;
  from: string;
  emergency: boolean;
}

export interface RoundRecord {
  proposalId: string;
  topic: string;
  seq: number;
  /** The round's workflow id. */
  roundId: string;
  rule: Rule;
  participants: string[];
  value: unknown;
  from: string;
  emergency: boolean;
  result: RoundResult;
  /** One line: "accepted: 4 of 5 accept (majority needs 3), 1 reject". */
  summary: string;
  votes: Ballot[];
  /** Votes that did not count, and why (late, duplicate, not a participant). */
  ignored: { participant: string; why: string; at: number }[];
  proposedAt: number;
  startedAt: number;
  decidedAt: number;
  /** Round started → decided (ms, workflow time). */
  durationMs: number;
}

export interface ConsensusState {
  /** Last sequence number per topic. */
  seq: Record<string, number>;
  /** Proposals waiting for their topic's running round, per topic, in order. */
  queued: Record<string, (RoundInput & { proposedAt: number })[]>;
  /** The round running per topic. */
  open: Record<string, RoundInput & { proposedAt: number; startedAt: number }>;
  /** Results, newest last (bounded by historySize). */
  history: RoundRecord[];
  counts: Record<RoundResult, number> & { proposed: number };
}

export const consensusVoteSignal = defineSignal<[ConsensusVotePayload]>('consensusVote');
export const proposeUpdate = defineUpdate<RoundRecord, [ProposePayload]>('propose');
export const roundsQuery = defineQuery<RoundRecord[]>('rounds');
/** Round workflows' own query: the ballots so far. */
export const ballotsQuery = defineQuery<{ votes: Ballot[]; ignored: RoundRecord['ignored'] }>('ballots');

export const CONSENSUS_SIGNALS = {} as const;
export const CONSENSUS_QUERIES = ['rounds'] as const;
export const CONSENSUS_UPDATES = { propose: ProposePayload };
