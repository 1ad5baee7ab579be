/**
 * A consensus round: child workflow `<clusterId>/consensus/<topic>/<seq>` of the
 * ConsensusCoordinator. It asks every participant at once (`consensusRequest` with this round as
 * the reply-to), counts one `consensusVote` per participant (src/core/consensus/tally.ts) and ends
 * at the first decided tally or at its timeout: accepted, rejected or timed_out, with every vote
 * and its reason. A participant whose workflow does not run is `absent` (it never accepts).
 */
import {
  condition,
  getExternalWorkflowHandle,
  patched,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { ACTIVITY } from '../activity-options';
import { consensusRequestSignal } from '../../contracts/common';
import {
  ConsensusVotePayload,
  ballotsQuery,
  consensusVoteSignal,
  type RoundInput,
  type RoundRecord,
} from '../../contracts/consensus';
import { isUndecodable } from '../../contracts/undecodable';
import { castBallot, describeTally, tally, type Ballot } from '../../core/consensus/tally';

const IGNORED_KEPT = 50;

/**
 * Patch id: the round asks its participants through a local activity (one signal each from the
 * worker's client, all at once) instead of a signal command per participant, which the server
 * delivers one after another: the last request arrived up to ~80 ms after the first.
 */
export const ASK_BY_LOCAL_ACTIVITY = 'round-asks-by-local-activity';

export async function consensusRoundWorkflow(input: RoundInput & { proposedAt?: number }): Promise<RoundRecord> {
  const startedAt = Date.now();
  const roundId = workflowInfo().workflowId;
  const votes: Ballot[] = [];
  const ignored: RoundRecord['ignored'] = [];
  let decided = false;
  const ignore = (participant: string, why: string) => {
    if (ignored.length < IGNORED_KEPT) ignored.push({ participant: participant.slice(0, 200), why, at: Date.now() });
  };
  setHandler(consensusVoteSignal, (raw: unknown) => {
    if (isUndecodable(raw)) return ignore('?', `undecodable vote: ${raw.undecodablePayload}`);
    const p = ConsensusVotePayload.safeParse(raw);
    if (!p.success)
      return ignore(
        '?',
        `invalid vote: ${p.error.issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`).join('; ')}`,
      );
    if (p.data.proposalId !== input.proposalId)
      return ignore(p.data.participant, `vote for another proposal (${p.data.proposalId})`);
    const r = castBallot(votes, input.participants, decided, {
      participant: p.data.participant,
      vote: p.data.vote,
      reason: p.data.reason,
      at: Date.now(),
    });
    if (!r.counted) ignore(p.data.participant, r.why);
  });
  setHandler(ballotsQuery, () => ({ votes, ignored }));

  const current = () => tally(input.rule, input.participants, votes);
  const show = (timedOut = false) =>
    setCurrentDetails(
      [
        `**${describeTally(input.rule, current(), timedOut)}**`,
        '',
        `Proposal \`${input.topic}\` #${input.seq} from ${input.from}: \`${JSON.stringify(input.value).slice(0, 300)}\``,
        '',
        '| participant | vote | reason |',
        '|---|---|---|',
        ...input.participants.map((p) => {
          const b = votes.find((v) => v.participant === p);
          return `| ${p} | ${b ? b.vote : 'pending'} | ${(b?.reason ?? '').replace(/\|/g, '/')} |`;
        }),
      ].join('\n'),
    );
  show();

  // Every participant is asked at once; one whose workflow does not run cannot vote.
  const request = {
    proposalId: input.proposalId,
    from: input.from,
    topic: input.topic,
    value: input.value,
    replyTo: roundId,
  };
  const absent = (participant: string, reason: string) =>
    castBallot(votes, input.participants, false, { participant, vote: 'absent', reason, at: Date.now() });
  const couldNotAsk = (err: unknown) =>
    `could not be asked: ${err instanceof Error ? err.message : String(err)}`.slice(0, 300);
  if (patched(ASK_BY_LOCAL_ACTIVITY)) {
    const { askParticipants } = proxyLocalActivities<Activities>({
      ...ACTIVITY.askParticipants(input.timeoutMs),
      summary: `ask ${input.participants.join(', ')} to vote on ${input.topic} #${input.seq} (${input.rule})`.slice(
        0,
        200,
      ),
    });
    try {
      const asked = await askParticipants({ clusterId: input.clusterId, participants: input.participants, request });
      for (const a of asked.absent) absent(a.participant, a.reason);
    } catch (err) {
      // Not one request could be sent within the round's time: every participant not heard from is absent.
      for (const participant of input.participants) absent(participant, couldNotAsk(err));
    }
  } else
    await Promise.all(
      input.participants.map(async (participant) => {
        try {
          await getExternalWorkflowHandle(`${input.clusterId}/${participant}`).signal(consensusRequestSignal, request);
        } catch (err) {
          absent(participant, couldNotAsk(err));
        }
      }),
    );

  const inTime = await condition(() => current().result !== undefined, input.timeoutMs);
  decided = true;
  const t = current();
  const decidedAt = Date.now();
  show(!inTime);
  return {
    proposalId: input.proposalId,
    topic: input.topic,
    seq: input.seq,
    roundId,
    rule: input.rule,
    participants: input.participants,
    value: input.value,
    from: input.from,
    emergency: input.emergency,
    result: t.result ?? 'timed_out',
    summary: describeTally(input.rule, t, !inTime),
    votes,
    ignored,
    proposedAt: input.proposedAt ?? startedAt,
    startedAt,
    decidedAt,
    durationMs: decidedAt - startedAt,
  };
}
