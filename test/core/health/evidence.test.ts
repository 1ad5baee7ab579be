/**
 * Anomalies on evidence (HM_LEASE_VITALS runs): k of the last n samples, floors under the models,
 * hysteresis before an anomaly ends; alert rules; automatic quarantine; the escalation matrix.
 */
import { HealthMonitorConfig, type Alert, type HealthMonitorState } from '../../../src/contracts/health-monitor';
import type { MemberSummary } from '../../../src/contracts/common';
import { DEFAULT_MODELS, judgeMetric } from '../../../src/core/health/anomaly';
import { dueEscalations, nextEscalationDue, openEscalation } from '../../../src/core/health/escalation';
import { deriveHealth, emptyHealthState, observeMetric, observeVitals, syncMembers } from '../../../src/core/health/monitor';
import { applyRules, quarantineFor } from '../../../src/core/health/rules';

const c = HealthMonitorConfig.parse({});
const ev = c.anomalyEvidence;
const member = (nodeId: string): MemberSummary => ({
  nodeId,
  status: 'alive',
  health: 'healthy',
  address: '127.0.0.1',
  healthPort: 7000,
  zone: 'z',
  incarnation: 1,
});
function fresh(): HealthMonitorState {
  const s = emptyHealthState();
  syncMembers(s, [member('a')]);
  return s;
}

/** A flat CPU trace with a little noise, deterministic. */
const calm = (n: number, level = 0.2) => Array.from({ length: n }, (_, i) => level + ((i * 7) % 5) * 0.005);

describe('judgeMetric', () => {
  it.each<[string, 'cpu' | 'responseTime' | 'network', number[], number]>([
    ['calm CPU: nothing', 'cpu', calm(20), 0],
    ['one CPU spike: one hit, not enough', 'cpu', [...calm(15), 0.9], 1],
    ['a sustained step to 60 %: every sample of it is a hit (the reference is before it)', 'cpu', [...calm(15), 0.6, 0.6, 0.6], 3],
    ['a rise under the 10-point floor is jitter, whatever its z', 'cpu', [...calm(15, 0.2), 0.28, 0.28, 0.28], 0],
    ['one slow answer of 74 ms over a 15 ms p95 (the fresh-clone false alarm): one hit', 'responseTime', [...Array(15).fill(10), 15, 74], 1],
    ['response times under twice the 25 ms floor never count', 'responseTime', [...Array(15).fill(2), 40, 45, 48], 0],
    ['loopback jitter of a millisecond is no network trend', 'network', Array.from({ length: 30 }, (_, i) => 0.5 + (i % 3) * 0.3 + i * 0.03), 0],
  ])('%s', (_name, metric, samples, hits) => {
    const j = judgeMetric(metric, samples, DEFAULT_MODELS[metric], ev);
    expect(j.hits).toBe(hits);
    if (hits === 0 && j.judged > 0) expect(j.clear).toBe(true);
  });

  it('needs enough reference samples before it judges', () => {
    expect(judgeMetric('cpu', [0.1, 0.1, 0.9, 0.9, 0.9], DEFAULT_MODELS.cpu, ev)).toMatchObject({ hits: 0, judged: 0 });
  });
});

describe('anomaly episodes on evidence', () => {
  const observe = (s: HealthMonitorState, values: number[], t0 = 0) =>
    values.flatMap((v, i) => {
      const a = observeMetric(s, c, 'a', 'cpu', v, t0 + i, { evidence: ev });
      return a ? [a] : [];
    });

  it('one spike raises nothing; three of five raise one alert; it ends after three normal samples', () => {
    const s = fresh();
    expect(observe(s, [...calm(15), 0.9, ...calm(4)])).toEqual([]);
    const alerts = observe(s, [0.7, 0.2, 0.75, 0.8], 100);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ kind: 'anomaly.cpu', nodeId: 'a' });
    expect(alerts[0]?.message).toMatch(/3 of the last 5 samples/);
    expect(s.nodes.a?.anomalies.cpu).toBeDefined();
    expect(deriveHealth(s, c, 'a').health).toBe('degraded');
    // Two normal samples: still an anomaly (hysteresis); the third ends it. No second alert.
    expect(observe(s, [0.2, 0.2], 200)).toEqual([]);
    expect(s.nodes.a?.anomalies.cpu).toBeDefined();
    observe(s, [0.2], 300);
    expect(s.nodes.a?.anomalies.cpu).toBeUndefined();
  });

  it('without evidence (runs before), the newest sample alone decides', () => {
    const s = fresh();
    calm(15).forEach((v, i) => observeMetric(s, c, 'a', 'cpu', v, i));
    expect(observeMetric(s, c, 'a', 'cpu', 0.9, 20)?.kind).toBe('anomaly.cpu');
  });

  it('lease vitals feed CPU and memory once each, at their own time; seen samples are skipped', () => {
    const s = fresh();
    const v = (at: number, cpu = 0.2) => ({ cpu, memory: 0.4, lagP99Ms: 1, load1: 0.1, at });
    observeVitals(s, c, 'a', [v(1), v(2), v(3)], 10, { evidence: ev });
    observeVitals(s, c, 'a', [v(2), v(3), v(4)], 20, { evidence: ev });
    expect(s.baselines.a?.cpu?.samples).toHaveLength(4);
    expect(s.baselines.a?.memory?.times).toEqual([1, 2, 3, 4]);
    expect(s.nodes.a?.vitalsSeenAt).toBe(4);
  });
});

describe('alert rules', () => {
  const rc = HealthMonitorConfig.parse({
    alertRules: [
      { name: 'hot', metric: 'cpu', op: '>', value: 0.9, forSamples: 3, severity: 'critical' },
      { name: 'slow', metric: 'responseTime', op: '>=', value: 200, forSamples: 1 },
    ],
  });

  it('raises once after forSamples in a row, holds the node degraded, ends after as many misses', () => {
    const s = fresh();
    const run = (values: number[]) => values.flatMap((v) => applyRules(s, rc, 'a', 'cpu', v));
    expect(run([0.95, 0.95, 0.5, 0.95, 0.95])).toEqual([]);
    const raised = run([0.97]);
    expect(raised).toEqual([
      expect.objectContaining({ kind: 'rule.hot', severity: 'critical', message: 'rule hot: cpu 97 % > 90 % for 3 sample(s)' }),
    ]);
    expect(run([0.99, 0.99])).toEqual([]);
    expect(deriveHealth(s, rc, 'a').reasons).toContain('rule hot: cpu 99 % > 90 % for 3 sample(s)');
    run([0.1, 0.1]);
    expect(s.nodes.a?.rules?.hot?.active).toBe(true);
    run([0.1]);
    expect(s.nodes.a?.rules?.hot?.active).toBe(false);
    expect(applyRules(s, rc, 'a', 'responseTime', 250)).toHaveLength(1);
    expect(applyRules(s, rc, 'a', 'memory', 1)).toEqual([]);
  });

  it('a bad rule is refused with the field named', () => {
    const r = HealthMonitorConfig.safeParse({ alertRules: [{ name: 'x y', metric: 'disk', op: '=', value: 'high' }] });
    expect(r.success).toBe(false);
    const paths = r.success ? [] : r.error.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['alertRules.0.name', 'alertRules.0.metric', 'alertRules.0.op', 'alertRules.0.value']));
  });
});

describe('automatic quarantine', () => {
  const alert = (kind: string, severity: Alert['severity']): Alert => ({
    id: 1,
    at: 0,
    nodeId: 'a',
    kind,
    severity,
    message: 'm',
    source: 'health-monitor',
  });
  it.each<[string, object, Alert, string | undefined]>([
    ['off by default', {}, alert('anomaly.cpu', 'critical'), undefined],
    ['critical anomalies', { anomaly: 'critical' }, alert('anomaly.cpu', 'critical'), 'anomaly'],
    ['a warning anomaly is not critical', { anomaly: 'critical' }, alert('anomaly.cpu', 'warning'), undefined],
    ['any anomaly', { anomaly: 'any' }, alert('anomaly.memory', 'warning'), 'anomaly'],
    ['a critical rule with criticalAlert', { criticalAlert: true }, alert('rule.hot', 'critical'), 'critical_alert'],
    ['failed checks quarantine on their own count', { criticalAlert: true }, alert('check.basic', 'critical'), undefined],
    ['a warning is no critical alert', { criticalAlert: true }, alert('predictive.disk', 'warning'), undefined],
  ])('%s', (_name, autoQuarantine, a, reason) => {
    const q = quarantineFor(a, HealthMonitorConfig.parse({ autoQuarantine }));
    expect(q?.reason).toBe(reason);
  });
});

describe('escalation matrix', () => {
  const mc = HealthMonitorConfig.parse({
    escalation: [
      { afterMs: 0, channels: ['ui'] },
      { afterMs: 60_000, channels: ['webhook'] },
      { afterMs: 300_000, channels: ['webhook', 'orchestrator'] },
    ],
  });

  it('climbs a level at each delay while the node has not recovered, then closes', () => {
    const s = fresh();
    openEscalation(s, mc.escalation, { alertId: 7, nodeId: 'a', reason: 'r' }, 1_000);
    expect(nextEscalationDue(s)).toBe(61_000);
    const sick = () => false;
    expect(dueEscalations(s, mc, 60_999, sick).due).toEqual([]);
    expect(dueEscalations(s, mc, 61_000, sick).due).toEqual([expect.objectContaining({ alertId: 7, level: 1 })]);
    expect(nextEscalationDue(s)).toBe(301_000);
    expect(dueEscalations(s, mc, 301_000, sick).due).toEqual([expect.objectContaining({ level: 2 })]);
    expect(nextEscalationDue(s)).toBeUndefined(); // the last level: nothing more to send
  });

  it('a node that recovered closes its escalation before the next level', () => {
    const s = fresh();
    openEscalation(s, mc.escalation, { alertId: 8, nodeId: 'a', reason: 'r' }, 0);
    const r = dueEscalations(s, mc, 100_000, () => true);
    expect(r).toMatchObject({ due: [], closed: [expect.objectContaining({ alertId: 8 })] });
  });

  it('one level (the default) opens nothing', () => {
    const s = fresh();
    openEscalation(s, c.escalation, { alertId: 9, nodeId: 'a', reason: 'r' }, 0);
    expect(s.openEscalations).toBeUndefined();
  });

  it.each([
    [[{ afterMs: 5, channels: ['ui'] }], /escalation\.0\.afterMs: expected the first level at afterMs 0/],
    [[{ afterMs: 0, channels: ['ui'] }, { afterMs: 0, channels: ['webhook'] }], /escalation: expected afterMs to grow/],
    [[{ afterMs: 0, channels: ['pager'] }], /escalation\.0\.channels\.0/],
  ])('refuses a bad matrix %j', (escalation, message) => {
    const r = HealthMonitorConfig.safeParse({ escalation });
    expect(r.success).toBe(false);
    const text = r.success ? '' : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    expect(text).toMatch(message);
  });
});
