/**
 * HealthMonitor: health checks (basic / comprehensive / deep / predictive), baselines per node and
 * metric, anomaly models, alerts, recovery or escalation, and the quarantine list.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { z } from 'zod';
import { type AgentHealth, BaseConfig, HealthCheckLevel, type NodeHealth, NodeId } from './common';
import type { VitalsSample } from './node-agent';
import type { FailureRisk } from './node-discovery';

export const HEALTH_LEVELS = HealthCheckLevel.options;
export type HealthLevel = z.infer<typeof HealthCheckLevel>;
export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export const Severity = z.enum(SEVERITIES);
export type Severity = z.infer<typeof Severity>;
export const QUARANTINE_REASONS = [
  'health_check_failed',
  'anomaly',
  'critical_alert',
  'manual',
  'node_failure',
] as const;
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

/** Metrics an alert rule can watch: the lease vitals, the basic check's response time, the network mean. */
export const RULE_METRICS = ['cpu', 'memory', 'lagP99Ms', 'load1', 'responseTime', 'network'] as const;
export const RuleMetric = z.enum(RULE_METRICS);
export type RuleMetric = z.infer<typeof RuleMetric>;

/**
 * An operator's alert rule: `metric op value` for `forSamples` samples in a row raises one alert of
 * `severity`; as many samples in a row without it end the episode. While one holds, the node is
 * degraded with the rule named.
 */
export const AlertRule = z.object({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'expected 1-64 letters, digits, "_", "." or "-"'),
  metric: RuleMetric,
  op: z.enum(['>', '>=', '<', '<=']),
  value: z.number(),
  forSamples: z.number().int().min(1).max(100).default(3),
  severity: Severity.default('warning'),
});
export type AlertRule = z.infer<typeof AlertRule>;

export const ESCALATION_CHANNELS = ['ui', 'webhook', 'orchestrator'] as const;
/**
 * One level of the escalation matrix: `afterMs` after an alert was escalated, while its node has
 * not recovered, it goes to these channels — `ui` (the agent's escalations and Web UI details),
 * `webhook` (POST to webhookUrl), `orchestrator` (the `healthEscalation` signal, once it runs).
 */
export const EscalationLevel = z.object({
  afterMs: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400_000),
  channels: z.array(z.enum(ESCALATION_CHANNELS)).min(1).max(3),
});
export type EscalationLevel = z.infer<typeof EscalationLevel>;

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
      /** Asked by the orchestrator's node_failure procedure; released when the node is back (or by it). */
      node_failure: Ms(1_000, 3_600_000),
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
  /**
   * Evidence an anomaly needs (src/core/health/anomaly.ts, judgeMetric): `needed` of the last `of`
   * samples anomalous (default 3 of 5) to raise it, `clearAfter` normal ones in a row (default 3)
   * to end it. One spike of loopback jitter is not an anomaly, and an alert that runs a recovery
   * must rest on more than one sample.
   */
  anomalyEvidence: z
    .object({
      of: z.number().int().min(1).max(100).default(5),
      needed: z.number().int().min(1).max(100).default(3),
      clearAfter: z.number().int().min(1).max(100).default(3),
    })
    .refine((e) => e.needed <= e.of, { message: 'expected needed ≤ of', path: ['needed'] })
    .prefault({}),
  /**
   * How often the CPU and memory samples the hosts' leases carry (each NodeAgent publishes its
   * latest in its memo) are read into the models (ms, default 15 s: one lease term).
   */
  vitalsIntervalMs: Ms(1_000, 15_000),
  /** Predictive alerts: exhaustion within these hours (critical / warning, default 1 / 24) at confidence ≥ 0.5. */
  predictiveCriticalHours: z.number().positive().default(1),
  predictiveWarningHours: z.number().positive().default(24),
  recovery: RecoveryConfig.optional(),
  /** Escalations to manual intervention are POSTed here as JSON when set (levels with the `webhook` channel). */
  webhookUrl: z.url().optional(),
  /**
   * The escalation matrix: level 0 at once, each next one `afterMs` after the escalation began while
   * the node has not recovered (healthy again, released, or gone). Default: one level, UI and webhook.
   */
  escalation: z
    .array(EscalationLevel)
    .min(1)
    .max(10)
    .refine((ls) => ls[0]?.afterMs === 0, { message: 'expected the first level at afterMs 0', path: [0, 'afterMs'] })
    .refine((ls) => ls.every((l, i) => i === 0 || l.afterMs > (ls[i - 1] as EscalationLevel).afterMs), {
      message: 'expected afterMs to grow from level to level',
    })
    .default([{ afterMs: 0, channels: ['ui', 'webhook'] }]),
  /** The operator's alert rules (default none; see AlertRule). */
  alertRules: z
    .array(AlertRule)
    .max(50)
    .refine((rs) => new Set(rs.map((r) => r.name)).size === rs.length, { message: 'expected unique rule names' })
    .default([]),
  /**
   * Automatic quarantine beyond failed basic checks: on an anomaly (`never`, `critical` ones, or
   * `any`; default never) and on any other critical alert (`criticalAlert`, default false) — a rule,
   * a prediction, a certificate, an external alert.
   */
  autoQuarantine: z
    .object({
      anomaly: z.enum(['never', 'critical', 'any']).default('never'),
      criticalAlert: z.boolean().default(false),
    })
    .prefault({}),
  /** Alerts kept (default 200). */
  alertHistorySize: z.number().int().min(1).max(10_000).default(200),
  /**
   * HealthMonitors that run (1-5, default 1; `cluster start` starts the others as
   * `health-monitor-2` …). Each checks every member on its own; the first publishes health and acts.
   * With more than one, a quarantine its alerts call for is made only once a consensus round among
   * them accepts it (majority): each votes from its own checks and alerts.
   */
  instances: z.number().int().min(1).max(5).default(1),
  /** Which instance this is (1-5; set by `cluster start` for each instance). */
  instance: z.number().int().min(1).max(5).default(1),
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
  /**
   * Who asks: an operator (`manual`, the default) or the orchestrator's node_failure procedure
   * (`node_failure`: the procedure lifts it when the node comes back). Passing checks end neither:
   * a release, or the duration running out, does.
   */
  cause: z.enum(['manual', 'node_failure']).default('manual'),
});
export type QuarantineNodePayload = z.infer<typeof QuarantineNodePayload>;

export const ReleaseNodePayload = z.object({
  nodeId: NodeId,
  reason: z.string().max(500).optional(),
  /**
   * `node_failure` (the orchestrator's procedure lifting its isolation): releases only a quarantine
   * of that reason, and a node without one is nothing to refuse. Default `manual`: an operator's.
   */
  cause: z.enum(['manual', 'node_failure']).default('manual'),
});
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
  /** The newest lease vitals sample taken into the models (its `at`, host time). */
  vitalsSeenAt?: number;
  /** What the host's lease says about its liveness (its NodeAgent's memo), for failure predictions. */
  lease?: { heartbeatMs: number; suspicions: number; heartbeatPhi: number };
  /** The failure prediction (src/core/health/risk.ts); NodeDiscovery hears of each change of level. */
  risk?: FailureRisk;
  /** Alert rules by name: samples in a row that met (hits) or missed (misses) it, and whether it holds. */
  rules?: Record<string, { hits: number; misses: number; active: boolean; value?: number }>;
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
  /** The level of the escalation matrix (0: the first; absent in runs before the matrix). */
  level?: number;
  channels?: (typeof ESCALATION_CHANNELS)[number][];
}

/** An escalation still climbing the matrix: its node has not recovered and a next level is due. */
export interface OpenEscalation {
  alertId: number;
  nodeId: string;
  reason: string;
  since: number;
  level: number;
  nextAt: number;
}

/** What the orchestrator hears at a level with the `orchestrator` channel. */
export interface HealthEscalationPayload {
  nodeId: string;
  level: number;
  reason: string;
  alert: Alert;
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
  /** Escalations with a next level due (the matrix has more than one level). */
  openEscalations?: Record<string, OpenEscalation>;
  /** Checks run, by level; `vitals`: rounds that read the hosts' lease vitals. */
  checks: Record<HealthLevel, number> & { vitals?: number };
  membersVersion: number;
  /** Quarantines put to the other instances (instances > 1), newest last (the last 20). */
  quarantineRounds?: QuarantineRound[];
}

/** A quarantine put to a consensus round among the HealthMonitors, and what came of it. */
export interface QuarantineRound {
  at: number;
  nodeId: string;
  reason: QuarantineReason;
  result: 'accepted' | 'rejected' | 'timed_out' | 'failed';
  /** The round's summary (votes and reasons), or why it could not run. */
  summary: string;
  proposalId?: string;
}

export interface HealthView extends AgentHealth {
  nodes: Record<
    string,
    Pick<NodeHealthRecord, 'health' | 'reasons' | 'lastCheck' | 'consecutiveFailures' | 'risk'> & {
      quarantined: boolean;
    }
  >;
}

export const performHealthCheckSignal = defineSignal<[PerformHealthCheck]>('performHealthCheck');
/** To the orchestrator: an escalation reached a level with the `orchestrator` channel. */
export const healthEscalationSignal = defineSignal<[HealthEscalationPayload]>('healthEscalation');
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
