/** LoadBalancer: targets, capacities, loads, circuit breakers, a versioned routing table. */
import { isPrime } from './primes';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import { BaseConfig, NodeId, type NodeHealth, type NodeStatus } from './common';
import { NodeHealthChangePayload } from './node-discovery';

export const LB_STRATEGIES = [
  'round_robin',
  'weighted_round_robin',
  'least_connections',
  'latency_aware',
  'capacity_aware',
  'geographic',
  'consistent_hash',
  'adaptive',
] as const;
export const LbStrategy = z.enum(LB_STRATEGIES);
export type LbStrategy = z.infer<typeof LbStrategy>;

const Share = z.number().min(0).max(1);

/** Thresholds above which a target counts as overloaded (its weight drops; P2C avoids it). */
export const Thresholds = z.object({
  /** CPU utilization, 0-1 (default 0.8). */
  cpu: Share.default(0.8),
  /** Memory utilization, 0-1 (default 0.85). */
  memory: Share.default(0.85),
  /** Connections in use / max connections, 0-1 (default 0.9). */
  connections: Share.default(0.9),
  /** EWMA response time (ms, default 1000). */
  responseTimeMs: z.number().positive().default(1_000),
  /** Error rate over the breaker window, 0-1 (default 0.05). */
  errorRate: Share.default(0.05),
});
export type Thresholds = z.infer<typeof Thresholds>;

/** Envoy-like outlier detection defaults. */
export const BreakerConfig = z.object({
  /** Consecutive failures that open the breaker (default 5, Envoy's consecutive_5xx). */
  consecutiveFailures: z.number().int().min(1).default(5),
  /** Window over which the error rate is computed (ms, default 10 s, Envoy's interval). */
  windowMs: z.number().int().min(100).default(10_000),
  /** Requests needed in the window before the error rate counts (default 20). */
  minRequests: z.number().int().min(1).default(20),
  /** Base ejection time; the n-th ejection lasts n × base (ms, default 30 s, Envoy's base_ejection_time). */
  baseEjectionMs: z.number().int().min(10).default(30_000),
  /** Longest ejection (ms, default 300 s, Envoy's max_ejection_time). */
  maxEjectionMs: z.number().int().min(10).default(300_000),
  /** At most this share of targets ejected at once; at least one may always be (default 0.1, Envoy's 10 %). */
  maxEjectionShare: Share.default(0.1),
  /** Successes in half-open that close the breaker again (default 3). */
  halfOpenSuccesses: z.number().int().min(1).default(3),
});
export type BreakerConfig = z.infer<typeof BreakerConfig>;

export const LoadBalancerConfig = BaseConfig.extend({
  /**
   * The specification's default: weights follow each target's free capacity, which hosts report
   * when it moves (NodeAgent load reports), so a loaded host gets less traffic without any router
   * having to see it fail first.
   */
  strategy: LbStrategy.default('weighted_round_robin'),
  thresholds: Thresholds.prefault({}),
  breaker: BreakerConfig.prefault({}),
  /** Below this share of healthy targets, route to all of them (panic mode; default 0.5, Envoy's 50 %). */
  panicThreshold: Share.default(0.5),
  /** Added to a target's EWMA when its zone differs from the client's (ms, default 20). */
  zonePenaltyMs: z.number().min(0).default(20),
  /** Geographic: spill over to other zones when fewer than this share of the local zone is eligible (default 0.5). */
  spilloverThreshold: Share.default(0.5),
  /** EWMA smoothing of response times, 0-1 (default 0.3: the last ~3 outcomes weigh most). */
  ewmaAlpha: z.number().gt(0).lte(1).default(0.3),
  /**
   * Maglev lookup table size, a prime. Default: chosen per table, the smallest of 65537 × 2^k
   * (next prime) with ≥ 100 slots per target (src/core/lb/maglev.ts, maglevTableSizeFor).
   */
  maglevTableSize: z
    .number()
    .int()
    .min(7)
    .max(1_048_601)
    .refine(isPrime, { message: 'expected a prime number (e.g. 65537)' })
    .optional(),
  /** Weight change (relative) that makes a capacity update publish a new table (default 0.1). */
  rebalanceThreshold: Share.default(0.1),
  /** Decisions kept in the distribution history (default 1000). */
  historySize: z.number().int().min(1).max(10_000).default(1_000),
  /** Traffic patterns kept (default 50). */
  patternHistorySize: z.number().int().min(1).max(1_000).default(50),
  /** How long a surge adaptation lasts unless renewed (ms, default 5 min). */
  surgeHoldMs: z.number().int().min(100).default(300_000),
  /** Longest a router's long-poll for a new table waits (ms, default 30 s). */
  longPollMs: z.number().int().min(100).max(120_000).default(30_000),
  /**
   * Router long-polls waiting at once (default 6); more are refused and those routers refresh by
   * query instead. The server admits only so many updates in flight per workflow (10 by default):
   * the rest stays free for distributeLoad, setStrategy and configure.
   */
  maxLongPolls: z.number().int().min(0).max(100).default(6),
  /**
   * How often the thresholds adapt to what the agent observes (ms, default 30 s, the
   * specification's): a target is overloaded when it carries well over its peers' median, below the
   * configured thresholds, which stay the ceiling (src/core/lb/observe.ts).
   */
  thresholdAdaptIntervalMs: z.number().int().min(1_000).max(3_600_000).default(30_000),
  /** How often the traffic summary (rate, latency, imbalance) is published in the memo for the orchestrator (ms, default 5 s). */
  trafficMemoIntervalMs: z.number().int().min(500).max(3_600_000).default(5_000),
  /**
   * Surge detection from the request rate the routers report: a window's rate past `factor` × the
   * baseline (the mean rate of earlier windows) and at least `minRequestsPerSecond` is a surge,
   * adapted to as `trafficSurgeDetected` is. Windows of `windowMs`; `baselineWindows` of them make a
   * baseline first.
   */
  surgeDetection: z
    .object({
      factor: z.number().gt(1).max(100).default(2),
      minRequestsPerSecond: z.number().min(0).default(10),
      windowMs: z.number().int().min(500).max(600_000).default(10_000),
      baselineWindows: z.number().int().min(1).max(100).default(3),
    })
    .prefault({}),
  /** A router that has not reported for this long no longer counts its requests in flight (ms, default 10 s). */
  routerReportTtlMs: z.number().int().min(1_000).max(600_000).default(10_000),
  /**
   * LoadBalancers that run (1-5, default 1; `cluster start` starts the others as
   * `load-balancer-2` …, each with a routing table of its own; routers follow the first). With more
   * than one, a surge is adapted to only once a consensus round among them accepts it (majority):
   * each votes from the request rate reported to it. A surge in force is renewed without a round.
   */
  instances: z.number().int().min(1).max(5).default(1),
  /** Which instance this is (1-5; set by `cluster start` for each instance). */
  instance: z.number().int().min(1).max(5).default(1),
});
export type LoadBalancerConfig = z.infer<typeof LoadBalancerConfig>;

/** What a target can take, in absolute units; only ratios between targets matter. */
export const Capacity = z.object({
  cpu: z.number().positive().default(1),
  memory: z.number().positive().default(1),
  network: z.number().positive().default(1),
  maxConnections: z.number().int().positive().default(1_000),
});
export type Capacity = z.infer<typeof Capacity>;

/** Current utilization, 0-1 each, and connections in use. */
export const Load = z.object({
  cpu: Share.default(0),
  memory: Share.default(0),
  network: Share.default(0),
  connections: z.number().int().min(0).default(0),
});
export type Load = z.infer<typeof Load>;

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface Breaker {
  state: BreakerState;
  consecutiveFailures: number;
  windowStart: number;
  windowRequests: number;
  windowFailures: number;
  ejections: number;
  openedAt?: number;
  openUntil?: number;
  halfOpenSuccesses: number;
  lastReason?: string;
}

export interface Target {
  /** `<nodeId>/<service>`. */
  id: string;
  nodeId: string;
  service: string;
  address: string;
  port: number;
  zone: string;
  status: NodeStatus;
  health: NodeHealth;
  /** The node's incarnation as NodeDiscovery last reported it. */
  incarnation: number;
  capacity: Capacity;
  load: Load;
  loadUpdatedAt?: number;
  ewmaMs?: number;
  requests: number;
  failures: number;
  /** In the `targets` query only: the node's cordon (a drain), when it has one. */
  cordoned?: Cordon;
}

/** One target as routers see it. */
export interface RouteTarget {
  id: string;
  nodeId: string;
  service: string;
  address: string;
  port: number;
  zone: string;
  /** Smooth weighted round robin weight, from free capacity (≥ 1). */
  weight: number;
  /** Headroom score 0-1 (cpu 0.4, memory 0.3, network 0.3) used by capacity_aware. */
  headroom: number;
  ewmaMs: number;
  connections: number;
  maxConnections: number;
  /** Load trend per second from the agent's history (adaptive). */
  trend: number;
  overloaded: boolean;
  breaker: BreakerState;
}

export interface RoutingTable {
  version: number;
  clusterId: string;
  builtAt: number;
  strategy: LbStrategy;
  panic: boolean;
  healthyShare: number;
  zonePenaltyMs: number;
  spilloverThreshold: number;
  maglevTableSize: number;
  targets: RouteTarget[];
  excluded: { id: string; reason: string }[];
  /** Per zone: live targets and routed ones (geographic spill-over decides on their ratio). */
  zones: Record<string, { live: number; routed: number }>;
}

export const DistributeRequest = z.object({
  /** Sticky-session key: routed by consistent hashing when given. */
  key: z.string().min(1).max(1_024).optional(),
  /** Where the client is; latency_aware and geographic prefer this zone. */
  clientZone: z.string().min(1).optional(),
  /** Only targets of this service (default: any). */
  service: z.string().min(1).optional(),
  /** Override the agent's strategy for this request. */
  strategy: LbStrategy.optional(),
  requestType: z.string().optional(),
});
export type DistributeRequest = z.infer<typeof DistributeRequest>;

export interface RouteDecision {
  routeTo: { targetId: string; nodeId: string; address: string; port: number; zone: string; service: string } | null;
  metadata: { strategy: LbStrategy; tableVersion: number; panic: boolean; candidates: number; reason?: string };
}

export const TrafficSurge = z.object({
  requestsPerSecond: z.number().positive(),
  baselinePerSecond: z.number().positive().optional(),
  /** How long to hold the adaptation (ms; default: the config's surgeHoldMs). */
  durationMs: z.number().int().positive().optional(),
  source: z.string().optional(),
  service: z.string().optional(),
});
export type TrafficSurge = z.infer<typeof TrafficSurge>;

export const CapacityUpdate = z
  .object({
    nodeId: z.string().min(1),
    /** One service of the node; all of them when absent. */
    service: z.string().min(1).optional(),
    capacity: Capacity.partial().optional(),
    load: Load.partial().optional(),
  })
  .refine((u) => u.capacity !== undefined || u.load !== undefined, {
    message: 'expected capacity or load',
    path: ['capacity'],
  });
export type CapacityUpdate = z.infer<typeof CapacityUpdate>;

export const Outcome = z.object({
  targetId: z.string().min(1),
  ok: z.boolean(),
  latencyMs: z.number().min(0),
  /** Outcomes folded into this one (default 1): routers aggregate per target. */
  count: z.number().int().min(1).default(1),
  /** Failures among `count` (default: count when !ok, else 0). */
  failures: z.number().int().min(0).optional(),
});
export type Outcome = z.infer<typeof Outcome>;

export const OutcomeReport = z
  .object({
    router: z.string().min(1).max(200),
    outcomes: z.array(Outcome).max(10_000),
    /**
     * Requests this router has in flight per target right now (targets it has none at are left
     * out, or 0 once they drained): the LoadBalancer sums them over routers as each target's
     * connections, which least_connections and the connection threshold work on.
     */
    inFlight: z
      .record(z.string().min(1), z.number().int().min(0).max(10_000_000))
      .refine((r) => Object.keys(r).length <= 10_000, { message: 'expected at most 10000 targets' })
      .optional(),
    /** The time the outcomes span (ms since the router's previous report). */
    intervalMs: z.number().int().min(1).max(3_600_000).optional(),
  })
  .refine((r) => r.outcomes.length > 0 || r.inFlight !== undefined, {
    message: 'expected at least one outcome or inFlight',
    path: ['outcomes'],
  });
export type OutcomeReport = z.infer<typeof OutcomeReport>;

export const SetStrategy = z.object({ strategy: LbStrategy });
export const AwaitTable = z.object({
  /** The version the router holds; the call returns as soon as a newer one exists. */
  knownVersion: z.number().int().min(0),
  /** Wait at most this long (ms, capped by the agent's longPollMs). */
  waitMs: z.number().int().min(0).max(120_000).default(30_000),
});

/** A liveness or health verdict about a node: the same message NodeDiscovery takes. */
export const HealthVerdict = NodeHealthChangePayload;
export type HealthVerdict = z.infer<typeof HealthVerdict>;

export interface Decision {
  at: number;
  targetId: string | null;
  strategy: LbStrategy;
  key?: string;
  reason?: string;
}

export interface TrafficPattern {
  at: number;
  requestsPerSecond: number;
  baselinePerSecond?: number;
  source?: string;
  from: LbStrategy;
  to: LbStrategy;
}

export interface LoadBalancerState {
  targets: Record<string, Target>;
  /**
   * Verdicts from FailureDetector / HealthMonitor, per node. They outrank NodeDiscovery's view (a
   * topology snapshot may not know yet that the node was declared dead). A liveness verdict
   * (`status`) lapses when the node comes back as a newer incarnation; a health verdict (`health`,
   * e.g. a quarantine) does not: it holds until the HealthMonitor sends another one.
   */
  verdicts: Record<string, { status?: NodeStatus; health?: NodeHealth; incarnation: number; at: number }>;
  breakers: Record<string, Breaker>;
  /** Load samples per target (cpu utilization over time) for predictions; bounded. */
  loadHistory: Record<string, { at: number; cpu: number }[]>;
  tableVersion: number;
  history: Decision[];
  patterns: TrafficPattern[];
  /** Active surge adaptation. */
  surge?: { until: number; previousStrategy: LbStrategy; previousThresholds: Thresholds };
  /** Set by setStrategy or a surge; the config's strategy otherwise. */
  strategy?: LbStrategy;
  /** Set by a surge; the config's thresholds otherwise. */
  thresholds?: Thresholds;
  topologyVersion: number;
  outcomes: { reports: number; outcomes: number };
  /** The Maglev size of the table in use, so an automatic size survives continue-as-new unchanged. */
  maglevTableSize?: number;
  /** Requests in flight per target as each router last reported them (runs that observe routers). */
  routers?: Record<string, { at: number; inFlight: Record<string, number> }>;
  /** The request rate the routers report, by window, and its baseline (surge detection). */
  traffic?: TrafficWindow;
  /** Thresholds adapted to what the agent observed, with when and why (see thresholdAdaptIntervalMs). */
  adapted?: { at: number; thresholds: Thresholds; reasons: string[] };
  /** Nodes an operator cordoned (a drain): none of their targets is routed to, not even in panic. */
  cordoned?: Record<string, Cordon>;
  /** Hosts the partition handler fenced (the losing side of a partition): never routed to, not even in panic. */
  fenced?: { generation: number; nodes: Record<string, { since: number; reason: string }> };
  /** Surges put to the other instances (instances > 1), newest last (the last 20). */
  surgeRounds?: { at: number; requestsPerSecond: number; result: string; summary: string; proposalId?: string }[];
}

export interface Cordon {
  since: number;
  reason: string;
  by: string;
}

/** `cordon` update: take a node out of every routing table (a drain's first step). */
export const CordonPayload = z.object({
  nodeId: NodeId,
  reason: z.string().min(1).max(500).default('maintenance'),
  by: z.string().min(1).max(200).default('operator'),
});
export type CordonPayload = z.infer<typeof CordonPayload>;
/** `uncordon` update: return a cordoned node to rotation. */
export const UncordonPayload = z.object({ nodeId: NodeId });
export type UncordonPayload = z.infer<typeof UncordonPayload>;
export interface CordonResult {
  nodeId: string;
  cordoned: boolean;
  since?: number;
  tableVersion: number;
}

export interface TrafficWindow {
  /** Start of the window being counted, and the requests reported in it so far. */
  windowStart: number;
  requests: number;
  /** Rate of the last complete window (requests/s). */
  rate?: number;
  /** Mean rate of earlier windows that were not a surge (requests/s), and how many made it. */
  baseline?: number;
  windows: number;
}

/** The memo key of the LoadBalancer's traffic summary (src/core/lb/traffic.ts), read by the orchestrator. */
export const TRAFFIC_MEMO = 'traffic';
export const TrafficMemo = z.object({
  at: z.number(),
  tableVersion: z.number(),
  strategy: LbStrategy,
  requestRate: z.number().optional(),
  latencyMs: z.number().optional(),
  meanLoad: z.number().optional(),
  imbalance: z.number(),
  basis: z.enum(['cpu', 'connections', 'none']),
  loads: z.array(z.object({ nodeId: z.string(), load: z.number(), capacity: z.number() })),
});
export type TrafficMemo = z.infer<typeof TrafficMemo>;

/** `rebalance` update (the rebalance_load procedure, `cluster rebalance`): a table from the latest loads now. */
export const RebalancePayload = z.object({
  /** Switch to this strategy as well (the previous one comes back with another rebalance). */
  strategy: LbStrategy.optional(),
  reason: z.string().min(1).max(500).default('rebalance'),
});
export type RebalancePayload = z.infer<typeof RebalancePayload>;
export interface RebalanceResult {
  tableVersion: number;
  strategy: LbStrategy;
  previousStrategy: LbStrategy;
}

export const distributeLoadUpdate = defineUpdate<RouteDecision, [DistributeRequest]>('distributeLoad');
export const setStrategyUpdate = defineUpdate<
  { strategy: LbStrategy; tableVersion: number },
  [{ strategy: LbStrategy }]
>('setStrategy');
export const awaitRoutingTableUpdate = defineUpdate<RoutingTable, [{ knownVersion: number; waitMs?: number }]>(
  'awaitRoutingTable',
);
export const cordonUpdate = defineUpdate<CordonResult, [CordonPayload]>('cordon');
export const rebalanceUpdate = defineUpdate<RebalanceResult, [RebalancePayload]>('rebalance');
export const uncordonUpdate = defineUpdate<CordonResult, [UncordonPayload]>('uncordon');
export const trafficSurgeDetectedSignal = defineSignal<[TrafficSurge]>('trafficSurgeDetected');
export const nodeCapacityUpdateSignal = defineSignal<[CapacityUpdate]>('nodeCapacityUpdate');
export const reportOutcomeSignal = defineSignal<[OutcomeReport]>('reportOutcome');
export const lbNodeHealthChangeSignal = defineSignal<[HealthVerdict]>('nodeHealthChange');

export const routingTableQuery = defineQuery<RoutingTable>('routingTable');
export const targetsQuery = defineQuery<Target[]>('targets');
export const breakersQuery = defineQuery<Record<string, Breaker>>('breakers');
export const historyQuery = defineQuery<Decision[]>('history');

/** From the partition handler: the hosts fenced now (replaces the previous set; older generations are ignored). */
export const LbFencePayload = z.object({
  generation: z.number().int().nonnegative(),
  nodeIds: z.array(NodeId).max(10_000),
  reason: z.string().max(2_000).default(''),
});
export type LbFencePayload = z.infer<typeof LbFencePayload>;
export const lbFenceSignal = defineSignal<[LbFencePayload]>('fence');

export const LOAD_BALANCER_SIGNALS = {
  fence: LbFencePayload,
  trafficSurgeDetected: TrafficSurge,
  nodeCapacityUpdate: CapacityUpdate,
  reportOutcome: OutcomeReport,
  nodeHealthChange: HealthVerdict,
} as const;
export const LOAD_BALANCER_QUERIES = ['routingTable', 'targets', 'breakers', 'history'] as const;
export const LOAD_BALANCER_UPDATES = {
  distributeLoad: DistributeRequest,
  setStrategy: SetStrategy,
  awaitRoutingTable: AwaitTable,
  cordon: CordonPayload,
  uncordon: UncordonPayload,
  rebalance: RebalancePayload,
} as const;
