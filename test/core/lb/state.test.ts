import { CapacityUpdate, LoadBalancerConfig } from '../../../src/contracts/load-balancer';
import {
  applyCapacity,
  applyOutcomes,
  applySurge,
  applyVerdict,
  effectiveStrategy,
  emptyLbState,
  syncTargets,
  targetsOf,
  tick,
  weightsMoved,
} from '../../../src/core/lb/state';
import { buildRoutingTable } from '../../../src/core/lb/table';

const cfg = LoadBalancerConfig.parse({ breaker: { baseEjectionMs: 100, halfOpenSuccesses: 1 } });
const member = (nodeId: string, extra = {}) => ({
  nodeId,
  status: 'alive' as const,
  health: 'healthy' as const,
  address: '127.0.0.1',
  healthPort: 7000,
  zone: 'a',
  incarnation: 1,
  ...extra,
});

const tableInput = (s: ReturnType<typeof emptyLbState>) => ({
  clusterId: 'c',
  version: s.tableVersion,
  now: 0,
  strategy: cfg.strategy,
  thresholds: cfg.thresholds,
  config: cfg,
  targets: s.targets,
  breakers: s.breakers,
  loadHistory: s.loadHistory,
});

describe('load balancer state', () => {
  it('a host without services is one target (its health endpoint); services are one target each', () => {
    expect(targetsOf(member('n1'))).toEqual([{ service: 'host', port: 7000 }]);
    expect(targetsOf(member('n1', { services: { web: 8080, api: 9090 } }))).toEqual([
      { service: 'api', port: 9090 },
      { service: 'web', port: 8080 },
    ]);
  });

  it('syncs targets with the member list: adds, updates, removes', () => {
    const s = emptyLbState();
    expect(syncTargets(s, [member('n1'), member('n2', { services: { web: 8080 } })], 0)).toBe(true);
    expect(Object.keys(s.targets).sort()).toEqual(['n1/host', 'n2/web']);
    expect(syncTargets(s, [member('n1'), member('n2', { services: { web: 8080 } })], 1)).toBe(false);
    expect(syncTargets(s, [member('n1', { status: 'dead' })], 2)).toBe(true);
    expect(Object.keys(s.targets)).toEqual(['n1/host']);
    expect(s.targets['n1/host']?.status).toBe('dead');
    expect(Object.keys(s.breakers)).toEqual(['n1/host']);
  });

  it('applies verdicts to every target of the node', () => {
    const s = emptyLbState();
    syncTargets(s, [member('n1', { services: { a: 1, b: 2 } }), member('n2')], 0);
    expect(applyVerdict(s, { nodeId: 'n1', status: 'dead' }, 0)).toBe(true);
    expect(applyVerdict(s, { nodeId: 'n1', status: 'dead' }, 0)).toBe(false);
    expect(Object.values(s.targets).map((t) => [t.id, t.status])).toEqual([
      ['n1/a', 'dead'],
      ['n1/b', 'dead'],
      ['n2/host', 'alive'],
    ]);
  });

  // A verdict is given, then NodeDiscovery reports the node at `member` (its own view: alive and
  // healthy, maybe a newer incarnation). Liveness verdicts lapse with a newer incarnation (the node
  // refuted them); health verdicts — the HealthMonitor's, a quarantine — hold until the next one.
  it.each([
    ['quarantine, same incarnation', { health: 'unhealthy' }, 1, 'alive', 'unhealthy'],
    ['quarantine, refuted lease (incarnation + 1)', { health: 'unhealthy' }, 2, 'alive', 'unhealthy'],
    ['quarantine, rejoined much later', { health: 'unhealthy' }, 7, 'alive', 'unhealthy'],
    ['degraded, newer incarnation', { health: 'degraded' }, 2, 'alive', 'degraded'],
    ['dead, same incarnation', { status: 'dead' }, 1, 'dead', 'healthy'],
    ['dead, rejoined (incarnation + 1)', { status: 'dead' }, 2, 'alive', 'healthy'],
    ['suspect + unhealthy, newer incarnation', { status: 'suspect', health: 'unhealthy' }, 2, 'alive', 'unhealthy'],
  ] as const)('verdict after a topology update: %s', (_, verdict, incarnation, status, health) => {
    const s = emptyLbState();
    syncTargets(s, [member('n1'), member('n2')], 0);
    applyVerdict(s, { nodeId: 'n1', ...verdict }, 1);
    syncTargets(s, [member('n1', { incarnation }), member('n2')], 2);
    syncTargets(s, [member('n1', { incarnation }), member('n2')], 3); // and it stays so
    expect(s.targets['n1/host']).toMatchObject({ status, health, incarnation });
    expect(s.targets['n2/host']).toMatchObject({ status: 'alive', health: 'healthy' });
  });

  it('a quarantined node stays out of the table across a refuted lease until the monitor releases it', () => {
    const s = emptyLbState();
    const routed = () => buildRoutingTable(tableInput(s)).targets.map((t) => t.id);
    syncTargets(s, [member('n1'), member('n2'), member('n3')], 0);
    expect(applyVerdict(s, { nodeId: 'n3', health: 'unhealthy', observer: 'health-monitor' }, 1)).toBe(true);
    expect(routed()).toEqual(['n1/host', 'n2/host']);
    // The lease timed out and was refuted: FailureDetector's suspicion, then a new incarnation.
    applyVerdict(s, { nodeId: 'n3', status: 'suspect', observer: 'failure-detector' }, 2);
    expect(syncTargets(s, [member('n1'), member('n2'), member('n3', { incarnation: 2 })], 3)).toBe(true);
    expect(s.targets['n3/host']).toMatchObject({ status: 'alive', health: 'unhealthy', incarnation: 2 });
    expect(routed()).toEqual(['n1/host', 'n2/host']);
    // A later liveness verdict about the new incarnation keeps the health verdict.
    applyVerdict(s, { nodeId: 'n3', status: 'alive', observer: 'failure-detector' }, 4);
    expect(routed()).toEqual(['n1/host', 'n2/host']);
    // Released: the monitor's next health verdict.
    expect(applyVerdict(s, { nodeId: 'n3', health: 'healthy', observer: 'health-monitor' }, 5)).toBe(true);
    syncTargets(s, [member('n1'), member('n2'), member('n3', { incarnation: 2 })], 6);
    expect(routed()).toEqual(['n1/host', 'n2/host', 'n3/host']);
  });

  it("capacity and load reports touch the node's targets and keep a bounded load history", () => {
    const s = emptyLbState();
    syncTargets(s, [member('n1', { services: { a: 1, b: 2 } })], 0);
    expect(applyCapacity(s, { nodeId: 'n1', service: 'a', capacity: { cpu: 4 } }, 1)).toEqual(['n1/a']);
    expect(s.targets['n1/a']?.capacity).toMatchObject({ cpu: 4, memory: 1 });
    for (let i = 0; i < 40; i++) applyCapacity(s, { nodeId: 'n1', load: { cpu: i / 100 } }, i);
    expect(s.loadHistory['n1/b']).toHaveLength(30);
    expect(applyCapacity(s, { nodeId: 'nx', load: { cpu: 1 } }, 0)).toEqual([]);
  });

  it("a host's load report (its schema fills connections with 0) keeps the routers' connections (connectionsFromRouters)", () => {
    const s = emptyLbState();
    syncTargets(s, [member('n1')], 0);
    const report = CapacityUpdate.parse({ nodeId: 'n1', load: { cpu: 0.5, memory: 0.2 } });
    expect(report.load?.connections).toBe(0);
    (s.targets['n1/host'] as { load: { connections: number } }).load.connections = 3;
    applyCapacity(s, report, 1, { connectionsFromRouters: true });
    expect(s.targets['n1/host']?.load).toMatchObject({ cpu: 0.5, memory: 0.2, connections: 3 });
    // Runs before the patch: wiped until the next router report (a drain then saw none in flight).
    applyCapacity(s, report, 2);
    expect(s.targets['n1/host']?.load.connections).toBe(0);
  });

  it.each([
    [{ a: 100 }, { a: 105 }, false],
    [{ a: 100 }, { a: 120 }, true],
    [{ a: 100 }, { a: 100, b: 1 }, true],
  ])('weightsMoved(%j → %j) = %s', (a, b, moved) => expect(weightsMoved(a, b, 0.1)).toBe(moved));

  it("outcome batches update EWMA and open a failing target's breaker; it half-opens and closes", () => {
    const s = emptyLbState();
    syncTargets(s, [member('n1'), member('n2'), member('n3')], 0);
    expect(
      applyOutcomes(s, { router: 'r', outcomes: [{ targetId: 'n1/host', ok: true, latencyMs: 10, count: 1 }] }, cfg, 0),
    ).toBe(false);
    expect(s.targets['n1/host']?.ewmaMs).toBe(10);
    expect(
      applyOutcomes(
        s,
        { router: 'r', outcomes: [{ targetId: 'n2/host', ok: false, latencyMs: 1, count: 5 }] },
        cfg,
        10,
      ),
    ).toBe(true);
    expect(s.breakers['n2/host']?.state).toBe('open');
    // Only one of 3 may be ejected (10 %, at least one): n3 failing too stays routable.
    applyOutcomes(s, { router: 'r', outcomes: [{ targetId: 'n3/host', ok: false, latencyMs: 1, count: 5 }] }, cfg, 20);
    expect(s.breakers['n3/host']?.state).toBe('closed');
    expect(tick(s, 109)).toBe(false);
    expect(tick(s, 110)).toBe(true);
    expect(s.breakers['n2/host']?.state).toBe('half_open');
    applyOutcomes(s, { router: 'r', outcomes: [{ targetId: 'n2/host', ok: true, latencyMs: 1, count: 1 }] }, cfg, 120);
    expect(s.breakers['n2/host']?.state).toBe('closed');
    expect(s.outcomes).toEqual({ reports: 4, outcomes: 12 });
  });

  it('a surge switches the strategy and tightens thresholds, then reverts', () => {
    const s = emptyLbState();
    applySurge(s, { requestsPerSecond: 5000, baselinePerSecond: 1000, durationMs: 1000 }, cfg, 0);
    expect(s.strategy).toBe('least_connections');
    expect(s.thresholds).toMatchObject({ cpu: 0.72, memory: 0.81, connections: 0.81 });
    applySurge(s, { requestsPerSecond: 6000, durationMs: 1000 }, cfg, 500);
    expect(s.surge?.until).toBe(1500);
    expect(s.patterns.map((p) => [p.from, p.to])).toEqual([
      ['weighted_round_robin', 'least_connections'],
      ['least_connections', 'least_connections'],
    ]);
    expect(tick(s, 1499)).toBe(false);
    expect(tick(s, 1500)).toBe(true);
    expect(effectiveStrategy(s, cfg)).toBe('weighted_round_robin');
    expect(s.thresholds).toEqual(cfg.thresholds);
  });
});
