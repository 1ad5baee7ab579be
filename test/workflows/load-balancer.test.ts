/** The LoadBalancer agent and the in-process router on the real dev server, fed by a real NodeDiscovery. */
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { AgentStateView } from '../../src/contracts/common';
import type { Member } from '../../src/contracts/node-discovery';
import type {
  Breaker,
  LoadBalancerState,
  RouteDecision,
  RoutingTable,
  Target,
} from '../../src/contracts/load-balancer';
import { Router } from '../../src/router/router';
import { AGENTS, type AgentSpec } from '../../src/contracts/agents';
import { HEALTH_MEMO, type AgentHealth } from '../../src/contracts/common';
import { ClusterClient } from '../../src/client/cluster-client';
import { startHost, type TestHost } from '../support/hosts';
import { connect, eventually, startWorker, uniqueId, type TestTemporal, type TestWorker } from '../support/temporal';
import { replayAll } from '../support/histories';

const fileStartedAt = new Date(Date.now() - 1_000);

const FAST = { heartbeatIntervalMs: 1_000, healthCheckIntervalMs: 1_000, topologySyncIntervalMs: 60_000 };

let t: TestTemporal;
let worker: TestWorker;
const taskQueue = uniqueId('lb-tq');
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  t = await connect();
  worker = await startWorker(t.client, taskQueue, 'observer-lb');
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  await worker?.stop();
  await t?.close();
});

async function start(
  type: string,
  workflowId: string,
  clusterId: string,
  config: Record<string, unknown>,
): Promise<WorkflowHandle> {
  const handle = await t.client.workflow.start(type, {
    workflowId,
    taskQueue,
    args: [{ clusterId, config: { ...FAST, ...config } }],
  });
  cleanups.push(() => handle.terminate('test done').catch(() => undefined));
  return handle;
}

/** A cluster: NodeDiscovery with `n` announced hosts (host 3 serves web=8080), then the LoadBalancer. */
async function cluster(n: number, lbConfig: Record<string, unknown> = {}) {
  const clusterId = uniqueId('lb');
  const nd = await start('nodeDiscoveryWorkflow', `${clusterId}/node-discovery`, clusterId, {
    strategies: ['registry'],
  });
  const hosts: TestHost[] = [];
  for (let i = 1; i <= n; i++) {
    const h = await startHost(`n${i}`, clusterId, i % 2 ? 'zone-a' : 'zone-b', i === 3 ? { web: 8080 } : {});
    cleanups.push(() => h.close());
    hosts.push(h);
    await nd.signal('announce', h.announcement());
  }
  await eventually(
    'members alive',
    () => nd.query<{ status: string }[]>('nodes'),
    (m) => m.filter((x) => x.status === 'alive').length === n,
  );
  const lb = await start('loadBalancerWorkflow', `${clusterId}/load-balancer`, clusterId, lbConfig);
  const table = () => lb.query<RoutingTable>('routingTable');
  await eventually('targets', table, (tb) => tb.targets.length === n);
  return { clusterId, nd, lb, hosts, table };
}

const ids = (tb: RoutingTable) => tb.targets.map((x) => x.id);

describe('LoadBalancer agent', () => {
  it('takes its targets from NodeDiscovery (at start, then from topology broadcasts)', async () => {
    const { clusterId, nd, lb, table } = await cluster(3);
    expect(ids(await table())).toEqual(['n1/host', 'n2/host', 'n3/web']);
    const targets = await lb.query<Target[]>('targets');
    expect(targets.find((x) => x.id === 'n3/web')).toMatchObject({
      port: 8080,
      zone: 'zone-a',
      status: 'alive',
      health: 'healthy',
    });
    expect(targets.find((x) => x.id === 'n1/host')?.port).toBeGreaterThan(0); // the health endpoint when no service is announced
    const h4 = await startHost('n4', clusterId, 'zone-b');
    cleanups.push(() => h4.close());
    await nd.signal('announce', h4.announcement());
    const tb = await eventually('n4 joins the table', table, (x) => x.targets.length === 4);
    expect(ids(tb)).toContain('n4/host');
  });

  it('a capacity update changes the weights; a small load change publishes nothing', async () => {
    const { lb, table } = await cluster(3);
    const v0 = (await table()).version;
    await lb.signal('nodeCapacityUpdate', { nodeId: 'n1', capacity: { cpu: 4, memory: 4, network: 4 } });
    const tb = await eventually('new weights', table, (x) => x.version > v0);
    expect(Object.fromEntries(tb.targets.map((x) => [x.id, x.weight]))).toEqual({
      'n1/host': 100,
      'n2/host': 25,
      'n3/web': 25,
    });
    await lb.signal('nodeCapacityUpdate', { nodeId: 'n2', load: { cpu: 0.01 } });
    await lb.signal('heartbeat', { from: 'marker' });
    await eventually(
      'marker',
      () => lb.query<AgentStateView>('state'),
      (s) => s.base.heartbeats.lastFrom === 'marker',
    );
    expect((await table()).version).toBe(tb.version);
    await lb.signal('nodeCapacityUpdate', { nodeId: 'n2', load: { cpu: 0.9 } });
    const hot = await eventually('n2 overloaded', table, (x) => x.version > tb.version);
    expect(hot.targets.find((x) => x.id === 'n2/host')).toMatchObject({ overloaded: true });
  });

  it("a failing target's breaker opens, then half-opens and closes", async () => {
    const { lb, table } = await cluster(3, { breaker: { baseEjectionMs: 400, halfOpenSuccesses: 1 } });
    await lb.signal('reportOutcome', {
      router: 'r1',
      outcomes: [{ targetId: 'n2/host', ok: false, latencyMs: 3, count: 5 }],
    });
    const open = await eventually('n2 ejected', table, (x) => !ids(x).includes('n2/host'));
    expect(open.excluded).toEqual([{ id: 'n2/host', reason: 'breaker open: 5 consecutive failures' }]);
    const half = await eventually('half-open after the ejection', table, (x) => ids(x).includes('n2/host'), 5_000);
    expect(half.targets.find((x) => x.id === 'n2/host')?.breaker).toBe('half_open');
    await lb.signal('reportOutcome', { router: 'r1', outcomes: [{ targetId: 'n2/host', ok: true, latencyMs: 3 }] });
    const b = await eventually(
      'closed',
      () => lb.query<Record<string, Breaker>>('breakers'),
      (x) => x['n2/host']?.state === 'closed',
    );
    expect(b['n2/host']?.ejections).toBe(1);
  });

  it('a traffic surge switches the strategy and records the pattern; it reverts when the surge is over', async () => {
    const { lb, table } = await cluster(2);
    await lb.signal('trafficSurgeDetected', {
      requestsPerSecond: 5_000,
      baselinePerSecond: 500,
      durationMs: 600,
      source: 'test',
    });
    expect((await eventually('surge strategy', table, (x) => x.strategy === 'least_connections')).strategy).toBe(
      'least_connections',
    );
    const s = await lb.query<AgentStateView<LoadBalancerState>>('state');
    expect(s.agent.patterns).toEqual([
      expect.objectContaining({ requestsPerSecond: 5_000, from: 'weighted_round_robin', to: 'least_connections' }),
    ]);
    expect(s.agent.thresholds?.cpu).toBe(0.72);
    await eventually('reverted', table, (x) => x.strategy === 'weighted_round_robin', 5_000);
  });

  it('a node declared dead leaves the table (from a verdict, and from NodeDiscovery)', async () => {
    const { nd, lb, table, hosts } = await cluster(3);
    await lb.signal('nodeHealthChange', { nodeId: 'n1', status: 'dead', observer: 'failure-detector' });
    const tb = await eventually('n1 gone', table, (x) => !ids(x).includes('n1/host'));
    expect(tb.excluded).toEqual([{ id: 'n1/host', reason: 'node dead' }]);
    await nd.signal('leave', { nodeId: 'n2', bootId: hosts[1]?.bootId });
    const tb2 = await eventually('n2 gone', table, (x) => !ids(x).includes('n2/host'));
    expect(ids(tb2)).toEqual(['n3/web']);
  });

  it("the health monitor's verdict (a quarantine) outlives a refuted lease: a new incarnation stays out of the table", async () => {
    const { nd, lb, table } = await cluster(3);
    const quarantine = {
      nodeId: 'n1',
      health: 'unhealthy',
      reason: 'quarantined (manual): X',
      observer: 'health-monitor',
    };
    await nd.signal('nodeHealthChange', quarantine);
    await lb.signal('nodeHealthChange', quarantine);
    const tb = await eventually('n1 excluded', table, (x) => !ids(x).includes('n1/host'));
    expect(tb.excluded).toEqual([{ id: 'n1/host', reason: 'unhealthy' }]);
    // The lease times out and is refuted: NodeDiscovery makes n1 a new incarnation and broadcasts it.
    await nd.signal('nodeHealthChange', { nodeId: 'n1', status: 'suspect', observer: 'failure-detector' });
    await nd.signal('nodeHealthChange', { nodeId: 'n1', status: 'alive', observer: 'node/n1' });
    const targets = await eventually(
      'LoadBalancer sees incarnation 2',
      () => lb.query<Target[]>('targets'),
      (x) => x.find((y) => y.id === 'n1/host')?.incarnation === 2,
    );
    expect(targets.find((x) => x.id === 'n1/host')).toMatchObject({ status: 'alive', health: 'unhealthy' });
    // NodeDiscovery's own check of n1's endpoint (it answers 200) does not override the verdict either.
    await nd.executeUpdate('discover', { args: [{}] });
    await nd.executeUpdate('discover', { args: [{}] });
    expect((await nd.query<Member[]>('nodes')).find((m) => m.nodeId === 'n1')).toMatchObject({
      status: 'alive',
      health: 'unhealthy',
      incarnation: 2,
    });
    const after = await table();
    expect(ids(after)).toEqual(['n2/host', 'n3/web']);
    expect(after.excluded).toEqual([{ id: 'n1/host', reason: 'unhealthy' }]);
    // Released: the monitor's next verdict routes it again.
    const released = { nodeId: 'n1', health: 'healthy', reason: 'checks pass', observer: 'health-monitor' };
    await nd.signal('nodeHealthChange', released);
    await lb.signal('nodeHealthChange', released);
    await eventually('n1 routed again', table, (x) => ids(x).includes('n1/host'));
  });

  it('distributeLoad decides, sticks a key to one target, says why when nothing is routable, and rejects bad input', async () => {
    const { lb } = await cluster(3);
    const route = (r: Record<string, unknown>) =>
      lb.executeUpdate<RouteDecision, [Record<string, unknown>]>('distributeLoad', { args: [r] });
    const picks = [await route({}), await route({}), await route({})].map((d) => d.routeTo?.targetId);
    expect(new Set(picks)).toEqual(new Set(['n1/host', 'n2/host', 'n3/web']));
    const sticky = await route({ key: 'user-7', strategy: 'consistent_hash' });
    for (let i = 0; i < 3; i++)
      expect((await route({ key: 'user-7', strategy: 'consistent_hash' })).routeTo?.targetId).toBe(
        sticky.routeTo?.targetId,
      );
    expect((await route({ service: 'web' })).routeTo).toMatchObject({ nodeId: 'n3', port: 8080, service: 'web' });
    expect(await route({ service: 'cache' })).toMatchObject({
      routeTo: null,
      metadata: { reason: 'no target of service cache' },
    });
    await expect(route({ strategy: 'fastest' })).rejects.toThrow(WorkflowUpdateFailedError);
    await expect(lb.executeUpdate('setStrategy', { args: [{ strategy: 'random' }] })).rejects.toThrow(
      WorkflowUpdateFailedError,
    );
    const history = await lb.query<{ targetId: string | null }[]>('history');
    expect(history).toHaveLength(9); // 3 + 4 sticky + web + cache; rejected updates never reach history

    const empty = await start('loadBalancerWorkflow', `${uniqueId('lbe')}/load-balancer`, 'nobody', {});
    const d = await empty.executeUpdate<RouteDecision, [Record<string, unknown>]>('distributeLoad', { args: [{}] });
    expect(d).toMatchObject({ routeTo: null, metadata: { reason: 'no routable target', candidates: 0 } });
  });
});

describe('router', () => {
  it('holds the table, follows new versions by long-poll, picks locally and reports outcomes in batches', async () => {
    const { clusterId, lb, table } = await cluster(3);
    const router = await new Router({
      client: t.client,
      clusterId,
      name: 'r-test',
      reportIntervalMs: 100,
      longPollMs: 2_000,
    }).start();
    cleanups.push(() => router.close());
    expect(router.version).toBe((await table()).version);
    const picked = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const target = router.pick();
      if (!target) throw new Error('no target');
      picked.add(target.id);
      router.begin(target);
      router.end(target, true, 2);
    }
    expect(picked).toEqual(new Set(['n1/host', 'n2/host', 'n3/web']));
    await eventually(
      'outcomes reported',
      () => lb.query<AgentStateView<LoadBalancerState>>('state'),
      (s) => s.agent.outcomes.outcomes === 6,
    );

    const v0 = router.version;
    const t0 = Date.now();
    await lb.signal('nodeCapacityUpdate', { nodeId: 'n1', capacity: { cpu: 8 } });
    await eventually(
      'router has the new table',
      async () => router.version,
      (v) => v > v0,
      5_000,
      5,
    );
    expect(Date.now() - t0).toBeLessThan(2_000); // long-poll, not the 2 s poll timeout
    // A strategy other than the default (weighted_round_robin), so that the router's table shows it.
    const strategy = await lb.executeUpdate<{ tableVersion: number }, [{ strategy: string }]>('setStrategy', {
      args: [{ strategy: 'least_connections' }],
    });
    await eventually(
      'router follows setStrategy',
      async () => router.table?.strategy,
      (s) => s === 'least_connections',
      5_000,
      5,
    );
    expect(router.version).toBeGreaterThanOrEqual(strategy.tableVersion);

    // close() cancels the long-poll in flight instead of waiting out its 30 s.
    const tables: number[] = [];
    const idle = await new Router({ client: t.client, clusterId, onTable: (x) => tables.push(x.version) }).start();
    expect(tables).toEqual([router.version]);
    await new Promise((r) => setTimeout(r, 200)); // its long-poll is now waiting in the agent
    const c0 = Date.now();
    await idle.close();
    expect(Date.now() - c0).toBeLessThan(2_000);
    expect(idle.stats.refreshFailures).toBe(0);
  });

  it("routers' in-flight counts become connections, thresholds adapt to them, and the reported rate detects a surge", async () => {
    const { clusterId, lb, table } = await cluster(3, {
      thresholdAdaptIntervalMs: 1_000,
      routerReportTtlMs: 2_000,
      surgeHoldMs: 60_000,
      surgeDetection: { windowMs: 500, baselineWindows: 2, minRequestsPerSecond: 100, factor: 2 },
    });
    const state = () => lb.query<AgentStateView<LoadBalancerState>>('state');
    const targets = () => lb.query<Target[]>('targets');
    const conns = (ts: Target[], id: string) => ts.find((x) => x.id === id)?.load.connections;
    const opts = { client: t.client, clusterId, reportIntervalMs: 100, longPollMs: 2_000 };
    const r1 = await new Router({ ...opts, name: 'r1' }).start();
    const r2 = await new Router({ ...opts, name: 'r2' }).start();
    cleanups.push(
      () => r1.close(),
      () => r2.close(),
    );
    const n1 = (r: Router) =>
      r.table?.targets.find((x) => x.id === 'n1/host') as NonNullable<Router['table']>['targets'][number];
    for (let i = 0; i < 400; i++) r1.begin(n1(r1));
    for (let i = 0; i < 200; i++) r2.begin(n1(r2));
    // The agent sums the routers: 600 of n1's 1000 connections.
    await eventually('connections summed', targets, (ts) => conns(ts, 'n1/host') === 600, 5_000, 50);
    // Peers carry none: past the adapted threshold (median 0 + 0.3, at least 0.5), not the limit 0.9.
    const adapted = await eventually(
      'n1 overloaded by the adapted threshold',
      table,
      (tb) => tb.targets.find((x) => x.id === 'n1/host')?.overloaded === true,
      5_000,
      50,
    );
    expect(adapted.targets.find((x) => x.id === 'n1/host')?.connections).toBe(600);
    const s1 = await state();
    expect(s1.agent.adapted?.thresholds.connections).toBe(0.5);
    expect(s1.agent.adapted?.reasons.join(' ')).toMatch(/connections: median share 0 \+ 0\.3 → 0\.5/);
    // Each router's table counts only the others' requests; it adds its own live ones.
    await eventually(
      'r1 sees r2’s 200',
      async () => n1(r1)?.connections,
      (c) => c === 200,
      5_000,
      50,
    );
    // The routers stop (their requests never ended): their counts expire after routerReportTtlMs.
    await r1.close();
    await r2.close();
    await eventually('connections back to 0', targets, (ts) => conns(ts, 'n1/host') === 0, 8_000, 100);
    await eventually('n1 no longer overloaded', table, (tb) => tb.targets.every((x) => !x.overloaded), 5_000, 50);

    // The rate: ~20/s for a few windows (under the 100/s minimum), then ~400/s: the agent sees the surge.
    const report = (count: number) =>
      lb.signal('reportOutcome', {
        router: 'rate',
        outcomes: [{ targetId: 'n2/host', ok: true, latencyMs: 4, count }],
      });
    for (let i = 0; i < 12; i++) {
      await report(2);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await table()).strategy).toBe('weighted_round_robin');
    for (let i = 0; i < 12; i++) {
      await report(40);
      await new Promise((r) => setTimeout(r, 100));
    }
    const surged = await eventually(
      'surge detected',
      state,
      (s) => s.agent.patterns.some((p) => /routers/.test(p.source ?? '')),
      5_000,
      100,
    );
    const pattern = surged.agent.patterns.find((p) => /routers/.test(p.source ?? ''));
    expect(pattern?.requestsPerSecond).toBeGreaterThan(2 * (pattern?.baselinePerSecond ?? Infinity));
    expect(pattern).toMatchObject({ from: 'weighted_round_robin', to: 'least_connections' });
    await eventually('surge strategy', table, (x) => x.strategy === 'least_connections', 5_000, 50);
  });

  it('with two instances a surge is adapted to only once a consensus round among them accepts it', async () => {
    const surgeConfig = {
      instances: 2,
      surgeHoldMs: 60_000,
      surgeDetection: { windowMs: 500, baselineWindows: 2, minRequestsPerSecond: 100, factor: 2 },
    };
    const { clusterId, lb, table } = await cluster(2, surgeConfig);
    const lb2 = await start('loadBalancerWorkflow', `${clusterId}/load-balancer-2`, clusterId, { ...surgeConfig, instance: 2 });
    await start('consensusCoordinatorWorkflow', `${clusterId}/consensus-coordinator`, clusterId, {});
    const state = (h: WorkflowHandle) => h.query<AgentStateView<LoadBalancerState>>('state');
    const report = (h: WorkflowHandle, count: number) =>
      h.signal('reportOutcome', { router: 'rate', outcomes: [{ targetId: 'n2/host', ok: true, latencyMs: 4, count }] });
    // ~20/s to both for a baseline.
    for (let i = 0; i < 14; i++) {
      await Promise.all([report(lb, 2), report(lb2, 2)]);
      await new Promise((r) => setTimeout(r, 100));
    }
    // ~400/s to the first only: it sees a surge, the second does not and refuses it.
    let i = 0;
    const rejected = await eventually(
      'a surge round rejected',
      async () => {
        await Promise.all([report(lb, 40), report(lb2, 2)]);
        if (++i > 100) throw new Error('bounded');
        return state(lb);
      },
      (s) => (s.agent.surgeRounds ?? []).some((r) => r.result === 'rejected'),
      15_000,
      100,
    );
    const round = rejected.agent.surgeRounds!.find((r) => r.result === 'rejected')!;
    expect(round.summary).toMatch(/load-balancer-2: reject/);
    expect(round.summary).toMatch(/no surge seen/);
    expect(rejected.agent.surge).toBeUndefined();
    expect((await table()).strategy).toBe('weighted_round_robin');
    // Both see it now: the round accepts and the first adapts.
    i = 0;
    await eventually(
      'a surge round accepted',
      async () => {
        await Promise.all([report(lb, 40), report(lb2, 40)]);
        if (++i > 100) throw new Error('bounded');
        return state(lb);
      },
      (s) => (s.agent.surgeRounds ?? []).some((r) => r.result === 'accepted') && s.agent.surge !== undefined,
      15_000,
      100,
    );
    await eventually('surge strategy', table, (x) => x.strategy === 'least_connections', 5_000, 50);
  });

  it('past maxLongPolls a router is refused the long-poll, follows by query, and distributeLoad still gets through', async () => {
    const { clusterId, lb, table } = await cluster(2, { maxLongPolls: 1 });
    const opts = { client: t.client, clusterId, longPollMs: 5_000, pollMs: 100 };
    const first = await new Router({ ...opts, name: 'first' }).start();
    cleanups.push(() => first.close());
    await new Promise((r) => setTimeout(r, 200)); // its long-poll waits in the agent
    const second = await new Router({ ...opts, name: 'second' }).start();
    cleanups.push(() => second.close());
    await eventually(
      'second refused',
      async () => second.stats.longPollsRefused,
      (n) => n > 0,
      5_000,
      20,
    );
    expect(first.stats.longPollsRefused).toBe(0);
    const v0 = (await table()).version;
    await lb.signal('nodeCapacityUpdate', { nodeId: 'n1', capacity: { cpu: 8 } });
    for (const r of [first, second])
      await eventually(
        `${r.name} has the new table`,
        async () => r.version,
        (v) => v > v0,
        5_000,
        10,
      );
    expect(second.stats.refreshFailures).toBe(0);
    const d = await lb.executeUpdate<RouteDecision, [Record<string, unknown>]>('distributeLoad', { args: [{}] });
    expect(d.routeTo).not.toBeNull();
  });

  it('keeps routing on its last table while the agent cannot answer, and catches up when it can', async () => {
    const clusterId = uniqueId('lbr');
    const queue = uniqueId('lbr-tq');
    let w = await startWorker(t.client, queue);
    const nd = await t.client.workflow.start('nodeDiscoveryWorkflow', {
      workflowId: `${clusterId}/node-discovery`,
      taskQueue: queue,
      args: [{ clusterId, config: { ...FAST, strategies: ['registry'] } }],
    });
    const h = await startHost('r1', clusterId);
    cleanups.push(() => h.close());
    await nd.signal('announce', h.announcement());
    await eventually(
      'alive',
      () => nd.query<{ status: string }[]>('nodes'),
      (m) => m[0]?.status === 'alive',
    );
    const lb = await t.client.workflow.start('loadBalancerWorkflow', {
      workflowId: `${clusterId}/load-balancer`,
      taskQueue: queue,
      args: [{ clusterId, config: FAST }],
    });
    cleanups.push(() => Promise.all([nd, lb].map((x) => x.terminate('test done').catch(() => undefined))));
    await eventually(
      'target',
      () => lb.query<RoutingTable>('routingTable'),
      (x) => x.targets.length === 1,
    );
    const router = await new Router({
      client: t.client,
      clusterId,
      longPollMs: 300,
      backoffMs: { initial: 50, max: 200 },
    }).start();
    cleanups.push(() => router.close());

    await w.stop(); // no worker: the agent cannot answer updates or queries
    const failuresBefore = router.stats.refreshFailures;
    await eventually(
      'refresh failing',
      async () => router.stats.refreshFailures,
      (n) => n > failuresBefore,
      10_000,
      20,
    );
    for (let i = 0; i < 10; i++) expect(router.pick()?.id).toBe('r1/host');
    await lb.signal('nodeCapacityUpdate', { nodeId: 'r1', load: { cpu: 0.95 } }); // waits in history for a worker
    const stale = router.version;

    w = await startWorker(t.client, queue);
    cleanups.push(() => w.stop());
    await eventually(
      'caught up',
      async () => router.version,
      (v) => v > stale,
      15_000,
      20,
    );
    expect(router.table?.targets[0]?.overloaded).toBe(true);
  });
});

describe('health in the memo', () => {
  it('publishes its health in the memo; cluster status reads it with no worker answering (no query)', async () => {
    const clusterId = uniqueId('lb-health');
    const queue = uniqueId('lb-health-tq');
    let own: TestWorker | undefined = await startWorker(t.client, queue, 'observer-lb-health');
    cleanups.push(() => own?.stop());
    const lb = await t.client.workflow.start('loadBalancerWorkflow', {
      workflowId: `${clusterId}/load-balancer`,
      taskQueue: queue,
      args: [{ clusterId, config: FAST }],
    });
    cleanups.push(() => lb.terminate('test done').catch(() => undefined));
    const memoHealth = async () => (await lb.describe()).memo?.[HEALTH_MEMO] as AgentHealth | undefined;
    // No NodeDiscovery: nothing to route to.
    await eventually('degraded in the memo', memoHealth, (h) => h?.status === 'degraded');
    expect((await memoHealth())?.reasons).toEqual(['no live targets']);
    // A target arrives by topology broadcast: the memo follows the change.
    const h = await startHost('lbh-1', clusterId, 'zone-a');
    cleanups.push(() => h.close());
    const at = Date.now();
    await lb.signal('topologyUpdate', {
      version: 1,
      at,
      members: [
        {
          nodeId: 'lbh-1',
          status: 'alive',
          health: 'healthy',
          address: '127.0.0.1',
          healthPort: h.port,
          zone: 'zone-a',
          incarnation: 0,
        },
      ],
      changes: [{ version: 1, at, nodeId: 'lbh-1', kind: 'joined' }],
    });
    await eventually('healthy in the memo', memoHealth, (x) => x?.status === 'healthy', 15_000);
    await own.stop();
    own = undefined;
    const cluster = new ClusterClient(t.client, clusterId);
    const status = await Promise.race([
      cluster.agentStatus(AGENTS['load-balancer'] as AgentSpec),
      new Promise<'timed out'>((r) => setTimeout(() => r('timed out'), 5_000)),
    ]);
    expect(status).toMatchObject({ role: 'load-balancer', running: true, health: { status: 'healthy', reasons: [] } });
  });
});

describe('histories of this file', () => {
  it('every loadBalancerWorkflow history written here replays (no query or handler did what replay cannot)', async () => {
    expect(await replayAll(t.client, 'loadBalancerWorkflow', fileStartedAt)).toBeGreaterThan(0);
  });
});
