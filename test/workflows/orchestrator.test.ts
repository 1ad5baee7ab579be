/**
 * The ClusterOrchestrator and its node_failure procedure on the real dev server: the mass-failure
 * guard and the replacement rate limit, compensation when a step fails for good, supervision.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WorkflowHandle } from '@temporalio/client';
import type { AgentStateView, MemberSummary } from '../../src/contracts/common';
import type { HealthMonitorState } from '../../src/contracts/health-monitor';
import type { ProcedureReport } from '../../src/contracts/orchestrator';
import { PROCEDURE_MEMO } from '../../src/contracts/orchestrator';
import { replayAll } from '../support/histories';
import { connect, eventually, startWorker, uniqueId, type TestTemporal, type TestWorker } from '../support/temporal';

const fileStartedAt = new Date(Date.now() - 1_000);
let t: TestTemporal;
let worker: TestWorker;
const taskQueue = uniqueId('orch-tq');
const cleanups: (() => unknown)[] = [];
const FAST = { heartbeatIntervalMs: 1_000, healthCheckIntervalMs: 1_000, topologySyncIntervalMs: 60_000 };

beforeAll(async () => {
  t = await connect();
  worker = await startWorker(t.client, taskQueue, 'observer-orch');
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  await worker?.stop();
  await t?.close();
});

async function start(type: string, clusterId: string, role: string, config: Record<string, unknown>) {
  const handle = await t.client.workflow.start(type, {
    workflowId: `${clusterId}/${role}`,
    taskQueue,
    args: [{ clusterId, config: { ...FAST, ...config } }],
  });
  cleanups.push(() => handle.terminate('test done').catch(() => undefined));
  return handle;
}

/** A hook endpoint on loopback: answers `status`, counts calls. */
async function hookServer(status: number) {
  const calls: { nodeId?: string; at: number }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      calls.push({ ...(JSON.parse(body) as { nodeId?: string }), at: Date.now() });
      res.writeHead(status).end(status < 300 ? '{"started":true}' : 'no capacity');
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  cleanups.push(() => server.close());
  return { calls, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hosts` };
}

const member = (nodeId: string, zone: string): MemberSummary => ({
  nodeId,
  status: 'alive',
  health: 'healthy',
  address: '127.0.0.1',
  healthPort: 1,
  zone,
  incarnation: 1,
});
const topology = (members: MemberSummary[]) => ({ version: 1, at: Date.now(), members, changes: [] });

const procedure = async (clusterId: string, node: string) => {
  const d = await t.client.workflow.getHandle(`${clusterId}/procedure/node_failure/${node}`).describe();
  return d.memo?.[PROCEDURE_MEMO] as ProcedureReport | undefined;
};
const terminateProcedures = (clusterId: string, nodes: string[]) => () =>
  Promise.all(
    nodes.map((n) =>
      t.client.workflow
        .getHandle(`${clusterId}/procedure/node_failure/${n}`)
        .terminate('test done')
        .catch(() => undefined),
    ),
  );

describe('ClusterOrchestrator', () => {
  it('three of five hosts dead within the window: no replacement storm — one at once, the next rate-limited, the third escalates', async () => {
    const clusterId = uniqueId('orch-mass');
    const hook = await hookServer(201);
    // A LoadBalancer with nothing to route (no NodeDiscovery): redistribute_load passes at once.
    await start('loadBalancerWorkflow', clusterId, 'load-balancer', {});
    const o = await start('clusterOrchestratorWorkflow', clusterId, 'orchestrator', {
      replacementHook: { http: { url: hook.url }, timeoutMs: 2_000 },
      replacementEveryMs: 30_000,
      supervisionIntervalMs: 60_000,
    });
    cleanups.push(terminateProcedures(clusterId, ['m-1', 'm-2', 'm-3']));
    await o.signal(
      'topologyUpdate',
      topology(['a', 'b', 'c', 'a', 'b'].map((z, i) => member(`m-${i + 1}`, `zone-${z}`))),
    );
    for (const n of ['m-1', 'm-2', 'm-3'])
      await o.signal('nodeHealthChange', { nodeId: n, status: 'dead', reason: 'test', observer: 'failure-detector' });
    const third = await eventually(
      'm-3 escalated',
      () => procedure(clusterId, 'm-3'),
      (p) => p?.status === 'escalated',
    );
    expect(third?.escalation?.why).toMatch(/3 of 5 hosts failed within 60 s: no replacement is started blindly/);
    await eventually(
      'm-1 replaced',
      () => procedure(clusterId, 'm-1'),
      (p) => !!p?.timeline.some((x) => x.step === 'start_replacement' && x.status === 'done'),
    );
    const second = await eventually(
      'm-2 waits for its slot',
      () => procedure(clusterId, 'm-2'),
      (p) => !!p?.timeline.some((x) => x.step === 'start_replacement' && /rate limit: waiting/.test(x.detail)),
    );
    expect(second?.status).toBe('running');
    expect(hook.calls.map((c) => c.nodeId)).toEqual(['m-1']);
    const incidents = await o.query<{ subject: string; decision: string }[]>('incidents');
    expect(incidents.map((i) => i.decision)).toEqual([
      expect.stringMatching(/^started .*node_failure\/m-1$/),
      expect.stringMatching(/^started .*node_failure\/m-2$/),
      expect.stringMatching(/^started .*node_failure\/m-3, escalated at once: 3 of 5 hosts/),
    ]);
    // A second verdict about m-1 joins its procedure.
    await o.signal('nodeHealthChange', {
      nodeId: 'm-1',
      status: 'dead',
      reason: 'again',
      observer: 'failure-detector',
    });
    await eventually(
      'joined',
      () => o.query<{ decision: string }[]>('incidents'),
      (l) => /^joined .*node_failure\/m-1$/.test(l.at(-1)?.decision ?? ''),
    );
    // A verdict on a node that is no member (a client's made-up id) is recorded, and nothing starts.
    await o.signal('nodeHealthChange', {
      nodeId: 'ghost-1',
      status: 'dead',
      reason: 'x',
      observer: 'failure-detector',
    });
    await eventually(
      'ghost recorded',
      () => o.query<{ subject: string; decision: string }[]>('incidents'),
      (l) => l.at(-1)?.subject === 'ghost-1',
    ).then((l) => expect(l.at(-1)?.decision).toBe('ignored: not a member of the cluster'));
    const ghost = await t.client.workflow
      .getHandle(`${clusterId}/procedure/node_failure/ghost-1`)
      .describe()
      .catch(() => undefined);
    expect(ghost).toBeUndefined();
  });

  it('a step that fails for good undoes the steps done, in reverse (the isolation is lifted)', async () => {
    const clusterId = uniqueId('orch-undo');
    const hook = await hookServer(500);
    const hm = await start('healthMonitorWorkflow', clusterId, 'health-monitor', { basicIntervalMs: 600_000 });
    await hm.signal('topologyUpdate', topology([member('u-1', 'zone-a'), member('u-2', 'zone-b')]));
    await start('loadBalancerWorkflow', clusterId, 'load-balancer', {});
    const o = await start('clusterOrchestratorWorkflow', clusterId, 'orchestrator', {
      replacementHook: { http: { url: hook.url }, timeoutMs: 1_000 },
      supervisionIntervalMs: 60_000,
    });
    cleanups.push(terminateProcedures(clusterId, ['u-1']));
    await o.executeUpdate('emergency', { args: [{ kind: 'node_failure', nodeId: 'u-1', reason: 'test' }] });
    const p = await eventually(
      'failed',
      () => procedure(clusterId, 'u-1'),
      (x) => x?.status === 'failed',
      30_000,
      200,
    );
    expect(p?.outcome).toMatch(/step start_replacement failed for good: .*HTTP 500/);
    expect(p?.timeline.map((x) => `${x.step} ${x.status}`)).toEqual(
      expect.arrayContaining([
        'isolate_node done',
        'redistribute_load done',
        'start_replacement failed',
        'isolate_node undone',
      ]),
    );
    expect(hook.calls).toHaveLength(3); // its retry policy ran: three attempts
    const released = await eventually(
      'released by the undo',
      () => hm.query<AgentStateView<HealthMonitorState>>('state'),
      (s) => s.agent.released.some((r) => r.nodeId === 'u-1' && /undone/.test(r.releaseReason)),
    );
    expect(released.agent.released.find((r) => r.nodeId === 'u-1')?.reason).toBe('node_failure');
    expect(released.agent.quarantine['u-1']).toBeUndefined();
  });

  it('rebalance_load: a sustained imbalance starts it; not balanced in time, its strategy switch is undone; on demand with a strategy it completes', async () => {
    const clusterId = uniqueId('orch-rebal');
    const lb = await start('loadBalancerWorkflow', clusterId, 'load-balancer', {
      strategy: 'round_robin',
      trafficMemoIntervalMs: 500,
    });
    const o = await start('clusterOrchestratorWorkflow', clusterId, 'orchestrator', {
      goalsIntervalMs: 500,
      supervisionIntervalMs: 60_000,
      rebalance: { threshold: 1.25, windowMs: 2_000, settleMs: 2_000, cooldownMs: 600_000 },
    });
    const id = `${clusterId}/procedure/rebalance_load/cluster`;
    cleanups.push(() =>
      t.client.workflow
        .getHandle(id)
        .terminate('test done')
        .catch(() => undefined),
    );
    const report = async () =>
      (await t.client.workflow.getHandle(id).describe()).memo?.[PROCEDURE_MEMO] as ProcedureReport | undefined;
    const strategy = async () => (await lb.query<{ strategy: string }>('routingTable')).strategy;
    await lb.signal('topologyUpdate', topology(['a', 'b', 'c'].map((z, i) => member(`r-${i + 1}`, `zone-${z}`))));
    await eventually(
      'three targets',
      () => lb.query<{ targets: unknown[] }>('routingTable'),
      (x) => x.targets.length === 3,
    );
    // r-1 runs hot, the others idle: max / mean = 0.9 / 0.367 = 2.45, and it stays so.
    for (const [n, cpu] of [
      ['r-1', 0.9],
      ['r-2', 0.1],
      ['r-3', 0.1],
    ] as const)
      await lb.signal('nodeCapacityUpdate', { nodeId: n, load: { cpu } });
    const auto = await eventually(
      'the automatic rebalance ended',
      report,
      (p) => p?.endedAt !== undefined,
      30_000,
      200,
    );
    expect(auto).toMatchObject({ status: 'failed', kind: 'rebalance_load' });
    expect(auto?.outcome).toBe('step verify failed for good: imbalance still 2.455 (cpu) after 2 s, above 1.25');
    expect(auto?.timeline.map((x) => `${x.step} ${x.status}`)).toEqual([
      'request info',
      'measure started',
      'measure done',
      'rebalance started',
      'rebalance done',
      'verify started',
      'verify failed',
      'rebalance undone',
      'procedure info',
    ]);
    expect(auto?.timeline.find((x) => x.step === 'rebalance' && x.status === 'done')?.detail).toMatch(
      /strategy round_robin → weighted_round_robin/,
    );
    expect(await strategy()).toBe('round_robin'); // undone
    // The goals carry what the LoadBalancer summarised (no router reported yet: not measured).
    const goals = await o.query<{ goals: { goal: string; note?: string }[] }>('goals');
    expect(goals.goals.find((g) => g.goal === 'throughput')?.note).toMatch(/no router has reported/);

    // The cooldown holds another automatic one back; an operator asks for one with a strategy
    // once the load evened out: it completes and the strategy stays.
    for (const n of ['r-1', 'r-2', 'r-3']) await lb.signal('nodeCapacityUpdate', { nodeId: n, load: { cpu: 0.3 } });
    await eventually(
      'the even load in the summary',
      async () => ((await lb.describe()).memo?.traffic as { imbalance: number } | undefined)?.imbalance,
      (x) => x === 1,
    );
    const refused = await o.executeUpdate('rebalance', { args: [{ strategy: 'meteor' }] }).catch((e: Error) => e);
    expect((refused as { cause?: Error }).cause?.message).toMatch(/strategy/);
    const r = await o.executeUpdate<{ decision: string }, [Record<string, unknown>]>('rebalance', {
      args: [{ strategy: 'least_connections', by: 'alice' }],
    });
    expect(r.decision).toMatch(/^started .*rebalance_load\/cluster$/);
    const manual = await eventually(
      "the operator's rebalance ended",
      report,
      (p) => p?.endedAt !== undefined && p.startedAt > (auto?.endedAt ?? 0),
      30_000,
      200,
    );
    expect(manual).toMatchObject({ status: 'completed', outcome: 'imbalance 1 → 1 (strategy least_connections)' });
    expect(await strategy()).toBe('least_connections');
  });

  it('supervision starts a terminated agent again with its last input (config and carried state)', async () => {
    const clusterId = uniqueId('orch-sup');
    const lb: WorkflowHandle = await start('loadBalancerWorkflow', clusterId, 'load-balancer', { maxLongPolls: 7 });
    const o = await start('clusterOrchestratorWorkflow', clusterId, 'orchestrator', { supervisionIntervalMs: 500 });
    await eventually(
      'supervised',
      () => o.query<Record<string, { status: string }>>('agents'),
      (a) => a['load-balancer']?.status === 'RUNNING',
    );
    await lb.terminate('test: an operator mistake');
    const at = Date.now();
    const d = await eventually(
      'running again',
      () => lb.describe(),
      (x) => x.status.name === 'RUNNING',
      10_000,
      100,
    );
    const history = await t.client.workflow.getHandle(lb.workflowId, d.runId).fetchHistory();
    const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
    const input = t.client.options.loadedDataConverter.payloadConverter.fromPayload(
      started?.input?.payloads?.[0] as never,
    ) as { config: { maxLongPolls: number } };
    expect(input.config.maxLongPolls).toBe(7);
    const agents =
      await o.query<Record<string, { restarts: number; lastRestart?: { from: string; ok: boolean } }>>('agents');
    expect(agents['load-balancer']).toMatchObject({ restarts: 1, lastRestart: { from: 'TERMINATED', ok: true } });
    cleanups.push(() =>
      t.client.workflow
        .getHandle(lb.workflowId)
        .terminate('test done')
        .catch(() => undefined),
    );
    console.log(`agent terminated → running again: ${d.startTime.getTime() - at} ms`);
  });
});

describe('histories of this file', () => {
  it.each(['clusterOrchestratorWorkflow', 'nodeFailureProcedure', 'rebalanceProcedure', 'loadBalancerWorkflow'])(
    'every %s history written here replays',
    async (type) => {
      expect(await replayAll(t.client, type, fileStartedAt)).toBeGreaterThan(0);
    },
  );
});
