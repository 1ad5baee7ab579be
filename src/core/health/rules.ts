/**
 * The operator's alert rules and automatic quarantine, as pure functions over the HealthMonitor's
 * state. A rule (`cpu > 0.9 for 3 samples`, severity) raises one alert per episode: it begins after
 * `forSamples` matching samples in a row and ends after as many that do not match.
 */
import type {
  Alert,
  AlertRule,
  HealthMonitorConfig,
  HealthMonitorState,
  QuarantineReason,
  RuleMetric,
} from '../../contracts/health-monitor';

export function meets(value: number, op: AlertRule['op'], limit: number): boolean {
  switch (op) {
    case '>':
      return value > limit;
    case '>=':
      return value >= limit;
    case '<':
      return value < limit;
    case '<=':
      return value <= limit;
  }
}

const shown = (metric: RuleMetric, v: number) =>
  metric === 'cpu' || metric === 'memory' ? `${Math.round(v * 1000) / 10} %` : `${Math.round(v * 100) / 100}`;

/** One sample of `metric` for `nodeId` against every rule on that metric; returns the alerts to raise. */
export function applyRules(
  s: HealthMonitorState,
  c: Pick<HealthMonitorConfig, 'alertRules'>,
  nodeId: string,
  metric: RuleMetric,
  value: number,
): Omit<Alert, 'id' | 'at'>[] {
  const node = s.nodes[nodeId];
  if (!node || !c.alertRules.length) return [];
  const alerts: Omit<Alert, 'id' | 'at'>[] = [];
  for (const rule of c.alertRules) {
    if (rule.metric !== metric) continue;
    const st = ((node.rules ??= {})[rule.name] ??= { hits: 0, misses: 0, active: false });
    if (meets(value, rule.op, rule.value)) {
      st.hits += 1;
      st.misses = 0;
      st.value = value;
    } else {
      st.misses += 1;
      st.hits = 0;
    }
    if (!st.active && st.hits >= rule.forSamples) {
      st.active = true;
      alerts.push({
        nodeId,
        severity: rule.severity,
        kind: `rule.${rule.name}`,
        message: ruleMessage(rule, value),
        source: 'health-monitor',
      });
    } else if (st.active && st.misses >= rule.forSamples) st.active = false;
  }
  return alerts;
}

export function ruleMessage(rule: AlertRule, value: number): string {
  return `rule ${rule.name}: ${rule.metric} ${shown(rule.metric, value)} ${rule.op} ${shown(rule.metric, rule.value)} for ${rule.forSamples} sample(s)`;
}

/** Reasons of the rules that hold for a node (each makes it degraded). */
export function activeRuleReasons(
  s: HealthMonitorState,
  c: Pick<HealthMonitorConfig, 'alertRules'>,
  nodeId: string,
): string[] {
  const node = s.nodes[nodeId];
  if (!node?.rules) return [];
  return c.alertRules
    .filter((r) => node.rules?.[r.name]?.active)
    .map((r) => ruleMessage(r, node.rules?.[r.name]?.value ?? r.value));
}

/**
 * Whether an alert quarantines its node, as configured (`autoQuarantine`): anomalies by severity,
 * other critical alerts when `criticalAlert`. Failed basic checks quarantine on their own count
 * (quarantineAfterFailures) and an expired quarantine is already one: neither is decided here.
 */
export function quarantineFor(
  a: Alert,
  c: Pick<HealthMonitorConfig, 'autoQuarantine'>,
): { reason: QuarantineReason; detail: string } | undefined {
  if (a.kind.startsWith('anomaly.')) {
    const mode = c.autoQuarantine.anomaly;
    if (mode === 'any' || (mode === 'critical' && a.severity === 'critical'))
      return { reason: 'anomaly', detail: `${a.severity} ${a.kind}: ${a.message}` };
    return undefined;
  }
  if (a.kind === 'check.basic' || a.kind === 'quarantine.expired') return undefined;
  if (a.severity === 'critical' && c.autoQuarantine.criticalAlert)
    return { reason: 'critical_alert', detail: `${a.kind}: ${a.message}` };
  return undefined;
}
