/**
 * The ConsensusCoordinator and its rounds on the real dev server: real agents vote (their own vote
 * functions), absent and silent participants, duplicate and stray votes, one round at a time per
 * topic, bad proposals refused with the field named, continue-as-new with the history carried.
 */
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { AgentStateView } from '../../src/contracts/common';
import type { ConsensusState, RoundRecord } from '../../src/contracts/consensus';
import { cli } from '../support/cli';
import { replayAll, replayAndRecord } from '../support/histories';
import { connect, eventually, startWorker, uniqueId, type TestTemporal, type TestWorker } from '../support/temporal';

const fileStartedAt = new Date(Date.now() - 1_000);
let t: TestTemporal;
let worker: TestWorker;
const taskQueue = uniqueId('consensus-tq');
const clusterId = uniqueId('cons');
const handles: WorkflowHandle[] = [];
const FAST = { heartbeatIntervalMs: 1_000, healthCheckIntervalMs: 1_000, topologySyncIntervalMs: 60_000 };

async function start(type: string, role: string, config: Record<string, unknown> = {}, args?: unknown[]) {
  const handle = await t.client.workflow.start(type, {
    workflowId: `${clusterId}/${role}`,
    taskQueue,
    args: args ?? [{ clusterId, config: { ...FAST, ...config } }],
  });
  handles.push(handle);
  return handle;
}

let coordinator: WorkflowHandle;
const propose = (p: Record<string, unknown>) => coordinator.executeUpdate<RoundRecord, [unknown]>('propose', { args: [p] });

beforeAll(async () => {
  t = await connect();
  worker = await startWorker(t.client, taskQueue, 'observer-consensus');
  await start('failureDetectorWorkflow', 'failure-detector', { probeTimeoutMs: 300 });
  await start('loadBalancerWorkflow', 'load-balancer');
  await start('nodeDiscoveryWorkflow', 'node-discovery', { strategies: ['static'], broadcast: false });
  // A participant that never answers: a workflow on a queue no worker polls (a host that is gone).
  handles.push(
    await t.client.workflow.start('failureDetectorWorkflow', {
      workflowId: `${clusterId}/silent`,
      taskQueue: uniqueId('nobody-polls'),
      args: [{ clusterId, config: {} }],
    }),
  );
  coordinator = await start('consensusCoordinatorWorkflow', 'consensus-coordinator', {
    defaultParticipants: ['failure-detector', 'load-balancer', 'node-discovery'],
    continueAsNewAfterSignals: 10,
  });
});
afterAll(async () => {
  for (const h of handles) await h.terminate('test done').catch(() => undefined);
  await worker?.stop();
  await t?.close();
});

describe('ConsensusCoordinator', () => {
  it('runs a round: each default participant votes with a reason; the result lists every vote', async () => {
    const r = await propose({ topic: 'upgrade', value: { to: 'v2' }, from: 'test' });
    expect(r.result).toBe('accepted');
    expect(r.roundId).toBe(`${clusterId}/consensus/upgrade/1`);
    expect(r.votes.map((v) => v.participant).sort()).toEqual(['failure-detector', 'load-balancer', 'node-discovery']);
    for (const v of r.votes) expect(v.reason).toMatch(/no objection: no view on upgrade/);
    expect(r.summary).toMatch(/^accepted: [23] of 3 accept \(majority needs 2\)/);
  });

  it("decides node-gone by the agents' own views: the FailureDetector rejects a node it does not suspect", async () => {
    const r = await propose({
      topic: 'node-gone',
      value: { nodeId: 'ghost' },
      participants: ['failure-detector', 'node-discovery'],
      rule: 'unanimous',
    });
    expect(r.result).toBe('rejected');
    const fd = r.votes.find((v) => v.participant === 'failure-detector');
    expect(fd).toMatchObject({ vote: 'reject', reason: expect.stringMatching(/ghost is neither suspected nor declared dead/) });
    // NodeDiscovery may not have voted yet: the FailureDetector's reject decided a unanimous round.
  });

  it('counts a participant whose workflow does not run as absent', async () => {
    const r = await propose({ topic: 'absent', participants: ['failure-detector', 'no-such-agent'], rule: 'unanimous' });
    expect(r.result).toBe('rejected');
    expect(r.votes.find((v) => v.participant === 'no-such-agent')).toMatchObject({
      vote: 'absent',
      reason: expect.stringMatching(/could not be asked/),
    });
  });

  it('times out when a participant never answers, with the votes it got', async () => {
    const r = await propose({ topic: 'quiet', participants: ['failure-detector', 'silent'], rule: 'unanimous', timeoutMs: 700 });
    expect(r.result).toBe('timed_out');
    expect(r.summary).toMatch(/1 did not answer/);
    expect(r.votes.map((v) => v.participant)).toEqual(['failure-detector']);
    expect(r.durationMs).toBeGreaterThanOrEqual(650);
  });

  it('counts one vote per participant: duplicates and strangers are ignored and recorded', async () => {
    const pending = propose({ topic: 'manual', participants: ['silent', 'failure-detector'], rule: 'unanimous', timeoutMs: 20_000 });
    const round = t.client.workflow.getHandle(`${clusterId}/consensus/manual/1`);
    await eventually('the round running', () => round.describe().then((d) => d.status.name).catch(() => 'none'), (s) => s === 'RUNNING', 10_000);
    await round.signal('consensusVote', { proposalId: 'manual/1', participant: 'stranger', vote: 'accept', reason: 'x' });
    await round.signal('consensusVote', { proposalId: 'other/9', participant: 'silent', vote: 'reject', reason: 'wrong round' });
    await round.signal('consensusVote', { proposalId: 'manual/1', participant: 'silent', vote: 'accept', reason: 'first' });
    await round.signal('consensusVote', { proposalId: 'manual/1', participant: 'silent', vote: 'reject', reason: 'second' });
    await round.signal('consensusVote', { nonsense: true });
    const r = await pending;
    expect(r.result).toBe('accepted');
    expect(r.votes.find((v) => v.participant === 'silent')).toMatchObject({ vote: 'accept', reason: 'first' });
    const why = r.ignored.map((i) => `${i.participant}: ${i.why}`);
    expect(why).toEqual(
      expect.arrayContaining([
        'stranger: not a participant',
        'silent: vote for another proposal (other/9)',
        'silent: duplicate',
        expect.stringMatching(/^\?: invalid vote: proposalId: /),
      ]),
    );
  });

  it('runs the rounds of one topic one at a time, in order; other topics run beside them', async () => {
    const slow = { participants: ['failure-detector', 'silent'], rule: 'unanimous', timeoutMs: 800 };
    const [a, b, other] = await Promise.all([
      propose({ topic: 'serial', ...slow }),
      propose({ topic: 'serial', ...slow }),
      propose({ topic: 'beside', participants: ['failure-detector'] }),
    ]);
    expect([a.seq, b.seq].sort()).toEqual([1, 2]);
    const [first, second] = a.seq === 1 ? [a, b] : [b, a];
    expect(second.startedAt).toBeGreaterThanOrEqual(first.decidedAt);
    expect(other.result).toBe('accepted');
    expect(other.decidedAt).toBeLessThan(second.decidedAt);
  });

  it('refuses bad proposals with the field named, and keeps running', async () => {
    const refusal = async (p: Record<string, unknown>) => {
      const err = await propose(p).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
      return String((err as WorkflowUpdateFailedError).cause?.message);
    };
    expect(await refusal({ topic: 'x', rule: 'most' })).toMatch(/rule: expected majority, unanimous or quorum:N/);
    expect(await refusal({ topic: 'x', rule: 'quorum:4' })).toMatch(/rule: quorum:4 needs more accepts than there are participants \(3\)/);
    expect(await refusal({ topic: 'x y' })).toMatch(/topic: expected 1-63 letters/);
    expect(await refusal({ topic: 'x', participants: ['a', 'a'] })).toMatch(/participants: expected each participant once/);
    expect(await refusal({ topic: 'x', participants: ['Bad Role'] })).toMatch(/participants\.0: expected an agent role/);
    expect(await refusal({ topic: 'x', timeoutMs: 10 })).toMatch(/timeoutMs: /);
    expect(await refusal({ topic: 'x', bogus: 1 })).toMatch(/bogus/);
    const rounds = await coordinator.query<RoundRecord[]>('rounds');
    expect(rounds.length).toBeGreaterThanOrEqual(7);
  });

  it('continues as new carrying its history and sequence numbers', async () => {
    const before = await coordinator.query<AgentStateView<ConsensusState>>('state');
    for (let i = 0; i < 12; i++) await coordinator.signal('heartbeat', { from: 'test' });
    await eventually(
      'the coordinator continued as new',
      () => coordinator.query<AgentStateView<ConsensusState>>('state'),
      (s) => s.base.runs > before.base.runs,
      20_000,
    );
    const r = await propose({ topic: 'upgrade', value: { to: 'v3' } });
    expect(r.seq).toBe(2);
    const after = await coordinator.query<AgentStateView<ConsensusState>>('state');
    expect(after.agent.history.length).toBe(before.agent.history.length + 1);
    expect(after.agent.counts.proposed).toBe(before.agent.counts.proposed + 1);
  });

  it('a node_failure procedure started by a verdict does nothing when the agents do not agree the node is gone', async () => {
    const proc = await t.client.workflow.start('nodeFailureProcedure', {
      workflowId: `${clusterId}/procedure/node_failure/ghost`,
      taskQueue,
      args: [
        {
          clusterId,
          parentId: `${clusterId}/orchestrator`,
          nodeId: 'ghost',
          reason: 'escalation level 1: critical cpu',
          source: 'health-monitor',
          escalateAfterMs: 60_000,
        },
      ],
    });
    handles.push(proc);
    const r = await proc.result();
    expect(r).toMatchObject({ status: 'failed', outcome: expect.stringMatching(/the agents do not agree that ghost is gone \(node-gone\/\d+: rejected/) });
    const steps = (r as { timeline: { step: string; status: string; detail: string }[] }).timeline;
    expect(steps.find((x) => x.step === 'agree_gone' && x.status === 'failed')?.detail).toMatch(
      /failure-detector reject: ghost is neither suspected nor declared dead here/,
    );
    expect(steps.some((x) => x.step === 'isolate_node')).toBe(false);
  });

  it('the CLI proposes and lists rounds (exit 0 accepted, 1 not, 2 bad input)', async () => {
    const env = { CLUSTER_ID: clusterId };
    const ok = await cli(['consensus', 'propose', 'cli-topic', '{"a":1}', '--participants', 'failure-detector'], env);
    expect(ok).toMatchObject({ code: 0, stdout: expect.stringMatching(/cli-topic\/1: accepted: 1 of 1 accept[\s\S]*failure-detector\s+accept\s+no objection/) });
    const no = await cli(['consensus', 'propose', 'node-gone', '{"nodeId":"ghost"}', '--participants', 'failure-detector', '--rule', 'unanimous'], env);
    expect(no).toMatchObject({ code: 1, stdout: expect.stringMatching(/rejected/) });
    const bad = await cli(['consensus', 'propose', 'x', '{}', '--rule', 'most'], env);
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringMatching(/rule: expected majority, unanimous or quorum:N/) });
    const rounds = await cli(['consensus', 'rounds'], env);
    expect(rounds).toMatchObject({ code: 0, stdout: expect.stringMatching(/cli-topic\/1\s+accepted/) });
  });

  it('records replayable histories', async () => {
    expect(await replayAndRecord(coordinator, 'consensus-coordinator', 10)).toBeGreaterThan(5);
    // Rounds: one every participant answered, one that asked an agent that does not run.
    expect(await replayAndRecord(t.client.workflow.getHandle(`${clusterId}/consensus/upgrade/1`), 'consensus-round', 5)).toBeGreaterThan(5);
    expect(await replayAndRecord(t.client.workflow.getHandle(`${clusterId}/consensus/absent/1`), 'consensus-round-absent', 5)).toBeGreaterThan(5);
    expect(await replayAll(t.client, 'consensusRoundWorkflow', fileStartedAt)).toBeGreaterThan(5);
    expect(await replayAll(t.client, 'consensusCoordinatorWorkflow', fileStartedAt)).toBeGreaterThanOrEqual(2);
    expect(await replayAll(t.client, 'failureDetectorWorkflow', fileStartedAt)).toBeGreaterThanOrEqual(1);
    expect(await replayAll(t.client, 'nodeDiscoveryWorkflow', fileStartedAt)).toBeGreaterThanOrEqual(1);
    expect(await replayAll(t.client, 'nodeFailureProcedure', fileStartedAt)).toBeGreaterThanOrEqual(1);
  });
});
