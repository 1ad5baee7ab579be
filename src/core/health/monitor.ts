/**
 * The HealthMonitor's decisions as pure functions over its JSON state: what a check result means
 * for a node's health, which alerts it raises, when a node is quarantined and when released.
 *
 * Invariants:
 * 1. A node's health is a function of its record (quarantine, failures, last HTTP status,
 *    anomalies, what it reports itself) — `deriveHealth` — never set piecemeal.
 * 2. Baselines and alerts are bounded; every alert gets a new id.
 * 3. An automatic quarantine is released by passing recovery checks; a manual one only by an
 *    operator, or once its time is up and the checks pass.
 */
import type { MemberSummary, NodeHealth } from '../../contracts/common';
import type {
  Alert,
  Baseline,
  CheckRecord,
  Escalation,
  HealthMonitorConfig,
  HealthMonitorState,
  NodeHealthRecord,
  QuarantineEntry,
  QuarantineReason,
  RuleMetric,
  Severity,
} from '../../contracts/health-monitor';
import { pushBounded } from '../bounded';
import { detectAnomaly, judgeMetric, type Anomaly, type Evidence, type Metric } from './anomaly';
import { predictExhaustion } from './predict';
import { activeRuleReasons, applyRules } from './rules';
import { mean, percentile, stdDev } from './stats';

/** Escalations kept in state (the Web UI shows the newest few). */
const ESCALATIONS_KEPT = 100;

export function emptyHealthState(): HealthMonitorState {
  return {
    nodes: {},
    baselines: {},
    alerts: [],
    alertSeq: 0,
    quarantine: {},
    released: [],
    escalations: [],
    checks: { basic: 0, comprehensive: 0, deep: 0, predictive: 0 },
    membersVersion: 0,
  };
}

/** Follows membership: live members are checked; nodes that left or died are dropped (their alerts stay). */
export function syncMembers(s: HealthMonitorState, members: MemberSummary[]): void {
  const live = new Set<string>();
  for (const m of members) {
    if (m.status === 'left' || m.status === 'dead') continue;
    live.add(m.nodeId);
    const n = s.nodes[m.nodeId];
    const where = { address: m.address, healthPort: m.healthPort, zone: m.zone, services: m.services ?? {} };
    if (n) Object.assign(n, where);
    else
      s.nodes[m.nodeId] = {
        nodeId: m.nodeId,
        ...where,
        health: 'unknown',
        reasons: [],
        consecutiveFailures: 0,
        consecutivePasses: 0,
        anomalies: {},
      };
  }
  for (const id of Object.keys(s.nodes)) {
    if (!live.has(id) && !s.quarantine[id]) {
      delete s.nodes[id];
      delete s.baselines[id];
    }
  }
}

export function raiseAlert(
  s: HealthMonitorState,
  c: Pick<HealthMonitorConfig, 'alertHistorySize'>,
  a: Omit<Alert, 'id' | 'at'>,
  now: number,
): Alert {
  s.alertSeq += 1;
  const alert: Alert = { id: s.alertSeq, at: now, ...a };
  pushBounded(s.alerts, alert, c.alertHistorySize);
  return alert;
}

export function addSample(
  s: HealthMonitorState,
  nodeId: string,
  metric: Metric | 'disk',
  value: number,
  now: number,
  window: number,
): Baseline {
  const node = (s.baselines[nodeId] ??= {});
  const b = (node[metric] ??= { samples: [], times: [], mean: 0, stdDev: 0, p95: 0, updatedAt: now });
  pushBounded(b.samples, value, window);
  pushBounded(b.times, now, window);
  b.mean = round(mean(b.samples));
  b.stdDev = round(stdDev(b.samples));
  b.p95 = round(percentile(b.samples, 95));
  b.updatedAt = now;
  return b;
}

/**
 * How samples are judged. `evidence`: an anomaly needs k of the last n samples and ends after m
 * normal ones in a row (judgeMetric); runs before it judged on the newest sample alone.
 */
export interface ObserveOptions {
  evidence?: Evidence;
}

/** Records a metric sample and runs its anomaly model; returns the alert it raised, if any. */
export function observeMetric(
  s: HealthMonitorState,
  c: HealthMonitorConfig,
  nodeId: string,
  metric: Metric,
  value: number,
  now: number,
  o: ObserveOptions = {},
): Alert | undefined {
  const node = s.nodes[nodeId];
  if (!node) return undefined;
  const b = addSample(s, nodeId, metric, value, now, c.baselineWindow);
  if (o.evidence) return judgeEpisode(s, c, node, metric, b.samples, now, o.evidence);
  const anomaly: Anomaly | undefined = detectAnomaly(metric, b.samples, c.models[metric]);
  if (!anomaly) {
    delete node.anomalies[metric];
    return undefined;
  }
  const already = node.anomalies[metric];
  node.anomalies[metric] = { ...anomaly, at: now };
  if (already) return undefined; // one alert per episode, not per sample
  const severity: Severity = Math.abs(anomaly.score) >= 2 * anomaly.threshold ? 'critical' : 'warning';
  return raiseAlert(
    s,
    c,
    { nodeId, severity, kind: `anomaly.${metric}`, message: anomaly.message, source: 'health-monitor' },
    now,
  );
}

/**
 * New vitals samples of a node from its lease (oldest first): each CPU and memory share feeds its
 * baseline (at the sample's own time) and model; samples already seen (`vitalsSeenAt`) are skipped.
 * Returns the alerts raised.
 */
export function observeVitals(
  s: HealthMonitorState,
  c: HealthMonitorConfig,
  nodeId: string,
  samples: readonly { cpu: number; memory: number; lagP99Ms: number; load1: number; at: number }[],
  now: number,
  o: ObserveOptions = {},
): Alert[] {
  const alerts: Alert[] = [];
  for (const v of samples) {
    const n = s.nodes[nodeId];
    if (!n) break;
    if (n.vitalsSeenAt !== undefined && v.at <= n.vitalsSeenAt) continue;
    n.vitalsSeenAt = v.at;
    const at = Math.min(v.at, now);
    for (const metric of ['cpu', 'memory'] as const) {
      const a = observeMetric(s, c, nodeId, metric, v[metric], at, o);
      if (a) alerts.push(a);
    }
    for (const metric of ['cpu', 'memory', 'lagP99Ms', 'load1'] as const)
      alerts.push(...raiseRules(s, c, nodeId, metric, v[metric], at));
  }
  return alerts;
}

/** The operator's rules on one sample (src/core/health/rules.ts), raised as alerts. */
export function raiseRules(
  s: HealthMonitorState,
  c: HealthMonitorConfig,
  nodeId: string,
  metric: RuleMetric,
  value: number,
  now: number,
): Alert[] {
  return applyRules(s, c, nodeId, metric, value).map((a) => raiseAlert(s, c, a, now));
}

/**
 * An anomaly episode on evidence: it begins when `needed` of the last `of` samples are anomalous
 * (one alert), holds while they are not all normal, and ends after `clearAfter` normal samples in
 * a row. Critical when the newest anomalous sample is past twice the model's threshold.
 */
function judgeEpisode(
  s: HealthMonitorState,
  c: HealthMonitorConfig,
  node: NodeHealthRecord,
  metric: Metric,
  samples: readonly number[],
  now: number,
  ev: Evidence,
): Alert | undefined {
  const j = judgeMetric(metric, samples, c.models[metric], ev);
  if (node.anomalies[metric]) {
    if (j.clear) delete node.anomalies[metric];
    else if (j.anomaly) node.anomalies[metric] = { ...j.anomaly, at: now };
    return undefined;
  }
  if (!j.anomaly || j.hits < ev.needed) return undefined;
  const message = `${j.anomaly.message}; ${j.hits} of the last ${j.judged} samples`;
  node.anomalies[metric] = { ...j.anomaly, message, at: now };
  const severity: Severity = Math.abs(j.anomaly.score) >= 2 * j.anomaly.threshold ? 'critical' : 'warning';
  return raiseAlert(
    s,
    c,
    { nodeId: node.nodeId, severity, kind: `anomaly.${metric}`, message, source: 'health-monitor' },
    now,
  );
}

/** Applies a basic check (TCP + GET /healthz). Returns the alerts it raised and whether to quarantine. */
export function applyBasicCheck(
  s: HealthMonitorState,
  c: HealthMonitorConfig,
  nodeId: string,
  check: CheckRecord,
  now: number,
  o: ObserveOptions = {},
): { alerts: Alert[]; quarantine?: { reason: QuarantineReason; detail: string } } {
  const node = s.nodes[nodeId];
  if (!node) return { alerts: [] };
  node.lastCheck = check;
  const alerts: Alert[] = [];
  const passed = check.ok && check.httpStatus !== undefined && check.httpStatus >= 200 && check.httpStatus < 300;
  if (passed) {
    node.consecutiveFailures = 0;
    node.consecutivePasses += 1;
    if (check.latencyMs !== undefined) {
      const a = observeMetric(s, c, nodeId, 'responseTime', check.latencyMs, now, o);
      if (a) alerts.push(a);
      alerts.push(...raiseRules(s, c, nodeId, 'responseTime', check.latencyMs, now));
    }
    const q = s.quarantine[nodeId];
    if (q) {
      q.recoveryChecks += 1;
      q.recoveryPasses += 1;
    }
    return { alerts };
  }
  node.consecutivePasses = 0;
  node.consecutiveFailures += 1;
  const q = s.quarantine[nodeId];
  if (q) {
    q.recoveryChecks += 1;
    q.recoveryPasses = 0;
  }
  const what = check.httpStatus !== undefined ? `answered HTTP ${check.httpStatus}` : (check.error ?? 'no answer');
  const f = node.consecutiveFailures;
  if (f === 1 || f === c.criticalAfterFailures) {
    const severity: Severity = f >= c.criticalAfterFailures ? 'critical' : 'warning';
    alerts.push(
      raiseAlert(
        s,
        c,
        {
          nodeId,
          severity,
          kind: 'check.basic',
          message: `health endpoint ${what} (${f} failed in a row)`,
          source: 'health-monitor',
        },
        now,
      ),
    );
  }
  if (f >= c.quarantineAfterFailures && !q)
    return { alerts, quarantine: { reason: 'health_check_failed', detail: `${f} failed checks: ${what}` } };
  return { alerts };
}

export function quarantineNode(
  s: HealthMonitorState,
  c: HealthMonitorConfig,
  nodeId: string,
  reason: QuarantineReason,
  detail: string,
  now: number,
  durationMs?: number,
): QuarantineEntry | undefined {
  if (s.quarantine[nodeId]) return undefined;
  const entry: QuarantineEntry = {
    nodeId,
    reason,
    detail,
    since: now,
    until: now + (durationMs ?? c.quarantineDurationsMs[reason]),
    manual: reason === 'manual' || reason === 'node_failure',
    recoveryPasses: 0,
    recoveryChecks: 0,
  };
  s.quarantine[nodeId] = entry;
  return entry;
}

export function releaseNode(
  s: HealthMonitorState,
  nodeId: string,
  why: string,
  now: number,
): QuarantineEntry | undefined {
  const q = s.quarantine[nodeId];
  if (!q) return undefined;
  delete s.quarantine[nodeId];
  pushBounded(s.released, { ...q, releasedAt: now, releaseReason: why }, 50);
  return q;
}

/** Quarantines whose checks now allow release (invariant 3), and those whose time ran out unrecovered. */
export function reviewQuarantine(
  s: HealthMonitorState,
  c: HealthMonitorConfig,
  now: number,
): { release: { nodeId: string; why: string }[]; expired: QuarantineEntry[] } {
  const release: { nodeId: string; why: string }[] = [];
  const expired: QuarantineEntry[] = [];
  for (const q of Object.values(s.quarantine)) {
    const recovered = q.recoveryPasses >= c.releaseAfterPasses;
    if (recovered && (!q.manual || now >= q.until)) {
      release.push({ nodeId: q.nodeId, why: `${q.recoveryPasses} recovery checks passed` });
    } else if (q.reason === 'node_failure' && now >= q.until && !s.nodes[q.nodeId]) {
      // The orchestrator's isolation of a node that is gone: nothing left to hold out of routing.
      release.push({ nodeId: q.nodeId, why: 'isolation expired; the node is no longer a member' });
    } else if (now >= q.until && !recovered && !q.escalated) {
      q.escalated = true;
      expired.push(q);
    }
  }
  return { release, expired };
}

/** How a node's own report weighs (runs before `hostUnhealthy` held every self-report as degraded at most). */
export interface DeriveOptions {
  /** A host that reports itself unhealthy (its own health endpoint fails, memory exhausted) is unhealthy. */
  hostUnhealthy?: boolean;
  /**
   * Before the monitor's first check of a node, the host's own word that it is healthy counts: a
   * host that reported itself unhealthy and then recovered is routed again (without it the node
   * went to `unknown`, which is never published, and stayed unhealthy everywhere until a check).
   */
  hostWordBeforeCheck?: boolean;
}

/** Invariant 1: the health a node has now, with the reasons. */
export function deriveHealth(
  s: HealthMonitorState,
  c: HealthMonitorConfig,
  nodeId: string,
  o: DeriveOptions = {},
): { health: NodeHealth; reasons: string[] } {
  const n = s.nodes[nodeId];
  if (!n) return { health: 'unknown', reasons: [] };
  const q = s.quarantine[nodeId];
  if (q) return { health: 'unhealthy', reasons: [`quarantined (${q.reason}): ${q.detail}`] };
  if (o.hostUnhealthy && n.selfReported?.health === 'unhealthy')
    return {
      health: 'unhealthy',
      reasons: [`host reports unhealthy${n.selfReported.reason ? `: ${n.selfReported.reason}` : ''}`],
    };
  const status = n.lastCheck?.httpStatus;
  if (n.consecutiveFailures >= c.unhealthyAfterFailures || (status !== undefined && status >= 500))
    return { health: 'unhealthy', reasons: [`health check failed: ${n.lastCheck?.error ?? `HTTP ${status}`}`] };
  const reasons: string[] = [];
  if (n.consecutiveFailures > 0) reasons.push(`last health check failed: ${n.lastCheck?.error ?? `HTTP ${status}`}`);
  if (status === 429) reasons.push('health endpoint answers 429 (overloaded)');
  for (const a of Object.values(n.anomalies)) if (a) reasons.push(a.message);
  reasons.push(...activeRuleReasons(s, c, nodeId));
  if (n.selfReported && n.selfReported.health !== 'healthy' && n.selfReported.health !== 'unknown')
    reasons.push(`host reports ${n.selfReported.health}${n.selfReported.reason ? `: ${n.selfReported.reason}` : ''}`);
  if (reasons.length) return { health: 'degraded', reasons };
  if (!n.lastCheck) {
    if (o.hostWordBeforeCheck && n.selfReported?.health === 'healthy') return { health: 'healthy', reasons: [] };
    return { health: 'unknown', reasons: ['not checked yet'] };
  }
  return { health: 'healthy', reasons: [] };
}

/**
 * Recomputes a node's health and keeps it in its record (invariant 1). Returns the transition to
 * tell the other agents: only a change, and never to `unknown` (nothing to act on).
 */
export function refreshHealth(
  s: HealthMonitorState,
  c: HealthMonitorConfig,
  nodeId: string,
  o: DeriveOptions = {},
): { nodeId: string; health: NodeHealth; reason: string } | undefined {
  const n = s.nodes[nodeId];
  if (!n) return undefined;
  const { health, reasons } = deriveHealth(s, c, nodeId, o);
  n.reasons = reasons;
  const changed = health !== n.health;
  n.health = health;
  if (!changed || health === 'unknown') return undefined;
  return { nodeId, health, reason: reasons.join('; ') || 'checks pass' };
}

/** The critical alert of a quarantine whose time ran out before the node recovered. */
export function expiredQuarantineAlert(
  s: HealthMonitorState,
  c: Pick<HealthMonitorConfig, 'alertHistorySize'>,
  q: QuarantineEntry,
  now: number,
): Alert {
  return raiseAlert(
    s,
    c,
    {
      nodeId: q.nodeId,
      severity: 'critical',
      kind: 'quarantine.expired',
      message: `quarantined since ${new Date(q.since).toISOString()} (${q.reason}) and not recovered`,
      source: 'health-monitor',
    },
    now,
  );
}

/**
 * Marks an alert as escalated to manual intervention (unless it already carries an action, e.g. a
 * recovery that failed) and returns the escalation to record once the webhook, if any, answered.
 */
export function escalate(a: Alert, reason: string, now: number): Escalation {
  a.action ??= { type: 'escalated', at: now, detail: reason };
  return { at: now, nodeId: a.nodeId, reason: `${a.message} — ${reason}`, alertId: a.id };
}

/** Records an escalation, the newest last (bounded). */
export function recordEscalation(s: HealthMonitorState, e: Escalation): void {
  pushBounded(s.escalations, e, ESCALATIONS_KEPT);
}

/** Predictive check of one node from its resource baselines (needs ≥ 10 samples per resource). */
export function predictNode(s: HealthMonitorState, c: HealthMonitorConfig, nodeId: string, now: number): Alert[] {
  const n = s.nodes[nodeId];
  const b = s.baselines[nodeId];
  if (!n || !b) return [];
  const alerts: Alert[] = [];
  n.predictions = {};
  for (const r of ['cpu', 'memory', 'disk'] as const) {
    const base = b[r];
    if (!base) continue;
    const p = predictExhaustion(base.samples, base.times);
    if (!p) continue;
    n.predictions[r] = p;
    if (p.hoursToExhaustion === null || p.confidence < 0.5) continue;
    const severity: Severity | undefined =
      p.hoursToExhaustion <= c.predictiveCriticalHours
        ? 'critical'
        : p.hoursToExhaustion <= c.predictiveWarningHours
          ? 'warning'
          : undefined;
    if (!severity) continue;
    alerts.push(
      raiseAlert(
        s,
        c,
        {
          nodeId,
          severity,
          kind: `predictive.${r}`,
          message: `${r} predicted exhausted in ${p.hoursToExhaustion.toFixed(1)} h (confidence ${p.confidence.toFixed(2)})`,
          source: 'health-monitor',
        },
        now,
      ),
    );
  }
  return alerts;
}

function round(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1000) / 1000 : 0;
}
