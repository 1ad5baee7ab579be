/**
 * ConsensusCoordinator (`<clusterId>/consensus-coordinator`): takes proposals (update `propose`),
 * runs each as a round — a child workflow `<clusterId>/consensus/<topic>/<seq>` — one at a time per
 * topic (rounds of different topics run side by side), and keeps a bounded history of results.
 *
 * The `propose` handler validates, queues the proposal and waits for its result; the loop starts
 * rounds (handlers decide, the loop acts). A round is awaited beside the loop, so a long round
 * holds up nothing else; continue-as-new waits for running rounds (their results go in the history
 * the next run carries).
 */
import { ApplicationFailure, condition, executeChild, setCurrentDetails } from '@temporalio/workflow';
import {
  CONSENSUS_ROLE,
  ConsensusCoordinatorConfig,
  ProposePayload,
  proposeUpdate,
  roundsQuery,
  type ConsensusState,
  type RoundInput,
  type RoundRecord,
} from '../contracts/consensus';
import { AGENT_WORKFLOW_TASK_TIMEOUT } from '../contracts/agents';
import { pushBounded } from '../core/bounded';
import type { Rule } from '../core/consensus/tally';
import { Agent } from './agent-base';
import { consensusRoundWorkflow } from './consensus/round';

export function emptyConsensusState(): ConsensusState {
  return { seq: {}, queued: {}, open: {}, history: [], counts: { proposed: 0, accepted: 0, rejected: 0, timed_out: 0 } };
}

export async function consensusCoordinatorWorkflow(input: unknown): Promise<void> {
  const agent = new Agent<ConsensusCoordinatorConfig, ConsensusState>(
    {
      role: CONSENSUS_ROLE,
      configSchema: ConsensusCoordinatorConfig,
      initialState: emptyConsensusState,
      health: (s, c) => {
        const open = Object.keys(s.open).length;
        const queued = Object.values(s.queued).reduce((n, q) => n + q.length, 0);
        const reasons: string[] = [];
        if (open >= c.maxOpenRounds) reasons.push(`${open} rounds open: new topics wait`);
        if (queued) reasons.push(`${queued} proposal(s) wait behind a running round`);
        return { status: open >= c.maxOpenRounds ? 'degraded' : 'healthy', reasons };
      },
    },
    input,
  );
  const c = new Coordinator(agent);
  agent.onQuery(roundsQuery, () => agent.state.history);
  agent.onUpdate(
    proposeUpdate,
    ProposePayload,
    (p) => c.propose(p),
    (p) => c.admit(p),
  );
  setCurrentDetails(c.details());
  await agent.run({
    hasWork: () => c.startable().length > 0,
    doWork: async () => c.startRounds(),
  });
}

class Coordinator {
  constructor(private readonly agent: Agent<ConsensusCoordinatorConfig, ConsensusState>) {}

  private get s(): ConsensusState {
    return this.agent.state;
  }

  /** Refuses a proposal that cannot wait (its topic's queue is full) before it enters history. */
  admit(p: ProposePayload): void {
    const queued = this.s.queued[p.topic]?.length ?? 0;
    if (queued >= this.agent.config.maxQueuedPerTopic)
      throw new Error(
        `topic: ${p.topic} has ${queued} proposals waiting behind its running round (maxQueuedPerTopic ${this.agent.config.maxQueuedPerTopic}); try again later`,
      );
    const participants = p.participants ?? this.agent.config.defaultParticipants;
    if (p.rule.startsWith('quorum:') && Number(p.rule.slice(7)) > participants.length)
      throw new Error(`rule: ${p.rule} needs more accepts than there are participants (${participants.length})`);
  }

  /** Queues the proposal as a round of its topic and waits for the round's result. */
  async propose(p: ProposePayload): Promise<RoundRecord> {
    this.admit(p); // the config may have changed since the validator ran
    const cfg = this.agent.config;
    const seq = (this.s.seq[p.topic] ?? 0) + 1;
    this.s.seq[p.topic] = seq;
    const proposalId = `${p.topic}/${seq}`;
    const round: RoundInput & { proposedAt: number } = {
      clusterId: this.agent.clusterId,
      proposalId,
      topic: p.topic,
      seq,
      value: p.value,
      participants: p.participants ?? [...cfg.defaultParticipants],
      rule: p.rule as Rule,
      timeoutMs: p.timeoutMs ?? (p.emergency ? cfg.emergencyTimeoutMs : cfg.consensusTimeoutMs),
      from: p.from,
      emergency: p.emergency,
      proposedAt: Date.now(),
    };
    (this.s.queued[p.topic] ??= []).push(round);
    this.s.counts.proposed += 1;
    let record: RoundRecord | undefined;
    await condition(() => (record = this.resultOf(proposalId)) !== undefined);
    if (!record) throw ApplicationFailure.nonRetryable(`round ${proposalId} ended without a result`);
    return record;
  }

  private resultOf(proposalId: string): RoundRecord | undefined {
    for (let i = this.s.history.length - 1; i >= 0; i--)
      if (this.s.history[i]!.proposalId === proposalId) return this.s.history[i];
    return undefined;
  }

  /** Topics whose next proposal can start: none of theirs runs, and the open limit allows. */
  startable(): string[] {
    const room = this.agent.config.maxOpenRounds - Object.keys(this.s.open).length;
    if (room <= 0) return [];
    return Object.keys(this.s.queued)
      .filter((t) => !this.s.open[t] && (this.s.queued[t]?.length ?? 0) > 0)
      .slice(0, room);
  }

  startRounds(): void {
    for (const topic of this.startable()) {
      const q = this.s.queued[topic]!;
      const next = q.shift()!;
      if (!q.length) delete this.s.queued[topic];
      const open = { ...next, startedAt: Date.now() };
      this.s.open[topic] = open;
      this.agent.beside(`round ${next.proposalId}`, async () => {
        try {
          const record = await executeChild(consensusRoundWorkflow, {
            workflowId: `${this.agent.clusterId}/consensus/${next.topic}/${next.seq}`,
            args: [next],
            workflowExecutionTimeout: next.timeoutMs + 60_000,
            // A task handed to a host that dies stalls the round this long (default 10 s).
            workflowTaskTimeout: AGENT_WORKFLOW_TASK_TIMEOUT,
            staticSummary: `consensus round: ${next.topic} #${next.seq} (${next.rule} of ${next.participants.length})`,
            staticDetails: `Proposed by ${next.from}; participants: ${next.participants.join(', ')}; timeout ${next.timeoutMs} ms. Current details show each vote and its reason.`,
          });
          this.record(record);
        } catch (err) {
          // The round could not run (its id is taken, the server refused): the proposer learns why.
          const now = Date.now();
          this.record({
            proposalId: next.proposalId,
            topic: next.topic,
            seq: next.seq,
            roundId: `${this.agent.clusterId}/consensus/${next.topic}/${next.seq}`,
            rule: next.rule,
            participants: next.participants,
            value: next.value,
            from: next.from,
            emergency: next.emergency,
            result: 'timed_out',
            summary: `timed_out: the round failed: ${err instanceof Error ? err.message : String(err)}`.slice(0, 500),
            votes: [],
            ignored: [],
            proposedAt: next.proposedAt,
            startedAt: open.startedAt,
            decidedAt: now,
            durationMs: now - open.startedAt,
          });
        } finally {
          delete this.s.open[topic];
          setCurrentDetails(this.details());
        }
      });
    }
    setCurrentDetails(this.details());
  }

  private record(r: RoundRecord): void {
    pushBounded(this.s.history, r, this.agent.config.historySize);
    this.s.counts[r.result] += 1;
  }

  details(): string {
    const open = Object.values(this.s.open);
    const last = this.s.history.slice(-8).reverse();
    const c = this.s.counts;
    return [
      `**${open.length} round(s) running**; ${c.proposed} proposed: ${c.accepted} accepted, ${c.rejected} rejected, ${c.timed_out} timed out`,
      '',
      ...(open.length
        ? ['Running:', '', ...open.map((o) => `- \`${o.proposalId}\` (${o.rule} of ${o.participants.length}) from ${o.from}`), '']
        : []),
      ...(last.length
        ? [
            'Latest results:',
            '',
            ...last.map(
              (r) =>
                `- \`${r.proposalId}\` ${r.summary} in ${r.durationMs} ms (${new Date(r.decidedAt).toISOString().slice(11, 23)})`,
            ),
          ]
        : []),
    ].join('\n');
  }
}
