/**
 * HealthMonitor: checks every member on its own cadence (basic, comprehensive, deep, predictive),
 * keeps baselines per node and metric, raises alerts from the anomaly models, runs the operator's
 * recovery procedure on a critical alert (or escalates to manual intervention), and keeps the
 * quarantine list. Health transitions go to NodeDiscovery and the LoadBalancer (src/core/health).
 *
 * Invariants:
 * 1. Checks of one kind never overlap: a round that is still running when its timer fires again
 *    is not started twice.
 * 2. Every probe is an activity with its own timeout and no automatic retry (the next round is the
 *    retry), on the queue of the host it must run from.
 * 3. Only transitions of a node's health are signalled, once each.
 */
import {
  getExternalWorkflowHandle,
  proxyActivities,
  setCurrentDetails,
  type SignalDefinition,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { hostTaskQueue } from '../contracts/agents';
import type { MemberSummary, NodeHealth } from '../contracts/common';
import {
  HealthAlertPayload,
  HealthMonitorConfig,
  PerformHealthCheck,
  QuarantineNodePayload,
  ReleaseNodePayload,
  alertsQuery,
  baselinesQuery,
  healthAlertSignal,
  nodeHealthDetailQuery,
  performHealthCheckSignal,
  quarantineNodeSignal,
  quarantineQuery,
  releaseNodeSignal,
  type Alert,
  type CheckRecord,
  type HealthLevel,
  type HealthMonitorState,
  type HealthView,
  type NodeHealthRecord,
  type QuarantineReason,
} from '../contracts/health-monitor';
import { lbNodeHealthChangeSignal } from '../contracts/load-balancer';
import { NodeHealthChangePayload, nodeHealthChangeSignal } from '../contracts/node-discovery';
import { healthQuery } from '../contracts/common';
import { pushBounded } from '../core/bounded';
import {
  addSample,
  applyBasicCheck,
  deriveHealth,
  emptyHealthState,
  observeMetric,
  predictNode,
  quarantineNode,
  raiseAlert,
  releaseNode,
  reviewQuarantine,
  syncMembers,
} from '../core/health/monitor';
import { Agent } from './agent-base';

export const HEALTH_MONITOR_ROLE = 'health-monitor';

export async function healthMonitorWorkflow(input: unknown): Promise<void> {
  const ref: { m?: Monitor } = {};
  const agent = new Agent<HealthMonitorConfig, HealthMonitorState>(
    {
      role: HEALTH_MONITOR_ROLE,
      configSchema: HealthMonitorConfig,
      initialState: emptyHealthState,
      intervals: (c) => ({
        topologySync: c.topologySyncIntervalMs,
        basic: c.basicIntervalMs,
        comprehensive: c.comprehensiveIntervalMs,
        deep: c.deepIntervalMs,
        predictive: c.predictiveIntervalMs,
        recovery: c.recoveryCheckIntervalMs,
      }),
      health: (s) => {
        const q = Object.keys(s.quarantine).length;
        const unhealthy = Object.values(s.nodes).filter((n) => n.health === 'unhealthy').length;
        const reasons = [
          ...(unhealthy ? [`${unhealthy} node(s) unhealthy`] : []),
          ...(q ? [`${q} node(s) quarantined`] : []),
        ];
        return { status: 'healthy', reasons };
      },
      onTopologyUpdate: (u) => ref.m?.members(u.version, u.members),
      onHealthCheckRequest: (p) => ref.m?.request({ nodeId: p.nodeId, level: p.level }),
    },
    input,
  );
  const m = new Monitor(agent);
  ref.m = m;

  // Message-handling API
  agent.onSignal(performHealthCheckSignal, PerformHealthCheck, (p) => m.request(p));
  agent.onSignal(healthAlertSignal, HealthAlertPayload, (p) => m.externalAlert(p));
  agent.onSignal(quarantineNodeSignal, QuarantineNodePayload, (p) => m.quarantine(p));
  agent.onSignal(releaseNodeSignal, ReleaseNodePayload, (p) => m.release(p));
  agent.onSignal(nodeHealthChangeSignal, NodeHealthChangePayload, (p) => m.selfReport(p));
  agent.onQuery(healthQuery, (): HealthView => ({ ...agent.currentHealth(), nodes: m.view() }));
  agent.onQuery(nodeHealthDetailQuery, () => Object.values(agent.state.nodes));
  agent.onQuery(baselinesQuery, () => agent.state.baselines);
  agent.onQuery(alertsQuery, () => agent.state.alerts);
  agent.onQuery(quarantineQuery, () => Object.values(agent.state.quarantine));

  await m.readMembers();
  await agent.run({
    timers: {
      topologySync: () => m.readMembers(),
      basic: () => m.basicRound(),
      comprehensive: () => m.start('comprehensive'),
      deep: () => m.start('deep'),
      predictive: () => m.predictiveRound(),
      recovery: () => m.recoveryRound(),
    },
    hasWork: () => m.pending.length > 0,
    doWork: () => m.drain(),
  });
}

class Monitor {
  pending: PerformHealthCheck[] = [];
  private running: Partial<Record<string, boolean>> = {};

  constructor(private readonly agent: Agent<HealthMonitorConfig, HealthMonitorState>) {}

  private get s(): HealthMonitorState {
    return this.agent.state;
  }
  private get c(): HealthMonitorConfig {
    return this.agent.config;
  }

  members(version: number, members: MemberSummary[]): void {
    if (version < this.s.membersVersion) return;
    this.s.membersVersion = version;
    syncMembers(this.s, members);
  }

  request(p: PerformHealthCheck): void {
    if (p.nodeId !== undefined && !this.s.nodes[p.nodeId]) throw new Error(`nodeId: ${p.nodeId} is not a member`);
    this.pending.push(p);
  }

  async drain(): Promise<void> {
    const batch = this.pending.splice(0);
    for (const p of batch) {
      if (p.level === 'basic') await this.basicRound(p.nodeId);
      else if (p.level === 'predictive') await this.predictiveRound(p.nodeId);
      else await this.start(p.level, p.nodeId);
    }
  }

  externalAlert(p: HealthAlertPayload): void {
    const alert = raiseAlert(this.s, this.c, { ...p, source: p.source ?? 'external' }, Date.now());
    void this.onAlerts([alert]);
  }

  selfReport(p: NodeHealthChangePayload): void {
    const n = this.s.nodes[p.nodeId];
    if (!n || p.health === undefined) return;
    n.selfReported = { health: p.health, reason: p.reason, at: Date.now() };
    void this.publish(p.nodeId);
  }

  quarantine(p: QuarantineNodePayload): void {
    if (!this.s.nodes[p.nodeId]) throw new Error(`nodeId: ${p.nodeId} is not a member`);
    void this.enterQuarantine(p.nodeId, 'manual', p.reason, p.durationMs);
  }

  release(p: ReleaseNodePayload): void {
    if (!this.s.quarantine[p.nodeId]) throw new Error(`nodeId: ${p.nodeId} is not quarantined`);
    releaseNode(this.s, p.nodeId, p.reason ?? 'released by the operator', Date.now());
    void this.publish(p.nodeId);
  }

  view(): HealthView['nodes'] {
    const out: HealthView['nodes'] = {};
    for (const n of Object.values(this.s.nodes))
      out[n.nodeId] = {
        health: n.health,
        reasons: n.reasons,
        lastCheck: n.lastCheck,
        consecutiveFailures: n.consecutiveFailures,
        quarantined: !!this.s.quarantine[n.nodeId],
      };
    return out;
  }

  async readMembers(): Promise<void> {
    const read = await this.agent.readMembers();
    if (read) this.members(read.version, read.members);
  }

  /** Basic check: TCP + GET /healthz of every member (or one), from any host, in one activity. */
  async basicRound(only?: string): Promise<void> {
    const key = `basic:${only ?? '*'}`;
    if (this.running[key]) return; // invariant 1
    const nodes = Object.values(this.s.nodes).filter((n) => only === undefined || n.nodeId === only);
    if (!nodes.length) return;
    this.running[key] = true;
    try {
      const { checkConnectivity } = proxyActivities<Activities>({
        scheduleToCloseTimeout: this.c.basicTimeoutMs + 5_000,
        retry: { maximumAttempts: 1 },
      });
      let results;
      try {
        results = await checkConnectivity({
          targets: nodes.map((n) => ({ address: n.address, healthPort: n.healthPort, nodeId: n.nodeId })),
          timeoutMs: this.c.basicTimeoutMs,
        });
      } catch {
        return; // no host took the check: no evidence about the nodes
      }
      const now = Date.now();
      this.s.checks.basic += 1;
      for (const [i, r] of results.entries()) {
        const n = nodes[i] as NodeHealthRecord;
        const check: CheckRecord = {
          level: 'basic',
          at: now,
          ok: r.ok,
          httpStatus: r.httpStatus,
          latencyMs: r.latencyMs,
          ...(r.error ? { error: r.error } : {}),
        };
        const out = applyBasicCheck(this.s, this.c, n.nodeId, check, now);
        await this.onAlerts(out.alerts);
        if (out.quarantine) await this.enterQuarantine(n.nodeId, out.quarantine.reason, out.quarantine.detail);
        await this.publish(n.nodeId);
      }
      await this.reviewQuarantine();
    } finally {
      this.running[key] = false;
    }
  }

  /** Quarantined nodes are checked more often; passing checks release them. */
  async recoveryRound(): Promise<void> {
    for (const id of Object.keys(this.s.quarantine)) if (this.s.nodes[id]) await this.basicRound(id);
    await this.reviewQuarantine();
  }

  /** Comprehensive or deep check: every part in parallel, under one timeout, each on its proper queue. */
  async start(level: Exclude<HealthLevel, 'basic' | 'predictive'>, only?: string): Promise<void> {
    const key = `${level}:${only ?? '*'}`;
    if (this.running[key]) return;
    this.running[key] = true;
    try {
      const nodes = Object.values(this.s.nodes).filter((n) => only === undefined || n.nodeId === only);
      await Promise.all(nodes.map((n) => this.comprehensive(n, level)));
      this.s.checks[level] += 1;
      await this.reviewQuarantine();
    } finally {
      this.running[key] = false;
    }
  }

  private async comprehensive(n: NodeHealthRecord, level: 'comprehensive' | 'deep'): Promise<void> {
    const c = this.c;
    const timeout = c.comprehensiveTimeoutMs;
    const opts = { scheduleToCloseTimeout: timeout, retry: { maximumAttempts: 1 } };
    const shared = proxyActivities<Activities>(opts);
    const onHost = proxyActivities<Activities>({ ...opts, taskQueue: hostTaskQueue(n.nodeId) });
    const peer = Object.keys(this.s.nodes).find((id) => id !== n.nodeId && !this.s.quarantine[id]);
    const fromPeer = peer ? proxyActivities<Activities>({ ...opts, taskQueue: hostTaskQueue(peer) }) : shared;
    const tlsPorts = Object.entries(n.services).filter(([name]) => c.tlsServices.includes(name));
    const settle = <T>(p: Promise<T>) =>
      p.then(
        (v) => ({ ok: true as const, v }),
        (e: unknown) => ({
          ok: false as const,
          error: e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e),
        }),
      );
    const [conn, resources, network, services, ...tlsResults] = await Promise.all([
      settle(
        shared.checkConnectivity({
          targets: [{ address: n.address, healthPort: n.healthPort, nodeId: n.nodeId }],
          timeoutMs: Math.min(c.basicTimeoutMs, timeout),
        }),
      ),
      settle(level === 'deep' ? onHost.deepInspect({ sampleMs: 1_000 }) : onHost.sampleResources()),
      settle(
        fromPeer.networkPerformance({
          address: n.address,
          port: n.healthPort,
          probes: c.networkProbes,
          timeoutMs: Math.min(1_000, timeout),
        }),
      ),
      settle(
        shared.serviceAvailability({ address: n.address, services: n.services, timeoutMs: Math.min(1_000, timeout) }),
      ),
      ...tlsPorts.map(([, port]) =>
        settle(shared.tlsExpiry({ address: n.address, port, timeoutMs: Math.min(2_000, timeout) })),
      ),
    ]);
    const now = Date.now();
    const parts: CheckRecord['parts'] = {};
    const alerts: Alert[] = [];
    if (conn.ok) {
      const r = conn.v[0];
      const ok = !!r?.ok && r.httpStatus !== undefined && r.httpStatus < 300;
      parts.endpoint = { ok, detail: r?.ok ? `HTTP ${r.httpStatus} in ${r.latencyMs} ms` : (r?.error ?? 'no result') };
    } else parts.endpoint = { ok: false, detail: conn.error };
    if (resources.ok) {
      const v = resources.v;
      parts.resources = {
        ok: true,
        detail: `cpu ${pct(v.cpu)}, memory ${pct(v.memory)}, disk ${pct(v.disk)}, lag p99 ${v.lagP99Ms} ms`,
      };
      for (const metric of ['cpu', 'memory'] as const) {
        const a = observeMetric(this.s, c, n.nodeId, metric, v[metric], now);
        if (a) alerts.push(a);
      }
      addSample(this.s, n.nodeId, 'disk', v.disk, now, c.baselineWindow);
    } else parts.resources = { ok: false, detail: resources.error };
    if (network.ok) {
      const v = network.v;
      parts.network = {
        ok: v.loss < 0.5,
        detail: `${v.meanMs ?? '-'} ms mean over ${c.networkProbes}, loss ${pct(v.loss)} (from ${peer ?? 'any host'})`,
      };
      if (v.meanMs !== null) {
        const a = observeMetric(this.s, c, n.nodeId, 'network', v.meanMs, now);
        if (a) alerts.push(a);
      }
      if (v.loss >= 0.5)
        alerts.push(
          raiseAlert(
            this.s,
            c,
            {
              nodeId: n.nodeId,
              severity: 'warning',
              kind: 'network.loss',
              message: `packet loss ${pct(v.loss)} from ${peer ?? 'a host'}`,
              source: 'health-monitor',
            },
            now,
          ),
        );
    } else parts.network = { ok: false, detail: network.error };
    if (services.ok) {
      const down = Object.entries(services.v).filter(([, r]) => !r.ok);
      parts.services = {
        ok: down.length === 0,
        detail: down.length
          ? `down: ${down.map(([k, r]) => `${k} (${r.error})`).join(', ')}`
          : `${Object.keys(services.v).length} up`,
      };
      if (down.length)
        alerts.push(
          raiseAlert(
            this.s,
            c,
            {
              nodeId: n.nodeId,
              severity: 'warning',
              kind: 'service.down',
              message: parts.services.detail,
              source: 'health-monitor',
            },
            now,
          ),
        );
    } else parts.services = { ok: false, detail: services.error };
    tlsPorts.forEach(([name], i) => {
      const r = tlsResults[i];
      if (!r || !r.ok || !r.v.ok) {
        parts[`tls.${name}`] = { ok: false, detail: r && !r.ok ? r.error : (r?.v.error ?? 'no result') };
        return;
      }
      const days = r.v.daysLeft ?? 0;
      const severity = days < c.tlsCriticalDays ? 'critical' : days < c.tlsWarningDays ? 'warning' : undefined;
      parts[`tls.${name}`] = { ok: !severity, detail: `certificate expires in ${days} days (${r.v.validTo})` };
      if (severity)
        alerts.push(
          raiseAlert(
            this.s,
            c,
            {
              nodeId: n.nodeId,
              severity,
              kind: 'tls.expiry',
              message: `${name}: certificate expires in ${days} days`,
              source: 'health-monitor',
            },
            now,
          ),
        );
    });
    const record: CheckRecord = { level, at: now, ok: Object.values(parts).every((p) => p.ok), parts };
    const node = this.s.nodes[n.nodeId];
    if (node && level === 'deep') node.lastDeep = record;
    else if (node) node.lastComprehensive = record;
    await this.onAlerts(alerts);
    await this.publish(n.nodeId);
  }

  async predictiveRound(only?: string): Promise<void> {
    const now = Date.now();
    this.s.checks.predictive += 1;
    for (const id of Object.keys(this.s.nodes)) {
      if (only !== undefined && id !== only) continue;
      await this.onAlerts(predictNode(this.s, this.c, id, now));
    }
  }

  private async enterQuarantine(
    nodeId: string,
    reason: QuarantineReason,
    detail: string,
    durationMs?: number,
  ): Promise<void> {
    const q = quarantineNode(this.s, this.c, nodeId, reason, detail, Date.now(), durationMs);
    if (!q) return;
    await this.publish(nodeId);
  }

  private async reviewQuarantine(): Promise<void> {
    const now = Date.now();
    const { release, expired } = reviewQuarantine(this.s, this.c, now);
    for (const r of release) {
      releaseNode(this.s, r.nodeId, r.why, now);
      await this.publish(r.nodeId);
    }
    for (const q of expired) {
      const alert = raiseAlert(
        this.s,
        this.c,
        {
          nodeId: q.nodeId,
          severity: 'critical',
          kind: 'quarantine.expired',
          message: `quarantined since ${new Date(q.since).toISOString()} (${q.reason}) and not recovered`,
          source: 'health-monitor',
        },
        now,
      );
      await this.escalate(alert, 'quarantine expired without recovery');
    }
  }

  /** A critical alert runs the configured recovery, else escalates to manual intervention. */
  private async onAlerts(alerts: Alert[]): Promise<void> {
    for (const a of alerts) {
      if (a.severity !== 'critical') continue;
      const rec = this.c.recovery;
      if (rec && (rec.command || rec.http)) {
        const acts = proxyActivities<Activities>({
          scheduleToCloseTimeout: rec.timeoutMs + 5_000,
          retry: { maximumAttempts: 2, initialInterval: '1s' },
          ...(rec.command ? { taskQueue: hostTaskQueue(a.nodeId) } : {}),
        });
        let result: { ok: boolean; detail: string };
        try {
          result = await acts.runRecovery({
            nodeId: a.nodeId,
            command: rec.command,
            http: rec.http,
            timeoutMs: rec.timeoutMs,
          });
        } catch (err) {
          result = { ok: false, detail: err instanceof Error ? err.message : String(err) };
        }
        a.action = { type: 'recovery', at: Date.now(), ok: result.ok, detail: result.detail };
        if (!result.ok) await this.escalate(a, `recovery failed: ${result.detail}`);
      } else {
        await this.escalate(a, 'no recovery procedure configured');
      }
    }
  }

  private async escalate(a: Alert, reason: string): Promise<void> {
    a.action ??= { type: 'escalated', at: Date.now(), detail: reason };
    const esc = {
      at: Date.now(),
      nodeId: a.nodeId,
      reason: `${a.message} — ${reason}`,
      alertId: a.id,
    } as HealthMonitorState['escalations'][number];
    if (this.c.webhookUrl) {
      const { notifyWebhook } = proxyActivities<Activities>({
        scheduleToCloseTimeout: '30s',
        retry: { maximumAttempts: 3, initialInterval: '1s' },
      });
      try {
        esc.webhook = await notifyWebhook({
          url: this.c.webhookUrl,
          body: { cluster: this.agent.clusterId, kind: 'manual_intervention', alert: a, reason },
          timeoutMs: 5_000,
        });
      } catch (err) {
        esc.webhook = { ok: false, detail: err instanceof Error ? err.message : String(err) };
      }
    }
    pushBounded(this.s.escalations, esc, 100);
    this.showDetails();
  }

  /** What an operator sees on this workflow's page in the Web UI ("Current details"). */
  private showDetails(): void {
    const lines: string[] = [];
    const recent = this.s.escalations.slice(-5);
    if (recent.length) {
      lines.push('**Manual intervention needed**');
      for (const e of recent) lines.push(`- ${new Date(e.at).toISOString()} ${e.nodeId}: ${e.reason}`);
    }
    const q = Object.values(this.s.quarantine);
    if (q.length) {
      lines.push('**Quarantined**');
      for (const x of q)
        lines.push(`- ${x.nodeId} (${x.reason}) until ${new Date(x.until).toISOString()}: ${x.detail}`);
    }
    const sick = Object.values(this.s.nodes).filter((n) => n.health === 'unhealthy' || n.health === 'degraded');
    if (sick.length) {
      lines.push('**Not healthy**');
      for (const n of sick) lines.push(`- ${n.nodeId}: ${n.health} — ${n.reasons.join('; ')}`);
    }
    setCurrentDetails(lines.length ? lines.join('\n') : 'All nodes healthy.');
  }

  /** Recomputes a node's health; on a transition tells NodeDiscovery and the LoadBalancer (invariant 3). */
  private async publish(nodeId: string): Promise<void> {
    const n = this.s.nodes[nodeId];
    if (!n) return;
    const { health, reasons } = deriveHealth(this.s, this.c, nodeId);
    n.reasons = reasons;
    const changed = health !== n.health;
    n.health = health;
    this.showDetails();
    if (!changed) return;
    if (health === 'unknown') return;
    const payload = {
      nodeId,
      health: health as NodeHealth,
      reason: reasons.join('; ') || 'checks pass',
      observer: HEALTH_MONITOR_ROLE,
    };
    await Promise.all([
      this.signal('node-discovery', nodeHealthChangeSignal, payload),
      this.signal('load-balancer', lbNodeHealthChangeSignal, payload),
    ]);
  }

  private async signal<T>(role: string, signal: SignalDefinition<[T]>, payload: T): Promise<void> {
    try {
      await getExternalWorkflowHandle(this.agent.workflowIdOf(role)).signal(signal, payload);
    } catch {
      // that agent does not run: it reads health from NodeDiscovery when it starts
    }
  }
}

function pct(x: number): string {
  return `${Math.round(x * 1000) / 10} %`;
}
