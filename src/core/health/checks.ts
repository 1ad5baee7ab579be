/**
 * What a check's probe results mean: a basic check's record, and a comprehensive or deep check's
 * parts, metrics and alerts. The HealthMonitor runs the probes (activities, in parallel, each
 * settled on its own) and hands their results here; these functions record them in its state.
 *
 * Invariants:
 * 1. A probe that failed is a part that failed, with why; it never hides the other parts.
 * 2. Metrics are observed and alerts raised in a fixed order (resources, network, services, then
 *    TLS in the order probed), so alert ids never depend on which probe answered first.
 * 3. A deep check is recorded apart from comprehensive ones (`lastDeep` / `lastComprehensive`).
 */
import type {
  Alert,
  CheckRecord,
  HealthMonitorConfig,
  HealthMonitorState,
  NetworkPerformance,
  NodeHealthRecord,
  PortCheck,
  ResourceSample,
  Severity,
  TlsExpiry,
} from '../../contracts/health-monitor';
import type { ConnectivityResult } from '../../contracts/node-discovery';
import { addSample, observeMetric, raiseAlert, raiseRules, type ObserveOptions } from './monitor';

/** A probe's outcome: its value, or why there is none. */
export type Settled<T> = { ok: true; v: T } | { ok: false; error: string };

export interface ComprehensiveResults {
  /** The basic check of the node's endpoint (one target). */
  endpoint: Settled<ConnectivityResult[]>;
  /** Sampled on the node's own host (a deep check's sample is a `DeepSample`). */
  resources: Settled<ResourceSample>;
  /** TCP connects from `peer`. */
  network: Settled<NetworkPerformance>;
  services: Settled<Record<string, PortCheck>>;
  /** The certificate of each TLS service probed (`tlsTargets`), in that order. */
  tls: { service: string; result: Settled<TlsExpiry> }[];
  /** The host the network was measured from; undefined: whichever host took it. */
  peer?: string;
}

/** A basic check (TCP + GET /healthz) as the node's record keeps it. */
export function basicCheckRecord(r: ConnectivityResult, now: number): CheckRecord {
  return {
    level: 'basic',
    at: now,
    ok: r.ok,
    httpStatus: r.httpStatus,
    latencyMs: r.latencyMs,
    ...(r.error ? { error: r.error } : {}),
  };
}

/** The node's services whose certificate expiry is checked: name and port. */
export function tlsTargets(n: NodeHealthRecord, c: Pick<HealthMonitorConfig, 'tlsServices'>): [string, number][] {
  return Object.entries(n.services).filter(([name]) => c.tlsServices.includes(name));
}

/** The host that measures a node's network: another member, not quarantined; undefined when none. */
export function networkPeer(s: HealthMonitorState, nodeId: string): string | undefined {
  return Object.keys(s.nodes).find((id) => id !== nodeId && !s.quarantine[id]);
}

/**
 * Records a comprehensive or deep check of `nodeId`: each part with what it found, the metrics it
 * feeds into the baselines and anomaly models, and the alerts it raised (returned, to act on).
 */
export function applyComprehensiveCheck(
  s: HealthMonitorState,
  c: HealthMonitorConfig,
  nodeId: string,
  level: 'comprehensive' | 'deep',
  r: ComprehensiveResults,
  now: number,
  o: ObserveOptions = {},
): { record: CheckRecord; alerts: Alert[] } {
  const parts: NonNullable<CheckRecord['parts']> = {};
  const alerts: Alert[] = [];
  const alert = (severity: Severity, kind: string, message: string) =>
    alerts.push(raiseAlert(s, c, { nodeId, severity, kind, message, source: 'health-monitor' }, now));
  const observe = (metric: 'cpu' | 'memory' | 'network', value: number) => {
    const a = observeMetric(s, c, nodeId, metric, value, now, o);
    if (a) alerts.push(a);
  };

  if (r.endpoint.ok) {
    const e = r.endpoint.v[0];
    const ok = !!e?.ok && e.httpStatus !== undefined && e.httpStatus < 300;
    parts.endpoint = { ok, detail: e?.ok ? `HTTP ${e.httpStatus} in ${e.latencyMs} ms` : (e?.error ?? 'no result') };
  } else parts.endpoint = { ok: false, detail: r.endpoint.error };

  if (r.resources.ok) {
    const v = r.resources.v;
    parts.resources = {
      ok: true,
      detail: `cpu ${pct(v.cpu)}, memory ${pct(v.memory)}, disk ${pct(v.disk)}, lag p99 ${v.lagP99Ms} ms`,
    };
    observe('cpu', v.cpu);
    observe('memory', v.memory);
    // observeMetric skips a node that left meanwhile; so does this (its baselines are gone).
    if (s.nodes[nodeId]) addSample(s, nodeId, 'disk', v.disk, now, c.baselineWindow);
  } else parts.resources = { ok: false, detail: r.resources.error };

  const from = r.peer ?? 'any host';
  if (r.network.ok) {
    const v = r.network.v;
    parts.network = {
      ok: v.loss < 0.5,
      detail: `${v.meanMs ?? '-'} ms mean over ${c.networkProbes}, loss ${pct(v.loss)} (from ${from})`,
    };
    if (v.meanMs !== null) {
      observe('network', v.meanMs);
      alerts.push(...raiseRules(s, c, nodeId, 'network', v.meanMs, now));
    }
    if (v.loss >= 0.5) alert('warning', 'network.loss', `packet loss ${pct(v.loss)} from ${r.peer ?? 'a host'}`);
  } else parts.network = { ok: false, detail: r.network.error };

  if (r.services.ok) {
    const down = Object.entries(r.services.v).filter(([, p]) => !p.ok);
    const detail = down.length
      ? `down: ${down.map(([k, p]) => `${k} (${p.error})`).join(', ')}`
      : `${Object.keys(r.services.v).length} up`;
    parts.services = { ok: down.length === 0, detail };
    if (down.length) alert('warning', 'service.down', detail);
  } else parts.services = { ok: false, detail: r.services.error };

  for (const { service, result: t } of r.tls) {
    if (!t.ok || !t.v.ok) {
      parts[`tls.${service}`] = { ok: false, detail: t.ok ? (t.v.error ?? 'no result') : t.error };
      continue;
    }
    const days = t.v.daysLeft ?? 0;
    const severity = days < c.tlsCriticalDays ? 'critical' : days < c.tlsWarningDays ? 'warning' : undefined;
    parts[`tls.${service}`] = { ok: !severity, detail: `certificate expires in ${days} days (${t.v.validTo})` };
    if (severity) alert(severity, 'tls.expiry', `${service}: certificate expires in ${days} days`);
  }

  const record: CheckRecord = { level, at: now, ok: Object.values(parts).every((p) => p.ok), parts };
  const node = s.nodes[nodeId];
  if (node && level === 'deep') node.lastDeep = record;
  else if (node) node.lastComprehensive = record;
  return { record, alerts };
}

function pct(x: number): string {
  return `${Math.round(x * 1000) / 10} %`;
}
