import type { MemberSummary } from '../../../src/contracts/common';
import { HealthMonitorConfig, type CheckRecord } from '../../../src/contracts/health-monitor';
import {
  applyBasicCheck,
  emptyHealthState,
  escalate,
  expiredQuarantineAlert,
  quarantineNode,
  raiseAlert,
  recordEscalation,
  refreshHealth,
  syncMembers,
} from '../../../src/core/health/monitor';
import { healthDetails, healthView, monitorHealth } from '../../../src/core/health/view';
import { memberSummary } from '../../support/members';

const c = HealthMonitorConfig.parse({});
const member = (nodeId: string): MemberSummary => memberSummary(nodeId, { healthPort: 7000 });
const ok = (at: number): CheckRecord => ({ level: 'basic', at, ok: true, httpStatus: 200, latencyMs: 5 });
const http500 = (at: number): CheckRecord => ({ level: 'basic', at, ok: true, httpStatus: 500, latencyMs: 3 });
const T0 = Date.UTC(2026, 0, 1);

function fresh(...ids: string[]) {
  const s = emptyHealthState();
  syncMembers(s, ids.map(member));
  return s;
}

describe('health transitions', () => {
  type Step = [what: string, act: (s: ReturnType<typeof fresh>) => void, told: object | undefined];
  const steps: Step[] = [
    ['not checked yet: unknown is never told', () => undefined, undefined],
    ['first passing check', (s) => applyBasicCheck(s, c, 'a', ok(1), 1), { health: 'healthy', reason: 'checks pass' }],
    ['another pass: no change, nothing told', (s) => applyBasicCheck(s, c, 'a', ok(2), 2), undefined],
    [
      'HTTP 500',
      (s) => applyBasicCheck(s, c, 'a', http500(3), 3),
      { health: 'unhealthy', reason: 'health check failed: HTTP 500' },
    ],
    [
      'quarantined: still unhealthy, not told again',
      (s) => quarantineNode(s, c, 'a', 'manual', 'disk swap', 4),
      undefined,
    ],
  ];
  it('tells a change once, with the reasons; never unknown', () => {
    const s = fresh('a');
    for (const [what, act, told] of steps) {
      act(s);
      const change = refreshHealth(s, c, 'a');
      expect({ what, change }).toEqual({ what, change: told && { nodeId: 'a', ...told } });
    }
    expect(s.nodes.a?.reasons).toEqual(['quarantined (manual): disk swap']);
    expect(refreshHealth(s, c, 'nobody')).toBeUndefined();
  });
});

describe('escalations', () => {
  it('a quarantine that ran out raises a critical alert naming since when and why', () => {
    const s = fresh('a');
    const q = quarantineNode(s, c, 'a', 'anomaly', 'cpu', T0)!;
    const a = expiredQuarantineAlert(s, c, q, T0 + 600_000);
    expect(a).toMatchObject({
      nodeId: 'a',
      severity: 'critical',
      kind: 'quarantine.expired',
      message: 'quarantined since 2026-01-01T00:00:00.000Z (anomaly) and not recovered',
    });
    expect(s.alerts).toEqual([a]);
  });

  it('marks the alert escalated unless it already carries an action; kept bounded', () => {
    const s = fresh('a');
    const plain = raiseAlert(s, c, { nodeId: 'a', severity: 'critical', kind: 'k', message: 'm', source: 't' }, 1);
    expect(escalate(plain, 'no recovery procedure configured', 2)).toEqual({
      at: 2,
      nodeId: 'a',
      reason: 'm — no recovery procedure configured',
      alertId: plain.id,
    });
    expect(plain.action).toEqual({ type: 'escalated', at: 2, detail: 'no recovery procedure configured' });
    const tried = raiseAlert(s, c, { nodeId: 'a', severity: 'critical', kind: 'k', message: 'm', source: 't' }, 3);
    tried.action = { type: 'recovery', at: 3, ok: false, detail: 'exit 1' };
    escalate(tried, 'recovery failed: exit 1', 4);
    expect(tried.action).toMatchObject({ type: 'recovery', ok: false });
    for (let i = 0; i < 120; i++) recordEscalation(s, { at: i, nodeId: 'a', reason: `r${i}` });
    expect(s.escalations).toHaveLength(100);
    expect(s.escalations[99]?.reason).toBe('r119');
  });
});

describe('what the monitor shows', () => {
  it('all healthy', () => {
    const s = fresh('a', 'b');
    for (const id of ['a', 'b']) {
      applyBasicCheck(s, c, id, ok(1), 1);
      refreshHealth(s, c, id);
    }
    expect(healthDetails(s)).toBe('All nodes healthy.');
    expect(monitorHealth(s)).toEqual({ status: 'healthy', reasons: [] });
    expect(healthView(s).a).toEqual({
      health: 'healthy',
      reasons: [],
      lastCheck: ok(1),
      consecutiveFailures: 0,
      quarantined: false,
    });
  });

  it('escalations first (the newest five), then quarantines, then sick nodes; the monitor itself stays healthy', () => {
    const s = fresh('a', 'b', 'c');
    applyBasicCheck(s, c, 'b', http500(1), 1);
    quarantineNode(s, c, 'a', 'manual', 'disk swap', T0, 60_000);
    for (const id of ['a', 'b', 'c']) refreshHealth(s, c, id);
    for (let i = 0; i < 7; i++) recordEscalation(s, { at: T0 + i * 1000, nodeId: 'b', reason: `reason ${i}` });
    expect(healthDetails(s).split('\n')).toEqual([
      '**Manual intervention needed**',
      '- 2026-01-01T00:00:02.000Z b: reason 2',
      '- 2026-01-01T00:00:03.000Z b: reason 3',
      '- 2026-01-01T00:00:04.000Z b: reason 4',
      '- 2026-01-01T00:00:05.000Z b: reason 5',
      '- 2026-01-01T00:00:06.000Z b: reason 6',
      '**Quarantined**',
      '- a (manual) until 2026-01-01T00:01:00.000Z: disk swap',
      '**Not healthy**',
      '- a: unhealthy — quarantined (manual): disk swap',
      '- b: unhealthy — health check failed: HTTP 500',
    ]);
    expect(monitorHealth(s)).toEqual({ status: 'healthy', reasons: ['2 node(s) unhealthy', '1 node(s) quarantined'] });
    expect(healthView(s).a).toMatchObject({ health: 'unhealthy', quarantined: true });
  });
});
