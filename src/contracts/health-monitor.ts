/**
 * HealthMonitor: health checks (basic / comprehensive / deep / predictive), baselines per node and
 * metric, anomaly models, alerts, recovery or escalation, and the quarantine list.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { z } from 'zod';
import { type AgentHealth, BaseConfig, HealthCheckLevel, type NodeHealth, NodeId } from './common';
import type { VitalsSample } from './node-agent';

export const HEALTH_LEVELS = HealthCheckLevel.options;
export type HealthLevel = z.infer<typeof HealthCheckLevel>;
export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export const Severity = z.enum(SEVERITIES);
export type Severity = z.infer<typeof Severity>;
export const QUARANTINE_REASONS = ['health_check_failed', 'anomaly', 'critical_alert', 'manual'] as const;
export const QuarantineReason = z.enum(QUARANTINE_REASONS);
export type QuarantineReason = z.infer<typeof QuarantineReason>;

const Ms = (min: number, def: number) => z.number().int().min(min).max(86_400_000).default(def);

const ModelConfig = z.object({
  window: z.number().int().min(2).max(1_000),
  threshold: z.number().positive(),
  minSamples: z.number().int().min(2).max(1_000),
  minStdDev: z.number().nonnegative().optional(),
  floor: z.number().nonnegative().optional(),
});

/** What runs on a critical alert. Configured by the operator only: a payload never names a command. */
export const RecoveryConfig = z
  .object({
    /** A command run on the affected host (its `host.<id>` queue): argv, no shell. */
    command: z.array(z.string().min(1)).min(1).optional(),
    /** Or an HTTP call; `{nodeId}` in the URL is replaced. */
    http: z.object({ url: z.url(), method: z.enum(['GET', 'POST', 'PUT']).default('POST') }).optional(),
    /** Timeout of the command or call (ms, default 30 s). */
    timeoutMs: Ms(100, 30_000),
  })
  .refine((r) => !(r.command && r.http), { message: 'expected command or http, not both', path: ['command'] });
export type RecoveryConfig = z.infer<typeof RecoveryConfig>;

export const HealthMonitorConfig = BaseConfig.extend({
  /** Basic check of every member: TCP connect + GET /healthz (ms, default 30 s, the spec's). */
  basicIntervalMs: Ms(100, 30_000),
  /** Comprehensive check of every member (ms, default 5 min). */
  comprehensiveIntervalMs: Ms(100, 300_000),
  /** Predictive check from the resource samples (ms, default 10 min). */
  predictiveIntervalMs: Ms(100, 600_000),
  /** Deep check (comprehensive + disk and a longer event-loop sample on the host) (ms, default 30 min). */
  deepIntervalMs: Ms(100, 1_800_000),
  /** Timeout of a basic check (ms, default 2 s). */
  basicTimeoutMs: Ms(20, 2_000),
  /** One timeout for all parts of a comprehensive or deep check, run in parallel (ms, default 10 s). */
  comprehensiveTimeoutMs: Ms(100, 10_000),
  /** TCP connects per network-performance measurement (default 5). */
  networkProbes: z.number().int().min(1).max(100).default(5),
  /** Services whose port speaks TLS: their certificate's expiry is checked (default ["https"]). */
  tlsServices: z.array(z.string().min(1)).default(['https']),
  /** Certificate expiry alerts: warning under this many days, critical under the second (default 14 / 3). */
  tlsWarningDays: z.number().positive().default(14),
  tlsCriticalDays: z.number().positive().default(3),
  /** Failed basic checks in a row before unhealthy (default 2), critical (3) and quarantine (3). */
  unhealthyAfterFailures: z.number().int().min(1).default(2),
  criticalAfterFailures: z.number().int().min(1).default(3),
  quarantineAfterFailures: z.number().int().min(1).default(3),
  /** Quarantine length by reason (ms): after it, a node not yet recovered is escalated. */
  quarantineDurationsMs: z
    .object({
      health_check_failed: Ms(1_000, 300_000),
      anomaly: Ms(1_000, 600_000),
      critical_alert: Ms(1_000, 600_000),
      manual: Ms(1_000, 1_800_000),
    })
    .prefault({}),
  /** Recovery checks of quarantined nodes (ms, default 10 s); passes in a row to release (default 3). */
  recoveryCheckIntervalMs: Ms(100, 10_000),
  releaseAfterPasses: z.number().int().min(1).default(3),
  /** Samples kept per node and metric (default 60; the largest model window is 50). */
  baselineWindow: z.number().int().min(10).max(1_000).default(60),
  models: z
    .object({
      cpu: ModelConfig.default({ window: 20, threshold: 2.5, minSamples: 10, minStdDev: 0.02 }),
      memory: ModelConfig.default({ window: 15, threshold: 2, minSamples: 8, minStdDev: 0.01 }),
      network: ModelConfig.default({ window: 30, threshold: 0.3, minSamples: 10, floor: 2 }),
      responseTime: ModelConfig.default({ window: 50, threshold: 2, minSamples: 10, floor: 5 }),
    })
    .prefault({}),
  /** Predictive alerts: exhaustion within these hours (critical / warning, default 1 / 24) at confidence ≥ 0.5. */
  predictiveCriticalHours: z.number().positive().default(1),
  predictiveWarningHours: z.number().positive().default(24),
  recovery: RecoveryConfig.optional(),
  /** Escalations to manual intervention are POSTed here as JSON when set. */
  webhookUrl: z.url().optional(),
  /** Alerts kept (default 200). */
  alertHistorySize: z.number().int().min(1).max(10_000).default(200),
});
export type HealthMonitorConfig = z.infer<typeof HealthMonitorConfig>;

export const PerformHealthCheck = z.object({
  nodeId: NodeId.optional(),
  level: HealthCheckLevel.default('basic'),
});
export type PerformHealthCheck = z.infer<typeof PerformHealthCheck>;

export const HealthAlertPayload = z.object({
  nodeId: NodeId,
  severity: Severity,
  kind: z.string().min(1).max(100),
  message: z.string().min(1).max(2_000),
  source: z.string().max(200).optional(),
});
export type HealthAlertPayload = z.infer<typeof HealthAlertPayload>;

export const QuarantineNodePayload = z.object({
  nodeId: NodeId,
  reason: z.string().min(1).max(500),
  /** Overrides the duration for `manual` (ms). */
  durationMs: z
    .number()
    .int()
    .min(1_000)
    .max(30 * 86_400_000)
    .optional(),
});
export type QuarantineNodePayload = z.infer<typeof QuarantineNodePayload>;

export const ReleaseNodePayload = z.object({ nodeId: NodeId, reason: z.string().max(500).optional() });
export type ReleaseNodePayload = z.infer<typeof ReleaseNodePayload>;

/** Metrics with an anomaly model (src/core/health/anomaly.ts). */
export const METRICS = ['cpu', 'memory', 'network', 'responseTime'] as const;
export type Metric = (typeof METRICS)[number];

export interface Anomaly {
  metric: Metric;
  value: number;
  /** The baseline the value is compared with (mean, mean latency or p95). */
  baseline: number;
  /** How far beyond: z-score, relative trend or multiple of p95. */
  score: number;
  threshold: number;
  message: string;
}

/** When a resource will be exhausted (src/core/health/predict.ts). */
export interface Prediction {
  /** Growth per hour (share of the resource) by the consensus of the models. */
  ratePerHour: number;
  /** Hours until the resource reaches 100 %, or null when it is not growing. */
  hoursToExhaustion: number | null;
  confidence: number;
  models: { name: string; ratePerHour: number; score: number }[];
  samples: number;
}

// --- What the health probes (src/activities/health.ts) return ---

/** A host's vitals sample (as the lease carries it) plus its disk: shares 0..1. */
export interface ResourceSample extends VitalsSample {
  disk: number;
  diskFreeBytes: number;
  at: number;
}

/** A deep look at a host: its resources plus a dedicated event-loop sample. */
export interface DeepSample extends ResourceSample {
  lagMaxMs: number;
  uptimeS: number;
}

/** TCP connects from one host to a node: latency of those that connected, share of those that did not. */
export interface NetworkPerformance {
  latenciesMs: number[];
  meanMs: number | null;
  loss: number;
}

/** One TCP connect to a port. */
export interface PortCheck {
  ok: boolean;
  ms: number;
  error?: string;
}

/** A TLS certificate's expiry as served at an address and port. */
export interface TlsExpiry {
  ok: boolean;
  daysLeft?: number;
  validTo?: string;
  subject?: string;
  error?: string;
}

/** A recovery procedure or webhook call that succeeded (a failure is thrown). */
export interface ActionResult {
  /** Always true since activities throw on failure; histories recorded before hold `false` too. */
  ok: boolean;
  detail: string;
}

export interface CheckRecord {
  level: HealthLevel;
  at: number;
  ok: boolean;
  httpStatus?: number;
  latencyMs?: number;
  error?: string;
  /** Per part of a comprehensive/deep check: ok and what it found. */
  parts?: Record<string, { ok: boolean; detail: string }>;
}

export interface NodeHealthRecord {
  nodeId: string;
  address: string;
  healthPort: number;
  zone: string;
  services: Record<string, number>;
  health: NodeHealth;
  reasons: string[];
  consecutiveFailures: number;
  consecutivePasses: number;
  lastCheck?: CheckRecord;
  lastComprehensive?: CheckRecord;
  lastDeep?: CheckRecord;
  anomalies: Partial<Record<Metric, Anomaly & { at: number }>>;
  predictions?: Partial<Record<'cpu' | 'memory' | 'disk', Prediction>>;
  /** Health the host reported about itself (its NodeAgent), with why. */
  selfReported?: { health: NodeHealth; reason?: string; at: number };
}

export interface Baseline {
  samples: number[];
  times: number[];
  mean: number;
  stdDev: number;
  p95: number;
  updatedAt: number;
}

export interface Alert {
  id: number;
  at: number;
  nodeId: string;
  severity: Severity;
  kind: string;
  message: string;
  source: string;
  /** What was done about a critical alert. */
  action?: { type: 'recovery' | 'escalated'; at: number; ok?: boolean; detail: string };
}

export interface QuarantineEntry {
  nodeId: string;
  reason: QuarantineReason;
  detail: string;
  since: number;
  until: number;
  manual: boolean;
  recoveryPasses: number;
  recoveryChecks: number;
  escalated?: boolean;
}

export interface Escalation {
  at: number;
  nodeId: string;
  reason: string;
  alertId?: number;
  webhook?: { ok: boolean; detail: string };
}

export interface HealthMonitorState {
  nodes: Record<string, NodeHealthRecord>;
  baselines: Record<string, Partial<Record<Metric | 'disk', Baseline>>>;
  alerts: Alert[];
  alertSeq: number;
  quarantine: Record<string, QuarantineEntry>;
  /** Released quarantines, newest last (bounded). */
  released: (QuarantineEntry & { releasedAt: number; releaseReason: string })[];
  escalations: Escalation[];
  checks: Record<HealthLevel, number>;
  membersVersion: number;
}

export interface HealthView extends AgentHealth {
  nodes: Record<
    string,
    Pick<NodeHealthRecord, 'health' | 'reasons' | 'lastCheck' | 'consecutiveFailures'> & { quarantined: boolean }
  >;
}

export const performHealthCheckSignal = defineSignal<[PerformHealthCheck]>('performHealthCheck');
export const healthAlertSignal = defineSignal<[HealthAlertPayload]>('healthAlert');
export const quarantineNodeSignal = defineSignal<[QuarantineNodePayload]>('quarantineNode');
export const releaseNodeSignal = defineSignal<[ReleaseNodePayload]>('releaseNode');

export const baselinesQuery = defineQuery<HealthMonitorState['baselines']>('baselines');
export const alertsQuery = defineQuery<Alert[]>('alerts');
export const quarantineQuery = defineQuery<QuarantineEntry[]>('quarantine');
export const nodeHealthDetailQuery = defineQuery<NodeHealthRecord[]>('nodeHealth');

export const HEALTH_MONITOR_SIGNALS = {
  performHealthCheck: PerformHealthCheck,
  healthAlert: HealthAlertPayload,
  quarantineNode: QuarantineNodePayload,
  releaseNode: ReleaseNodePayload,
} as const;
export const HEALTH_MONITOR_QUERIES = ['baselines', 'alerts', 'quarantine', 'nodeHealth'] as const;
