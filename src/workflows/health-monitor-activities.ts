/**
 * How the HealthMonitor runs its activities (workflow code, called from its loop): the probes of a
 * comprehensive or deep check, in parallel and each on its proper queue; the operator's recovery
 * procedure; the webhook of an escalation. What the results mean is decided in src/core/health.
 *
 * Invariants:
 * 1. A probe that fails is settled with the failure's own words and never fails the check.
 * 2. The recovery and the webhook throw when they fail (src/activities/health.ts), so the retry
 *    policies of ACTIVITY.recovery / ACTIVITY.webhook run; what is left is recorded on the alert or
 *    the escalation, never thrown into the loop.
 */
import { ActivityFailure, proxyActivities, setCurrentDetails } from '@temporalio/workflow';
import type { Activities, NodeVitalsRead } from '../activities';
import type {
  ActionResult,
  Alert,
  HealthMonitorConfig,
  HealthMonitorState,
  NetworkPerformance,
  NodeHealthRecord,
  PortCheck,
  ResourceSample,
  TlsExpiry,
} from '../contracts/health-monitor';
import { healthEscalationSignal } from '../contracts/health-monitor';
import type { ConnectivityResult } from '../contracts/node-discovery';
import { networkPeer, tlsTargets, type ComprehensiveResults, type Settled } from '../core/health/checks';
import { openEscalation } from '../core/health/escalation';
import { escalate, recordEscalation } from '../core/health/monitor';
import { healthDetails } from '../core/health/view';
import { ACTIVITY } from './activity-options';
import type { Agent } from './agent-base';

type HealthAgent = Agent<HealthMonitorConfig, HealthMonitorState>;

/**
 * The basic check (TCP + GET /healthz) of `nodes`, from any host, in one activity. Returned as the
 * activity's own promise: legacy runs await exactly that (invariant 5 of health-monitor.ts).
 */
export function probeBasic(c: HealthMonitorConfig, nodes: NodeHealthRecord[]): Promise<ConnectivityResult[]> {
  const { checkConnectivity } = proxyActivities<Activities>(ACTIVITY.healthProbe(c.basicTimeoutMs + 5_000));
  return checkConnectivity({
    targets: nodes.map((n) => ({ address: n.address, healthPort: n.healthPort, nodeId: n.nodeId })),
    timeoutMs: c.basicTimeoutMs,
  });
}

/** The vitals the nodes' leases carried since each was last read (their NodeAgents' memos), from any host. */
export function readNodeVitals(
  clusterId: string,
  nodes: NodeHealthRecord[],
): Promise<NodeVitalsRead[]> {
  const { readNodeVitals: read } = proxyActivities<Activities>(ACTIVITY.vitalsRead);
  return read({ clusterId, nodes: nodes.map((n) => ({ nodeId: n.nodeId, since: n.vitalsSeenAt })) });
}

/** The probes of one check, started: `settled` resolves once every one has. */
export interface Probes {
  settled: Promise<
    [
      Settled<ConnectivityResult[]>,
      Settled<ResourceSample>,
      Settled<NetworkPerformance>,
      Settled<Record<string, PortCheck>>,
      ...Settled<TlsExpiry>[],
    ]
  >;
  tls: string[];
  peer?: string;
}

/**
 * Starts every part of a comprehensive (or deep) check of `n`, in parallel under one timeout. The
 * caller awaits `settled` itself: an await of the same promise as before this file existed, so
 * legacy runs resume in the same microtask order (invariant 5 of health-monitor.ts).
 */
export function probeNode(
  s: HealthMonitorState,
  c: HealthMonitorConfig,
  n: NodeHealthRecord,
  level: 'comprehensive' | 'deep',
): Probes {
  const timeout = c.comprehensiveTimeoutMs;
  const shared = proxyActivities<Activities>(ACTIVITY.healthProbe(timeout));
  const onHost = proxyActivities<Activities>(ACTIVITY.healthProbe(timeout, n.nodeId));
  const peer = networkPeer(s, n.nodeId);
  const fromPeer = peer ? proxyActivities<Activities>(ACTIVITY.healthProbe(timeout, peer)) : shared;
  const tls = tlsTargets(n, c);
  const settled = Promise.all([
    settle(
      shared.checkConnectivity({
        targets: [{ address: n.address, healthPort: n.healthPort, nodeId: n.nodeId }],
        timeoutMs: Math.min(c.basicTimeoutMs, timeout),
      }),
    ),
    settle<ResourceSample>(level === 'deep' ? onHost.deepInspect({ sampleMs: 1_000 }) : onHost.sampleResources()),
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
    ...tls.map(([, port]) =>
      settle(shared.tlsExpiry({ address: n.address, port, timeoutMs: Math.min(2_000, timeout) })),
    ),
  ] as const);
  return { settled, tls: tls.map(([name]) => name), peer };
}

/** The settled probes as src/core/health/checks reads them. */
export function resultsOf(probes: Probes, settled: Awaited<Probes['settled']>): ComprehensiveResults {
  const [endpoint, resources, network, services, ...tls] = settled;
  const tlsOf = (i: number): Settled<TlsExpiry> => tls[i] ?? { ok: false, error: 'no result' };
  const peer = probes.peer;
  return {
    endpoint,
    resources,
    network,
    services,
    tls: probes.tls.map((service, i) => ({ service, result: tlsOf(i) })),
    peer,
  };
}

/** A critical alert runs the configured recovery, else escalates to manual intervention. */
export async function respond(agent: HealthAgent, alerts: Alert[]): Promise<void> {
  for (const a of alerts) {
    if (a.severity !== 'critical') continue;
    const rec = agent.config.recovery;
    if (rec && (rec.command || rec.http)) {
      const { runRecovery } = proxyActivities<Activities>(
        ACTIVITY.recovery(rec.timeoutMs, rec.command ? a.nodeId : undefined),
      );
      let result: ActionResult;
      try {
        result = await runRecovery({
          nodeId: a.nodeId,
          command: rec.command,
          http: rec.http,
          timeoutMs: rec.timeoutMs,
        });
      } catch (err) {
        result = { ok: false, detail: failureText(err) };
      }
      a.action = { type: 'recovery', at: Date.now(), ok: result.ok, detail: result.detail };
      // A result with ok false comes from histories recorded before the activity threw.
      if (!result.ok) await escalateAlert(agent, a, `recovery failed: ${result.detail}`);
    } else {
      await escalateAlert(agent, a, 'no recovery procedure configured');
    }
  }
}

/**
 * Manual intervention at one level of the escalation matrix (config `escalation`; level 0 when an
 * alert is escalated, the next ones from the loop while its node has not recovered): recorded in
 * state and the Web UI's details, POSTed to the webhook when the level has that channel and a URL is
 * set, signalled to the orchestrator when it has that channel.
 */
export async function escalateAlert(agent: HealthAgent, a: Alert, reason: string, level = 0): Promise<void> {
  const now = Date.now();
  const levels = agent.config.escalation;
  const channels = levels[level]?.channels ?? ['ui', 'webhook'];
  const esc = escalate(a, reason, now);
  if (levels.length > 1) Object.assign(esc, { level, channels });
  const url = agent.config.webhookUrl;
  if (url && channels.includes('webhook')) {
    const { notifyWebhook } = proxyActivities<Activities>(ACTIVITY.webhook);
    try {
      esc.webhook = await notifyWebhook({
        url,
        body: {
          cluster: agent.clusterId,
          kind: 'manual_intervention',
          alert: a,
          reason,
          ...(levels.length > 1 ? { level } : {}),
        },
        timeoutMs: 5_000,
      });
    } catch (err) {
      esc.webhook = { ok: false, detail: failureText(err) };
    }
  }
  if (channels.includes('orchestrator'))
    agent.notify('orchestrator', healthEscalationSignal, { nodeId: a.nodeId, level, reason, alert: a });
  recordEscalation(agent.state, esc);
  if (level === 0) openEscalation(agent.state, levels, { alertId: a.id, nodeId: a.nodeId, reason }, now);
  setCurrentDetails(healthDetails(agent.state));
}

/** Settles a probe: its value, or why there is none (invariant 1). */
function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (v) => ({ ok: true as const, v }),
    (e: unknown) => ({ ok: false as const, error: failureText(e) }),
  );
}

/** An activity's failure in its own words: the cause an ActivityFailure wraps. */
export function failureText(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  if (err instanceof Error) return err.cause instanceof Error ? err.cause.message : err.message;
  return String(err);
}
