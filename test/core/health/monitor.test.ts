import { HealthMonitorConfig, type CheckRecord, type NodeHealthRecord } from '../../../src/contracts/health-monitor';
import type { MemberSummary } from '../../../src/contracts/common';
import {
  applyBasicCheck,
  deriveHealth,
  emptyHealthState,
  observeMetric,
  predictNode,
  quarantineNode,
  refreshHealth,
  releaseNode,
  reviewQuarantine,
  syncMembers,
} from '../../../src/core/health/monitor';

const c = HealthMonitorConfig.parse({});
const member = (nodeId: string, status: MemberSummary['status'] = 'alive'): MemberSummary => ({
  nodeId,
  status,
  health: 'healthy',
  address: '127.0.0.1',
  healthPort: 7000,
  zone: 'z',
  incarnation: 1,
});
const ok = (at: number, latencyMs = 5): CheckRecord => ({ level: 'basic', at, ok: true, httpStatus: 200, latencyMs });
const http500 = (at: number): CheckRecord => ({ level: 'basic', at, ok: true, httpStatus: 500, latencyMs: 3 });
const noAnswer = (at: number): CheckRecord => ({ level: 'basic', at, ok: false, error: 'connect ECONNREFUSED' });

function fresh() {
  const s = emptyHealthState();
  syncMembers(s, [member('a'), member('b')]);
  return s;
}

describe('health decisions', () => {
  it('follows membership: dead and left nodes are dropped unless quarantined', () => {
    const s = fresh();
    quarantineNode(s, c, 'b', 'manual', 'maintenance', 0);
    syncMembers(s, [member('a', 'dead'), member('b', 'left'), member('c')]);
    expect(Object.keys(s.nodes).sort()).toEqual(['b', 'c']);
  });

  it('a node is unknown until checked, then healthy', () => {
    const s = fresh();
    expect(deriveHealth(s, c, 'a').health).toBe('unknown');
    applyBasicCheck(s, c, 'a', ok(1), 1);
    expect(deriveHealth(s, c, 'a')).toEqual({ health: 'healthy', reasons: [] });
  });

  it('HTTP 500: unhealthy at once; warning, then critical at 3, then quarantine', () => {
    const s = fresh();
    const r1 = applyBasicCheck(s, c, 'a', http500(1), 1);
    expect(deriveHealth(s, c, 'a').health).toBe('unhealthy');
    expect(r1.alerts.map((a) => a.severity)).toEqual(['warning']);
    expect(r1.alerts[0]?.message).toMatch(/answered HTTP 500 \(1 failed in a row\)/);
    expect(applyBasicCheck(s, c, 'a', http500(2), 2).alerts).toEqual([]); // one alert per episode step
    const r3 = applyBasicCheck(s, c, 'a', http500(3), 3);
    expect(r3.alerts.map((a) => a.severity)).toEqual(['critical']);
    expect(r3.quarantine).toEqual({ reason: 'health_check_failed', detail: '3 failed checks: answered HTTP 500' });
  });

  it('a host that reports itself unhealthy is unhealthy (hostUnhealthy); before that option, degraded', () => {
    const s = fresh();
    applyBasicCheck(s, c, 'a', ok(1), 1);
    (s.nodes.a as NodeHealthRecord).selfReported = {
      health: 'unhealthy',
      reason: 'health endpoint answers HTTP 500 (disk full)',
      at: 2,
    };
    expect(deriveHealth(s, c, 'a').health).toBe('degraded');
    expect(deriveHealth(s, c, 'a', { hostUnhealthy: true })).toEqual({
      health: 'unhealthy',
      reasons: ['host reports unhealthy: health endpoint answers HTTP 500 (disk full)'],
    });
    (s.nodes.a as NodeHealthRecord).selfReported = { health: 'healthy', at: 3 };
    expect(deriveHealth(s, c, 'a', { hostUnhealthy: true }).health).toBe('healthy');
  });

  it('before its first check, a host that said unhealthy and then healthy is published healthy again (hostWordBeforeCheck)', () => {
    const o = { hostUnhealthy: true, hostWordBeforeCheck: true };
    const s = fresh();
    const rec = s.nodes.a as NodeHealthRecord;
    rec.selfReported = { health: 'unhealthy', reason: 'health endpoint answers HTTP 500', at: 1 };
    expect(refreshHealth(s, c, 'a', o)).toMatchObject({ health: 'unhealthy' });
    rec.selfReported = { health: 'healthy', at: 2 };
    expect(refreshHealth(s, c, 'a', o)).toEqual({ nodeId: 'a', health: 'healthy', reason: 'checks pass' });
    // Without the option the node went to unknown, which is never published: it stayed unhealthy elsewhere.
    const old = fresh();
    (old.nodes.a as NodeHealthRecord).selfReported = { health: 'unhealthy', at: 1 };
    refreshHealth(old, c, 'a', { hostUnhealthy: true });
    (old.nodes.a as NodeHealthRecord).selfReported = { health: 'healthy', at: 2 };
    expect(refreshHealth(old, c, 'a', { hostUnhealthy: true })).toBeUndefined();
    expect(deriveHealth(old, c, 'a', { hostUnhealthy: true }).health).toBe('unknown');
  });

  it('no answer: degraded after one failure, unhealthy after two', () => {
    const s = fresh();
    applyBasicCheck(s, c, 'a', noAnswer(1), 1);
    expect(deriveHealth(s, c, 'a').health).toBe('degraded');
    applyBasicCheck(s, c, 'a', noAnswer(2), 2);
    expect(deriveHealth(s, c, 'a').health).toBe('unhealthy');
    applyBasicCheck(s, c, 'a', ok(3), 3);
    expect(deriveHealth(s, c, 'a').health).toBe('healthy');
  });

  it('an automatic quarantine is released after 3 passing recovery checks; a failure resets the count', () => {
    const s = fresh();
    const q = quarantineNode(s, c, 'a', 'health_check_failed', 'x', 0);
    expect(q?.until).toBe(300_000);
    expect(deriveHealth(s, c, 'a').health).toBe('unhealthy');
    applyBasicCheck(s, c, 'a', ok(1), 1);
    applyBasicCheck(s, c, 'a', ok(2), 2);
    applyBasicCheck(s, c, 'a', http500(3), 3);
    applyBasicCheck(s, c, 'a', ok(4), 4);
    applyBasicCheck(s, c, 'a', ok(5), 5);
    expect(reviewQuarantine(s, c, 5).release).toEqual([]);
    applyBasicCheck(s, c, 'a', ok(6), 6);
    expect(reviewQuarantine(s, c, 6).release).toEqual([{ nodeId: 'a', why: '3 recovery checks passed' }]);
    releaseNode(s, 'a', 'recovered', 6);
    expect(deriveHealth(s, c, 'a').health).toBe('healthy');
    expect(s.released[0]).toMatchObject({ nodeId: 'a', releaseReason: 'recovered' });
  });

  it('a manual quarantine holds until its time is up, even with passing checks', () => {
    const s = fresh();
    quarantineNode(s, c, 'a', 'manual', 'disk swap', 0, 10_000);
    for (let i = 1; i <= 4; i++) applyBasicCheck(s, c, 'a', ok(i), i);
    expect(reviewQuarantine(s, c, 9_999).release).toEqual([]);
    expect(reviewQuarantine(s, c, 10_000).release.map((r) => r.nodeId)).toEqual(['a']);
  });

  it('a quarantine that runs out unrecovered is escalated once', () => {
    const s = fresh();
    quarantineNode(s, c, 'a', 'anomaly', 'cpu', 0);
    applyBasicCheck(s, c, 'a', http500(1), 1);
    expect(reviewQuarantine(s, c, 599_999).expired).toEqual([]);
    expect(reviewQuarantine(s, c, 600_000).expired.map((q) => q.nodeId)).toEqual(['a']);
    expect(reviewQuarantine(s, c, 600_001).expired).toEqual([]);
  });

  it('an anomaly raises one alert per episode and makes the node degraded until the metric is normal', () => {
    const s = fresh();
    applyBasicCheck(s, c, 'a', ok(0), 0);
    for (let i = 0; i < 19; i++) expect(observeMetric(s, c, 'a', 'cpu', i % 2 ? 0.5 : 0.3, i)).toBeUndefined();
    const a = observeMetric(s, c, 'a', 'cpu', 0.95, 19);
    expect(a).toMatchObject({ severity: 'critical', kind: 'anomaly.cpu', nodeId: 'a' }); // 5.5σ ≥ 2 × 2.5
    expect(observeMetric(s, c, 'a', 'cpu', 0.96, 20)).toBeUndefined();
    expect(deriveHealth(s, c, 'a').health).toBe('degraded');
    observeMetric(s, c, 'a', 'cpu', 0.4, 21);
    expect(deriveHealth(s, c, 'a').health).toBe('healthy');
    expect(s.baselines.a?.cpu?.samples).toHaveLength(22);
  });

  it('slow responses feed the response-time model from basic checks', () => {
    const s = fresh();
    let alerts = 0;
    for (let i = 0; i < 30; i++) alerts += applyBasicCheck(s, c, 'a', ok(i, 10 + (i % 5)), i).alerts.length;
    expect(alerts).toBe(0);
    const slow = applyBasicCheck(s, c, 'a', ok(30, 100), 30);
    expect(slow.alerts[0]).toMatchObject({ kind: 'anomaly.responseTime', severity: 'critical' });
  });

  it('predicts exhaustion of a resource and alerts by how soon', () => {
    const s = fresh();
    for (let i = 0; i < 20; i++) {
      observeMetric(s, c, 'a', 'memory', 0.5 + 0.02 * i, i * 60_000); // +1.2 %/min → exhausted in ~0.2 h
      observeMetric(s, c, 'b', 'memory', 0.5, i * 60_000);
    }
    const alerts = predictNode(s, c, 'a', 20 * 60_000);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ severity: 'critical', kind: 'predictive.memory' });
    expect(s.nodes.a?.predictions?.memory?.hoursToExhaustion).toBeLessThan(1);
    expect(predictNode(s, c, 'b', 20 * 60_000)).toEqual([]);
  });
});
