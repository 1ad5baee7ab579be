/**
 * FailureDetector on the real server: peers are in-process workers on their own `host.<id>`
 * queues, the suspect a real health endpoint (or a port where nothing listens).
 */
import { createServer } from 'node:net';
import type { WorkflowHandle } from '@temporalio/client';
import { TASK_QUEUE } from '../../src/contracts/agents';
import { topologyUpdateSignal, type AgentStateView, type MemberSummary } from '../../src/contracts/common';
import {
  nodeAliveSignal,
  nodeSuspectSignal,
  peerLostSignal,
  type FailureDetectorState,
  type NodeSuspect,
  type ProbeRecord,
  type SuspectRecord,
  type Verdict,
} from '../../src/contracts/failure-detector';
import { startHost, type TestHost } from '../support/hosts';
import {
  connect,
  eventually,
  startHostQueue,
  startWorker,
  uniqueId,
  type TestTemporal,
  type TestWorker,
} from '../support/temporal';
import { replayAll, replayAndRecord } from '../support/histories';
import { memberSummary } from '../support/members';

const fileStartedAt = new Date(Date.now() - 1_000);

let t: TestTemporal;
let agents: TestWorker;
const peers: { stop(): Promise<void> }[] = [];

async function startPeer(nodeId: string): Promise<void> {
  peers.push(await startHostQueue(t.client, nodeId));
}

/** A loopback port where nothing listens (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((ok) => s.close(() => ok()));
  return port;
}

const member = (nodeId: string): MemberSummary => memberSummary(nodeId);

async function startFd(config: Record<string, unknown> = {}) {
  const clusterId = uniqueId('fdw');
  const handle = await t.client.workflow.start('failureDetectorWorkflow', {
    workflowId: `${clusterId}/failure-detector`,
    taskQueue: TASK_QUEUE,
    args: [{ clusterId, config: { probeTimeoutMs: 300, probeIntervalMs: 300, ...config } }],
  });
  return handle;
}

function suspectOf(nodeId: string, healthPort: number, bootId: string, incarnation = 1): NodeSuspect {
  const now = Date.now();
  return {
    nodeId,
    incarnation,
    bootId,
    address: '127.0.0.1',
    healthPort,
    since: now,
    lastBeatAt: now - 1500,
    arrivals: { count: 20, meanMs: 500, stdMs: 10 },
    heartbeatMs: 500,
  };
}

/** Waits until the detector holds the members it was sent (they are its probers). */
async function membersKnown(handle: WorkflowHandle, n: number): Promise<void> {
  await eventually(
    `${n} members`,
    () => handle.query<AgentStateView<FailureDetectorState>>('state'),
    (v) => v.agent.members.length === n,
  );
}

beforeAll(async () => {
  t = await connect();
  agents = await startWorker(t.client, TASK_QUEUE);
  await Promise.all(['p1', 'p2', 'p3', 'p4'].map(startPeer));
});
afterAll(async () => {
  await Promise.all(peers.map((p) => p.stop()));
  await agents?.stop();
  await t?.close();
});

describe('FailureDetector', () => {
  it('three peers find the port refused: dead at the minimum suspicion timeout, probes ran on their queues', async () => {
    const handle = await startFd({ suspicionMinMs: 100 });
    await handle.signal(topologyUpdateSignal, {
      version: 1,
      at: Date.now(),
      members: ['p1', 'p2', 'p3', 'p4', 'gone'].map(member),
      changes: [],
    });
    await membersKnown(handle, 5);
    await handle.signal(nodeSuspectSignal, suspectOf('gone', await closedPort(), 'boot-g'));
    const verdicts = await eventually(
      'dead',
      () => handle.query<Verdict[]>('verdicts'),
      (v) => v.some((x) => x.verdict === 'dead'),
    );
    const dead = verdicts.find((x) => x.verdict === 'dead') as Verdict;
    expect(dead).toMatchObject({ nodeId: 'gone', incarnation: 1 });
    // all three usually answer together; on a loaded machine the verdict may come at 2 of 3
    expect(dead.reason).toMatch(/[23] of 3 observers confirm \(refused\)/);
    const probes = await handle.query<ProbeRecord[]>('probes');
    expect(probes.length).toBeGreaterThanOrEqual(3);
    expect(new Set(probes.map((p) => p.observer)).size).toBeGreaterThanOrEqual(3);
    for (const p of probes) {
      expect(['p1', 'p2', 'p3', 'p4']).toContain(p.observer);
      expect(p.evidence).toBe('refused');
      expect(p.roundTripMs).toBeGreaterThanOrEqual(0);
    }
    // nobody else runs in this cluster: the verdict found no one to tell, and that is counted
    const view = await handle.query<AgentStateView<FailureDetectorState>>('state');
    expect(view.base.notified.absent).toBeGreaterThan(0);
    expect(view.agent.dead.gone).toMatchObject({ incarnation: 1 });
    await handle.terminate();
  });

  it("a peer's watch reports a crash: probed at once, dead at the minimum timeout; the lease's late suspicion is ignored", async () => {
    const handle = await startFd({ suspicionMinMs: 100 });
    const port = await closedPort();
    await handle.signal(topologyUpdateSignal, {
      version: 1,
      at: Date.now(),
      members: [
        ...['p1', 'p2', 'p3', 'p4'].map(member),
        memberSummary('crashed', { healthPort: port, incarnation: 3 }),
      ],
      changes: [],
    });
    await membersKnown(handle, 5);
    const sent = Date.now();
    await handle.signal(peerLostSignal, {
      nodeId: 'crashed',
      bootId: 'boot-c',
      incarnation: 3,
      observer: 'p4',
      evidence: 'refused',
      detail: 'connection closed without goodbye, then connection refused on reconnect',
    });
    const verdicts = await eventually(
      'dead',
      () => handle.query<Verdict[]>('verdicts'),
      (v) => v.some((x) => x.verdict === 'dead'),
      10_000,
      20,
    );
    const tookMs = Date.now() - sent;
    expect(verdicts.map((v) => v.verdict)).toEqual(['suspect', 'dead']);
    expect(verdicts[0]?.reason).toMatch(/^p4's watch: connection closed without goodbye/);
    expect(verdicts[1]).toMatchObject({ nodeId: 'crashed', incarnation: 3 });
    expect(verdicts[1]?.reason).toMatch(/observers confirm \(refused\)/);
    expect(tookMs).toBeLessThan(3_000); // the watcher alone would wait the long timeout (≥ 3 s)
    // The NodeAgent's lease lapses later: the same incarnation is already dead.
    await handle.signal(nodeSuspectSignal, suspectOf('crashed', port, 'boot-c', 3));
    await new Promise((r) => setTimeout(r, 500));
    expect((await handle.query<Verdict[]>('verdicts')).map((v) => v.verdict)).toEqual(['suspect', 'dead']);
    // A history with the watch's report, its probe round and the late lease suspicion: a fixture.
    expect(await replayAndRecord(handle, 'failure-detector-peer-lost', 10)).toBeGreaterThan(10);
    await handle.terminate();
  });

  it('a watch that broke while the host lives is refuted by the probers; a report on an unknown node is ignored', async () => {
    const host: TestHost = await startHost('alive-1', 'x');
    try {
      const handle = await startFd();
      await handle.signal(topologyUpdateSignal, {
        version: 1,
        at: Date.now(),
        members: [...['p1', 'p2', 'p3'].map(member), memberSummary('alive-1', { healthPort: host.port })],
        changes: [],
      });
      await membersKnown(handle, 4);
      await handle.signal(peerLostSignal, {
        nodeId: 'ghost',
        bootId: 'b',
        observer: 'p1',
        evidence: 'refused',
        detail: '',
      });
      await handle.signal(peerLostSignal, {
        nodeId: 'alive-1',
        bootId: host.bootId,
        observer: 'p1',
        evidence: 'refused',
        detail: 'connection reset, then connection refused on reconnect',
      });
      const v = await eventually(
        'refuted',
        () => handle.query<Verdict[]>('verdicts'),
        (list) => list.some((x) => x.verdict === 'refuted'),
      );
      expect(v.map((x) => [x.nodeId, x.verdict])).toEqual([
        ['alive-1', 'suspect'],
        ['alive-1', 'refuted'],
      ]);
      expect(v[1]?.reason).toMatch(/[23] peers reached the same boot/);
      expect(await handle.query<SuspectRecord[]>('suspects')).toEqual([]);
      await handle.terminate();
    } finally {
      await host.close();
    }
  });

  it('a suspect whose endpoint answers is never condemned; the NodeAgent refutes it', async () => {
    const host: TestHost = await startHost('slow', 'x');
    try {
      const handle = await startFd({ acceptablePauseMs: 0, suspicionMaxMs: 1000 });
      await handle.signal(topologyUpdateSignal, {
        version: 1,
        at: Date.now(),
        members: ['p1', 'p2', 'slow'].map(member),
        changes: [],
      });
      await membersKnown(handle, 3);
      await handle.signal(nodeSuspectSignal, suspectOf('slow', host.port, host.bootId));
      const s = await eventually(
        'answered',
        () => handle.query<SuspectRecord[]>('suspects'),
        (list) => Object.values(list[0]?.probes ?? {}).some((p) => p.evidence === 'answered'),
      );
      expect(s[0]?.lastJudgement?.verdict).not.toBe('dead');
      await new Promise((r) => setTimeout(r, 1500)); // past the maximum suspicion timeout: still not dead
      expect((await handle.query<Verdict[]>('verdicts')).map((v) => v.verdict)).toEqual(['suspect']);
      await handle.signal(nodeAliveSignal, { nodeId: 'slow', incarnation: 2, bootId: host.bootId });
      const v = await eventually(
        'refuted',
        () => handle.query<Verdict[]>('verdicts'),
        (list) => list.some((x) => x.verdict === 'refuted'),
      );
      expect(v.map((x) => x.verdict)).toEqual(['suspect', 'refuted']);
      expect(await handle.query<SuspectRecord[]>('suspects')).toEqual([]);
      await handle.terminate();
    } finally {
      await host.close();
    }
  });

  it('with no peer to ask, φ alone decides; a newer incarnation lifts the verdict, an older one does not', async () => {
    const handle = await startFd({ acceptablePauseMs: 0 });
    await handle.signal(nodeSuspectSignal, suspectOf('solo', 1, 'b1'));
    await eventually(
      'dead',
      () => handle.query<Verdict[]>('verdicts'),
      (v) => v.some((x) => x.verdict === 'dead' && /no peer to ask/.test(x.reason)),
    );
    await handle.signal(nodeSuspectSignal, suspectOf('solo', 1, 'b1')); // late duplicate: ignored
    await handle.signal(nodeAliveSignal, { nodeId: 'solo', incarnation: 2, bootId: 'b1' });
    const v = await eventually(
      'rejoined',
      () => handle.query<Verdict[]>('verdicts'),
      (list) => list.some((x) => x.verdict === 'rejoined'),
    );
    expect(v.map((x) => x.verdict)).toEqual(['suspect', 'dead', 'rejoined']);
    await handle.terminate();
  });

  it('a topology update that comes with the start is not lost (it arrives before the agent exists)', async () => {
    const clusterId = uniqueId('fdw');
    const handle = await t.client.workflow.signalWithStart('failureDetectorWorkflow', {
      workflowId: `${clusterId}/failure-detector`,
      taskQueue: TASK_QUEUE,
      args: [{ clusterId, config: {} }],
      signal: topologyUpdateSignal,
      signalArgs: [{ version: 3, at: Date.now(), members: ['p1', 'p2'].map(member), changes: [] }],
    });
    await membersKnown(handle, 2);
    const view = await handle.query<AgentStateView<FailureDetectorState>>('state');
    expect(view.base.rejected.count).toBe(0);
    await handle.terminate();
  });

  it('continues as new when suggested and carries verdicts and dead nodes', async () => {
    const handle = await startFd({ acceptablePauseMs: 0 });
    for (let i = 0; i < 40; i++) {
      await handle.signal(nodeSuspectSignal, suspectOf(`n${i}`, 1, `b${i}`));
    }
    const view = await eventually(
      'continued as new',
      () => handle.query<AgentStateView<FailureDetectorState>>('state'),
      (s) => s.base.runs >= 1 && Object.keys(s.agent.dead).length === 40,
      60_000,
      200,
    );
    expect(view.agent.verdicts.filter((v) => v.verdict === 'dead')).toHaveLength(40);
    await handle.terminate();
  });
});

describe('histories of this file', () => {
  it('every failureDetectorWorkflow history written here replays (no query or handler did what replay cannot)', async () => {
    expect(await replayAll(t.client, 'failureDetectorWorkflow', fileStartedAt)).toBeGreaterThan(0);
  });
});
