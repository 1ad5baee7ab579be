/**
 * ClusterOrchestrator: goals, supervision of the other agents, incidents, and the procedures
 * (child workflows, src/workflows/procedures) that act on them.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import { BaseConfig, NodeId } from './common';
import { LB_STRATEGIES } from './load-balancer';

const Ms = (min: number, def: number) => z.number().int().min(min).max(86_400_000).default(def);

export const INCIDENT_KINDS = ['node_failure', 'network_partition', 'resource_exhaustion'] as const;
export const IncidentKind = z.enum(INCIDENT_KINDS);
export type IncidentKind = z.infer<typeof IncidentKind>;

/**
 * An operator hook that acts on the world (start a replacement host): from config only, never
 * from a payload. A command runs (argv, no shell) on a live host of the cluster (`host`, or any);
 * an HTTP call goes to `url` with the procedure's context as JSON.
 */
export const Hook = z
  .object({
    command: z.array(z.string().min(1)).min(1).optional(),
    /** The host whose worker runs the command (default: any live host). */
    host: NodeId.optional(),
    http: z.object({ url: z.url(), method: z.enum(['POST', 'PUT']).default('POST') }).optional(),
    /** Timeout of one attempt (ms, default 30 s). */
    timeoutMs: Ms(100, 30_000),
  })
  .refine((h) => !!h.command !== !!h.http, { message: 'expected command or http (one of them)', path: ['command'] });
export type Hook = z.infer<typeof Hook>;

export const Goals = z
  .object({
    availability: z.number().min(0).max(1).default(0.999),
    latencyMs: z.number().positive().default(100),
    throughputPerSec: z.number().positive().default(1_000),
    resourceEfficiency: z.number().min(0).max(1).default(0.8),
    costPerHour: z.number().nonnegative().default(100),
  })
  .prefault({});

export const OrchestratorConfig = BaseConfig.extend({
  goals: Goals,
  /** Cost of one host for an hour (the cost goal's unit; default 1). */
  costPerHostHour: z.number().nonnegative().default(1),
  /** How often every agent of the cluster is checked (ms, default 5 s). */
  supervisionIntervalMs: Ms(100, 5_000),
  /** How often the goals are measured (ms, default 15 s). */
  goalsIntervalMs: Ms(100, 15_000),
  /** A procedure escalates to manual intervention when it has not recovered within this (ms). */
  escalateAfterMs: z
    .object({
      node_failure: Ms(1_000, 300_000),
      network_partition: Ms(1_000, 600_000),
      resource_exhaustion: Ms(1_000, 180_000),
    })
    .prefault({}),
  /** Starts a replacement host (node_failure); without it the procedure waits for the node to come back. */
  replacementHook: Hook.optional(),
  /** At most one replacement per this many ms (default 10 s). */
  replacementEveryMs: Ms(0, 10_000),
  /** More than `share` of the hosts (or of a zone's) failing within `windowMs`: escalate, replace nothing. */
  massFailure: z.object({ windowMs: Ms(1_000, 60_000), share: z.number().min(0).max(1).default(0.5) }).prefault({}),
  /** Escalations are POSTed here as JSON when set. */
  webhookUrl: z.url().optional(),
  /** Ended procedures kept in state (default 50). */
  procedureHistorySize: z.number().int().min(1).max(1_000).default(50),
  /**
   * rebalance_load: when the LoadBalancer's imbalance (max / mean load per unit capacity) stays
   * above `threshold` for `windowMs`, a rebalance runs (`auto`), at most one per `cooldownMs`;
   * it verifies the imbalance fell within `settleMs`.
   */
  rebalance: z
    .object({
      threshold: z.number().gt(1).max(100).default(1.25),
      windowMs: Ms(1_000, 60_000),
      settleMs: Ms(1_000, 15_000),
      cooldownMs: Ms(0, 300_000),
      auto: z.boolean().default(true),
    })
    .prefault({}),
  /** Act on incidents (default true); false records them only. */
  autoHeal: z.boolean().default(true),
});
export type OrchestratorConfig = z.infer<typeof OrchestratorConfig>;

export const IncidentPayload = z.object({
  kind: IncidentKind,
  subject: z.string().min(1).max(200),
  source: z.string().min(1).max(200).default('operator'),
  detail: z.string().max(2_000).default(''),
});
export type IncidentPayload = z.infer<typeof IncidentPayload>;

/** `emergency` update: an operator's manual trigger. */
export const EmergencyPayload = z.object({
  kind: IncidentKind,
  nodeId: NodeId,
  reason: z.string().min(1).max(500).default('operator trigger'),
});
export type EmergencyPayload = z.infer<typeof EmergencyPayload>;

export const AGENT_STATUSES = ['healthy', 'degraded', 'unhealthy'] as const;
export const AgentStatusUpdatePayload = z.object({
  role: z.string().min(1).max(100),
  status: z.enum(AGENT_STATUSES),
  reasons: z.array(z.string().max(500)).max(20).default([]),
});
export type AgentStatusUpdatePayload = z.infer<typeof AgentStatusUpdatePayload>;

/** What the HealthMonitor sends at an escalation level with the `orchestrator` channel. */
export const HealthEscalationIn = z.object({
  nodeId: NodeId,
  level: z.number().int().nonnegative(),
  reason: z.string().max(2_000),
  alert: z.object({ severity: z.string(), kind: z.string(), message: z.string() }).loose(),
});
export type HealthEscalationIn = z.infer<typeof HealthEscalationIn>;

export const PROCEDURE_STATUSES = ['running', 'escalated', 'completed', 'failed', 'acknowledged'] as const;
export const ProcedureStatus = z.enum(PROCEDURE_STATUSES);
export type ProcedureStatus = z.infer<typeof ProcedureStatus>;

export const TimelineEntry = z.object({
  at: z.number(),
  step: z.string(),
  status: z.enum(['started', 'done', 'failed', 'undone', 'skipped', 'escalated', 'info']),
  detail: z.string().max(1_000).default(''),
});
export type TimelineEntry = z.infer<typeof TimelineEntry>;

/** A procedure's report to the orchestrator (and its memo, which the CLI reads). */
export const ProcedureReport = z.object({
  id: z.string().min(1).max(500),
  kind: z.string().min(1).max(100),
  subject: z.string().min(1).max(200),
  status: ProcedureStatus,
  step: z.string().max(200).optional(),
  startedAt: z.number(),
  endedAt: z.number().optional(),
  outcome: z.string().max(1_000).optional(),
  escalation: z.object({ at: z.number(), why: z.string().max(1_000) }).optional(),
  ack: z.object({ at: z.number(), by: z.string().max(200) }).optional(),
  timeline: z.array(TimelineEntry).max(100).default([]),
});
export type ProcedureReport = z.infer<typeof ProcedureReport>;

/** The memo key under which a procedure publishes its ProcedureReport. */
export const PROCEDURE_MEMO = 'procedure';

export const AckPayload = z.object({ by: z.string().min(1).max(200).default('operator') });
export type AckPayload = z.infer<typeof AckPayload>;

/** `maintenance` update (`cluster drain`): cordon a node, wait for its requests, optionally stop it. */
export const MaintenancePayload = z.object({
  nodeId: NodeId,
  reason: z.string().min(1).max(500).default('maintenance'),
  by: z.string().min(1).max(200).default('operator'),
  /** Longest wait for the requests in flight on the node (ms, default 30 s). */
  deadlineMs: z.number().int().min(0).max(3_600_000).default(30_000),
  /** Stop the host's worker gracefully once drained. */
  stop: z.boolean().default(false),
});
export type MaintenancePayload = z.infer<typeof MaintenancePayload>;
/** `scale` update (`cluster scale N`): bring the number of alive hosts to `target`. */
export const ScalePayload = z.object({
  target: z.number().int().min(1).max(100),
  reason: z.string().min(1).max(500).default('operator scale'),
  by: z.string().min(1).max(200).default('operator'),
});
export type ScalePayload = z.infer<typeof ScalePayload>;
/** `rebalance` update (`cluster rebalance`): a rebalance_load procedure on demand. */
export const RebalanceRequest = z.object({
  /** Switch the LoadBalancer to this strategy (undone if the imbalance does not fall). */
  strategy: z.enum(LB_STRATEGIES).optional(),
  reason: z.string().min(1).max(500).default('operator rebalance'),
  by: z.string().min(1).max(200).default('operator'),
});
export type RebalanceRequest = z.infer<typeof RebalanceRequest>;
/** To a maintenance_window procedure: return the node to rotation and end (`cluster uncordon`). */
export const UncordonSignalPayload = z.object({ by: z.string().min(1).max(200).default('operator') });
export type UncordonSignalPayload = z.infer<typeof UncordonSignalPayload>;

/** One goal against its measure (src/core/orchestrator/goals.ts). */
export interface GoalStatus {
  goal: string;
  target: number;
  measured: number | null;
  met: boolean | null;
  unit: string;
  note?: string;
}

/** One supervised agent, as the orchestrator last saw it. */
export interface SupervisedAgent {
  role: string;
  /** Temporal's status name (RUNNING, TERMINATED, …) or NOT_FOUND. */
  status: string;
  health?: string;
  reasons?: string[];
  checkedAt: number;
  restarts: number;
  lastRestart?: { at: number; from: string; ok: boolean; detail: string };
}

export interface RecordedIncident {
  seq: number;
  kind: IncidentKind;
  subject: string;
  source: string;
  detail: string;
  at: number;
  /** What the playbook did: the procedure id it started or joined, or why nothing ran. */
  decision: string;
}

export interface OrchestratorState {
  procedures: Record<string, ProcedureReport>;
  incidents: RecordedIncident[];
  incidentSeq: number;
  failures: { nodeId: string; zone: string; at: number }[];
  lastReplacementAt?: number;
  availability: { minute: number; up: number; total: number }[];
  agents: Record<string, SupervisedAgent>;
  /** The latest goal measurement. */
  goals: { at: number; goals: GoalStatus[] } | undefined;
  /** Members as last read (zones, statuses): the guard and availability need them. */
  members: { nodeId: string; zone: string; status: string }[];
  membersVersion: number;
  /** The LoadBalancer's traffic summary as last read (its memo). */
  traffic?: {
    at: number;
    requestRate?: number;
    latencyMs?: number;
    imbalance: number;
    basis: string;
    strategy: string;
  };
  /** Imbalance samples of the last rebalance window (bounded). */
  imbalance?: { at: number; value: number }[];
  /** When the last rebalance_load started (the cooldown counts from it). */
  lastRebalanceAt?: number;
}

/** The HealthMonitor's `healthEscalation`, as the orchestrator reads it (the alert's fields it needs). */
export const healthEscalationInSignal = defineSignal<[HealthEscalationIn]>('healthEscalation');
export const incidentSignal = defineSignal<[IncidentPayload]>('incident');
export const agentStatusUpdateSignal = defineSignal<[AgentStatusUpdatePayload]>('agentStatusUpdate');
export const procedureReportSignal = defineSignal<[ProcedureReport]>('procedureReport');
/** To a procedure: an operator takes over its escalation. */
export const acknowledgeSignal = defineSignal<[AckPayload]>('acknowledge');
export const emergencyUpdate = defineUpdate<{ procedureId: string; decision: string }, [EmergencyPayload]>('emergency');
export const maintenanceUpdate = defineUpdate<{ procedureId: string; decision: string }, [MaintenancePayload]>(
  'maintenance',
);
export const scaleUpdate = defineUpdate<{ procedureId: string; decision: string }, [ScalePayload]>('scale');
export const rebalanceUpdate = defineUpdate<{ procedureId: string; decision: string }, [RebalanceRequest]>('rebalance');
export const uncordonSignal = defineSignal<[UncordonSignalPayload]>('uncordon');
export const proceduresQuery = defineQuery<ProcedureReport[]>('procedures');
export const goalsQuery = defineQuery<OrchestratorState['goals']>('goals');

export const ORCHESTRATOR_SIGNALS = {
  incident: IncidentPayload,
  agentStatusUpdate: AgentStatusUpdatePayload,
  procedureReport: ProcedureReport,
} as const;
export const ORCHESTRATOR_UPDATES = {
  emergency: EmergencyPayload,
  maintenance: MaintenancePayload,
  scale: ScalePayload,
  rebalance: RebalanceRequest,
} as const;
export const ORCHESTRATOR_QUERIES = ['procedures', 'goals', 'incidents', 'agents'] as const;
