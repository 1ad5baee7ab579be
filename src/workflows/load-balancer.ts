/**
 * LoadBalancer agent: keeps the inputs of routing decisions (targets, health, capacity, load,
 * breakers, strategy) durable and publishes a versioned routing table. Routers long-poll it
 * (`awaitRoutingTable`), pick locally with the same code (src/core/lb/picker.ts) and report
 * outcomes in batches (`reportOutcome`); `distributeLoad` decides here for callers without a router.
 *
 * Invariants:
 * 1. The table is a pure function of the state (src/core/lb/table.ts); its version grows by one on
 *    every publish and is carried across continue-as-new, so routers never see it go back.
 * 2. Long-polls return when a newer table exists, when their wait ends, or when the agent drains
 *    for continue-as-new — never later.
 * 3. At most `maxLongPolls` long-polls wait at once, so router long-polls never take all of the
 *    server's in-flight update slots (10 per workflow by default) from distributeLoad and the rest.
 */
import { condition, patched, upsertMemo } from '@temporalio/workflow';
import { loadBalancerVote, type VoteDecision } from '../core/consensus/votes';
import { roundAmongInstances } from './consensus/among-instances';
import type { AgentHealthStatus } from '../contracts/common';
import {
  AwaitTable,
  CapacityUpdate,
  CordonPayload,
  LbFencePayload,
  lbFenceSignal,
  RebalancePayload,
  TRAFFIC_MEMO,
  UncordonPayload,
  rebalanceUpdate,
  type RebalanceResult,
  cordonUpdate,
  uncordonUpdate,
  type CordonResult,
  DistributeRequest,
  HealthVerdict,
  LoadBalancerConfig,
  OutcomeReport,
  SetStrategy,
  TrafficSurge,
  awaitRoutingTableUpdate,
  breakersQuery,
  distributeLoadUpdate,
  historyQuery,
  lbNodeHealthChangeSignal,
  nodeCapacityUpdateSignal,
  reportOutcomeSignal,
  routingTableQuery,
  setStrategyUpdate,
  targetsQuery,
  trafficSurgeDetectedSignal,
  type LoadBalancerState,
  type RouteDecision,
  type RoutingTable,
} from '../contracts/load-balancer';
import { pushBounded } from '../core/bounded';
import { nextBreakerDue } from '../core/lb/breaker';
import { Picker } from '../core/lb/picker';
import {
  applyCapacity,
  applyOutcomes,
  applySurge,
  applyVerdict,
  effectiveStrategy,
  effectiveThresholds,
  emptyLbState,
  syncTargets,
  tick,
  weightsMoved,
} from '../core/lb/state';
import { adaptThresholds, expireRouters, observeReport, sameThresholds } from '../core/lb/observe';
import { buildRoutingTable } from '../core/lb/table';
import { trafficChanged, trafficSummary, type TrafficSummary } from '../core/lb/traffic';
import { Agent } from './agent-base';

export const LOAD_BALANCER_ROLE = 'load-balancer';
/** Patch: the periodic membership read runs beside the loop (runs before it awaited it in the loop). */
export const LB_MEMBERS_BESIDE_LOOP = 'lb-members-beside-loop';
/**
 * Patch: the agent observes the routers — their in-flight counts become the targets' connections,
 * their request rate detects surges — and adapts its thresholds every thresholdAdaptIntervalMs.
 */
export const LB_OBSERVES = 'lb-observes-routers';
/** Patch: a host's load report keeps the connections the routers reported (it zeroed them before). */
export const LB_CONNECTIONS_FROM_ROUTERS = 'lb-connections-from-routers';
/** Patch: every trafficMemoIntervalMs the traffic summary (rate, latency, imbalance) goes to the memo `traffic`. */
export const LB_TRAFFIC_MEMO = 'lb-traffic-memo';

export async function loadBalancerWorkflow(input: unknown): Promise<void> {
  // The agent's hooks need the balancer, which needs the agent.
  const ref: { lb?: Balancer } = {};
  const observes = patched(LB_OBSERVES);
  const publishesTraffic = observes && patched(LB_TRAFFIC_MEMO);
  const agent = new Agent<LoadBalancerConfig, LoadBalancerState>(
    {
      role: LOAD_BALANCER_ROLE,
      configSchema: LoadBalancerConfig,
      initialState: emptyLbState,
      vote: (p): VoteDecision => loadBalancerVote(p.topic, agent.state.traffic, agent.config.surgeDetection),
      intervals: (c) => ({
        topologySync: c.topologySyncIntervalMs,
        ...(observes ? { adapt: c.thresholdAdaptIntervalMs } : {}),
        ...(publishesTraffic ? { traffic: c.trafficMemoIntervalMs } : {}),
      }),
      health: (s) => {
        const t = ref.lb?.view();
        const live = Object.values(s.targets).filter((x) => x.status === 'alive' || x.status === 'suspect').length;
        if (!t || live === 0) return { status: 'degraded' as AgentHealthStatus, reasons: ['no live targets'] };
        if (t.panic)
          return {
            status: 'degraded',
            reasons: [`panic mode: ${Math.round(t.healthyShare * 100)} % of targets routable`],
          };
        return { status: 'healthy', reasons: [] };
      },
      onTopologyUpdate: (u) => {
        if (u.version <= agent.state.topologyVersion) return;
        agent.state.topologyVersion = u.version;
        if (syncTargets(agent.state, u.members, Date.now())) ref.lb?.publish();
      },
    },
    input,
  );
  const balancer = new Balancer(agent, observes && patched(LB_CONNECTIONS_FROM_ROUTERS));
  ref.lb = balancer;

  // Message-handling API
  agent.onUpdate(distributeLoadUpdate, DistributeRequest, (r) => balancer.distribute(r));
  agent.onUpdate(setStrategyUpdate, SetStrategy, ({ strategy }) => {
    balancer.setStrategy(strategy);
    balancer.publish();
    return { strategy, tableVersion: agent.state.tableVersion };
  });
  // Besides the payload, its validator refuses a long-poll past maxLongPolls (invariant 3).
  agent.onUpdate(
    awaitRoutingTableUpdate,
    AwaitTable,
    // The schema fills in the default wait.
    (r) => balancer.awaitTable(r.knownVersion, AwaitTable.parse(r).waitMs),
    () => {
      if (balancer.longPolls >= agent.config.maxLongPolls)
        throw new Error(
          `busy: ${balancer.longPolls} long-polls already wait (maxLongPolls ${agent.config.maxLongPolls}); read the routingTable query instead`,
        );
    },
  );
  agent.onUpdate(cordonUpdate, CordonPayload, (p) => balancer.cordon(p));
  agent.onUpdate(uncordonUpdate, UncordonPayload, (p) => balancer.uncordon(p));
  agent.onUpdate(rebalanceUpdate, RebalancePayload, (p) => balancer.rebalance(p));
  agent.onSignal(trafficSurgeDetectedSignal, TrafficSurge, (u) => {
    if (balancer.agreeFirst(u)) return;
    applySurge(agent.state, u, agent.config, Date.now());
    balancer.publish();
  });
  agent.onSignal(nodeCapacityUpdateSignal, CapacityUpdate, (u) => balancer.capacity(u));
  agent.onSignal(lbFenceSignal, LbFencePayload, (p) => balancer.fence(p));
  agent.onSignal(reportOutcomeSignal, OutcomeReport, (r) => {
    const now = Date.now();
    let changed = applyOutcomes(agent.state, r, agent.config, now);
    if (observes) {
      const seen = observeReport(agent.state, r, agent.config, now);
      if (seen.surge && !balancer.agreeFirst(seen.surge)) {
        applySurge(agent.state, seen.surge, agent.config, now);
        changed = true;
      }
      if (seen.connectionsMoved) changed = true;
    }
    if (changed) balancer.publish();
  });
  agent.onSignal(lbNodeHealthChangeSignal, HealthVerdict, (v) => {
    if (applyVerdict(agent.state, v, Date.now())) balancer.publish();
  });
  agent.onQuery(routingTableQuery, () => balancer.view());
  agent.onQuery(targetsQuery, () =>
    Object.values(agent.state.targets)
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((t) => (agent.state.cordoned?.[t.nodeId] ? { ...t, cordoned: agent.state.cordoned[t.nodeId] } : t)),
  );
  agent.onQuery(breakersQuery, () => agent.state.breakers);
  agent.onQuery(historyQuery, () => agent.state.history);

  // A fresh agent learns the current members; later runs carry them and refresh them beside the
  // loop, so that a read whose attempt went to a paused or dying host holds up no tick or signal.
  const membersBeside = agent.loopActs && patched(LB_MEMBERS_BESIDE_LOOP);
  if (agent.base.runs === 0) await balancer.reconcile();
  // The orchestrator can read a summary from the start, not only after the first interval.
  if (publishesTraffic) balancer.publishTraffic();
  await agent.run({
    timers: {
      // Runs before the patch: the same call as they recorded, not wrapped.
      topologySync: membersBeside
        ? async () => {
            agent.beside('members', () => balancer.reconcile(), { abandonable: true });
          }
        : () => balancer.reconcile(),
      adapt: async () => balancer.adapt(),
      traffic: async () => balancer.publishTraffic(),
    },
    hasWork: () => balancer.surgeQueued !== undefined && !balancer.surgeRound,
    doWork: async () => balancer.proposeSurge(),
    dueAt: () => balancer.dueAt(),
    onDue: () => {
      if (tick(agent.state, Date.now(), { adaptive: observes })) balancer.publish();
    },
  });
}

/** How long a surge round among the LoadBalancers may take (ms). */
const SURGE_ROUND_MS = 5_000;

class Balancer {
  private current: RoutingTable | undefined;
  private picker: Picker | undefined;
  /** A surge waiting for a round among the instances (the newest seen). */
  surgeQueued: TrafficSurge | undefined;
  /** A surge round runs (one at a time). */
  surgeRound = false;

  /**
   * With more than one instance, a surge not yet in force goes to a consensus round first (queued
   * for the loop): true when it was queued instead of applied.
   */
  agreeFirst(u: TrafficSurge): boolean {
    if (this.agent.config.instances <= 1 || this.state.surge) return false;
    this.surgeQueued = u;
    return true;
  }

  /** The loop: the queued surge to a round among the instances, beside the loop; applied if accepted. */
  proposeSurge(): void {
    const u = this.surgeQueued;
    if (!u) return;
    this.surgeQueued = undefined;
    if (this.state.surge) return; // agreed meanwhile: a surge in force is renewed without a round
    this.surgeRound = true;
    this.agent.beside('surge-round', async () => {
      const at = Date.now();
      const round = await roundAmongInstances({
        clusterId: this.agent.clusterId,
        role: LOAD_BALANCER_ROLE,
        instances: this.agent.config.instances,
        topic: 'surge',
        value: { requestsPerSecond: u.requestsPerSecond, baselinePerSecond: u.baselinePerSecond ?? null, source: u.source ?? null },
        timeoutMs: SURGE_ROUND_MS,
        what: `surge (${u.requestsPerSecond}/s)`,
      });
      const entry = { at, requestsPerSecond: u.requestsPerSecond, ...round };
      this.state.surgeRounds ??= [];
      pushBounded(this.state.surgeRounds, entry, 20);
      this.surgeRound = false;
      if (entry.result === 'accepted') {
        applySurge(this.state, u, this.agent.config, Date.now());
        this.publish();
      }
    });
  }

  constructor(
    private readonly agent: Agent<LoadBalancerConfig, LoadBalancerState>,
    /** LB_CONNECTIONS_FROM_ROUTERS. */
    private readonly connectionsFromRouters = false,
  ) {}

  private get state(): LoadBalancerState {
    return this.agent.state;
  }

  /** The current table, rebuilt at its carried version after continue-as-new (invariant 1). */
  table(): RoutingTable {
    if (!this.current) this.commit(this.build(this.state.tableVersion));
    return this.current as RoutingTable;
  }

  /**
   * The table for queries and health: never commits. A query that built and kept the table would
   * change what later handlers compute — state that replay (which runs no queries) would not have.
   */
  view(): RoutingTable {
    return this.current ?? this.build(this.state.tableVersion);
  }

  private commit(table: RoutingTable): void {
    this.current = table;
    this.picker = undefined;
    this.state.maglevTableSize = table.maglevTableSize;
  }

  private build(version: number): RoutingTable {
    const c = this.agent.config;
    return buildRoutingTable({
      clusterId: this.agent.clusterId,
      version,
      now: Date.now(),
      strategy: effectiveStrategy(this.state, c),
      thresholds: effectiveThresholds(this.state, c),
      config: c,
      targets: this.state.targets,
      breakers: this.state.breakers,
      loadHistory: this.state.loadHistory,
      previousMaglevTableSize: this.state.maglevTableSize,
      cordoned: this.state.cordoned,
      ...(this.state.fenced ? { fenced: this.state.fenced.nodes, fenceGeneration: this.state.fenced.generation } : {}),
    });
  }

  /** The partition handler's fences: a newer generation replaces the set, and the table at once. */
  fence(p: LbFencePayload): void {
    const cur = this.state.fenced;
    if (cur && p.generation <= cur.generation) return;
    const now = Date.now();
    const nodes: Record<string, { since: number; reason: string }> = {};
    for (const id of p.nodeIds) nodes[id] = { since: cur?.nodes[id]?.since ?? now, reason: p.reason };
    this.state.fenced = { generation: p.generation, nodes };
    this.publish();
  }

  /**
   * Cordon: the node's targets leave the table at once (a new version: long-polls return with it).
   * A node the agent does not route is refused with the field named; cordoning twice keeps the first.
   */
  cordon(p: CordonPayload): CordonResult {
    const known = [...new Set(Object.values(this.state.targets).map((t) => t.nodeId))].sort();
    if (!known.includes(p.nodeId))
      throw new Error(
        `nodeId: expected a node the load balancer routes to (${known.join(', ') || 'none'}), got ${JSON.stringify(p.nodeId)}`,
      );
    const cordoned = (this.state.cordoned ??= {});
    if (!cordoned[p.nodeId]) {
      cordoned[p.nodeId] = { since: Date.now(), reason: p.reason, by: p.by };
      this.publish();
    }
    return {
      nodeId: p.nodeId,
      cordoned: true,
      since: cordoned[p.nodeId]?.since,
      tableVersion: this.state.tableVersion,
    };
  }

  uncordon(p: UncordonPayload): CordonResult {
    const cordoned = this.state.cordoned ?? {};
    if (!cordoned[p.nodeId])
      throw new Error(
        `nodeId: ${p.nodeId} is not cordoned (cordoned: ${Object.keys(cordoned).sort().join(', ') || 'none'})`,
      );
    delete cordoned[p.nodeId];
    this.publish();
    return { nodeId: p.nodeId, cordoned: false, tableVersion: this.state.tableVersion };
  }

  /**
   * `rebalance`: a table from the latest loads now, past the rebalance threshold that holds small
   * moves back; with a strategy, that one from now on (the result says which was in force before).
   */
  rebalance(p: RebalancePayload): RebalanceResult {
    const previousStrategy = this.table().strategy;
    if (p.strategy) this.setStrategy(p.strategy);
    this.publish();
    this.publishTraffic();
    return { tableVersion: this.state.tableVersion, strategy: this.table().strategy, previousStrategy };
  }

  /** An operator's (or a rebalance's) strategy: it outlives a surge, which ends back on it. */
  setStrategy(strategy: RebalanceResult['strategy']): void {
    this.state.strategy = strategy;
    if (this.state.surge) this.state.surge.previousStrategy = strategy;
  }

  private traffic: TrafficSummary | undefined;

  /** The traffic summary in the memo, when it changed (not state: a new run publishes again). */
  publishTraffic(): void {
    const t = trafficSummary(this.state, this.table(), Date.now());
    if (!trafficChanged(this.traffic, t)) return;
    this.traffic = t;
    upsertMemo({ [TRAFFIC_MEMO]: t });
  }

  publish(): void {
    this.state.tableVersion += 1;
    this.commit(this.build(this.state.tableVersion));
  }

  private pickerFor(): Picker {
    this.picker ??= new Picker(this.table(), { ewmaAlpha: this.agent.config.ewmaAlpha });
    return this.picker;
  }

  distribute(r: DistributeRequest): RouteDecision {
    const table = this.table();
    // A key is sticky under every strategy (the picker hashes it): say so in the decision.
    const strategy = r.key !== undefined ? 'consistent_hash' : (r.strategy ?? table.strategy);
    const picker = this.pickerFor();
    const i = picker.pick({ ...r, strategy });
    const t = picker.target(i);
    const now = Date.now();
    const reason = t ? undefined : table.targets.length ? `no target of service ${r.service}` : 'no routable target';
    pushBounded(
      this.state.history,
      { at: now, targetId: t?.id ?? null, strategy, key: r.key, reason },
      this.agent.config.historySize,
    );
    return {
      routeTo: t
        ? { targetId: t.id, nodeId: t.nodeId, address: t.address, port: t.port, zone: t.zone, service: t.service }
        : null,
      metadata: {
        strategy,
        tableVersion: table.version,
        panic: table.panic,
        candidates: table.targets.length,
        ...(reason ? { reason } : {}),
      },
    };
  }

  /** Long-polls waiting now (not state: none survive continue-as-new). */
  longPolls = 0;

  async awaitTable(knownVersion: number, waitMs: number): Promise<RoutingTable> {
    const wait = Math.min(waitMs, this.agent.config.longPollMs);
    if (this.state.tableVersion <= knownVersion && wait > 0) {
      this.longPolls += 1;
      try {
        await condition(() => this.state.tableVersion > knownVersion || this.agent.draining, wait);
      } finally {
        this.longPolls -= 1;
      }
    }
    return this.table();
  }

  capacity(u: CapacityUpdate): void {
    const before = weightsById(this.table());
    if (!applyCapacity(this.state, u, Date.now(), { connectionsFromRouters: this.connectionsFromRouters }).length)
      return;
    const candidate = this.build(this.state.tableVersion + 1);
    const overloadChanged = candidate.targets.some(
      (t) => this.table().targets.find((x) => x.id === t.id)?.overloaded !== t.overloaded,
    );
    if (overloadChanged || weightsMoved(before, weightsById(candidate), this.agent.config.rebalanceThreshold)) {
      this.state.tableVersion += 1;
      this.commit(candidate);
    }
  }

  async reconcile(): Promise<void> {
    // NodeDiscovery absent or unreachable for now: keep the targets we have; the next sync retries.
    const read = await this.agent.readMembers();
    if (!read) return;
    this.state.topologyVersion = Math.max(this.state.topologyVersion, read.version);
    if (syncTargets(this.state, read.members, Date.now())) this.publish();
  }

  /**
   * Every thresholdAdaptIntervalMs (runs that observe routers): routers that went silent stop
   * counting, and the thresholds follow what the targets carry (src/core/lb/observe.ts). A new
   * table only when either changed something.
   */
  adapt(): void {
    const now = Date.now();
    const c = this.agent.config;
    let changed = expireRouters(this.state, now, c.routerReportTtlMs);
    const a = adaptThresholds(Object.values(this.state.targets), c.thresholds);
    if (!this.state.adapted || !sameThresholds(this.state.adapted.thresholds, a.thresholds)) changed = true;
    this.state.adapted = { at: now, ...a };
    if (changed) this.publish();
  }

  dueAt(): number | undefined {
    const b = nextBreakerDue(this.state.breakers);
    const s = this.state.surge?.until;
    if (b === undefined) return s;
    return s === undefined ? b : Math.min(b, s);
  }
}

function weightsById(t: RoutingTable): Record<string, number> {
  return Object.fromEntries(t.targets.map((x) => [x.id, x.weight]));
}
