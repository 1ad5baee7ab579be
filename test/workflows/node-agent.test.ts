/**
 * NodeAgent on the real server, with its host's queue served by an in-process worker that has a
 * host context (boot id + vitals), like `npm run worker`.
 */
import { TASK_QUEUE } from '../../src/contracts/agents';
import {
  hostLeavingSignal,
  hostStartedSignal,
  nodeAgentWorkflowId,
  type NodeAgentState,
} from '../../src/contracts/node-agent';
import type { AgentStateView } from '../../src/contracts/common';
import { VitalsSampler } from '../../src/workers/vitals';
import {
  connect,
  eventually,
  startHostQueue,
  startWorker,
  uniqueId,
  type TestTemporal,
  type TestWorker,
} from '../support/temporal';
import { replayAll } from '../support/histories';

const fileStartedAt = new Date(Date.now() - 1_000);

let t: TestTemporal;
let agents: TestWorker;
const vitals = new VitalsSampler(200).start();

/** A host: its `host.<nodeId>` queue, whose activities know their boot id and vitals. */
const startHost = (nodeId: string, bootId: string) =>
  startHostQueue(t.client, nodeId, { bootId, vitals: () => vitals.current() });

beforeAll(async () => {
  t = await connect();
  agents = await startWorker(t.client, TASK_QUEUE);
});
afterAll(async () => {
  await agents?.stop();
  vitals.stop();
  await t?.close();
});

function start(clusterId: string, nodeId: string, bootId: string, config: Record<string, unknown> = {}) {
  return t.client.workflow.signalWithStart('nodeAgentWorkflow', {
    workflowId: nodeAgentWorkflowId(clusterId, nodeId),
    taskQueue: TASK_QUEUE,
    args: [{ clusterId, config: { lease: { heartbeatMs: 200, timeoutMs: 600 }, leaseTermMs: 1000, ...config } }],
    signal: hostStartedSignal,
    signalArgs: [{ nodeId, bootId, address: '127.0.0.1', healthPort: 1, zone: 'z', startedAt: Date.now() }],
  });
}

describe('NodeAgent', () => {
  it('holds the lease, goes suspect when the host stops, and refutes with a new incarnation when it is back', async () => {
    const clusterId = uniqueId('na');
    const host = await startHost('h1', 'boot-1');
    const handle = await start(clusterId, 'h1', 'boot-1');
    const node = () => handle.query<NodeAgentState>('node');
    const alive = await eventually('terms', node, (s) => s.leaseTerms >= 2, 15_000, 100);
    expect(alive).toMatchObject({ status: 'alive', incarnation: 1, bootId: 'boot-1' });
    expect(alive.intervals.length).toBeGreaterThan(4);
    expect(alive.health).not.toBe('unknown');

    await host.stop();
    const suspect = await eventually('suspect', node, (s) => s.status === 'suspect', 10_000, 50);
    expect(suspect.leaseTimeouts).toBeGreaterThanOrEqual(1);
    // no FailureDetector runs in this cluster: the transition found nobody to tell, and nothing else was sent
    const view = await handle.query<AgentStateView>('state');
    expect(view.base.notified.sent).toBe(0);

    const back = await startHost('h1', 'boot-1');
    const refuted = await eventually('alive again', node, (s) => s.status === 'alive', 10_000, 50);
    expect(refuted.incarnation).toBe(2);
    expect(refuted.transitions.map((x) => `${x.from}>${x.to}`)).toEqual(
      expect.arrayContaining(['suspect>alive', 'alive>suspect']),
    );

    await handle.signal(hostLeavingSignal, { bootId: 'boot-1', reason: 'test over' });
    await handle.result();
    const final = await handle.query<NodeAgentState>('node');
    expect(final.status).toBe('left');
    await back.stop();
  });

  it('a host restarted at once (goodbye, then hello from a new boot) keeps its agent and its lease', async () => {
    const clusterId = uniqueId('na');
    const host1 = await startHost('h3', 'boot-1');
    const handle = await start(clusterId, 'h3', 'boot-1');
    const node = () => handle.query<NodeAgentState>('node');
    await eventually('first term', node, (s) => s.leaseTerms >= 1, 15_000, 100);
    await host1.stop();
    const host2 = await startHost('h3', 'boot-2');
    // The goodbye of the old process ends the lease loop; the hello of the new one (with start, as
    // the host worker sends it) must bring the agent back rather than leave it completed.
    await Promise.all([
      handle.signal(hostLeavingSignal, { bootId: 'boot-1', reason: 'restart' }),
      start(clusterId, 'h3', 'boot-2'),
    ]);
    const back = await eventually(
      'alive with boot-2 and holding its lease',
      node,
      (s) => s.bootId === 'boot-2' && s.status === 'alive' && s.leaseTerms >= 2,
      15_000,
      100,
    );
    expect(back.incarnation).toBeGreaterThanOrEqual(2);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    await host2.stop();
    await handle.terminate('test done');
  });

  it('rejects a hostStarted from another node and keeps its state', async () => {
    const clusterId = uniqueId('na');
    const host = await startHost('h2', 'boot-a');
    const handle = await start(clusterId, 'h2', 'boot-a');
    await eventually(
      'alive',
      () => handle.query<NodeAgentState>('node'),
      (s) => s.status === 'alive',
    );
    await handle.signal(hostStartedSignal, {
      nodeId: 'h9',
      bootId: 'x',
      address: '127.0.0.1',
      healthPort: 1,
      startedAt: 0,
    } as never);
    await handle.signal(hostStartedSignal, { nodeId: 'h2' } as never);
    const view = await eventually(
      'two rejections',
      () => handle.query<AgentStateView<NodeAgentState>>('state'),
      (v) => v.base.rejected.count === 2,
    );
    expect(view.base.rejected.recent.map((r) => r.error)).toEqual([
      expect.stringMatching(/nodeId: expected h2, got h9/),
      expect.stringMatching(/bootId: /),
    ]);
    expect(view.agent).toMatchObject({ status: 'alive', bootId: 'boot-a', incarnation: 1 });
    await host.stop();
    await handle.terminate();
  });

  it('continues as new when Temporal suggests it and carries incarnation, beats and vitals', async () => {
    const clusterId = uniqueId('na');
    const host = await startHost('h3', 'boot-c');
    const handle = await start(clusterId, 'h3', 'boot-c');
    const view = await eventually(
      'continued as new',
      () => handle.query<AgentStateView<NodeAgentState>>('state'),
      (v) => v.base.runs >= 1 && v.agent.leaseTerms > 0,
      90_000,
      500,
    );
    expect(view.agent.status).toBe('alive');
    expect(view.agent.incarnation).toBe(1);
    expect(view.agent.beats).toBeGreaterThan(20);
    await host.stop();
    await handle.terminate();
  });
});

describe('load reports', () => {
  it('tell the LoadBalancer the host load once at start, then only when it moved past the step', async () => {
    const clusterId = uniqueId('na-load');
    // The host's CPU as its sampler would give it; the rest of its vitals are real.
    let cpu = 0.05;
    const host = await startHostQueue(t.client, 'h-load', {
      bootId: 'boot-l',
      vitals: () => ({ ...vitals.current(), cpu }),
    });
    // The LoadBalancer the reports go to (it has no targets here: it takes and counts the signals).
    const lb = await t.client.workflow.start('loadBalancerWorkflow', {
      workflowId: `${clusterId}/load-balancer`,
      taskQueue: TASK_QUEUE,
      args: [{ clusterId, config: {} }],
    });
    const handle = await start(clusterId, 'h-load', 'boot-l', {
      leaseTermMs: 5_000,
      loadReportStep: 0.1,
      loadReportIntervalMs: 1_000,
    });
    const state = () => handle.query<AgentStateView<NodeAgentState>>('state');
    // What the LoadBalancer received, from its history: every nodeCapacityUpdate signal.
    const reports = async () =>
      ((await lb.fetchHistory()).events ?? []).filter(
        (e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'nodeCapacityUpdate',
      ).length;
    const first = await eventually('first report', state, (v) => v.agent.loadReported !== undefined, 15_000, 100);
    expect(first.agent.loadReported?.cpu).toBeCloseTo(0.05, 2);
    // At rest (jitter under the step) for several terms: nothing more is sent.
    cpu = 0.09;
    const rest = await eventually('several terms at rest', state, (v) => v.agent.leaseTerms >= first.agent.leaseTerms + 2, 20_000, 200);
    expect(await reports()).toBe(1);
    expect(rest.agent.loadReported).toEqual(first.agent.loadReported);
    // A real change: the term ends early and the load goes out within a few beats, not a term.
    cpu = 0.6;
    const changedAt = Date.now();
    const moved = await eventually('load moved', state, (v) => (v.agent.loadReported?.cpu ?? 0) > 0.5, 10_000, 50);
    expect(Date.now() - changedAt).toBeLessThan(2_500); // half a term
    expect(moved.agent.loadReported?.cpu).toBeGreaterThan(0.5);
    await eventually('second report received', reports, (n) => n === 2, 5_000, 50);
    // And back.
    cpu = 0.05;
    await eventually('load back', state, (v) => (v.agent.loadReported?.cpu ?? 1) < 0.1, 10_000, 50);
    await eventually('third report received', reports, (n) => n === 3, 5_000, 50);
    expect(await reports()).toBe(3);
    await host.stop();
    await handle.terminate();
    await lb.terminate();
  });
});

describe('histories of this file', () => {
  it('every nodeAgentWorkflow history written here replays (no query or handler did what replay cannot)', async () => {
    expect(await replayAll(t.client, 'nodeAgentWorkflow', fileStartedAt)).toBeGreaterThan(0);
  });
});
