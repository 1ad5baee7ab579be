/** NodeDiscovery against real sources: announcing hosts, static config, a DNS server, multicast responders. */
import type { WorkflowHandle } from '@temporalio/client';
import type { AgentHealth, AgentStateView, TopologyChange } from '../../src/contracts/common';
import type { DiscoveryRound, Member, PartitionRecord, Topology } from '../../src/contracts/node-discovery';
import { freePort } from '../../scripts/lib/dev-server';
import { startBlackHole, startDnsServer, startHost, startResponder, type TestHost } from '../support/hosts';
import { connect, eventually, startWorker, uniqueId, type TestTemporal, type TestWorker } from '../support/temporal';
import { replayAll } from '../support/histories';
import { createActivities } from '../../src/activities';

const fileStartedAt = new Date(Date.now() - 1_000);

const BASE = {
  heartbeatIntervalMs: 1_000,
  healthCheckIntervalMs: 1_000,
  topologySyncIntervalMs: 60_000,
  strategyTimeoutMs: 1_000,
};

let t: TestTemporal;
let worker: TestWorker;
const taskQueue = uniqueId('nd-tq');
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  t = await connect();
  worker = await startWorker(t.client, taskQueue, 'observer-1');
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  await worker?.stop();
  await t?.close();
});

async function startDiscovery(config: Record<string, unknown>, clusterId = uniqueId('nd')) {
  const handle = await t.client.workflow.start('nodeDiscoveryWorkflow', {
    workflowId: `${clusterId}/node-discovery`,
    taskQueue,
    args: [{ clusterId, config: { ...BASE, ...config } }],
  });
  cleanups.push(() => handle.terminate('test done').catch(() => undefined));
  return { clusterId, handle };
}

async function host(nodeId: string, clusterId: string, zone?: string): Promise<TestHost> {
  const h = await startHost(nodeId, clusterId, zone);
  cleanups.push(() => h.close());
  return h;
}

const nodes = (h: WorkflowHandle) => h.query<Member[]>('nodes');
const discover = (h: WorkflowHandle, criteria: Record<string, unknown>) =>
  h.executeUpdate<DiscoveryRound, [Record<string, unknown>]>('discover', { args: [criteria] });

describe('NodeDiscovery', () => {
  it('registry: an announced host becomes alive after its connectivity check, and leaves', async () => {
    const clusterId = uniqueId('nd');
    const h1 = await host('reg-1', clusterId, 'zone-a');
    const { handle } = await startDiscovery({ strategies: ['registry'] }, clusterId);
    await handle.signal('announce', h1.announcement());
    const [m] = await eventually(
      'reg-1 alive',
      () => nodes(handle),
      (n) => n[0]?.status === 'alive',
    );
    expect(m).toMatchObject({
      nodeId: 'reg-1',
      health: 'healthy',
      zone: 'zone-a',
      sources: ['registry'],
      incarnation: 1,
      bootId: h1.bootId,
    });
    expect(m?.lastSeen).toBeGreaterThan(0);
    const topo = await handle.query<Topology>('topology');
    expect(topo.counts.alive).toBe(1);
    expect(topo.zones).toEqual({ 'zone-a': ['reg-1'] });
    expect(topo.connectivity['observer-1']?.['reg-1']?.ok).toBe(true);

    await handle.signal('leave', { nodeId: 'reg-1', bootId: h1.bootId, reason: 'test' });
    await eventually(
      'reg-1 left',
      () => nodes(handle),
      (n) => n[0]?.status === 'left',
    );
    const history = await handle.query<TopologyChange[]>('topologyHistory');
    expect(history.map((c) => [c.nodeId, c.kind])).toEqual([
      ['reg-1', 'joined'],
      ['reg-1', 'left'],
    ]);
  });

  it('registry: a host whose health endpoint does not answer is not made alive', async () => {
    const clusterId = uniqueId('nd');
    const { handle } = await startDiscovery({ strategies: ['registry'], connectTimeoutMs: 200 }, clusterId);
    const port = await freePort();
    await handle.signal('announce', {
      nodeId: 'ghost',
      address: '127.0.0.1',
      healthPort: port,
      bootId: 'b',
      startedAt: 0,
    });
    const h2 = await host('real-1', clusterId);
    await handle.signal('announce', h2.announcement());
    const members = await eventually(
      'real-1 alive',
      () => nodes(handle),
      (n) => n.some((m) => m.nodeId === 'real-1'),
    );
    expect(members.map((m) => m.nodeId)).toEqual(['real-1']);
    const s = await handle.query<AgentStateView<{ registry: Record<string, unknown> }>>('state');
    expect(Object.keys(s.agent.registry).sort()).toEqual(['ghost', 'real-1']);
  });

  it('static: configured endpoints are checked and joined; a dead endpoint becomes suspect, then dead', async () => {
    const clusterId = uniqueId('nd');
    const [a, b] = [await host('static-a', clusterId), await host('static-b', clusterId)];
    const { handle } = await startDiscovery(
      {
        strategies: ['static'],
        staticNodes: [
          { address: '127.0.0.1', healthPort: a.port },
          { address: '127.0.0.1', healthPort: b.port },
        ],
        deadAfterFailedChecks: 2,
        connectTimeoutMs: 300,
      },
      clusterId,
    );
    const round = await discover(handle, {});
    expect(round.strategies.static).toMatchObject({ ok: true, candidates: 2 });
    expect(round.changes.map((c) => `${c.nodeId}:${c.kind}`).sort()).toEqual(['static-a:joined', 'static-b:joined']);
    expect((await nodes(handle)).map((m) => [m.nodeId, m.status, m.sources])).toEqual([
      ['static-a', 'alive', ['static']],
      ['static-b', 'alive', ['static']],
    ]);

    await b.close();
    const r2 = await discover(handle, {});
    expect(r2.changes.map((c) => `${c.nodeId}:${c.kind}`)).toEqual(['static-b:suspect']);
    const r3 = await discover(handle, {});
    expect(r3.changes.map((c) => `${c.nodeId}:${c.kind}`)).toEqual(['static-b:dead']);
    expect((await nodes(handle)).map((m) => m.status)).toEqual(['alive', 'dead']);
  });

  it('dns: A and SRV records from a real DNS server on loopback', async () => {
    const clusterId = uniqueId('nd');
    const [a, srv] = [await host('dns-a', clusterId), await host('dns-srv', clusterId)];
    const dns = await startDnsServer({
      a: { 'hosts.cluster.test': ['127.0.0.1'], 'node7.cluster.test': ['127.0.0.1'] },
      srv: { '_cluster._tcp.cluster.test': [{ target: 'node7.cluster.test', port: srv.port }] },
    });
    cleanups.push(() => dns.close());
    const { handle } = await startDiscovery(
      {
        strategies: ['dns'],
        dns: {
          names: ['hosts.cluster.test'],
          srvNames: ['_cluster._tcp.cluster.test'],
          servers: [dns.server],
          healthPort: a.port,
        },
      },
      clusterId,
    );
    const round = await discover(handle, {});
    expect(round.strategies.dns).toMatchObject({ ok: true, candidates: 2 });
    expect((await nodes(handle)).map((m) => [m.nodeId, m.status, m.sources, m.healthPort])).toEqual([
      ['dns-a', 'alive', ['dns'], a.port],
      ['dns-srv', 'alive', ['dns'], srv.port],
    ]);

    // A name that does not exist: the strategy reports it, the rest still counts.
    await handle.executeUpdate('configure', {
      args: [
        {
          dns: {
            names: ['hosts.cluster.test', 'nope.cluster.test'],
            srvNames: [],
            servers: [dns.server],
            healthPort: a.port,
          },
        },
      ],
    });
    const r2 = await discover(handle, {});
    expect(r2.strategies.dns).toMatchObject({ ok: false, candidates: 1 });
    expect(r2.strategies.dns?.error).toMatch(/nope\.cluster\.test/);
  });

  it('multicast: hosts answering on the group are discovered; another cluster is ignored', async () => {
    const clusterId = uniqueId('nd');
    const port = await freePort();
    const mine = [await host('mc-1', clusterId), await host('mc-2', clusterId)];
    const foreign = await host('other-1', 'other-cluster');
    for (const h of mine) {
      const r = await startResponder(h, clusterId, port);
      cleanups.push(() => r.close());
    }
    const r = await startResponder(foreign, 'other-cluster', port);
    cleanups.push(() => r.close());
    const { handle } = await startDiscovery(
      { strategies: ['multicast'], multicast: { port, windowMs: 200 } },
      clusterId,
    );
    const round = await discover(handle, {});
    expect(round.strategies.multicast).toMatchObject({ ok: true, candidates: 2 });
    expect((await nodes(handle)).map((m) => [m.nodeId, m.status, m.sources])).toEqual([
      ['mc-1', 'alive', ['multicast']],
      ['mc-2', 'alive', ['multicast']],
    ]);
  });

  it('a strategy that hangs or fails contributes nothing and blocks nothing', async () => {
    const clusterId = uniqueId('nd');
    const s1 = await host('ok-1', clusterId);
    const hole = await startBlackHole();
    cleanups.push(() => hole.close());
    const { handle } = await startDiscovery(
      {
        strategies: ['static', 'dns', 'multicast'],
        staticNodes: [{ address: '127.0.0.1', healthPort: s1.port }],
        dns: { names: ['hosts.cluster.test'], servers: [hole.server] },
        multicast: { port: await freePort(), windowMs: 100 },
        strategyTimeoutMs: 500,
      },
      clusterId,
    );
    const t0 = Date.now();
    const round = await discover(handle, {});
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(round.strategies.static).toMatchObject({ ok: true, candidates: 1 });
    expect(round.strategies.dns).toMatchObject({ ok: false, candidates: 0 });
    expect(round.strategies.multicast).toMatchObject({ ok: true, candidates: 0 });
    expect((await nodes(handle)).map((m) => m.nodeId)).toEqual(['ok-1']);
    const health = await eventually(
      'degraded',
      () => handle.query<AgentHealth>('health'),
      (h) => h.status === 'degraded',
    );
    expect(health.reasons.join()).toMatch(/strategy dns failed/);
  });

  it('discoverNodes (criteria: zones), nodeHealthChange, networkPartitionDetected', async () => {
    const clusterId = uniqueId('nd');
    const a = await host('z-a', clusterId, 'zone-a');
    const b = await host('z-b', clusterId, 'zone-b');
    const { handle } = await startDiscovery(
      { strategies: ['static'], staticNodes: [a, b].map((h) => ({ address: '127.0.0.1', healthPort: h.port })) },
      clusterId,
    );
    await handle.signal('discoverNodes', { zones: ['zone-b'] });
    await eventually(
      'zone-b only',
      () => nodes(handle),
      (n) => n.length === 1,
    );
    expect((await nodes(handle)).map((m) => m.nodeId)).toEqual(['z-b']);
    await handle.signal('discoverNodes', {});
    await eventually(
      'both zones',
      () => nodes(handle),
      (n) => n.length === 2,
    );

    await handle.signal('nodeHealthChange', {
      nodeId: 'z-a',
      health: 'degraded',
      observer: 'health-monitor',
      reason: 'cpu',
    });
    await handle.signal('nodeHealthChange', { nodeId: 'z-a' }); // neither status nor health: rejected
    await eventually(
      'z-a degraded',
      () => nodes(handle),
      (n) => n[0]?.health === 'degraded',
    );

    for (let i = 0; i < 12; i++) {
      await handle.signal('networkPartitionDetected', { components: [['z-a'], [`z-b-${i}`]], detectedBy: 'test' });
    }
    const partitions = await eventually(
      '10 kept',
      () => handle.query<PartitionRecord[]>('partitions'),
      (p) => p.at(-1)?.components[1]?.[0] === 'z-b-11',
    );
    expect(partitions).toHaveLength(10);
    expect(partitions[0]?.components[1]).toEqual(['z-b-2']);
    const s = await handle.query<AgentStateView>('state');
    expect(s.base.rejected.recent.map((r) => r.name)).toEqual(['nodeHealthChange']);
  });

  it('tells every running agent about topology changes; absent agents are no error', async () => {
    const clusterId = uniqueId('nd');
    const h1 = await host('bc-1', clusterId);
    const { handle } = await startDiscovery({ strategies: ['registry'] }, clusterId);
    // Only NodeDiscovery exists in this build; a second agent on the same base stands in as a receiver
    // under the load balancer's workflow id, which is where the broadcast goes.
    const receiver = await t.client.workflow.start('nodeDiscoveryWorkflow', {
      workflowId: `${clusterId}/load-balancer`,
      taskQueue,
      args: [{ clusterId, config: { ...BASE, strategies: ['registry'], broadcast: false } }],
    });
    cleanups.push(() => receiver.terminate('test done').catch(() => undefined));
    await handle.signal('announce', h1.announcement());
    const s = await eventually(
      'receiver got the topology',
      () => receiver.query<AgentStateView>('state'),
      (s) => s.base.topology.members.some((m) => m.nodeId === 'bc-1'),
    );
    expect(s.base.topology.members[0]).toMatchObject({ nodeId: 'bc-1', status: 'alive', healthPort: h1.port });
    expect(s.base.topology.version).toBe(1);
    expect((await handle.describe()).status.name).toBe('RUNNING');
  });

  it('publishes its members in the memo; agents read them with no worker answering (no query)', async () => {
    const clusterId = uniqueId('nd');
    const h1 = await host('memo-1', clusterId);
    // Its own queue and worker, so that the worker can be stopped while the memo is read.
    const queue = uniqueId('nd-memo-tq');
    const own = await startWorker(t.client, queue, 'observer-memo');
    let stopped = false;
    cleanups.push(() => (stopped ? undefined : own.stop()));
    const handle = await t.client.workflow.start('nodeDiscoveryWorkflow', {
      workflowId: `${clusterId}/node-discovery`,
      taskQueue: queue,
      args: [{ clusterId, config: { ...BASE, strategies: ['registry'] } }],
    });
    cleanups.push(() => handle.terminate('test done').catch(() => undefined));
    // Published at start, before any member.
    await eventually(
      'empty memo at start',
      async () => (await handle.describe()).memo,
      (m) => Array.isArray((m?.members as { members?: unknown[] } | undefined)?.members),
    );
    await handle.signal('announce', h1.announcement());
    await eventually(
      'memo-1 alive in the memo',
      async () => (await handle.describe()).memo?.members as { version: number; members: { nodeId: string; status: string }[] },
      (m) => m.members.some((x) => x.nodeId === 'memo-1' && x.status === 'alive'),
    );
    await own.stop();
    stopped = true;
    const { readMembers } = createActivities({ nodeId: 'reader', client: t.client });
    const read = await Promise.race([
      readMembers({ clusterId }),
      new Promise<'timed out'>((r) => setTimeout(() => r('timed out'), 5_000)),
    ]);
    expect(read).toMatchObject({ version: 1, members: [{ nodeId: 'memo-1', status: 'alive', healthPort: h1.port }] });
    expect(await readMembers({ clusterId: uniqueId('absent') })).toBeNull();
  });
});

describe('histories of this file', () => {
  it('every nodeDiscoveryWorkflow history written here replays (no query or handler did what replay cannot)', async () => {
    expect(await replayAll(t.client, 'nodeDiscoveryWorkflow', fileStartedAt)).toBeGreaterThan(0);
  });
});
