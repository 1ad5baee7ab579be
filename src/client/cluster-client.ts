/** The typed client of a cluster's agents, used by the CLI, `npm run up`, the tests and the benchmarks. */
import { randomUUID } from 'node:crypto';
import { Client, Connection, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import {
  AGENTS,
  MAX_INSTANCES,
  MULTI_INSTANCE_ROLES,
  agentStartOptions,
  TASK_QUEUE,
  agentWorkflowId,
  instanceName,
  type AgentSpec,
} from '../contracts/agents';
import { AgentHealth, HEALTH_MEMO, type AgentStateView } from '../contracts/common';
import type { Member, Topology } from '../contracts/node-discovery';
import { ProposePayload, type RoundRecord } from '../contracts/consensus';
import { FENCES_MEMO, FencesMemo, type PartitionRecord } from '../contracts/partition-handler';
import {
  LbStrategy,
  type Cordon,
  type DistributeRequest,
  type RouteDecision,
  type Target,
} from '../contracts/load-balancer';
import { describeZodError, unknownFields } from '../core/validation';
import {
  EmergencyPayload,
  MaintenancePayload,
  PROCEDURE_MEMO,
  RebalanceRequest,
  ScalePayload,
  ProcedureReport,
  type GoalStatus,
} from '../contracts/orchestrator';
import { ConfigError, clusterIdFrom, connectionSettings } from './connection';
import { isUpdateTaskFailure, retryRefusals, retrySignalRefusals } from './refusals';

/** A caller's mistake (unknown agent, bad payload): the CLI exits 2 and names the field. */
const QUERY_DEADLINE_MS = 5_000;
const UPDATE_DEADLINE_MS = 30_000;

function isDeadlineExceeded(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = (e as Error & { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === 4 || /DEADLINE_EXCEEDED|deadline/i.test(e.message)) return true;
  }
  return false;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface AgentStatus {
  role: string;
  workflowId: string;
  running: boolean;
  status: string;
  runId?: string;
  historyLength?: number;
  health?: AgentHealth;
}

export interface ClusterStatus {
  clusterId: string;
  agents: AgentStatus[];
  topology?: Topology;
  /** Set when node-discovery runs but did not answer (no worker polling). */
  unanswered?: string;
  /** The orchestrator's last measure of the goals (when it runs and answered). */
  goals?: { at: number; goals: GoalStatus[] };
}

export class ClusterClient {
  constructor(
    readonly client: Client,
    readonly clusterId: string,
    private readonly ownsConnection?: Connection,
  ) {}

  static async connect(env: NodeJS.ProcessEnv = process.env): Promise<ClusterClient> {
    const settings = connectionSettings(env);
    const clusterId = clusterIdFrom(env);
    let connection: Connection;
    try {
      connection = await Connection.connect({
        address: settings.address,
        tls: settings.tls,
        apiKey: settings.apiKey,
        connectTimeout: '5s',
      });
    } catch (err) {
      throw new Error(`cannot reach Temporal at ${settings.address} (TEMPORAL_ADDRESS): ${(err as Error).message}`);
    }
    return new ClusterClient(new Client({ connection, namespace: settings.namespace }), clusterId, connection);
  }

  async close(): Promise<void> {
    await this.ownsConnection?.close();
  }

  /** The agent's name without the cluster: a role, or an instance of one (`health-monitor-2`). */
  private nameOf(agent: string): string {
    return agent.startsWith(`${this.clusterId}/`) ? agent.slice(this.clusterId.length + 1) : agent;
  }

  spec(agent: string): AgentSpec {
    const name = this.nameOf(agent);
    const m = /^(.+)-([2-9])$/.exec(name);
    const role = !AGENTS[name] && m && (MULTI_INSTANCE_ROLES as readonly string[]).includes(m[1]!) && Number(m[2]) <= MAX_INSTANCES ? m[1]! : name;
    const spec = AGENTS[role];
    if (!spec)
      throw new UsageError(
        `AGENT: expected one of ${Object.keys(AGENTS).join(', ')} (or an instance: ${MULTI_INSTANCE_ROLES.map((r) => `${r}-2`).join(', ')} …), got ${JSON.stringify(agent)}`,
      );
    return spec;
  }

  handle(agent: string) {
    this.spec(agent);
    return this.client.workflow.getHandle(agentWorkflowId(this.clusterId, this.nameOf(agent)));
  }

  /** Ensures every agent runs (idempotent); a given config is applied to a running agent with `configure`. */
  async start(configs: Record<string, Record<string, unknown>> = {}): Promise<AgentStatus[]> {
    for (const [role, config] of Object.entries(configs)) {
      const unknown = unknownFields(this.spec(role).config, config, role);
      if (unknown.length) throw new UsageError(`invalid ${role} config: ${unknown.join('; ')}`);
      const parsed = this.spec(role).config.safeParse(config);
      if (!parsed.success) throw new UsageError(`invalid ${role} config: ${describeZodError(parsed.error, role)}`);
      if ('instance' in config)
        throw new UsageError(`invalid ${role} config: instance: set by cluster start for each instance; give instances (1-${MAX_INSTANCES}) instead`);
    }
    const out: AgentStatus[] = [];
    for (const spec of Object.values(AGENTS)) {
      const config = configs[spec.role];
      await this.client.workflow.start(spec.workflowType, {
        ...agentStartOptions(this.clusterId, spec, { clusterId: this.clusterId, config: config ?? {} }),
        workflowIdConflictPolicy: 'USE_EXISTING',
      });
      // The update goes to the workflow id, not to the run the start returned: an agent that
      // continued as new meanwhile ran on ("workflow execution not found", found by the two-monitor test).
      // Through `update`: one id for every attempt, sent again when the server refuses it because
      // the workflow task failed (a continue-as-new that raced a signal), under a deadline.
      if (config) await this.update(spec.role, 'configure', config);
      out.push(await this.agentStatus(spec));
      // More instances of a role that allows them (`instances` in its config): `<role>-2` …, each
      // with the same config and its own number.
      const instances = typeof config?.instances === 'number' ? config.instances : 1;
      if ((MULTI_INSTANCE_ROLES as readonly string[]).includes(spec.role))
        for (let k = 2; k <= instances; k++) {
          const name = instanceName(spec.role, k);
          const own = { ...config, instance: k };
          await this.client.workflow.start(spec.workflowType, {
            ...agentStartOptions(this.clusterId, { ...spec, role: name as AgentSpec['role'] }, { clusterId: this.clusterId, config: own }),
            staticSummary: `${spec.role} agent of cluster ${this.clusterId}, instance ${k} of ${instances}`,
            workflowIdConflictPolicy: 'USE_EXISTING',
          });
          await this.update(name, 'configure', own);
          out.push(await this.agentStatus(spec, name));
        }
    }
    return out;
  }

  async agentStatus(spec: AgentSpec, name: string = spec.role): Promise<AgentStatus> {
    const workflowId = agentWorkflowId(this.clusterId, name);
    const handle = this.client.workflow.getHandle(workflowId);
    try {
      const d = await handle.describe();
      const running = d.status.name === 'RUNNING';
      // The health the agent published in its memo (no query: the server answers a describe
      // without a worker, and a query that meets a failover is what the sdk-core defect needs);
      // runs from before the memo are asked.
      const published = AgentHealth.safeParse(d.memo?.[HEALTH_MEMO]);
      const health = !running
        ? undefined
        : published.success
          ? published.data
          : await this.bounded(spec, QUERY_DEADLINE_MS, () => handle.query<AgentHealth>('health')).catch(
              () => undefined,
            );
      return {
        role: name,
        workflowId,
        running,
        status: d.status.name,
        runId: d.runId,
        historyLength: d.historyLength,
        health,
      };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError)
        return { role: name, workflowId, running: false, status: 'NOT_STARTED' };
      throw err;
    }
  }

  async status(): Promise<ClusterStatus> {
    const agents = await Promise.all(Object.values(AGENTS).map((s) => this.agentStatus(s)));
    // Further instances of the roles that allow them, in order, up to the first that never ran.
    for (const role of MULTI_INSTANCE_ROLES)
      for (let k = 2; k <= MAX_INSTANCES; k++) {
        const a = await this.agentStatus(AGENTS[role]!, instanceName(role, k));
        if (a.status === 'NOT_STARTED') break;
        agents.push(a);
      }
    const discovery = agents.find((a) => a.role === 'node-discovery');
    if (discovery?.running && !discovery.health) {
      return {
        clusterId: this.clusterId,
        agents,
        unanswered: `no answer from node-discovery: is a worker polling ${TASK_QUEUE}?`,
      };
    }
    if (!discovery?.running) return { clusterId: this.clusterId, agents };
    // The agents' health came from their memos; the topology and the goals need a worker.
    const orchestrator = agents.find((a) => a.role === 'orchestrator');
    const goals = orchestrator?.running
      ? await this.query<ClusterStatus['goals'] | null>('orchestrator', 'goals').catch(() => undefined)
      : undefined;
    try {
      return {
        clusterId: this.clusterId,
        agents,
        topology: await this.query<Topology>('node-discovery', 'topology'),
        ...(goals ? { goals } : {}),
      };
    } catch (err) {
      return { clusterId: this.clusterId, agents, unanswered: (err as Error).message, ...(goals ? { goals } : {}) };
    }
  }

  async nodes(): Promise<Member[]> {
    return this.query<Member[]>('node-discovery', 'nodes');
  }

  /** A routing decision by the LoadBalancer agent itself (the control-plane path). */
  async route(req: DistributeRequest): Promise<RouteDecision> {
    return this.update<RouteDecision>('load-balancer', 'distributeLoad', req);
  }

  async targets(): Promise<Target[]> {
    return this.query<Target[]>('load-balancer', 'targets');
  }

  /** Cordoned nodes, as the LoadBalancer holds them (its state: a drain's cordon). */
  async cordoned(): Promise<Record<string, Cordon>> {
    const out: Record<string, Cordon> = {};
    for (const t of await this.targets()) if (t.cordoned) out[t.nodeId] = t.cordoned;
    return out;
  }

  /** The partition handler's fences, from its memo (no query); none when it does not run. */
  async fences(): Promise<FencesMemo> {
    try {
      const d = await this.client.workflow.getHandle(agentWorkflowId(this.clusterId, 'partition-handler')).describe();
      const m = FencesMemo.safeParse(d.memo?.[FENCES_MEMO]);
      return m.success ? m.data : { generation: 0, fenced: {}, seen: {} };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return { generation: 0, fenced: {}, seen: {} };
      throw err;
    }
  }

  /** The last partitions the handler saw (oldest first). */
  async partitions(): Promise<PartitionRecord[]> {
    return this.query<PartitionRecord[]>('partition-handler', 'partitions');
  }

  /** Every procedure of this cluster (running and ended), newest first: from their memos, no query. */
  async procedures(): Promise<ProcedureReport[]> {
    const out: ProcedureReport[] = [];
    const prefix = `${this.clusterId}/procedure/`;
    for await (const wf of this.client.workflow.list({ query: `WorkflowId STARTS_WITH '${prefix}'` })) {
      const memo = ProcedureReport.safeParse(wf.memo?.[PROCEDURE_MEMO]);
      if (memo.success) out.push(withRunStatus(memo.data, wf.status.name));
      else
        out.push({
          id: wf.workflowId,
          kind: wf.workflowId.slice(prefix.length).split('/')[0] ?? '?',
          subject: wf.workflowId.slice(prefix.length).split('/').slice(1).join('/'),
          status: wf.status.name === 'RUNNING' ? 'running' : 'failed',
          startedAt: wf.startTime.getTime(),
          timeline: [],
        });
    }
    // One entry per id (the newest run).
    const byId = new Map<string, ProcedureReport>();
    for (const p of out) if (!byId.has(p.id) || (byId.get(p.id)?.startedAt ?? 0) < p.startedAt) byId.set(p.id, p);
    return [...byId.values()].sort((a, b) => b.startedAt - a.startedAt);
  }

  /** A procedure id as given (whole, or `<kind>/<subject>`) → its workflow id. */
  procedureId(id: string): string {
    return id.startsWith(`${this.clusterId}/procedure/`) ? id : `${this.clusterId}/procedure/${id}`;
  }

  async procedure(id: string): Promise<ProcedureReport> {
    const workflowId = this.procedureId(id);
    let d;
    try {
      d = await this.client.workflow.getHandle(workflowId).describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError)
        throw new UsageError(
          `ID: no procedure ${JSON.stringify(id)} in cluster ${this.clusterId} (see: npm run cluster -- procedures)`,
        );
      throw err;
    }
    const memo = ProcedureReport.safeParse(d.memo?.[PROCEDURE_MEMO]);
    if (!memo.success) throw new Error(`procedure ${workflowId} has published no report yet (status ${d.status.name})`);
    return withRunStatus(memo.data, d.status.name);
  }

  /** An operator takes over an escalated procedure. */
  async ack(id: string, by: string): Promise<ProcedureReport> {
    const p = await this.procedure(id);
    if (p.status !== 'escalated')
      throw new UsageError(`ID: procedure ${p.id} is ${p.status}, not escalated: nothing to acknowledge`);
    await this.client.workflow.getHandle(p.id).signal('acknowledge', { by });
    return p;
  }

  /**
   * `cluster consensus propose`: a round of the ConsensusCoordinator; waits for its result (the
   * round's timeout, and a while for rounds of the same topic ahead of it).
   */
  async propose(p: Record<string, unknown>): Promise<RoundRecord> {
    const parsed = ProposePayload.safeParse(p);
    if (!parsed.success) throw new UsageError(`invalid proposal: ${describeZodError(parsed.error)}`);
    const wait = (parsed.data.timeoutMs ?? (parsed.data.emergency ? 15_000 : 45_000)) + 30_000;
    return refusedAsUsage(() => this.update<RoundRecord>('consensus-coordinator', 'propose', parsed.data, wait));
  }

  /** The ConsensusCoordinator's results, newest last. */
  async rounds(): Promise<RoundRecord[]> {
    return this.query<RoundRecord[]>('consensus-coordinator', 'rounds');
  }

  async emergency(kind: string, nodeId: string, reason?: string): Promise<{ procedureId: string; decision: string }> {
    const parsed = EmergencyPayload.safeParse({ kind, nodeId, ...(reason !== undefined ? { reason } : {}) });
    if (!parsed.success) throw new UsageError(`invalid emergency: ${describeZodError(parsed.error)}`);
    return this.update('orchestrator', 'emergency', parsed.data);
  }

  /**
   * `cluster drain`: the orchestrator starts a maintenance_window procedure (cordon, drain, stop).
   * An unknown node or one already draining is the caller's mistake (UsageError, the field named).
   */
  async drain(
    nodeId: string,
    o: { deadlineMs?: number; reason?: string; by?: string; stop?: boolean },
  ): Promise<{ procedureId: string; decision: string }> {
    const parsed = MaintenancePayload.safeParse({ nodeId, ...o });
    if (!parsed.success) throw new UsageError(`invalid drain: ${describeZodError(parsed.error)}`);
    return refusedAsUsage(() => this.update('orchestrator', 'maintenance', parsed.data));
  }

  /** `cluster scale N`: the orchestrator's scale_cluster procedure brings the alive hosts to N. */
  async scale(target: string, o: { by?: string; reason?: string }): Promise<{ procedureId: string; decision: string }> {
    if (!/^\d+$/.test(target))
      throw new UsageError(`N: expected a whole number of hosts (1-100), got ${JSON.stringify(target)}`);
    const parsed = ScalePayload.safeParse({ target: Number(target), ...o });
    if (!parsed.success) throw new UsageError(`N: ${describeZodError(parsed.error)}`);
    return this.afterEnded(() => refusedAsUsage(() => this.update('orchestrator', 'scale', parsed.data)));
  }

  /**
   * Runs `call`; when the orchestrator refuses because a procedure of the same kind is still running
   * although that procedure says it ended (its last report to the orchestrator is a signal behind
   * its memo), tries again for up to 10 s.
   */
  private async afterEnded<R>(call: () => Promise<R>): Promise<R> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        return await call();
      } catch (err) {
        const m = err instanceof UsageError ? /is already running \(procedure (\S+)\)/.exec(err.message) : null;
        if (!m || Date.now() > deadline) throw err;
        const ended = await this.procedure(m[1] as string).then(
          (p) => p.endedAt !== undefined,
          () => false,
        );
        if (!ended) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /** `cluster rebalance`: the orchestrator's rebalance_load procedure, one at a time. */
  async rebalance(o: {
    by?: string;
    reason?: string;
    strategy?: string;
  }): Promise<{ procedureId: string; decision: string }> {
    const parsed = RebalanceRequest.safeParse(o);
    if (!parsed.success) throw new UsageError(`invalid rebalance: ${describeZodError(parsed.error)}`);
    return this.afterEnded(() => refusedAsUsage(() => this.update('orchestrator', 'rebalance', parsed.data)));
  }

  /**
   * `cluster uncordon`: ends the node's maintenance_window procedure (it returns the node to
   * rotation), or, with none running, uncordons it at the LoadBalancer directly.
   */
  async uncordon(
    nodeId: string,
    by: string,
  ): Promise<{ via: 'procedure'; report: ProcedureReport } | { via: 'load-balancer'; tableVersion: number }> {
    const parsed = MaintenancePayload.pick({ nodeId: true }).safeParse({ nodeId });
    if (!parsed.success) throw new UsageError(`invalid uncordon: ${describeZodError(parsed.error)}`);
    const handle = this.client.workflow.getHandle(this.procedureId(`maintenance_window/${nodeId}`));
    const running = await handle.describe().then(
      (d) => d.status.name === 'RUNNING',
      () => false,
    );
    if (running) {
      await handle.signal('uncordon', { by });
      // The procedure uncordons and ends within a second or two; its memo says how it ended. It
      // closes only once its last report reached the orchestrator, so a drain right after this
      // one returns is not refused as "already in maintenance".
      for (const end = Date.now() + 15_000; Date.now() < end;) {
        const closed = (await handle.describe()).status.name !== 'RUNNING';
        const p = await this.procedure(handle.workflowId);
        if (closed && p.endedAt !== undefined) return { via: 'procedure', report: p };
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`procedure ${handle.workflowId} did not end within 15 s of the uncordon (see: procedure ID)`);
    }
    const r = await refusedAsUsage(() =>
      this.update<{ tableVersion: number }>('load-balancer', 'uncordon', { nodeId: parsed.data.nodeId }),
    );
    return { via: 'load-balancer', tableVersion: r.tableVersion };
  }

  async setStrategy(name: string): Promise<{ strategy: string; tableVersion: number }> {
    const parsed = LbStrategy.safeParse(name);
    if (!parsed.success)
      throw new UsageError(`STRATEGY: expected one of ${LbStrategy.options.join(', ')}, got ${JSON.stringify(name)}`);
    return this.update('load-balancer', 'setStrategy', { strategy: parsed.data });
  }

  async state<S>(agent: string): Promise<AgentStateView<S>> {
    return this.query<AgentStateView<S>>(agent, 'state');
  }

  async query<R>(agent: string, name: string): Promise<R> {
    const spec = this.spec(agent);
    if (!spec.queries.includes(name)) {
      throw new UsageError(
        `QUERY: expected one of ${spec.queries.join(', ')} for ${spec.role}, got ${JSON.stringify(name)}`,
      );
    }
    return this.bounded(spec, QUERY_DEADLINE_MS, () => this.handle(agent).query<R>(name));
  }

  /** Sends a signal after checking its payload here: a signal cannot be rejected by the agent itself. */
  async signal(agent: string, name: string, payload: unknown): Promise<void> {
    const spec = this.spec(agent);
    const schema = spec.signals[name];
    if (!schema) {
      throw new UsageError(
        `SIGNAL: expected one of ${Object.keys(spec.signals).join(', ')} for ${spec.role}, got ${JSON.stringify(name)}`,
      );
    }
    const parsed = schema.safeParse(payload);
    if (!parsed.success) throw new UsageError(`invalid ${name} payload: ${describeZodError(parsed.error)}`);
    // A refusal at the server's per-run signal limit lasts until the agent continues as new: retried.
    await retrySignalRefusals(() =>
      this.bounded(spec, QUERY_DEADLINE_MS, () => this.handle(agent).signal(name, payload)),
    );
  }

  async update<R>(agent: string, name: string, payload: unknown, deadlineMs = UPDATE_DEADLINE_MS): Promise<R> {
    const spec = this.spec(agent);
    const schema = spec.updates[name];
    if (!schema) {
      throw new UsageError(
        `UPDATE: expected one of ${Object.keys(spec.updates).join(', ')} for ${spec.role}, got ${JSON.stringify(name)}`,
      );
    }
    // The caller's mistake is said here, with the field, before anything reaches the agent (which
    // checks again: other clients exist).
    const parsed = schema.safeParse(payload ?? {});
    if (!parsed.success) throw new UsageError(`invalid ${name} payload: ${describeZodError(parsed.error)}`);
    if (name === 'configure') {
      // A patch of the config: its fields must be valid config (the others keep their values).
      const config = spec.config.safeParse(payload);
      if (!config.success)
        throw new UsageError(`invalid configure payload: ${describeZodError(config.error, 'config')}`);
    }
    // One id for every attempt: an update refused because its workflow task failed is sent again,
    // and the server deduplicates it should it have been accepted after all.
    const updateId = randomUUID();
    return retryRefusals(isUpdateTaskFailure, () =>
      this.bounded(spec, deadlineMs, () =>
        this.handle(agent).executeUpdate<R, [unknown]>(name, { args: [payload], updateId }),
      ),
    );
  }

  /**
   * Runs one call under a gRPC deadline. Queries and updates are answered by a worker: with none
   * polling, the server holds them until the deadline, so the error says what to do.
   */
  private async bounded<R>(spec: AgentSpec, ms: number, fn: () => Promise<R>): Promise<R> {
    try {
      return await this.client.connection.withDeadline(Date.now() + ms, fn);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        throw new Error(
          `agent ${spec.role} is not running in cluster ${this.clusterId} (start it with: npm run cluster -- start)`,
        );
      }
      if (isDeadlineExceeded(err)) {
        throw new Error(
          `agent ${spec.role} did not answer within ${ms} ms: is a worker polling ${TASK_QUEUE}? (start one with: npm run worker -- --node-id ID)`,
        );
      }
      throw err;
    }
  }
}

export { ConfigError };

/** A procedure whose workflow ended without saying so (terminated, timed out) is shown as failed. */
function withRunStatus(p: ProcedureReport, runStatus: string): ProcedureReport {
  if (runStatus === 'RUNNING' || p.endedAt !== undefined) return p;
  return { ...p, status: 'failed', outcome: p.outcome ?? `its workflow ended ${runStatus.toLowerCase()}` };
}

/** An agent's refusal that names a field ("nodeId: …") is the caller's mistake: exit 2, not 1. */
async function refusedAsUsage<R>(call: () => Promise<R>): Promise<R> {
  try {
    return await call();
  } catch (err) {
    const cause = err instanceof WorkflowUpdateFailedError ? err.cause?.message : undefined;
    // The agent says "<update> failed: <field>: <what was expected>".
    const field = cause ? /^(?:\w+ failed: )?([a-zA-Z]+: [\s\S]*)$/.exec(cause) : null;
    if (field) throw new UsageError(field[1] as string);
    throw err;
  }
}
