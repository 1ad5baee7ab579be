/**
 * HealthMonitor: checks every member on its own cadence (basic, comprehensive, deep, predictive),
 * keeps baselines per node and metric, raises alerts from the anomaly models, runs the operator's
 * recovery procedure on a critical alert (or escalates to manual intervention), and keeps the
 * quarantine list. Health transitions go to NodeDiscovery and the LoadBalancer. What check results
 * mean is decided in src/core/health; how the probes, the recovery and the webhook run is in
 * ./health-monitor-activities.ts; this file holds the messages, the rounds and the order of work.
 *
 * Invariants:
 * 1. Checks of one kind never overlap: a round that is still running when its timer fires again
 *    is not started twice.
 * 2. Every probe is an activity with its own timeout and no automatic retry (the next round is the
 *    retry), on the queue of the host it must run from.
 * 3. Only transitions of a node's health are signalled, once each.
 * 4. Handlers decide, the loop acts: a handler validates, changes state and queues — a critical
 *    alert in `toAct`, a health transition with `agent.notify`. Recoveries, webhooks and signals
 *    start from the loop, which does all queued work before it continues as new. (The alert
 *    handler used to launch the recovery on its own: a continue-as-new meanwhile carried the alert
 *    without its action, and the recovery's result was lost.)
 * 5. Runs that started before invariant 4 (`agent.loopActs` false) keep their recorded order of
 *    commands: their handlers launch the recovery or the signals at once, and `publish` signals
 *    directly instead of queuing. Only those runs take these paths.
 */
import { patched, setCurrentDetails } from '@temporalio/workflow';
import { pushBounded } from '../core/bounded';
import { roundAmongInstances } from './consensus/among-instances';
import { healthQuery, type MemberSummary } from '../contracts/common';
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
  type HealthLevel,
  type HealthMonitorState,
  type HealthView,
  type NodeHealthRecord,
  type QuarantineReason,
  type QuarantineRound,
} from '../contracts/health-monitor';
import { lbNodeHealthChangeSignal } from '../contracts/load-balancer';
import { NodeHealthChangePayload, failurePredictionSignal, nodeHealthChangeSignal } from '../contracts/node-discovery';
import { applyComprehensiveCheck, basicCheckRecord } from '../core/health/checks';
import {
  applyBasicCheck,
  emptyHealthState,
  expiredQuarantineAlert,
  observeVitals,
  predictNode,
  quarantineNode,
  raiseAlert,
  refreshHealth,
  releaseNode,
  reviewQuarantine,
  syncMembers,
  type ObserveOptions,
} from '../core/health/monitor';
import { dueEscalations, nextEscalationDue } from '../core/health/escalation';
import { failureRisk } from '../core/health/risk';
import { quarantineFor } from '../core/health/rules';
import { healthDetails, healthView, monitorHealth } from '../core/health/view';
import { healthMonitorVote, type VoteDecision } from '../core/consensus/votes';
import { Agent } from './agent-base';
import { escalateAlert, probeBasic, probeNode, readNodeVitals, respond, resultsOf } from './health-monitor-activities';

export const HEALTH_MONITOR_ROLE = 'health-monitor';
/** Patch: checks and membership reads run beside the loop (runs before it awaited them in the loop). */
export const HM_CHECKS_BESIDE_LOOP = 'hm-checks-beside-loop';
/**
 * Patch: a host that reports itself unhealthy (its own health endpoint fails) is unhealthy — out of
 * routing within about a beat — and its report that it is well again is confirmed by a basic check
 * of that node at once (runs before it held self-reports as degraded at most).
 */
export const HM_HOST_UNHEALTHY = 'hm-host-unhealthy';
/** The host's word that it is healthy counts before the monitor's first check (DeriveOptions). */
export const HM_HOST_WORD_BEFORE_CHECK = 'hm-host-word-before-check';
/**
 * Patch: the CPU and memory models take the vitals the hosts' leases carry (read from the
 * NodeAgents' memos every vitalsIntervalMs), and every model judges on evidence (k of the last n
 * samples, floors, hysteresis) instead of on the newest sample alone.
 */
export const HM_LEASE_VITALS = 'hm-lease-vitals';

export async function healthMonitorWorkflow(input: unknown): Promise<void> {
  const ref: { m?: Monitor } = {};
  const leaseVitals = patched(HM_LEASE_VITALS);
  const agent = new Agent<HealthMonitorConfig, HealthMonitorState>(
    {
      role: HEALTH_MONITOR_ROLE,
      configSchema: HealthMonitorConfig,
      initialState: emptyHealthState,
      vote: (p): VoteDecision => {
        const nodes: Record<string, { health: string; lastCheckAt?: number }> = {};
        for (const [id, n] of Object.entries(agent.state.nodes as HealthMonitorState['nodes'])) nodes[id] = { health: n.health, lastCheckAt: n.lastCheck?.at };
        return healthMonitorVote(p.topic, p.value, nodes, Date.now(), 3 * agent.config.basicIntervalMs, agent.state.alerts);
      },
      intervals: (c) => ({
        topologySync: c.topologySyncIntervalMs,
        basic: c.basicIntervalMs,
        comprehensive: c.comprehensiveIntervalMs,
        deep: c.deepIntervalMs,
        predictive: c.predictiveIntervalMs,
        recovery: c.recoveryCheckIntervalMs,
        ...(leaseVitals ? { vitals: c.vitalsIntervalMs } : {}),
      }),
      health: monitorHealth,
      onTopologyUpdate: (u) => ref.m?.members(u.version, u.members),
      onHealthCheckRequest: (p) => ref.m?.request({ nodeId: p.nodeId, level: p.level }),
    },
    input,
  );
  const m = new Monitor(agent, leaseVitals);
  ref.m = m;

  // Message-handling API
  agent.onSignal(performHealthCheckSignal, PerformHealthCheck, (p) => m.request(p));
  agent.onSignal(healthAlertSignal, HealthAlertPayload, (p) => m.externalAlert(p));
  agent.onSignal(quarantineNodeSignal, QuarantineNodePayload, (p) => m.quarantine(p));
  agent.onSignal(releaseNodeSignal, ReleaseNodePayload, (p) => m.release(p));
  agent.onSignal(nodeHealthChangeSignal, NodeHealthChangePayload, (p) => m.selfReport(p));
  agent.onQuery(healthQuery, (): HealthView => ({ ...agent.currentHealth(), nodes: healthView(agent.state) }));
  agent.onQuery(nodeHealthDetailQuery, () => Object.values(agent.state.nodes));
  agent.onQuery(baselinesQuery, () => agent.state.baselines);
  agent.onQuery(alertsQuery, () => agent.state.alerts);
  agent.onQuery(quarantineQuery, () => Object.values(agent.state.quarantine));

  // A fresh monitor waits for the membership (it checks members); a continued one has it carried.
  if (m.beside && agent.state.membersVersion > 0) await m.launch('members', () => m.readMembers());
  else await m.readMembers();
  // Runs before the patch call the rounds exactly as they recorded them (awaited, not wrapped).
  const timers: Record<string, () => Promise<unknown>> = m.beside
    ? {
        topologySync: () => m.launch('members', () => m.readMembers()),
        basic: () => m.launch('basic:*', () => m.basicRound()),
        comprehensive: () => m.launch('comprehensive:*', () => m.start('comprehensive')),
        deep: () => m.launch('deep:*', () => m.start('deep')),
        predictive: () => m.predictiveRound(),
        recovery: () => m.launch('recovery', () => m.recoveryRound()),
        vitals: () => m.launch('vitals', () => m.vitalsRound()),
      }
    : {
        topologySync: () => m.readMembers(),
        basic: () => m.basicRound(),
        comprehensive: () => m.start('comprehensive'),
        deep: () => m.start('deep'),
        predictive: () => m.predictiveRound(),
        recovery: () => m.recoveryRound(),
      };
  if (agent.loopActs)
    await agent.run({
      timers,
      hasWork: () => m.hasWork(),
      doWork: () => m.work(),
      // The escalation matrix's next levels (only with more than one level configured).
      dueAt: () => nextEscalationDue(agent.state),
      onDue: () => m.escalateDue(),
    });
  else await agent.run({ timers, hasWork: () => m.pending.length > 0, doWork: () => m.drain() });
}

/** How long a quarantine round among the HealthMonitors may take (ms). */
const QUARANTINE_ROUND_MS = 10_000;

class Monitor {
  /** Checks asked for (performHealthCheck, healthCheckRequest), run by the loop in order. */
  pending: PerformHealthCheck[] = [];
  /** Critical alerts raised by a handler, whose recovery or escalation the loop runs (invariant 4). */
  private toAct: Alert[] = [];
  private running: Partial<Record<string, boolean>> = {};
  /**
   * Checks and membership reads run beside the loop (HM_CHECKS_BESIDE_LOOP): a check whose
   * activity went to a paused host waits out its timeout without holding up the other rounds,
   * alerts and signals. Runs before the patch awaited them in the loop.
   */
  readonly beside: boolean;
  /** HM_HOST_UNHEALTHY. */
  private readonly hostUnhealthy: boolean;
  /** HM_HOST_WORD_BEFORE_CHECK. */
  private readonly hostWordBeforeCheck: boolean;

  constructor(
    private readonly agent: Agent<HealthMonitorConfig, HealthMonitorState>,
    /** HM_LEASE_VITALS. */
    private readonly leaseVitals: boolean,
  ) {
    this.beside = agent.loopActs && patched(HM_CHECKS_BESIDE_LOOP);
    this.hostUnhealthy = this.beside && patched(HM_HOST_UNHEALTHY);
    this.hostWordBeforeCheck = this.hostUnhealthy && patched(HM_HOST_WORD_BEFORE_CHECK);
  }

  /** How samples are judged: on evidence (HM_LEASE_VITALS), else on the newest sample alone. */
  private get observe(): ObserveOptions {
    return this.leaseVitals ? { evidence: this.c.anomalyEvidence } : {};
  }

  private get s(): HealthMonitorState {
    return this.agent.state;
  }
  private get c(): HealthMonitorConfig {
    return this.agent.config;
  }

  // --- handlers: validate, change state, queue (invariant 4) ---

  members(version: number, members: MemberSummary[]): void {
    if (version < this.s.membersVersion) return;
    this.s.membersVersion = version;
    syncMembers(this.s, members);
  }

  request(p: PerformHealthCheck): void {
    if (p.nodeId !== undefined && !this.s.nodes[p.nodeId]) throw new Error(`nodeId: ${p.nodeId} is not a member`);
    this.pending.push(p);
  }

  externalAlert(p: HealthAlertPayload): void {
    const alert = raiseAlert(this.s, this.c, { ...p, source: p.source ?? 'external' }, Date.now());
    if (this.agent.loopActs) {
      if (alert.severity === 'critical') this.toAct.push(alert);
    } else {
      this.agent.legacyLaunch('healthAlert', () => respond(this.agent, [alert]));
    }
  }

  selfReport(p: NodeHealthChangePayload): void {
    const n = this.s.nodes[p.nodeId];
    if (!n || p.health === undefined) return;
    const was = n.selfReported?.health;
    n.selfReported = { health: p.health, reason: p.reason, at: Date.now() };
    // Well again, or only degraded, after it said it was unhealthy: our own check confirms it before
    // routes come back (a check of ours that failed meanwhile holds the node unhealthy until one
    // passes). Degraded counts: a host just out of a 5xx on a loaded machine reports its vitals'
    // 'degraded', and waiting for the next round (30 s) kept it out of routing that long.
    if (
      this.hostUnhealthy &&
      (p.health === 'healthy' || p.health === 'degraded') &&
      was === 'unhealthy' &&
      n.consecutiveFailures > 0
    )
      this.pending.push({ nodeId: p.nodeId, level: 'basic' });
    this.changed(p.nodeId);
  }

  quarantine(p: QuarantineNodePayload): void {
    // A node the monitor no longer follows (declared dead) is isolated all the same when the
    // orchestrator asks: it stays out of routing should it come back before the procedure ends.
    if (!this.s.nodes[p.nodeId] && p.cause !== 'node_failure') throw new Error(`nodeId: ${p.nodeId} is not a member`);
    if (quarantineNode(this.s, this.c, p.nodeId, p.cause, p.reason, Date.now(), p.durationMs)) this.changed(p.nodeId);
  }

  release(p: ReleaseNodePayload): void {
    if (p.cause === 'node_failure') {
      // The procedure lifts its own isolation only, and only once.
      if (this.s.quarantine[p.nodeId]?.reason !== 'node_failure') return;
    } else if (!this.s.quarantine[p.nodeId]) throw new Error(`nodeId: ${p.nodeId} is not quarantined`);
    releaseNode(this.s, p.nodeId, p.reason ?? 'released by the operator', Date.now());
    this.changed(p.nodeId);
  }

  /** A handler changed a node's record: its health is recomputed, a transition queued (invariant 4). */
  private changed(nodeId: string): void {
    if (this.agent.loopActs) this.reassess(nodeId);
    else this.agent.legacyLaunch('publish', () => this.publish(nodeId));
  }

  // --- the loop's work ---

  hasWork(): boolean {
    return this.toAct.length > 0 || this.pending.length > 0;
  }

  /** Alerts first (an operator waits for their recovery), then the checks asked for. */
  async work(): Promise<void> {
    await this.act(this.toAct.splice(0));
    await this.drain();
  }

  /**
   * What alerts set off: a quarantine when configured (autoQuarantine; out of routing first), then
   * for a critical one the recovery or the escalation.
   */
  private act(alerts: Alert[]): Promise<void> {
    // Another instance than the first records its alerts (it votes with them) and acts on none.
    if (this.observer) return Promise.resolve();
    const quarantines = alerts.flatMap((a) => {
      const q = quarantineFor(a, this.c);
      return q ? [{ nodeId: a.nodeId, ...q }] : [];
    });
    // Without a quarantine, exactly the call runs before autoQuarantine made (no extra await:
    // the order of commands of recorded runs stays what it was).
    if (!quarantines.length) return respond(this.agent, alerts);
    return (async () => {
      for (const q of quarantines) await this.enterQuarantine(q.nodeId, q.reason, q.detail);
      await respond(this.agent, alerts);
    })();
  }

  /**
   * The escalation matrix's due levels: escalations whose node recovered are closed, the others go
   * one level up; their channels run beside the loop (a webhook may take its retries).
   */
  escalateDue(): void {
    if (this.observer) return;
    const { due } = dueEscalations(this.s, this.c, Date.now(), (id) => {
      const n = this.s.nodes[id];
      return !n || (n.health === 'healthy' && !this.s.quarantine[id]);
    });
    for (const e of due) {
      const alert = this.s.alerts.find((a) => a.id === e.alertId) ?? {
        id: e.alertId,
        at: e.since,
        nodeId: e.nodeId,
        severity: 'critical' as const,
        kind: 'escalation',
        message: e.reason,
        source: 'health-monitor',
      };
      const why = `not recovered ${Math.round((Date.now() - e.since) / 1000)} s after: ${e.reason}`;
      this.agent.beside(`escalate:${e.alertId}:${e.level}`, () => escalateAlert(this.agent, alert, why, e.level));
    }
  }

  /**
   * Runs `work` beside the loop (one per key: a round already under way answers this one too).
   * Continue-as-new waits for checks (an operator may wait for one), not for membership reads.
   */
  async launch(key: string, work: () => Promise<void>): Promise<void> {
    this.agent.beside(key, work, { abandonable: key === 'members' });
  }

  async drain(): Promise<void> {
    const batch = this.pending.splice(0);
    if (this.beside) {
      for (const p of batch) {
        const key = `${p.level}:${p.nodeId ?? '*'}`;
        if (p.level === 'basic') this.agent.beside(key, () => this.basicRound(p.nodeId));
        else if (p.level === 'predictive') await this.predictiveRound(p.nodeId);
        else this.agent.beside(key, () => this.start(p.level as 'comprehensive' | 'deep', p.nodeId));
      }
      return;
    }
    for (const p of batch) {
      if (p.level === 'basic') await this.basicRound(p.nodeId);
      else if (p.level === 'predictive') await this.predictiveRound(p.nodeId);
      else await this.start(p.level, p.nodeId);
    }
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
      let results;
      try {
        results = await probeBasic(this.c, nodes);
      } catch {
        return; // no host took the check: no evidence about the nodes
      }
      const now = Date.now();
      this.s.checks.basic += 1;
      for (const [i, r] of results.entries()) {
        const n = nodes[i] as NodeHealthRecord;
        const out = applyBasicCheck(this.s, this.c, n.nodeId, basicCheckRecord(r, now), now, this.observe);
        await this.act(out.alerts);
        if (out.quarantine) await this.enterQuarantine(n.nodeId, out.quarantine.reason, out.quarantine.detail);
        await this.publish(n.nodeId);
      }
      await this.reviewQuarantine();
    } finally {
      this.running[key] = false;
    }
  }

  /**
   * The vitals the hosts' leases carried since the last round (HM_LEASE_VITALS): each NodeAgent
   * publishes its latest in its memo, read here with `describe` — no signal per host, no query. Each
   * new CPU and memory sample feeds its model; a node's health is recomputed once per round.
   */
  async vitalsRound(): Promise<void> {
    const nodes = Object.values(this.s.nodes);
    if (!nodes.length) return;
    let read: Awaited<ReturnType<typeof readNodeVitals>>;
    try {
      read = await readNodeVitals(this.agent.clusterId, nodes);
    } catch {
      return; // the server or every host away: no evidence this round
    }
    const now = Date.now();
    this.s.checks.vitals = (this.s.checks.vitals ?? 0) + 1;
    for (const r of read) {
      const n = this.s.nodes[r.nodeId];
      if (n && r.lease) n.lease = r.lease;
      const alerts = observeVitals(this.s, this.c, r.nodeId, r.samples, now, this.observe);
      await this.act(alerts);
      await this.publish(r.nodeId);
      this.assessRisk(r.nodeId, now);
    }
  }

  /**
   * The node's failure prediction from what this agent knows (health, anomalies, predicted
   * exhaustion) and what its lease says (suspicions, late beats); NodeDiscovery hears of the first
   * and of each change of level (HM_LEASE_VITALS runs only).
   */
  private assessRisk(nodeId: string, now: number): void {
    const n = this.s.nodes[nodeId];
    if (!n || !this.leaseVitals) return;
    const risk = failureRisk(
      {
        health: n.health,
        anomalies: Object.values(n.anomalies).flatMap((a) => (a ? [a.message] : [])),
        predictions: n.predictions,
        suspicions: n.lease?.suspicions,
        heartbeatPhi: n.lease?.heartbeatPhi,
      },
      now,
    );
    const before = n.risk?.level;
    n.risk = risk;
    // The first prediction of a node, then only changes of level: nothing at rest.
    if (risk.level !== before && !this.observer)
      this.agent.notify('node-discovery', failurePredictionSignal, { nodeId, risk, observer: HEALTH_MONITOR_ROLE });
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
    const probes = probeNode(this.s, this.c, n, level);
    const results = resultsOf(probes, await probes.settled);
    const { alerts } = applyComprehensiveCheck(this.s, this.c, n.nodeId, level, results, Date.now(), this.observe);
    await this.act(alerts);
    await this.publish(n.nodeId);
  }

  async predictiveRound(only?: string): Promise<void> {
    const now = Date.now();
    this.s.checks.predictive += 1;
    for (const id of Object.keys(this.s.nodes)) {
      if (only !== undefined && id !== only) continue;
      await this.act(predictNode(this.s, this.c, id, now));
      this.assessRisk(id, now);
    }
  }

  /**
   * A quarantine the monitor's own alerts or checks call for (the first instance's only). With more than one instance it is put
   * to a consensus round among them first (beside the loop; one round per node at a time), and made
   * only once the round accepts it.
   */
  private async enterQuarantine(nodeId: string, reason: QuarantineReason, detail: string): Promise<void> {
    if (this.observer) return; // another instance than the first quarantines nothing: it votes
    if (this.c.instances > 1) return this.agreeQuarantine(nodeId, reason, detail);
    const q = quarantineNode(this.s, this.c, nodeId, reason, detail, Date.now());
    if (!q) return;
    await this.publish(nodeId);
  }

  /** Another instance than the first: it checks and votes, and publishes and acts on nothing. */
  private get observer(): boolean {
    return this.c.instance > 1;
  }

  private agreeQuarantine(nodeId: string, reason: QuarantineReason, detail: string): void {
    if (this.s.quarantine[nodeId]) return;
    this.agent.beside(`quarantine-round:${nodeId}`, async () => {
      const at = Date.now();
      const round = await roundAmongInstances({
        clusterId: this.agent.clusterId,
        role: HEALTH_MONITOR_ROLE,
        instances: this.c.instances,
        topic: 'quarantine',
        value: { nodeId, reason, detail: detail.slice(0, 500) },
        timeoutMs: QUARANTINE_ROUND_MS,
        what: `quarantine of ${nodeId}`,
      });
      const entry: QuarantineRound = { at, nodeId, reason, ...round };
      this.s.quarantineRounds ??= [];
      pushBounded(this.s.quarantineRounds, entry, 20);
      if (entry.result === 'accepted' && quarantineNode(this.s, this.c, nodeId, reason, `${detail} (agreed: ${entry.summary})`.slice(0, 1_000), Date.now()))
        await this.publish(nodeId);
      else setCurrentDetails(healthDetails(this.s));
    });
  }

  private async reviewQuarantine(): Promise<void> {
    const now = Date.now();
    const { release, expired } = reviewQuarantine(this.s, this.c, now);
    for (const r of release) {
      releaseNode(this.s, r.nodeId, r.why, now);
      await this.publish(r.nodeId);
    }
    for (const q of expired)
      await escalateAlert(
        this.agent,
        expiredQuarantineAlert(this.s, this.c, q, now),
        'quarantine expired without recovery',
      );
  }

  /**
   * Recomputes a node's health; a transition goes to NodeDiscovery and the LoadBalancer
   * (invariant 3): queued for the loop, or — in legacy runs (invariant 5) — signalled at once.
   */
  private async publish(nodeId: string): Promise<void> {
    if (this.agent.loopActs) return this.reassess(nodeId);
    const change = this.refresh(nodeId);
    if (!change) return;
    await Promise.all([
      this.agent.sendNow('node-discovery', nodeHealthChangeSignal, change),
      this.agent.sendNow('load-balancer', lbNodeHealthChangeSignal, change),
    ]);
  }

  /** Recomputes a node's health and queues its transition, if any, for the loop to send. */
  private reassess(nodeId: string): void {
    const change = this.refresh(nodeId);
    if (!change || this.observer) return;
    this.agent.notify('node-discovery', nodeHealthChangeSignal, change);
    this.agent.notify('load-balancer', lbNodeHealthChangeSignal, change);
  }

  private refresh(nodeId: string): NodeHealthChangePayload | undefined {
    const change = refreshHealth(this.s, this.c, nodeId, {
      hostUnhealthy: this.hostUnhealthy,
      hostWordBeforeCheck: this.hostWordBeforeCheck,
    });
    setCurrentDetails(healthDetails(this.s));
    return change && { ...change, observer: HEALTH_MONITOR_ROLE };
  }
}
