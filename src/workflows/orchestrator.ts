/**
 * ClusterOrchestrator (`<clusterId>/orchestrator`): supervises the other agents, measures the
 * cluster against its goals, and turns incidents into procedures (child workflows,
 * src/workflows/procedures) that act on them.
 *
 * Invariants:
 * 1. Handlers record and queue; the loop starts procedures, runs supervision and sends signals.
 * 2. One procedure per kind and subject (business ids): a second incident joins the running one.
 * 3. Procedures outlive the orchestrator's runs (parent close policy ABANDON): it keeps their ids
 *    and last reports, never handles; they report back by signal and publish their memo.
 * 4. Replacements are rate-limited (a slot reserved per procedure) and none is started blindly
 *    during a mass failure: the procedure escalates at once.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  ParentClosePolicy,
  defineQuery,
  patched,
  proxyActivities,
  setCurrentDetails,
  startChild,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { AGENTS, AGENT_WORKFLOW_TASK_TIMEOUT } from '../contracts/agents';
import {
  AgentStatusUpdatePayload,
  EmergencyPayload,
  HealthEscalationIn,
  IncidentPayload,
  MaintenancePayload,
  RebalanceRequest,
  ScalePayload,
  OrchestratorConfig,
  ProcedureReport,
  agentStatusUpdateSignal,
  emergencyUpdate,
  goalsQuery,
  healthEscalationInSignal,
  incidentSignal,
  maintenanceUpdate,
  rebalanceUpdate,
  scaleUpdate,
  procedureReportSignal,
  proceduresQuery,
  type OrchestratorState,
  type RecordedIncident,
} from '../contracts/orchestrator';
import { NodeHealthChangePayload, nodeHealthChangeSignal } from '../contracts/node-discovery';
import { pushBounded } from '../core/bounded';
import { measureGoals, sampleAvailability } from '../core/orchestrator/goals';
import { imbalanceSustained } from '../core/orchestrator/imbalance';
import {
  massFailure,
  nextReplacementAt,
  playbook,
  procedureId,
  pruneFailures,
  type Incident,
  type PlaybookDecision,
} from '../core/orchestrator/playbook';
import { ACTIVITY } from './activity-options';
import { Agent } from './agent-base';
import type { MaintenanceInput } from './procedures/maintenance';
import type { NodeFailureInput } from './procedures/node-failure';
import type { NetworkPartitionInput } from './procedures/network-partition';
import type { RebalanceInput } from './procedures/rebalance';
import type { ScaleInput } from './procedures/scale';

export const ORCHESTRATOR_ROLE = 'orchestrator';
const INCIDENTS_KEPT = 100;
/** A dead verdict on a node that is not a member (e.g. a client's made-up id) is recorded, not acted on. */
export const ORCH_MEMBERS_ONLY = 'orchestrator-members-only';
/**
 * Patch: each goals round reads the LoadBalancer's traffic summary (latency, throughput, imbalance)
 * and a sustained imbalance starts rebalance_load.
 */
export const ORCH_TRAFFIC = 'orchestrator-traffic';
const IMBALANCE_SAMPLES_KEPT = 120;
/** Patch: the mass-failure guard counts the hosts the cluster has (not the dead ones before the window). */
export const ORCH_GUARD_LIVE_HOSTS = 'orchestrator-guard-live-hosts';

export const incidentsQuery = defineQuery<RecordedIncident[]>('incidents');
export const agentsQuery = defineQuery<OrchestratorState['agents']>('agents');

export function emptyOrchestratorState(): OrchestratorState {
  return {
    procedures: {},
    incidents: [],
    incidentSeq: 0,
    failures: [],
    availability: [],
    agents: {},
    goals: undefined,
    members: [],
    membersVersion: 0,
  };
}

/** The agents the orchestrator supervises: every agent of this build but itself. */
/** Patch: a network_partition incident starts its procedure (before: recorded only). */
export const NETWORK_PARTITION_PROCEDURE = 'network-partition-procedure';

const SUPERVISED = Object.keys(AGENTS).filter((r) => r !== ORCHESTRATOR_ROLE);

export async function clusterOrchestratorWorkflow(input: unknown): Promise<void> {
  const agent = new Agent<OrchestratorConfig, OrchestratorState>(
    {
      role: ORCHESTRATOR_ROLE,
      configSchema: OrchestratorConfig,
      initialState: emptyOrchestratorState,
      intervals: (c) => ({ supervision: c.supervisionIntervalMs, goals: c.goalsIntervalMs }),
      health: (s) => {
        const escalated = Object.values(s.procedures).filter((p) => p.status === 'escalated');
        const down = Object.values(s.agents).filter((a) => a.status !== 'RUNNING' && a.status !== 'NOT_FOUND');
        const reasons = [
          ...escalated.map((p) => `procedure ${p.id} escalated: ${p.escalation?.why ?? ''}`),
          ...down.map((a) => `agent ${a.role} ${a.status}`),
        ];
        return { status: escalated.length || down.length ? 'degraded' : 'healthy', reasons };
      },
      onTopologyUpdate: (u) => {
        if (u.version < agent.state.membersVersion) return;
        agent.state.membersVersion = u.version;
        agent.state.members = u.members.map((m) => ({ nodeId: m.nodeId, zone: m.zone, status: m.status }));
      },
    },
    input,
  );
  const o = new Orchestrator(agent);

  agent.onSignal(incidentSignal, IncidentPayload, (p) => {
    o.incident({ ...p, at: Date.now() });
  });
  agent.onSignal(nodeHealthChangeSignal, NodeHealthChangePayload, (p) => o.nodeHealth(p));
  agent.onSignal(healthEscalationInSignal, HealthEscalationIn, (p) => {
    o.incident({
      kind: 'node_failure',
      subject: p.nodeId,
      source: 'health-monitor',
      detail: `escalation level ${p.level}: ${p.alert.severity} ${p.alert.kind}: ${p.reason}`,
      at: Date.now(),
    });
  });
  agent.onSignal(agentStatusUpdateSignal, AgentStatusUpdatePayload, (p) => o.agentStatus(p));
  agent.onSignal(procedureReportSignal, ProcedureReport, (p) => o.report(p));
  agent.onUpdate(emergencyUpdate, EmergencyPayload, (p) => o.emergency(p));
  agent.onUpdate(maintenanceUpdate, MaintenancePayload, (p) => o.maintenance(p));
  agent.onUpdate(scaleUpdate, ScalePayload, (p) => o.scale(p));
  agent.onUpdate(rebalanceUpdate, RebalanceRequest, (p) => o.rebalance(p));
  agent.onQuery(proceduresQuery, () => Object.values(agent.state.procedures));
  agent.onQuery(goalsQuery, () => agent.state.goals);
  agent.onQuery(incidentsQuery, () => agent.state.incidents);
  agent.onQuery(agentsQuery, () => agent.state.agents);

  await o.readMembers();
  await agent.run({
    timers: {
      supervision: async () => {
        agent.beside('supervision', () => o.supervise(), { abandonable: true });
      },
      goals: async () => {
        agent.beside('goals', () => o.measure(), { abandonable: true });
      },
      topologySync: async () => {
        agent.beside('members', () => o.readMembers(), { abandonable: true });
      },
    },
    hasWork: () => o.hasWork(),
    doWork: () => o.work(),
  });
}

interface QueuedProcedure {
  decision: Extract<PlaybookDecision, { action: 'start' | 'escalate' }>;
  incident: Incident;
}

class Orchestrator {
  private readonly queue: QueuedProcedure[] = [];
  /** Drains to start (maintenance_window), queued by the `maintenance` update. */
  private readonly drains: { id: string; input: MaintenanceInput }[] = [];
  /** A scale to start (scale_cluster), queued by the `scale` update. */
  private scaling: { id: string; input: ScaleInput } | undefined;
  /** A rebalance to start (rebalance_load): the `rebalance` update or a sustained imbalance. */
  private rebalancing: { id: string; input: RebalanceInput } | undefined;

  constructor(private readonly agent: Agent<OrchestratorConfig, OrchestratorState>) {}

  private get s(): OrchestratorState {
    return this.agent.state;
  }
  private get c(): OrchestratorConfig {
    return this.agent.config;
  }

  /**
   * The members as last known: a topologyUpdate is recorded in the base at once (its hook runs
   * only once the loop started), so a verdict that arrives right behind it sees it.
   */
  private members(): OrchestratorState['members'] {
    const t = this.agent.base.topology;
    if (t && t.version > this.s.membersVersion)
      return t.members.map((m) => ({ nodeId: m.nodeId, zone: m.zone, status: m.status }));
    return this.s.members;
  }

  private running(): Record<string, { id: string; kind: string; subject: string; startedAt: number; joined: number }> {
    const out: Record<string, { id: string; kind: string; subject: string; startedAt: number; joined: number }> = {};
    for (const p of Object.values(this.s.procedures))
      if (p.status === 'running' || p.status === 'escalated') out[p.id] = { ...p, joined: 0 };
    for (const q of this.queue)
      out[q.decision.id] = {
        id: q.decision.id,
        kind: q.decision.kind,
        subject: q.decision.subject,
        startedAt: q.incident.at,
        joined: 0,
      };
    return out;
  }

  /** An incident: recorded; the playbook decides; a procedure to start is queued for the loop. */
  incident(i: Incident): { procedureId: string; decision: string } {
    const now = Date.now();
    if (i.kind === 'node_failure') {
      const zone = this.members().find((m) => m.nodeId === i.subject)?.zone ?? 'unknown';
      if (!this.s.failures.some((f) => f.nodeId === i.subject && now - f.at < this.c.massFailure.windowMs))
        this.s.failures.push({ nodeId: i.subject, zone, at: now });
      this.s.failures = pruneFailures(this.s.failures, this.c.massFailure.windowMs, now);
    }
    // Hosts that failed before the window (replaced since, most of them) are not hosts the cluster
    // has: counted, they would make a mass failure look small. The window's failures count anyway.
    const liveOnly = patched(ORCH_GUARD_LIVE_HOSTS);
    const mass = massFailure(
      this.s.failures,
      this.members().filter((m) => m.status !== 'left' && (!liveOnly || m.status !== 'dead')),
      this.c.massFailure,
      now,
    );
    const d = playbook(this.agent.clusterId, i, this.running(), mass);
    let decision: string;
    if (!this.c.autoHeal && i.source !== 'operator') decision = 'recorded (autoHeal is off)';
    else if (d.action === 'join') {
      decision = `joined ${d.id}`;
    } else {
      this.queue.push({ decision: d, incident: i });
      decision = d.action === 'escalate' ? `started ${d.id}, escalated at once: ${d.why}` : `started ${d.id}`;
    }
    this.recordIncident(i, decision);
    return { procedureId: d.id, decision };
  }

  /** An incident in the bounded list, with what was decided about it. */
  private recordIncident(i: Incident, decision: string): void {
    this.s.incidentSeq += 1;
    pushBounded(this.s.incidents, { seq: this.s.incidentSeq, ...i, decision }, INCIDENTS_KEPT);
  }

  nodeHealth(p: NodeHealthChangePayload): void {
    if (p.status !== 'dead') return;
    const members = this.members();
    if (members.length && !members.some((m) => m.nodeId === p.nodeId) && patched(ORCH_MEMBERS_ONLY)) {
      this.recordIncident(
        {
          kind: 'node_failure',
          subject: p.nodeId,
          source: p.observer ?? 'failure-detector',
          detail: p.reason ?? 'declared dead',
          at: Date.now(),
        },
        'ignored: not a member of the cluster',
      );
      return;
    }
    this.incident({
      kind: 'node_failure',
      subject: p.nodeId,
      source: p.observer ?? 'failure-detector',
      detail: p.reason ?? 'declared dead',
      at: Date.now(),
    });
  }

  emergency(p: EmergencyPayload): { procedureId: string; decision: string } {
    const known = this.members().map((m) => m.nodeId);
    if (known.length && !known.includes(p.nodeId))
      throw new Error(`nodeId: expected one of ${known.join(', ')}, got ${JSON.stringify(p.nodeId)}`);
    return this.incident({ kind: p.kind, subject: p.nodeId, source: 'operator', detail: p.reason, at: Date.now() });
  }

  /**
   * `cluster drain`: a maintenance_window procedure for a member that is not already in one. The
   * handler decides and queues; the loop starts the child.
   */
  maintenance(p: MaintenancePayload): { procedureId: string; decision: string } {
    const known = this.members()
      .filter((m) => m.status !== 'left' && m.status !== 'dead')
      .map((m) => m.nodeId);
    if (!known.includes(p.nodeId))
      throw new Error(
        `nodeId: expected a live member (${known.join(', ') || 'none'}), got ${JSON.stringify(p.nodeId)}`,
      );
    const id = procedureId(this.agent.clusterId, 'maintenance_window', p.nodeId);
    if (this.open(id) || this.drains.some((d) => d.id === id))
      throw new Error(`nodeId: ${p.nodeId} is already draining or in maintenance (procedure ${id}); uncordon it first`);
    const now = Date.now();
    this.drains.push({
      id,
      input: {
        clusterId: this.agent.clusterId,
        parentId: this.agent.workflowIdOf(ORCHESTRATOR_ROLE),
        nodeId: p.nodeId,
        reason: p.reason,
        by: p.by,
        deadlineMs: p.deadlineMs,
        stop: p.stop,
      },
    });
    this.starting(id, 'maintenance_window', p.nodeId, now, 'request', `${p.by}: ${p.reason}`);
    return { procedureId: id, decision: `started ${id}` };
  }

  /** A procedure of this id is known and has not ended (one per id at a time). */
  private open(id: string): boolean {
    const p = this.s.procedures[id];
    return p !== undefined && p.endedAt === undefined;
  }

  /** `cluster scale N`: one scale_cluster procedure at a time; the loop starts it. */
  scale(p: ScalePayload): { procedureId: string; decision: string } {
    const id = procedureId(this.agent.clusterId, 'scale_cluster', 'cluster');
    if (this.open(id) || this.scaling)
      throw new Error(`target: a scale is already running (procedure ${id}); wait for it to end`);
    const alive = this.members().filter((m) => m.status === 'alive').length;
    if (p.target > alive && !this.c.replacementHook)
      throw new Error(
        `target: ${p.target} needs ${p.target - alive} more host(s) and no replacementHook is configured to start one (${alive} alive)`,
      );
    const now = Date.now();
    this.scaling = {
      id,
      input: {
        clusterId: this.agent.clusterId,
        parentId: this.agent.workflowIdOf(ORCHESTRATOR_ROLE),
        target: p.target,
        by: p.by,
        reason: p.reason,
        ...(this.c.replacementHook ? { replacementHook: this.c.replacementHook } : {}),
        drainDeadlineMs: 30_000,
        settleTimeoutMs: 60_000,
      },
    };
    this.starting(id, 'scale_cluster', 'cluster', now, 'request', `${p.by}: scale to ${p.target}`);
    return { procedureId: id, decision: `started ${id} (${alive} alive, target ${p.target})` };
  }

  /**
   * `cluster rebalance`, or a sustained imbalance (`by` the orchestrator): one rebalance_load at a
   * time; the loop starts it.
   */
  rebalance(p: RebalanceRequest): { procedureId: string; decision: string } {
    const id = procedureId(this.agent.clusterId, 'rebalance_load', 'cluster');
    if (this.open(id) || this.rebalancing)
      throw new Error(`strategy: a rebalance is already running (procedure ${id}); wait for it to end`);
    const now = Date.now();
    const c = this.c.rebalance;
    this.rebalancing = {
      id,
      input: {
        clusterId: this.agent.clusterId,
        parentId: this.agent.workflowIdOf(ORCHESTRATOR_ROLE),
        reason: p.reason,
        by: p.by,
        ...(p.strategy ? { strategy: p.strategy } : {}),
        threshold: c.threshold,
        settleMs: c.settleMs,
      },
    };
    this.s.lastRebalanceAt = now;
    this.starting(id, 'rebalance_load', 'cluster', now, 'request', `${p.by}: ${p.reason}`);
    return { procedureId: id, decision: `started ${id}` };
  }

  agentStatus(p: AgentStatusUpdatePayload): void {
    const a = (this.s.agents[p.role] ??= { role: p.role, status: 'RUNNING', checkedAt: Date.now(), restarts: 0 });
    const was = a.health;
    a.health = p.status;
    a.reasons = p.reasons;
    if (p.status === 'unhealthy' && was !== 'unhealthy') this.recordAgentIncident(p.role, p.reasons.join('; '));
  }

  report(p: ProcedureReport): void {
    const known = this.s.procedures[p.id];
    // Reports of one procedure arrive in order; an ended one stays ended.
    if (known && (known.endedAt !== undefined || (known.timeline.at(-1)?.at ?? 0) > (p.timeline.at(-1)?.at ?? 0)))
      return;
    this.s.procedures[p.id] = p;
    this.prune();
    this.show();
  }

  private recordAgentIncident(role: string, detail: string): void {
    this.recordIncident(
      {
        kind: 'node_failure',
        subject: `agent:${role}`,
        source: 'supervision',
        detail: `agent ${role} reports itself unhealthy: ${detail}`,
        at: Date.now(),
      },
      'recorded: an agent is not a host; see its health and loop failures',
    );
  }

  /** Ended procedures beyond procedureHistorySize are forgotten (oldest first). */
  private prune(): void {
    const ended = Object.values(this.s.procedures)
      .filter((p) => p.endedAt !== undefined)
      .sort((a, b) => (a.endedAt ?? 0) - (b.endedAt ?? 0));
    for (const p of ended.slice(0, Math.max(0, ended.length - this.c.procedureHistorySize)))
      delete this.s.procedures[p.id];
  }

  hasWork(): boolean {
    return (
      this.queue.length > 0 || this.drains.length > 0 || this.scaling !== undefined || this.rebalancing !== undefined
    );
  }

  /** Starts the queued procedures (invariant 1), each as an abandoned child with a business id. */
  async work(): Promise<void> {
    const scaling = this.scaling;
    this.scaling = undefined;
    if (scaling)
      await this.startProcedure(scaling.id, 'scaleProcedure', scaling.input, {
        staticSummary: `scale_cluster to ${scaling.input.target} alive hosts (cluster ${this.agent.clusterId})`,
        staticDetails: `Requested by ${scaling.input.by}: ${scaling.input.reason}. Up: the replacementHook once per missing host, then wait until ${scaling.input.target} are alive. Down: the newest hosts drained and stopped gracefully, one at a time.`,
      });
    const rebalancing = this.rebalancing;
    this.rebalancing = undefined;
    if (rebalancing)
      await this.startProcedure(rebalancing.id, 'rebalanceProcedure', rebalancing.input, {
        staticSummary: `rebalance_load (cluster ${this.agent.clusterId})`,
        staticDetails: `Requested by ${rebalancing.input.by}: ${rebalancing.input.reason}. Steps: measure, rebalance (a routing table from the latest loads${rebalancing.input.strategy ? `, strategy ${rebalancing.input.strategy}` : ''}), verify (imbalance at most ${rebalancing.input.threshold} within ${Math.round(rebalancing.input.settleMs / 1000)} s, else the strategy switch is undone).`,
      });
    for (const d of this.drains.splice(0))
      await this.startProcedure(d.id, 'maintenanceProcedure', d.input, {
        staticSummary: `maintenance_window (drain) of ${d.input.nodeId} (cluster ${this.agent.clusterId})`,
        staticDetails: `Requested by ${d.input.by}: ${d.input.reason}. Steps: cordon, drain (deadline ${Math.round(d.input.deadlineMs / 1000)} s)${d.input.stop ? ', stop_host' : ''}, in_maintenance until \`npm run cluster -- uncordon ${d.input.nodeId}\`.`,
      });
    for (const q of this.queue.splice(0)) {
      const { decision: d, incident: i } = q;
      const now = Date.now();
      const hook = this.c.replacementHook;
      let notBefore: number | undefined;
      if (hook && d.action === 'start') {
        notBefore = nextReplacementAt(this.s.lastReplacementAt, this.c.replacementEveryMs, now);
        this.s.lastReplacementAt = notBefore;
      }
      const input: NodeFailureInput = {
        clusterId: this.agent.clusterId,
        parentId: this.agent.workflowIdOf(ORCHESTRATOR_ROLE),
        nodeId: d.subject,
        reason: i.detail || i.kind,
        source: i.source,
        escalateAfterMs: this.c.escalateAfterMs[d.kind],
        ...(d.action === 'escalate' ? { escalateNow: d.why } : {}),
        ...(hook ? { replacementHook: hook } : {}),
        ...(notBefore !== undefined ? { replacementNotBefore: notBefore } : {}),
        ...(this.c.webhookUrl ? { webhookUrl: this.c.webhookUrl } : {}),
      };
      this.starting(d.id, d.kind, d.subject, now, 'incident', `${i.source}: ${i.detail}`);
      if (d.kind === 'network_partition' && patched(NETWORK_PARTITION_PROCEDURE)) {
        const np: NetworkPartitionInput = {
          clusterId: this.agent.clusterId,
          parentId: this.agent.workflowIdOf(ORCHESTRATOR_ROLE),
          partitionId: d.subject,
          reason: i.detail || i.kind,
          source: i.source,
          escalateAfterMs: this.c.escalateAfterMs.network_partition,
          ...(this.c.webhookUrl ? { webhookUrl: this.c.webhookUrl } : {}),
        };
        await this.startProcedure(d.id, 'networkPartitionProcedure', np, {
          staticSummary: `network_partition procedure for ${d.subject} (cluster ${this.agent.clusterId})`,
          staticDetails: `Started by ${i.source}: ${i.detail}. Steps: detect_partition_scope, maintain_quorum, route_around_partition, await_recovery (connectivity restored and a consensus round accepted: the fences are lifted); escalates after ${Math.round(np.escalateAfterMs / 1000)} s.`,
        });
        continue;
      }
      if (d.kind !== 'node_failure') {
        this.s.procedures[d.id] = {
          ...(this.s.procedures[d.id] as ProcedureReport),
          status: 'failed',
          endedAt: now,
          outcome: `no ${d.kind} procedure in this build: recorded only`,
        };
        continue;
      }
      await this.startProcedure(d.id, 'nodeFailureProcedure', input, {
        staticSummary: `node_failure procedure for ${d.subject} (cluster ${this.agent.clusterId})`,
        staticDetails: `Started by ${i.source}: ${i.detail}. Steps: isolate_node, redistribute_load, start_replacement, await_recovery; escalates after ${Math.round(input.escalateAfterMs / 1000)} s. Acknowledge an escalation with \`npm run cluster -- ack ${d.id}\`.`,
      });
    }
    this.show();
  }

  /** A procedure the loop is about to start, as `cluster procedures` shows it until its first report. */
  private starting(id: string, kind: string, subject: string, at: number, step: string, detail: string): void {
    this.s.procedures[id] = {
      id,
      kind,
      subject,
      status: 'running',
      step: 'starting',
      startedAt: at,
      timeline: [{ at, step, status: 'info', detail }],
    };
  }

  /**
   * Starts a procedure as an abandoned child. One already running under the id (started by an
   * earlier run of this orchestrator) is joined (invariant 2).
   */
  private async startProcedure(
    id: string,
    workflowType: string,
    input: unknown,
    meta: { staticSummary: string; staticDetails: string },
  ): Promise<void> {
    try {
      await startChild(workflowType, {
        workflowId: id,
        args: [input],
        // A task handed to a host that dies stalls the procedure this long (the default 10 s held a
        // network_partition procedure in detect_partition_scope past the heal, nemesis run L).
        workflowTaskTimeout: AGENT_WORKFLOW_TASK_TIMEOUT,
        parentClosePolicy: ParentClosePolicy.ABANDON,
        ...meta,
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError))
        this.s.procedures[id] = {
          ...(this.s.procedures[id] as ProcedureReport),
          status: 'failed',
          endedAt: Date.now(),
          outcome: `could not start: ${(err as Error).message}`,
        };
    }
  }

  async readMembers(): Promise<void> {
    const read = await this.agent.readMembers();
    if (!read || read.version < this.s.membersVersion) return;
    this.s.membersVersion = read.version;
    this.s.members = read.members.map((m) => ({ nodeId: m.nodeId, zone: m.zone, status: m.status }));
  }

  /**
   * Every supervised agent is described; one that is not running (and was started once) is
   * started again with its last input; one that reports itself unhealthy is an incident.
   */
  async supervise(): Promise<void> {
    const { describeAgents, restartAgent } = proxyActivities<Activities>({
      ...ACTIVITY.supervision,
      summary: 'supervision: every agent described; one not running is started again',
    });
    const seen = await describeAgents({ clusterId: this.agent.clusterId, roles: SUPERVISED });
    const now = Date.now();
    for (const d of seen) {
      const a = (this.s.agents[d.role] ??= { role: d.role, status: d.status, checkedAt: now, restarts: 0 });
      const wasHealth = a.health;
      a.status = d.status;
      a.checkedAt = now;
      if (d.health) a.health = d.health;
      if (d.reasons) a.reasons = d.reasons;
      if (d.health === 'unhealthy' && wasHealth !== 'unhealthy')
        this.recordAgentIncident(d.role, (d.reasons ?? []).join('; '));
      if (d.status === 'RUNNING' || d.status === 'NOT_FOUND') continue;
      try {
        const r = await restartAgent({ clusterId: this.agent.clusterId, role: d.role });
        a.restarts += r.restarted ? 1 : 0;
        a.lastRestart = { at: Date.now(), from: r.from, ok: true, detail: r.detail };
        if (r.restarted) a.status = 'RUNNING';
      } catch (err) {
        a.lastRestart = { at: Date.now(), from: d.status, ok: false, detail: (err as Error).message.slice(0, 300) };
      }
    }
    this.show();
  }

  /** Availability from the members' statuses; CPU from the hosts' vitals memos; cost from the host count. */
  async measure(): Promise<void> {
    const now = Date.now();
    await this.readMembers();
    const hosts = this.s.members.filter((m) => m.status !== 'left');
    this.s.availability = sampleAvailability(
      this.s.availability,
      hosts.map((m) => m.status),
      now,
    );
    const { readNodeVitals } = proxyActivities<Activities>({
      ...ACTIVITY.vitalsRead,
      summary: 'goals: the hosts’ CPU from their vitals',
    });
    let cpu: number | undefined;
    try {
      const alive = hosts.filter((m) => m.status === 'alive').map((m) => ({ nodeId: m.nodeId }));
      const vitals = alive.length ? await readNodeVitals({ clusterId: this.agent.clusterId, nodes: alive }) : [];
      const latest = vitals.map((v) => v.samples.at(-1)?.cpu).filter((x): x is number => x !== undefined);
      if (latest.length) cpu = latest.reduce((a, b) => a + b, 0) / latest.length;
    } catch {
      // no vitals this round: efficiency stays unmeasured
    }
    if (patched(ORCH_TRAFFIC)) await this.readTraffic(now);
    const traffic = this.s.traffic;
    this.s.goals = {
      at: now,
      goals: measureGoals(this.c.goals, {
        availability: this.s.availability,
        ...(cpu !== undefined ? { cpu } : {}),
        ...(traffic?.latencyMs !== undefined ? { latencyMs: traffic.latencyMs } : {}),
        ...(traffic?.requestRate !== undefined ? { requestRate: traffic.requestRate } : {}),
        hosts: hosts.filter((m) => m.status === 'alive' || m.status === 'suspect').length,
        costPerHostHour: this.c.costPerHostHour,
      }),
    };
    this.show();
  }

  /**
   * The LoadBalancer's traffic summary (its memo): latency and throughput for the goals, and an
   * imbalance sample; an imbalance above the threshold for the whole window starts rebalance_load
   * (auto, outside the cooldown, none running).
   */
  private async readTraffic(now: number): Promise<void> {
    const { readLbTraffic } = proxyActivities<Activities>({
      ...ACTIVITY.vitalsRead,
      summary: 'goals: the LoadBalancer’s traffic summary',
    });
    let t: Awaited<ReturnType<typeof readLbTraffic>> = null;
    try {
      t = await readLbTraffic({ clusterId: this.agent.clusterId });
    } catch {
      return; // no summary this round: the goals it feeds stay as they were
    }
    if (!t) return;
    const { loads: _loads, tableVersion: _v, ...kept } = t;
    this.s.traffic = kept;
    const c = this.c.rebalance;
    const samples = (this.s.imbalance ??= []);
    if (t.basis !== 'none') pushBounded(samples, { at: now, value: t.imbalance }, IMBALANCE_SAMPLES_KEPT);
    this.s.imbalance = samples.filter((x) => now - x.at <= 2 * c.windowMs);
    const cooling = this.s.lastRebalanceAt !== undefined && now - this.s.lastRebalanceAt < c.cooldownMs;
    if (
      c.auto &&
      this.c.autoHeal &&
      !cooling &&
      !this.rebalancing &&
      !this.open(procedureId(this.agent.clusterId, 'rebalance_load', 'cluster')) &&
      imbalanceSustained(this.s.imbalance, c.threshold, c.windowMs, now)
    ) {
      this.rebalance({
        reason: `imbalance above ${c.threshold} for ${Math.round(c.windowMs / 1000)} s (now ${t.imbalance}, ${t.basis}, ${t.strategy})`,
        by: 'orchestrator',
      });
    }
  }

  /** The Web UI's current details: goals, procedures (escalated first), agents. */
  show(): void {
    const procs = Object.values(this.s.procedures).sort(
      (a, b) => Number(b.status === 'escalated') - Number(a.status === 'escalated') || b.startedAt - a.startedAt,
    );
    const lines = [
      `## Orchestrator of cluster ${this.agent.clusterId}`,
      '',
      '### Procedures',
      procs.length ? '| procedure | status | step | outcome |' : 'none',
      ...(procs.length ? ['|---|---|---|---|'] : []),
      ...procs
        .slice(0, 15)
        .map(
          (p) =>
            `| ${p.id} | ${p.status === 'escalated' ? '**ESCALATED**' : p.status} | ${p.step ?? ''} | ${(p.outcome ?? p.escalation?.why ?? '').replace(/\|/g, '/')} |`,
        ),
      '',
      '### Goals',
      ...(this.s.goals
        ? this.s.goals.goals.map(
            (g) =>
              `- ${g.goal}: ${g.measured ?? 'not measured'} (target ${g.target}, ${g.unit}) ${g.met === null ? '' : g.met ? 'met' : '**missed**'}`,
          )
        : ['not measured yet']),
      '',
      '### Agents',
      ...Object.values(this.s.agents).map(
        (a) =>
          `- ${a.role}: ${a.status}${a.health ? `, ${a.health}` : ''}${a.restarts ? `, restarted ${a.restarts}×` : ''}`,
      ),
    ];
    setCurrentDetails(lines.join('\n'));
  }
}
