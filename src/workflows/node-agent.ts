/**
 * NodeAgent: one per host (`<clusterId>/node/<nodeId>`). It keeps the host's lease running on
 * `host.<nodeId>` — a heartbeating activity whose heartbeat timeout is the lease timeout — and a
 * bounded window of the host's vitals, and tells the cluster-level agents only about transitions:
 * liveness to the FailureDetector, health to NodeDiscovery and the HealthMonitor.
 *
 * Invariants:
 * 1. Exactly one lease activity is outstanding at a time (the loop awaits each before the next).
 * 2. Only the host refutes: a suspect or dead node is alive again when a lease activity ran on its
 *    queue, and then with incarnation + 1.
 * 3. A verdict about an older incarnation (a late `declaredDead`) never overrides a newer one.
 * 4. Nothing is signalled per heartbeat; a term adds a handful of events, a transition one signal
 *    per interested agent.
 * 5. Handlers change state and queue signals (`agent.notify`); the lease loop starts the lease
 *    activity and the agent's loop sends the signals. Runs that started before that rule
 *    (`agent.loopActs` false) keep their recorded order through the legacy paths.
 */
import {
  ActivityFailure,
  CancellationScope,
  TimeoutFailure,
  condition,
  isCancellation,
  patched,
  proxyActivities,
  sleep,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { NodeHealth, NodeStatus } from '../contracts/common';
import {
  DeclaredDead,
  HostLeaving,
  HostStarted,
  LeaseSettings,
  NodeAgentConfig,
  VITALS_MEMO,
  VITALS_MEMO_SAMPLES,
  declaredDeadSignal,
  hostLeavingSignal,
  hostStartedSignal,
  nodeQuery,
  type LeaseTerm,
  type NodeAgentState,
  type Transition,
  type VitalsMemo,
} from '../contracts/node-agent';
import { nodeAliveSignal, nodeLeftSignal, nodeSuspectSignal } from '../contracts/failure-detector';
import { nodeCapacityUpdateSignal } from '../contracts/load-balancer';
import { nodeHealthChangeSignal } from '../contracts/node-discovery';
import { pushBounded } from '../core/bounded';
import { arrivalStats, phi } from '../core/fd/phi';
import { hostHealth } from '../core/fd/vitals-health';
import { loadReportDue } from '../core/lb/load-report';
import { ACTIVITY } from './activity-options';
import { Agent } from './agent-base';

export const NODE_AGENT_ROLE = 'node';
/** Patch id: the host's load goes to the LoadBalancer on meaningful change (its lease term ends early for it). */
export const NODE_REPORTS_LOAD = 'node-reports-load';
/**
 * Patch id: the lease asks the host's own health endpoint every beat and its term ends when that
 * judgement changes; a failing endpoint makes the host unhealthy at once (out of routing).
 */
export const NODE_SELF_CHECK = 'node-self-check';
/** Patch id: the host's latest vitals go in the agent's memo after every term (VITALS_MEMO). */
export const NODE_VITALS_MEMO = 'node-vitals-memo';
/** Patch id: health reports go to the HealthMonitor first, NodeDiscovery only without one. */
const HEALTH_VIA_MONITOR = 'health-via-monitor';
/** Version 2: the `notified` counters moved to the agent base (`base.notified`). */
export const NODE_STATE_VERSION = 2;

/** Carried state of version 1 → 2: drops `notified` (counted in `base.notified` now). */
export function migrateNodeState(state: unknown, from: number): NodeAgentState {
  const s = { ...(state as NodeAgentState & { notified?: unknown }) };
  if (from < 2) delete s.notified;
  return s;
}

export async function nodeAgentWorkflow(input: unknown): Promise<void> {
  const nodeId = workflowInfo().workflowId.split('/node/')[1] ?? workflowInfo().workflowId;
  const agent = new Agent<NodeAgentConfig, NodeAgentState>(
    {
      role: NODE_AGENT_ROLE,
      configSchema: NodeAgentConfig,
      initialState: (now) => emptyNodeState(nodeId, now),
      stateVersion: NODE_STATE_VERSION,
      migrate: migrateNodeState,
      health: (s) =>
        s.status === 'alive'
          ? { status: 'healthy', reasons: [] }
          : { status: 'degraded', reasons: [`host is ${s.status}`] },
    },
    input,
  );
  const node = new HostLease(agent);

  // Message-handling API
  agent.onSignal(hostStartedSignal, HostStarted, (p) => node.hostStarted(p));
  agent.onSignal(hostLeavingSignal, HostLeaving, (p) => node.leaving(p));
  agent.onSignal(declaredDeadSignal, DeclaredDead, (p) => node.declaredDead(p));
  // The host's reachability changed: the partition handler holds the graph (the loop sends it on).
  agent.onQuery(nodeQuery, () => agent.state);

  const loop = node.run();
  await agent.run({
    done: () => node.finished,
    beforeContinueAsNew: () => node.stop(loop),
  });
  await node.stop(loop);
  // A new process of the host announced itself while this one was leaving (a quick restart): it
  // needs a lease, so the agent goes on in a new run instead of completing (the churn soak lost
  // NodeAgents this way: the host ran on with no lease, so its death would have gone unnoticed).
  if (agent.loopActs && agent.state.status !== 'left') await agent.continueAsNewNow();
}

export function emptyNodeState(nodeId: string, now: number): NodeAgentState {
  return {
    nodeId,
    status: 'suspect',
    health: 'unknown',
    healthReasons: [],
    incarnation: 0,
    statusSince: now,
    beats: 0,
    leaseTerms: 0,
    leaseTimeouts: 0,
    intervals: [],
    vitals: [],
    transitions: [],
  };
}

class HostLease {
  finished = false;
  private stopping = false;
  private scope: CancellationScope | undefined;
  /** Runs before NODE_REPORTS_LOAD hold their leases as they recorded them, without load. */
  private readonly reportsLoad: boolean;
  /** Runs before NODE_SELF_CHECK hold their leases without the self-check. */
  private readonly checksSelf: boolean;
  /** NODE_VITALS_MEMO. */
  private readonly publishesVitals: boolean;

  constructor(private readonly agent: Agent<NodeAgentConfig, NodeAgentState>) {
    this.reportsLoad = agent.loopActs && patched(NODE_REPORTS_LOAD);
    this.checksSelf = this.reportsLoad && patched(NODE_SELF_CHECK);
    this.publishesVitals = this.reportsLoad && patched(NODE_VITALS_MEMO);
  }

  private get s(): NodeAgentState {
    return this.agent.state;
  }
  private get lease(): LeaseSettings {
    return this.agent.config.lease;
  }

  hostStarted(p: HostStarted): void {
    if (p.nodeId !== this.s.nodeId) throw new Error(`nodeId: expected ${this.s.nodeId}, got ${p.nodeId}`);
    if (p.lease) {
      const lease = LeaseSettings.safeParse(p.lease);
      if (!lease.success) throw new Error(`lease: ${lease.error.issues.map((i) => i.message).join('; ')}`);
      this.agent.config = { ...this.agent.config, lease: lease.data };
    }
    Object.assign(this.s, { address: p.address, healthPort: p.healthPort, zone: p.zone });
    if (p.bootId === this.s.bootId) return;
    const first = this.s.bootId === undefined;
    this.s.bootId = p.bootId;
    // A new process: whatever lease is outstanding belongs to the old one (invariant 1 holds: the
    // loop waits for the cancelled activity before it schedules the next).
    this.scope?.cancel();
    const reason = first ? 'host started' : 'host restarted';
    if (this.agent.loopActs) this.becomeAlive(reason);
    else this.agent.legacyLaunch('hostStarted', () => this.legacyBecomeAlive(reason));
  }

  leaving(p: HostLeaving): void {
    if (p.bootId !== this.s.bootId) return; // an older process saying goodbye
    this.stopping = true;
    this.scope?.cancel();
    const reason = p.reason ?? 'left gracefully';
    if (this.agent.loopActs) {
      this.transition('left', reason);
      this.agent.notify('failure-detector', nodeLeftSignal, { nodeId: this.s.nodeId, bootId: p.bootId });
      this.finished = true; // the agent's loop sends what is queued before the workflow completes
      return;
    }
    this.transition('left', reason);
    this.agent.legacyLaunch('hostLeaving', () =>
      Promise.resolve()
        .then(() => this.agent.sendNow('failure-detector', nodeLeftSignal, { nodeId: this.s.nodeId, bootId: p.bootId }))
        .then(() => (this.finished = true)),
    );
  }

  declaredDead(p: DeclaredDead): void {
    if (p.incarnation !== this.s.incarnation || this.s.status === 'left') return; // invariant 3
    this.transition('dead', `${p.by}: ${p.reason}`);
  }

  /** The lease loop (invariant 1). */
  async run(): Promise<void> {
    while (!this.stopping) {
      if (this.s.bootId === undefined) {
        await condition(() => this.s.bootId !== undefined || this.stopping);
        continue;
      }
      const recovering = this.s.status !== 'alive';
      const bootId = this.s.bootId;
      const lease = this.lease;
      const acts = proxyActivities<Activities>(
        ACTIVITY.lease(this.s.nodeId, lease, this.agent.config.leaseTermMs, recovering),
      );
      const scope = new CancellationScope();
      this.scope = scope;
      const scheduledAt = Date.now();
      try {
        const term = await scope.run(() =>
          acts.holdLease({
            heartbeatMs: lease.heartbeatMs,
            termMs: this.agent.config.leaseTermMs,
            untilFirstBeat: recovering,
            incarnation: this.s.incarnation,
            ...(this.reportsLoad ? { load: { ...this.loadPolicy(), last: this.s.loadReported } } : {}),
            ...(this.checksSelf ? { selfCheck: { ok: this.s.selfCheck?.ok ?? true } } : {}),
          }),
        );
        await this.onTerm(term, bootId);
      } catch (err) {
        if (isCancellation(err) || this.stopping) continue;
        if (recovering) {
          // Still away: wait again. A host that is there but fails the lease must not spin.
          if (!isTimeout(err, 'SCHEDULE_TO_START')) await sleep(lease.heartbeatMs);
          continue;
        }
        this.s.leaseTimeouts += 1;
        await this.suspect(err, scheduledAt);
      } finally {
        this.scope = undefined;
      }
    }
  }

  async stop(loop: Promise<void>): Promise<void> {
    this.stopping = true;
    this.scope?.cancel();
    await loop;
  }

  private async onTerm(term: LeaseTerm, expectedBoot: string): Promise<void> {
    const now = Date.now();
    const c = this.agent.config;
    this.s.leaseTerms += 1;
    this.s.beats += term.beats;
    if (term.beats > 0) this.s.lastBeatAt = now;
    for (const i of term.intervals) pushBounded(this.s.intervals, i, c.intervalWindow);
    for (const v of term.vitals) pushBounded(this.s.vitals, v, c.vitalsWindow);
    let alive: string | undefined;
    if (term.bootId !== expectedBoot && term.bootId !== this.s.bootId) {
      // A new process ran the lease before its hostStarted signal arrived.
      this.s.bootId = term.bootId;
      alive = 'host restarted';
    } else if (this.s.status !== 'alive' && this.s.status !== 'left' && !term.cancelled) {
      alive = this.s.status === 'dead' ? 'host is back after it was declared dead' : 'lease renewed';
    }
    if (alive !== undefined) {
      if (this.agent.loopActs) this.becomeAlive(alive);
      else await this.legacyBecomeAlive(alive);
    }
    if (term.self && !term.cancelled) this.s.selfCheck = { ok: term.self.ok, detail: term.self.detail, at: now };
    if (this.s.vitals.length || this.s.selfCheck) {
      const h = this.health();
      if (h.health !== this.s.health) await this.healthTransition(h.health, h.reasons);
      else this.s.healthReasons = h.reasons;
    }
    if (this.reportsLoad) this.reportLoad(term);
    if (this.publishesVitals && term.vitals.length && !term.cancelled)
      upsertMemo({
        [VITALS_MEMO]: {
          incarnation: this.s.incarnation,
          status: this.s.status,
          samples: this.s.vitals.slice(-VITALS_MEMO_SAMPLES),
          lease: {
            heartbeatMs: this.lease.heartbeatMs,
            suspicions: this.s.transitions.filter(
              (t) => t.kind === 'status' && t.to === 'suspect' && now - t.at <= 3_600_000,
            ).length,
            heartbeatPhi: slowestBeatPhi(this.s.intervals, this.lease.heartbeatMs),
          },
        } satisfies VitalsMemo,
      });
  }

  /**
   * The host's health: from its vitals (with their own hysteresis), and unhealthy while its own
   * health endpoint fails (runs that check it; the lease's judgement has its hysteresis too).
   */
  private health(): { health: NodeHealth; reasons: string[] } {
    const current = this.s.vitalsHealth ?? this.s.health;
    const v = this.s.vitals.length ? hostHealth(this.s.vitals, current, this.agent.config) : { health: current, reasons: [] };
    this.s.vitalsHealth = v.health;
    const self = this.s.selfCheck;
    if (!self || self.ok) return v;
    return { health: 'unhealthy', reasons: [`health endpoint ${self.detail}`, ...v.reasons] };
  }

  private loadPolicy(): { step: number; intervalMs: number } {
    return { step: this.agent.config.loadReportStep, intervalMs: this.agent.config.loadReportIntervalMs };
  }

  /** The host's load to the LoadBalancer, when it moved past the step (invariant 4: not per term). */
  private reportLoad(term: LeaseTerm): void {
    const load = term.load;
    if (!load || term.cancelled || this.s.status !== 'alive') return;
    // Moved: decided on what the host sustained (or the activity's own decision), against the last report.
    if (!term.loadChanged && !loadReportDue(this.s.loadReported, term.sustained ?? load, this.loadPolicy())) return;
    this.s.loadReported = load;
    this.agent.notify('load-balancer', nodeCapacityUpdateSignal, {
      nodeId: this.s.nodeId,
      load: { cpu: clampShare(load.cpu), memory: clampShare(load.memory) },
    });
  }

  /** Alive with incarnation + 1 (invariant 2); the FailureDetector hears of it when it matters. */
  private becomeAlive(reason: string): void {
    const from = this.s.status;
    this.s.incarnation += 1; // invariant 2
    this.transition('alive', reason);
    if (from === 'suspect' || from === 'dead' || reason === 'host restarted')
      this.agent.notify('failure-detector', nodeAliveSignal, this.alivePayload(reason));
  }

  private alivePayload(reason: string) {
    return { nodeId: this.s.nodeId, incarnation: this.s.incarnation, bootId: this.s.bootId ?? 'unknown', reason };
  }

  private async suspect(err: unknown, scheduledAt: number): Promise<void> {
    const now = Date.now();
    const lease = this.lease;
    // The server timed the lease out `timeoutMs` after the last heartbeat it got; a term that never
    // started was silent since the previous one ended.
    const lastBeatAt = isTimeout(err, 'HEARTBEAT')
      ? now - lease.timeoutMs
      : Math.min(this.s.lastBeatAt ?? scheduledAt, scheduledAt);
    if (this.s.status !== 'alive') return;
    if (this.agent.loopActs) this.transition('suspect', describe(err));
    else await this.legacyTransition('suspect', describe(err));
    if (this.s.address === undefined || this.s.healthPort === undefined || this.s.bootId === undefined) return;
    const payload = {
      nodeId: this.s.nodeId,
      incarnation: this.s.incarnation,
      bootId: this.s.bootId,
      address: this.s.address,
      healthPort: this.s.healthPort,
      since: now,
      lastBeatAt,
      arrivals: arrivalStats(this.s.intervals),
      heartbeatMs: lease.heartbeatMs,
    };
    if (this.agent.loopActs) this.agent.notify('failure-detector', nodeSuspectSignal, payload);
    else await this.agent.sendNow('failure-detector', nodeSuspectSignal, payload);
  }

  private async healthTransition(to: NodeHealth, reasons: string[]): Promise<void> {
    const from = this.s.health;
    this.s.health = to;
    this.s.healthReasons = reasons;
    this.record({ kind: 'health', from, to, reason: reasons.join('; ') || undefined });
    const payload = {
      nodeId: this.s.nodeId,
      health: to,
      reason: reasons.join('; ') || 'vitals normal',
      observer: `node/${this.s.nodeId}`,
    };
    // The HealthMonitor is the one voice on health to NodeDiscovery and the LoadBalancer (it weighs
    // this report with its own checks); without one, NodeDiscovery hears it directly.
    if (this.agent.loopActs) {
      this.agent.notify('health-monitor', nodeHealthChangeSignal, payload, { orElse: 'node-discovery' });
    } else if (patched(HEALTH_VIA_MONITOR)) {
      if (!(await this.agent.sendNow('health-monitor', nodeHealthChangeSignal, payload)))
        await this.agent.sendNow('node-discovery', nodeHealthChangeSignal, payload);
    } else {
      // Agents started before the change keep telling both (their histories say so).
      await this.agent.sendNow('node-discovery', nodeHealthChangeSignal, payload);
      await this.agent.sendNow('health-monitor', nodeHealthChangeSignal, payload);
    }
  }

  private transition(to: NodeStatus, reason: string): void {
    const from = this.s.status;
    if (from === to) return;
    this.s.status = to;
    this.s.statusSince = Date.now();
    this.record({ kind: 'status', from, to, reason });
  }

  private record(t: Omit<Transition, 'at' | 'incarnation'>): void {
    pushBounded(
      this.s.transitions,
      { ...t, at: Date.now(), incarnation: this.s.incarnation },
      this.agent.config.transitionHistorySize,
    );
  }

  // --- legacy paths: runs that started before invariant 5, in their recorded order ---

  private async legacyTransition(to: NodeStatus, reason: string): Promise<void> {
    this.transition(to, reason);
  }

  private async legacyBecomeAlive(reason: string): Promise<void> {
    const from = this.s.status;
    this.s.incarnation += 1;
    await this.legacyTransition('alive', reason);
    if (from === 'suspect' || from === 'dead' || reason === 'host restarted')
      await this.agent.sendNow('failure-detector', nodeAliveSignal, this.alivePayload(reason));
  }
}

/** Heartbeats judged as "recent" for the prediction's φ (the rest are the history they are judged against). */
const RECENT_BEATS = 10;

/**
 * φ of the slowest of the last RECENT_BEATS heartbeat intervals against the ones before them (no
 * acceptable pause, σ at least 100 ms): late beats make it rise before any lease lapses. 0 with too
 * little history; at most 100.
 */
export function slowestBeatPhi(intervals: readonly number[], heartbeatMs: number): number {
  if (intervals.length < 2 * RECENT_BEATS) return 0;
  const history = arrivalStats(intervals.slice(0, -RECENT_BEATS));
  const slowest = Math.max(...intervals.slice(-RECENT_BEATS));
  const p = phi(slowest, history, { acceptablePauseMs: 0, minStdDevMs: 100 }, heartbeatMs);
  return Number.isFinite(p) ? Math.min(100, Math.round(p * 100) / 100) : 100;
}

function clampShare(x: number): number {
  return Math.min(1, Math.max(0, x));
}

function isTimeout(err: unknown, type: 'HEARTBEAT' | 'SCHEDULE_TO_START'): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  if (!(cause instanceof TimeoutFailure)) return false;
  return cause.timeoutType === type;
}

function describe(err: unknown): string {
  if (isTimeout(err, 'HEARTBEAT')) return 'lease timed out (no heartbeat)';
  if (isTimeout(err, 'SCHEDULE_TO_START')) return 'lease not picked up by the host';
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return `lease failed: ${cause instanceof Error ? cause.message : String(cause)}`;
}
