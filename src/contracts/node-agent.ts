/**
 * NodeAgent: one per host (`<clusterId>/node/<nodeId>`), owning that host's liveness and vitals.
 * The host holds a lease — a long-running activity on `host.<nodeId>` that heartbeats under a
 * heartbeat timeout — and the agent tells the cluster-level agents only about transitions.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { z } from 'zod';
import { BaseConfig, type LoadPoint, type NodeHealth, NodeId, type NodeStatus, Port } from './common';

/** The lease settings a host holds its lease with. */
export const LeaseSettings = z
  .object({
    /**
     * How often the lease activity heartbeats (ms, default 1 000; at least 200). Each heartbeat
     * carries the host's vitals as details — visible on the pending activity in the Web UI.
     */
    heartbeatMs: z.number().int().min(200).max(60_000).default(1_000),
    /**
     * The lease's heartbeat timeout (ms, default 3 000; at least 600): a host silent this long is
     * suspect. At least twice the heartbeat, so that one late beat is not a suspicion.
     */
    timeoutMs: z.number().int().min(600).max(600_000).default(3_000),
  })
  .refine((l) => l.timeoutMs >= 2 * l.heartbeatMs, {
    message: 'expected timeoutMs to be at least twice heartbeatMs',
    path: ['timeoutMs'],
  });
export type LeaseSettings = z.infer<typeof LeaseSettings>;

export const NodeAgentConfig = BaseConfig.extend({
  lease: LeaseSettings.prefault({}),
  /**
   * How long one lease activity runs before it returns its beats and vitals to the agent (ms,
   * default 15 000). Longer terms mean less history (three events per term); shorter ones a
   * fresher vitals window in the agent.
   */
  leaseTermMs: z.number().int().min(1_000).max(3_600_000).default(15_000),
  /** Vitals samples kept (default 60: 15 min at one sample per 15 s term). */
  vitalsWindow: z.number().int().min(1).max(1_000).default(60),
  /** Heartbeat intervals kept for φ (default 100, Akka's `max-sample-size` is 1 000). */
  intervalWindow: z.number().int().min(2).max(1_000).default(100),
  /** Transitions kept for operators (default 50). */
  transitionHistorySize: z.number().int().min(1).max(1_000).default(50),
  /** CPU share (0..1) above which the host is degraded (default 0.9). */
  degradedCpu: z.number().min(0).max(1).default(0.9),
  /** Memory share above which the host is degraded (default 0.9) and unhealthy (default 0.97). */
  degradedMemory: z.number().min(0).max(1).default(0.9),
  unhealthyMemory: z.number().min(0).max(1).default(0.97),
  /** Event-loop delay p99 of the worker above which the host is degraded (ms, default 500). */
  degradedLagMs: z.number().min(1).default(500),
  /**
   * The host's load goes to the LoadBalancer when its CPU or memory share moved by more than this
   * since the last report (0..1, default 0.2), at most once per `loadReportIntervalMs` (default
   * 5 000, the specification's load monitoring interval). A host at rest sends nothing. 0.2: a
   * weight moves by 0.4 × the CPU change, and the LoadBalancer republishes only past a 10 % move
   * (`rebalanceThreshold`), so a smaller step would send reports that change no route.
   */
  loadReportStep: z.number().min(0.01).max(1).default(0.2),
  loadReportIntervalMs: z.number().int().min(1_000).max(3_600_000).default(5_000),
});
export type NodeAgentConfig = z.infer<typeof NodeAgentConfig>;

/** Sent by the host worker at start (signal-with-start: the agent is created if it does not run). */
export const HostStarted = z.object({
  nodeId: NodeId,
  bootId: z.string().min(1),
  address: z.string().min(1),
  healthPort: Port,
  zone: z.string().min(1).default('default'),
  startedAt: z.number(),
  /** The host's own lease settings; they replace the agent's. */
  lease: z.object({ heartbeatMs: z.number(), timeoutMs: z.number() }).optional(),
});
export type HostStarted = z.infer<typeof HostStarted>;

export const HostLeaving = z.object({ bootId: z.string().min(1), reason: z.string().optional() });
export type HostLeaving = z.infer<typeof HostLeaving>;

/** From the FailureDetector: the node's current incarnation is declared dead. */
export const DeclaredDead = z.object({
  incarnation: z.number().int().nonnegative(),
  reason: z.string(),
  by: z.string().default('failure-detector'),
});
export type DeclaredDead = z.infer<typeof DeclaredDead>;

/** One vitals sample as the lease carries it. */
export const VitalsSample = z.object({
  cpu: z.number(),
  memory: z.number(),
  load1: z.number(),
  /** The event loop's worst one-second p99 delay since the previous sample (a stall between samples counts). */
  lagP99Ms: z.number(),
  rssBytes: z.number(),
  /** Peer watches: open each way, reconnects and crashes reported since the process started. */
  watches: z
    .object({ watching: z.number(), watchedBy: z.number(), reconnects: z.number(), reported: z.number() })
    .optional(),
  at: z.number(),
});
export type VitalsSample = z.infer<typeof VitalsSample>;

/**
 * The memo key under which a NodeAgent publishes its host's latest vitals after every lease term:
 * the HealthMonitor reads them with `describe` (no query, no signal, nothing per host at rest).
 */
export const VITALS_MEMO = 'vitals';
/** Samples the memo holds: the newest, at most one term's worth and then some. */
export const VITALS_MEMO_SAMPLES = 8;
export const VitalsMemo = z.object({
  incarnation: z.number().int().min(0),
  status: z.enum(['alive', 'suspect', 'dead', 'left']),
  samples: z.array(VitalsSample).max(100),
  /**
   * What the lease says about the host's liveness: times it lapsed into suspicion in the last hour,
   * and φ of its slowest recent heartbeat against its own arrival history (failure predictions).
   */
  lease: z
    .object({
      heartbeatMs: z.number().positive(),
      suspicions: z.number().int().min(0),
      heartbeatPhi: z.number().min(0).max(100),
    })
    .optional(),
});
export type VitalsMemo = z.infer<typeof VitalsMemo>;

/** What one lease term returns. */
export interface LeaseTerm {
  bootId: string;
  beats: number;
  /** Intervals between consecutive heartbeats (ms, host clock: differences are skew-free). */
  intervals: number[];
  vitals: VitalsSample[];
  /** The activity stopped because it was cancelled or the worker shuts down. */
  cancelled: boolean;
  /** The host's load at the end of the term, as a report carries it (median of its last three beats), when the agent asked for it. */
  load?: LoadPoint;
  /** What the host sustained over its last six beats: whether the load moved is decided on this. */
  sustained?: LoadPoint;
  /** The term ended early because the load moved past the report step. */
  loadChanged?: boolean;
  /**
   * The host's own health endpoint as the lease judged it (src/core/fd/self-check.ts), when the
   * agent asked; `changed`: the judgement differs from what the agent knew, and the term ended early.
   */
  self?: { ok: boolean; detail: string; changed: boolean };
}

export interface Transition {
  at: number;
  kind: 'status' | 'health';
  from: string;
  to: string;
  incarnation: number;
  reason?: string;
}

export interface NodeAgentState {
  nodeId: string;
  status: NodeStatus;
  health: NodeHealth;
  healthReasons: string[];
  incarnation: number;
  bootId?: string;
  address?: string;
  healthPort?: number;
  zone?: string;
  statusSince: number;
  /** Last heartbeat known to have reached the server (workflow time). */
  lastBeatAt?: number;
  beats: number;
  leaseTerms: number;
  leaseTimeouts: number;
  intervals: number[];
  vitals: VitalsSample[];
  transitions: Transition[];
  /** The load last reported to the LoadBalancer (runs that report load). */
  loadReported?: LoadPoint;
  /** The host's own health endpoint, as its lease last judged it (runs that check it). */
  selfCheck?: { ok: boolean; detail: string; at: number };
  /** The health the vitals alone give (its hysteresis must not see a failing endpoint as vitals). */
  vitalsHealth?: NodeHealth;
}

export const hostStartedSignal = defineSignal<[HostStarted]>('hostStarted');
export const hostLeavingSignal = defineSignal<[HostLeaving]>('hostLeaving');
export const declaredDeadSignal = defineSignal<[DeclaredDead]>('declaredDead');

export const nodeQuery = defineQuery<NodeAgentState>('node');

export const NODE_AGENT_SIGNALS = {
  hostStarted: HostStarted,
  hostLeaving: HostLeaving,
  declaredDead: DeclaredDead,
} as const;
export const NODE_AGENT_QUERIES = ['node'] as const;

export const nodeAgentWorkflowId = (clusterId: string, nodeId: string): string => `${clusterId}/node/${nodeId}`;
