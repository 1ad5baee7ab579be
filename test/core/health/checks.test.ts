import type { MemberSummary } from '../../../src/contracts/common';
import {
  HealthMonitorConfig,
  type NetworkPerformance,
  type PortCheck,
  type ResourceSample,
  type TlsExpiry,
} from '../../../src/contracts/health-monitor';
import type { ConnectivityResult } from '../../../src/contracts/node-discovery';
import {
  applyComprehensiveCheck,
  basicCheckRecord,
  networkPeer,
  tlsTargets,
  type ComprehensiveResults,
  type Settled,
} from '../../../src/core/health/checks';
import { emptyHealthState, quarantineNode, syncMembers } from '../../../src/core/health/monitor';
import { memberSummary } from '../../support/members';

const c = HealthMonitorConfig.parse({});
const member = (nodeId: string, services: Record<string, number> = {}): MemberSummary =>
  memberSummary(nodeId, { healthPort: 7000, services });
const ok = <T>(v: T): Settled<T> => ({ ok: true, v });
const failed = (error: string): Settled<never> => ({ ok: false, error });

const endpoint = (r: Partial<ConnectivityResult> = {}): ConnectivityResult => ({
  address: '127.0.0.1',
  healthPort: 7000,
  ok: true,
  observer: 'o',
  latencyMs: 3,
  httpStatus: 200,
  ...r,
});
const resources: ResourceSample = {
  cpu: 0.25,
  memory: 0.5,
  load1: 0.1,
  lagP99Ms: 4,
  rssBytes: 1,
  at: 0,
  disk: 0.7,
  diskFreeBytes: 1,
};
const network = (meanMs: number | null, loss = 0): NetworkPerformance => ({ latenciesMs: [], meanMs, loss });
const up: PortCheck = { ok: true, ms: 1 };
const cert = (daysLeft: number): TlsExpiry => ({ ok: true, daysLeft, validTo: 'Jan 1 00:00:00 2030 GMT' });

/** Every part answered and fine; a case overrides what it is about. */
function results(over: Partial<ComprehensiveResults> = {}): ComprehensiveResults {
  return {
    endpoint: ok([endpoint()]),
    resources: ok(resources),
    network: ok(network(0.5)),
    services: ok({ http: up }),
    tls: [],
    peer: 'b',
    ...over,
  };
}

function fresh() {
  const s = emptyHealthState();
  syncMembers(s, [member('a', { http: 8080, https: 8443 }), member('b')]);
  return s;
}

describe('basic check record', () => {
  it.each([
    ['an answer', endpoint(), { ok: true, httpStatus: 200, latencyMs: 3 }],
    [
      'a refusal keeps why',
      endpoint({ ok: false, httpStatus: undefined, error: 'ECONNREFUSED' }),
      { ok: false, error: 'ECONNREFUSED' },
    ],
  ])('%s', (_, r, expected) => {
    expect(basicCheckRecord(r, 5)).toMatchObject({ level: 'basic', at: 5, ...expected });
  });
});

describe('who and what a comprehensive check probes', () => {
  it('TLS: only the services named in tlsServices', () => {
    const s = fresh();
    expect(tlsTargets(s.nodes.a!, c)).toEqual([['https', 8443]]);
    expect(tlsTargets(s.nodes.a!, { tlsServices: ['http', 'https'] })).toEqual([
      ['http', 8080],
      ['https', 8443],
    ]);
    expect(tlsTargets(s.nodes.b!, c)).toEqual([]);
  });

  it('network from another member that is not quarantined; none when there is no other', () => {
    const s = fresh();
    expect(networkPeer(s, 'a')).toBe('b');
    quarantineNode(s, c, 'b', 'manual', 'x', 0);
    expect(networkPeer(s, 'a')).toBeUndefined();
    expect(networkPeer(s, 'b')).toBe('a');
  });
});

describe('comprehensive check results → parts and alerts', () => {
  type Case = [
    name: string,
    over: Partial<ComprehensiveResults>,
    parts: Record<string, { ok: boolean; detail: string | RegExp }>,
    alerts: { kind: string; severity: string; message?: RegExp }[],
  ];
  const cases: Case[] = [
    [
      'everything fine',
      {},
      {
        endpoint: { ok: true, detail: 'HTTP 200 in 3 ms' },
        resources: { ok: true, detail: 'cpu 25 %, memory 50 %, disk 70 %, lag p99 4 ms' },
        network: { ok: true, detail: '0.5 ms mean over 5, loss 0 % (from b)' },
        services: { ok: true, detail: '1 up' },
      },
      [],
    ],
    [
      'endpoint answers 503',
      { endpoint: ok([endpoint({ httpStatus: 503 })]) },
      { endpoint: { ok: false, detail: 'HTTP 503 in 3 ms' } },
      [],
    ],
    [
      'endpoint refuses',
      { endpoint: ok([endpoint({ ok: false, httpStatus: undefined, error: 'connect ECONNREFUSED' })]) },
      { endpoint: { ok: false, detail: 'connect ECONNREFUSED' } },
      [],
    ],
    [
      'a probe that failed is a failed part with why; the others stand',
      { resources: failed('activity ScheduleToClose timeout'), network: failed('no host') },
      {
        resources: { ok: false, detail: 'activity ScheduleToClose timeout' },
        network: { ok: false, detail: 'no host' },
        endpoint: { ok: true, detail: 'HTTP 200 in 3 ms' },
      },
      [],
    ],
    [
      'half the connects lost: network part fails, a warning',
      { network: ok(network(1.5, 0.6)) },
      { network: { ok: false, detail: '1.5 ms mean over 5, loss 60 % (from b)' } },
      [{ kind: 'network.loss', severity: 'warning', message: /packet loss 60 % from b/ }],
    ],
    [
      'nothing connected, measured from whichever host took it',
      { network: ok(network(null, 1)), peer: undefined },
      { network: { ok: false, detail: '- ms mean over 5, loss 100 % (from any host)' } },
      [{ kind: 'network.loss', severity: 'warning', message: /from a host/ }],
    ],
    [
      'a service port is down',
      { services: ok({ http: up, grpc: { ok: false, ms: 2, error: 'ECONNREFUSED' } }) },
      { services: { ok: false, detail: 'down: grpc (ECONNREFUSED)' } },
      [{ kind: 'service.down', severity: 'warning', message: /down: grpc \(ECONNREFUSED\)/ }],
    ],
    [
      'certificates: fine, warning under 14 days, critical under 3, and a failed handshake',
      {
        tls: [
          { service: 'https', result: ok(cert(90)) },
          { service: 'admin', result: ok(cert(10)) },
          { service: 'api', result: ok(cert(1)) },
          { service: 'old', result: ok({ ok: false, error: 'no certificate presented' }) },
          { service: 'gone', result: failed('no TLS handshake within 2000 ms') },
        ],
      },
      {
        'tls.https': { ok: true, detail: /expires in 90 days/ },
        'tls.admin': { ok: false, detail: /expires in 10 days/ },
        'tls.api': { ok: false, detail: /expires in 1 days/ },
        'tls.old': { ok: false, detail: 'no certificate presented' },
        'tls.gone': { ok: false, detail: 'no TLS handshake within 2000 ms' },
      },
      [
        { kind: 'tls.expiry', severity: 'warning', message: /^admin: / },
        { kind: 'tls.expiry', severity: 'critical', message: /^api: / },
      ],
    ],
  ];

  it.each(cases)('%s', (_, over, parts, alerts) => {
    const s = fresh();
    const out = applyComprehensiveCheck(s, c, 'a', 'comprehensive', results(over), 10);
    for (const [name, p] of Object.entries(parts))
      expect({ name, ...out.record.parts?.[name] }).toEqual({
        name,
        ok: p.ok,
        detail: typeof p.detail === 'string' ? p.detail : expect.stringMatching(p.detail),
      });
    expect(out.record.ok).toBe(Object.values(out.record.parts ?? {}).every((p) => p.ok));
    expect(out.alerts).toEqual(
      alerts.map((a) =>
        expect.objectContaining({
          ...a,
          nodeId: 'a',
          message: a.message ? expect.stringMatching(a.message) : expect.any(String),
        }),
      ),
    );
    // alerts are in state too, with increasing ids
    expect(s.alerts.map((a) => a.id)).toEqual(out.alerts.map((_, i) => i + 1));
  });

  it('feeds cpu, memory, disk and network latency into the baselines', () => {
    const s = fresh();
    applyComprehensiveCheck(s, c, 'a', 'comprehensive', results(), 10);
    expect(Object.keys(s.baselines.a ?? {}).sort()).toEqual(['cpu', 'disk', 'memory', 'network']);
    expect(s.baselines.a?.network?.samples).toEqual([0.5]);
    applyComprehensiveCheck(
      s,
      c,
      'a',
      'comprehensive',
      results({ resources: failed('x'), network: ok(network(null, 1)) }),
      11,
    );
    expect(s.baselines.a?.cpu?.samples).toHaveLength(1);
    expect(s.baselines.a?.network?.samples).toHaveLength(1);
  });

  it('an anomaly in the resources raises its alert', () => {
    const s = fresh();
    for (let i = 0; i < 19; i++)
      applyComprehensiveCheck(
        s,
        c,
        'a',
        'comprehensive',
        results({ resources: ok({ ...resources, cpu: i % 2 ? 0.5 : 0.3 }) }),
        i,
      );
    const out = applyComprehensiveCheck(
      s,
      c,
      'a',
      'comprehensive',
      results({ resources: ok({ ...resources, cpu: 0.95 }) }),
      19,
    );
    expect(out.alerts).toEqual([expect.objectContaining({ kind: 'anomaly.cpu', severity: 'critical' })]);
  });

  it('a deep check is kept apart from comprehensive ones', () => {
    const s = fresh();
    applyComprehensiveCheck(s, c, 'a', 'comprehensive', results(), 1);
    applyComprehensiveCheck(s, c, 'a', 'deep', results({ endpoint: failed('x') }), 2);
    expect(s.nodes.a?.lastComprehensive).toMatchObject({ level: 'comprehensive', at: 1, ok: true });
    expect(s.nodes.a?.lastDeep).toMatchObject({ level: 'deep', at: 2, ok: false });
  });

  it('a node that left while it was checked: nothing recorded on it', () => {
    const s = fresh();
    syncMembers(s, [member('b')]);
    const out = applyComprehensiveCheck(s, c, 'a', 'comprehensive', results(), 1);
    expect(out.record.ok).toBe(true);
    expect(s.nodes.a).toBeUndefined();
    expect(s.baselines.a).toBeUndefined();
  });
});
