/** NodeDiscovery: membership, topology, topology history, connectivity matrix. */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import { BaseConfig, MemberSummary, NodeHealth, NodeId, NodeStatus, Port, type TopologyChange } from './common';

export const DiscoveryStrategy = z.enum(['registry', 'static', 'dns', 'multicast']);
export type DiscoveryStrategy = z.infer<typeof DiscoveryStrategy>;

export const StaticNode = z.object({ address: z.string().min(1), healthPort: Port });

export const DnsConfig = z.object({
  /** Names looked up as A records; each address is probed on `healthPort`. */
  names: z.array(z.string().min(1)).default([]),
  /** Names looked up as SRV records (`_cluster._tcp.example`); target and port come from the record. */
  srvNames: z.array(z.string().min(1)).default([]),
  /** Resolvers as "ip" or "ip:port"; empty means the host's own resolvers. */
  servers: z.array(z.string().min(1)).default([]),
  /** Health port of hosts found through A records (default 7946, the worker's default). */
  healthPort: Port.default(7946),
});

export const MulticastConfig = z.object({
  /** Group the host workers listen on (default 239.255.77.77, organisation-local scope). */
  group: z.ipv4().default('239.255.77.77'),
  port: Port.default(17946),
  /**
   * Interface the query leaves from. Default 127.0.0.1: hosts on this machine only. Set it to the
   * host's LAN address to reach other hosts on the segment.
   */
  interface: z.ipv4().default('127.0.0.1'),
  /** How long to collect replies after the query (ms, default 300). */
  windowMs: z.number().int().min(10).max(10_000).default(300),
  /** Hops the query may cross (default 1: the local segment). */
  ttl: z.number().int().min(0).max(255).default(1),
});

export const NodeDiscoveryConfig = BaseConfig.extend({
  /** Strategies run in parallel each round; a failing one contributes nothing. */
  strategies: z.array(DiscoveryStrategy).min(1).default(['registry', 'static', 'dns', 'multicast']),
  staticNodes: z.array(StaticNode).default([]),
  dns: DnsConfig.prefault({}),
  multicast: MulticastConfig.prefault({}),
  /** Each strategy activity's start-to-close timeout (ms, default 2 s). */
  strategyTimeoutMs: z.number().int().min(50).max(60_000).default(2_000),
  /** TCP connect + GET /healthz timeout when validating a node (ms, default 1 s). */
  connectTimeoutMs: z.number().int().min(20).max(30_000).default(1_000),
  /** Topology changes kept for `topologyHistory` (default 100). */
  topologyHistorySize: z.number().int().min(1).max(10_000).default(100),
  /** Partition reports kept (default 10, the spec's). */
  partitionHistorySize: z.number().int().min(1).max(100).default(10),
  /** Consecutive failed connectivity checks before an alive node is suspect (default 1). */
  suspectAfterFailedChecks: z.number().int().min(1).default(1),
  /**
   * Consecutive failed checks before a suspect node is dead, when no FailureDetector decides
   * sooner (default 3: with the 15 s sync, about 45 s, between memberlist's and Kubernetes').
   */
  deadAfterFailedChecks: z.number().int().min(1).default(3),
  /** Signal the other agents on topology changes (default true). */
  broadcast: z.boolean().default(true),
});
export type NodeDiscoveryConfig = z.infer<typeof NodeDiscoveryConfig>;

export const Announcement = z.object({
  nodeId: NodeId,
  address: z.string().min(1),
  healthPort: Port,
  zone: z.string().min(1).default('default'),
  /** Random id of the worker process; a new one means the host restarted. */
  bootId: z.string().min(1),
  startedAt: z.number(),
  services: z.record(z.string(), Port).default({}),
});
export type Announcement = z.infer<typeof Announcement>;

export const LeavePayload = z.object({
  nodeId: NodeId,
  bootId: z.string().optional(),
  reason: z.string().optional(),
});
export type LeavePayload = z.infer<typeof LeavePayload>;

export const NodeHealthChangePayload = z
  .object({
    nodeId: NodeId,
    status: NodeStatus.optional(),
    health: NodeHealth.optional(),
    reason: z.string().optional(),
    observer: z.string().optional(),
  })
  .refine((p) => p.status !== undefined || p.health !== undefined, {
    message: 'expected at least one of status or health',
    path: ['status'],
  });
export type NodeHealthChangePayload = z.infer<typeof NodeHealthChangePayload>;

export const DiscoveryCriteria = z.object({
  /** Run only these strategies this round (default: the configured ones). */
  strategies: z.array(DiscoveryStrategy).min(1).optional(),
  /** Keep only nodes of these zones this round. */
  zones: z.array(z.string().min(1)).min(1).optional(),
});
export type DiscoveryCriteria = z.infer<typeof DiscoveryCriteria>;

export const PartitionReport = z.object({
  components: z.array(z.array(z.string().min(1)).min(1)).min(1),
  detectedBy: z.string().optional(),
  reason: z.string().optional(),
});
export type PartitionReport = z.infer<typeof PartitionReport>;

export const Candidate = z.object({
  address: z.string().min(1),
  healthPort: Port,
  sources: z.array(DiscoveryStrategy),
  nodeId: z.string().optional(),
});
export type Candidate = z.infer<typeof Candidate>;

export interface ConnectivityResult {
  address: string;
  healthPort: number;
  ok: boolean;
  /** Host whose worker made the check. */
  observer: string;
  latencyMs: number;
  httpStatus?: number;
  nodeId?: string;
  clusterId?: string;
  zone?: string;
  bootId?: string;
  startedAt?: number;
  services?: Record<string, number>;
  error?: string;
  /** The socket error's code (ECONNREFUSED, EHOSTUNREACH, ...) or TIMEOUT. */
  errorCode?: string;
}

export interface Member {
  nodeId: string;
  status: NodeStatus;
  health: NodeHealth;
  address: string;
  healthPort: number;
  zone: string;
  incarnation: number;
  bootId: string;
  startedAt: number;
  services: Record<string, number>;
  sources: DiscoveryStrategy[];
  firstSeen: number;
  lastSeen: number;
  statusChangedAt: number;
  failedChecks: number;
  latencyMs?: number;
  reason?: string;
  /**
   * The health authority's (HealthMonitor's) last verdict, when it gave one: it outranks this
   * agent's own health-endpoint check and a host's self-report (a quarantined node answers /healthz
   * fine). Kept across incarnations: the monitor signals only when its verdict changes.
   */
  healthVerdict?: { health: NodeHealth; at: number };
  /** The HealthMonitor's failure prediction, as of its last change of level. */
  risk?: FailureRisk;
}

export interface ConnectivityCell {
  ok: boolean;
  latencyMs: number;
  at: number;
}

export interface Topology {
  version: number;
  updatedAt: number;
  counts: Record<NodeStatus, number>;
  /** Alive nodes per zone. */
  zones: Record<string, string[]>;
  /** observer → nodeId → last check. */
  connectivity: Record<string, Record<string, ConnectivityCell>>;
}

export interface StrategyOutcome {
  ok: boolean;
  candidates: number;
  error?: string;
  durationMs: number;
}

export interface DiscoveryRound {
  startedAt: number;
  finishedAt: number;
  strategies: Partial<Record<DiscoveryStrategy, StrategyOutcome>>;
  checked: number;
  changes: TopologyChange[];
}

export interface PartitionRecord extends PartitionReport {
  at: number;
}

export interface NodeDiscoveryState {
  members: Record<string, Member>;
  registry: Record<string, Announcement>;
  version: number;
  updatedAt: number;
  history: TopologyChange[];
  connectivity: Record<string, Record<string, ConnectivityCell>>;
  partitions: PartitionRecord[];
  lastRound?: DiscoveryRound;
  rounds: number;
}

export const announceSignal = defineSignal<[Announcement]>('announce');
export const leaveSignal = defineSignal<[LeavePayload]>('leave');
export const discoverNodesSignal = defineSignal<[DiscoveryCriteria]>('discoverNodes');
export const nodeHealthChangeSignal = defineSignal<[NodeHealthChangePayload]>('nodeHealthChange');
export const networkPartitionDetectedSignal = defineSignal<[PartitionReport]>('networkPartitionDetected');

export const nodesQuery = defineQuery<Member[]>('nodes');
/**
 * The memo field where NodeDiscovery publishes its members (every change, from its loop), so that
 * other agents read them with `describe` — served by the server, no query to a worker: a legacy query
 * that lands on a cold worker right after a sticky failover can wedge the run (sdk-core 1.24, see
 * test/fixtures/diverged/README.md), and agents read members every topology sync.
 */
export const MEMBERS_MEMO = 'members';
export const MembersMemo = z.object({ version: z.number().int().nonnegative(), members: z.array(MemberSummary) });
export type MembersMemo = z.infer<typeof MembersMemo>;
export const topologyQuery = defineQuery<Topology>('topology');
export const topologyHistoryQuery = defineQuery<TopologyChange[]>('topologyHistory');
export const partitionsQuery = defineQuery<PartitionRecord[]>('partitions');

/** Runs a discovery round now and returns what it found and changed. */
export const discoverUpdate = defineUpdate<DiscoveryRound, [DiscoveryCriteria]>('discover');

/** One factor of a failure prediction (src/core/health/risk.ts). */
export const RiskFactor = z.object({
  name: z.enum(['health', 'anomalies', 'exhaustion', 'suspicions', 'heartbeat']),
  weight: z.number().min(0).max(1),
  detail: z.string().max(2_000),
});
/** A node's failure prediction: risk score and level, when a resource runs out, and why. */
export const FailureRisk = z.object({
  score: z.number().min(0).max(1),
  level: z.enum(['low', 'medium', 'high']),
  predictedInHours: z.number().min(0).nullable(),
  predictedAt: z.number().nullable(),
  factors: z.array(RiskFactor).max(10),
  at: z.number(),
});
export type FailureRisk = z.infer<typeof FailureRisk>;
export type RiskFactor = z.infer<typeof RiskFactor>;
/** The HealthMonitor's prediction for a node, sent when its level changes. */
export const FailurePredictionPayload = z.object({
  nodeId: NodeId,
  risk: FailureRisk,
  observer: z.string().max(200).optional(),
});
export type FailurePredictionPayload = z.infer<typeof FailurePredictionPayload>;
export const failurePredictionSignal = defineSignal<[FailurePredictionPayload]>('failurePrediction');

export const NODE_DISCOVERY_SIGNALS = {
  announce: Announcement,
  leave: LeavePayload,
  discoverNodes: DiscoveryCriteria,
  nodeHealthChange: NodeHealthChangePayload,
  networkPartitionDetected: PartitionReport,
  failurePrediction: FailurePredictionPayload,
} as const;
export const NODE_DISCOVERY_QUERIES = ['nodes', 'topology', 'topologyHistory', 'partitions'] as const;
export const NODE_DISCOVERY_UPDATES = { discover: DiscoveryCriteria } as const;
