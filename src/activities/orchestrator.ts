/**
 * The orchestrator's and its procedures' activities: supervision of the agents (describe, and
 * start again with the last input), the operator's hooks, and waiting for the routing table to
 * exclude a node. Failures throw (ApplicationFailure), so the callers' retry policies run.
 */
import { execFile } from 'node:child_process';
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { AGENTS, agentStartOptions, agentWorkflowId } from '../contracts/agents';
import { AgentHealth, HEALTH_MEMO } from '../contracts/common';
import {
  TRAFFIC_MEMO,
  TrafficMemo,
  type CordonPayload,
  type CordonResult,
  type RebalanceResult,
  type RoutingTable,
  type Target,
} from '../contracts/load-balancer';
import type { Hook } from '../contracts/orchestrator';

export interface AgentDescription {
  role: string;
  status: string;
  health?: string;
  reasons?: string[];
}

/** Every agent's status (RUNNING, TERMINATED, …, NOT_FOUND) and the health it published, by describe. */
export async function describeAgents(client: Client, input: { clusterId: string; roles: string[] }) {
  return Promise.all(
    input.roles.map(async (role): Promise<AgentDescription> => {
      try {
        const d = await client.workflow.getHandle(agentWorkflowId(input.clusterId, role)).describe();
        const h = AgentHealth.safeParse(d.memo?.[HEALTH_MEMO]);
        return {
          role,
          status: d.status.name,
          ...(h.success ? { health: h.data.status, reasons: h.data.reasons } : {}),
        };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return { role, status: 'NOT_FOUND' };
        throw err;
      }
    }),
  );
}

/**
 * Starts an agent that is not running again with the input of its last run: its config and the
 * state it carried (nothing is lost). A run that failed for good (its input refused, or a bug that
 * the same input meets again) starts from its config alone. Already running: nothing to do.
 */
export async function restartAgent(
  client: Client,
  input: { clusterId: string; role: string },
): Promise<{ restarted: boolean; from: string; detail: string }> {
  const spec = AGENTS[input.role];
  if (!spec)
    throw ApplicationFailure.nonRetryable(`role: expected one of ${Object.keys(AGENTS).join(', ')}`, 'BadInput');
  const handle = client.workflow.getHandle(agentWorkflowId(input.clusterId, input.role));
  const d = await handle.describe();
  if (d.status.name === 'RUNNING') return { restarted: false, from: 'RUNNING', detail: 'already running' };
  const history = await handle.fetchHistory();
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const converter = client.options.loadedDataConverter.payloadConverter;
  const last = started?.input?.payloads?.[0] ? converter.fromPayload(started.input.payloads[0]) : undefined;
  const lastInput = (last ?? {}) as { clusterId?: string; config?: unknown; carried?: unknown };
  const fresh = d.status.name === 'FAILED';
  // The state the closed run ended with: a query of a closed run is answered by a worker replaying
  // its history (no task is pending, so nothing of it can race). Else the state it began with.
  let ended: { base: unknown; agent: unknown; config: unknown } | undefined;
  if (!fresh) {
    try {
      ended = await client.connection.withDeadline(Date.now() + 10_000, () =>
        client.workflow.getHandle(agentWorkflowId(input.clusterId, input.role), d.runId).query('state'),
      );
    } catch {
      ended = undefined;
    }
  }
  const next = fresh
    ? { clusterId: input.clusterId, config: lastInput.config ?? {} }
    : ended
      ? { clusterId: input.clusterId, config: ended.config, carried: { base: ended.base, agent: ended.agent } }
      : { ...lastInput, clusterId: input.clusterId };
  await client.workflow.start(spec.workflowType, {
    ...agentStartOptions(input.clusterId, spec, next),
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
  return {
    restarted: true,
    from: d.status.name,
    detail: fresh
      ? 'started from its last config (its last run failed)'
      : ended
        ? 'started with the config and state its last run ended with'
        : 'started with its last run’s input (its state as that run began)',
  };
}

export interface HookContext {
  clusterId: string;
  procedureId: string;
  action: string;
  nodeId: string;
  reason: string;
  /**
   * The same for every attempt of one request (a retry after a host died mid-call sends it again):
   * a hook that starts hosts starts one per requestId. Absent in procedures started before it.
   */
  requestId?: string;
}

/**
 * Runs an operator hook: a command (argv, no shell; the context in CLUSTER_* variables) or an HTTP
 * call with the context as JSON. A non-zero exit, a timeout or a non-2xx answer throws (retryable);
 * a command that is not there throws non-retryable.
 */
/** The node a hook says it started: `{"nodeId": "…"}` in its answer (HTTP body or the command's output). */
export function namedNode(out: string): string | undefined {
  try {
    const v = JSON.parse(out.trim()) as { nodeId?: unknown };
    return typeof v?.nodeId === 'string' && v.nodeId ? v.nodeId : undefined;
  } catch {
    return undefined;
  }
}

export async function runHook(input: {
  hook: Hook;
  context: HookContext;
}): Promise<{ ok: true; detail: string; nodeId?: string }> {
  const { hook, context } = input;
  if (hook.command?.length) {
    const [file, ...args] = hook.command as [string, ...string[]];
    return new Promise((resolve, reject) => {
      execFile(
        file,
        args,
        {
          timeout: hook.timeoutMs,
          env: {
            ...process.env,
            CLUSTER_ID: context.clusterId,
            CLUSTER_PROCEDURE_ID: context.procedureId,
            CLUSTER_ACTION: context.action,
            CLUSTER_NODE_ID: context.nodeId,
            CLUSTER_REASON: context.reason,
            CLUSTER_REQUEST_ID: context.requestId ?? '',
          },
        },
        (err, so, se) => {
          const out = `${so}${se}`.trim().slice(-500);
          const named = namedNode(so);
          if (!err) return resolve({ ok: true, detail: out || 'exit 0', ...(named ? { nodeId: named } : {}) });
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT' || code === 'EACCES')
            return reject(ApplicationFailure.nonRetryable(`hook command: ${err.message}`, 'BadHook'));
          reject(
            ApplicationFailure.create({ type: 'HookFailed', message: `${err.message.trim()}${out ? `: ${out}` : ''}` }),
          );
        },
      );
    });
  }
  if (hook.http) {
    const what = `${hook.http.method} ${hook.http.url}`;
    let res: Response;
    try {
      res = await fetch(hook.http.url, {
        method: hook.http.method,
        headers: {
          'content-type': 'application/json',
          ...(context.requestId ? { 'idempotency-key': context.requestId } : {}),
        },
        body: JSON.stringify(context),
        signal: AbortSignal.timeout(hook.timeoutMs),
      });
    } catch (err) {
      throw ApplicationFailure.create({ type: 'HookFailed', message: `${what} failed: ${(err as Error).message}` });
    }
    const body = (await res.text()).slice(0, 500);
    if (!res.ok)
      throw ApplicationFailure.create({ type: 'HookFailed', message: `${what} → HTTP ${res.status}: ${body}` });
    const named = namedNode(body);
    return {
      ok: true,
      detail: `${what} → HTTP ${res.status}${body ? `: ${body}` : ''}`,
      ...(named ? { nodeId: named } : {}),
    };
  }
  throw ApplicationFailure.nonRetryable('hook: expected command or http', 'BadHook');
}

/**
 * Waits (by the LoadBalancer's long-poll update, as routers do) until its routing table routes
 * nothing to `nodeId`; returns that table's version. Throws when the time is up (retryable).
 */
export async function awaitUnrouted(
  client: Client,
  input: { clusterId: string; nodeId: string; timeoutMs: number },
): Promise<{ version: number; excluded: string[] }> {
  const handle = client.workflow.getHandle(agentWorkflowId(input.clusterId, 'load-balancer'));
  const deadline = Date.now() + input.timeoutMs;
  let known = 0;
  while (Date.now() < deadline) {
    const wait = Math.max(100, Math.min(5_000, deadline - Date.now()));
    let table: RoutingTable;
    try {
      table = await handle.executeUpdate<RoutingTable, [{ knownVersion: number; waitMs?: number }]>(
        'awaitRoutingTable',
        {
          args: [{ knownVersion: known, waitMs: wait }],
        },
      );
    } catch (err) {
      if (err instanceof WorkflowNotFoundError)
        throw ApplicationFailure.nonRetryable('the load-balancer agent does not run', 'NoLoadBalancer');
      throw err;
    }
    known = table.version;
    if (!table.targets.some((t) => t.nodeId === input.nodeId))
      return {
        version: table.version,
        excluded: table.excluded.filter((x) => x.id.startsWith(`${input.nodeId}/`)).map((x) => `${x.id}: ${x.reason}`),
      };
  }
  throw ApplicationFailure.create({
    type: 'StillRouted',
    message: `the routing table still routes to ${input.nodeId} after ${input.timeoutMs} ms`,
  });
}

/** Cordons (or uncordons) a node at the LoadBalancer: its `cordon`/`uncordon` update. Bad input is not retried. */
export async function setCordon(
  client: Client,
  input: { clusterId: string; nodeId: string; cordon: boolean; reason?: string; by?: string },
): Promise<CordonResult> {
  const handle = client.workflow.getHandle(agentWorkflowId(input.clusterId, 'load-balancer'));
  try {
    return input.cordon
      ? await handle.executeUpdate<CordonResult, [CordonPayload]>('cordon', {
          args: [{ nodeId: input.nodeId, reason: input.reason ?? 'maintenance', by: input.by ?? 'operator' }],
        })
      : await handle.executeUpdate<CordonResult, [{ nodeId: string }]>('uncordon', {
          args: [{ nodeId: input.nodeId }],
        });
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw ApplicationFailure.nonRetryable('the load-balancer agent does not run', 'NoLoadBalancer');
    const refusal = err instanceof WorkflowUpdateFailedError ? (err.cause?.message ?? err.message) : undefined;
    // Uncordoned already (by an operator at the LoadBalancer): the goal is reached.
    if (refusal && !input.cordon && / is not cordoned/.test(refusal))
      return { nodeId: input.nodeId, cordoned: false, tableVersion: -1 };
    if (refusal) throw ApplicationFailure.nonRetryable(refusal, 'Refused');
    throw err;
  }
}

/**
 * A drain's wait: until the LoadBalancer's table routes nothing to `nodeId` and the routers report
 * no request in flight on its targets, or `deadlineMs` passed (then it says how many were left).
 * Zero counts only from `settleMs` after the cordon (`since`) on: a router reports a request it
 * began just before the cordon at its next report (every second by default; at once when the
 * cordon's table reaches it). Reads the agent's `targets` every 100 ms, heartbeating.
 */
export async function awaitDrained(
  client: Client,
  input: { clusterId: string; nodeId: string; deadlineMs: number; since?: number; settleMs?: number },
): Promise<{ drained: boolean; inFlight: number; waitedMs: number }> {
  const settledAt = (input.since ?? Date.now()) + (input.settleMs ?? 1_500);
  const handle = client.workflow.getHandle(agentWorkflowId(input.clusterId, 'load-balancer'));
  const started = Date.now();
  let inFlight = Number.NaN;
  for (;;) {
    try {
      const [table, targets] = await Promise.all([
        handle.query<RoutingTable>('routingTable'),
        handle.query<Target[]>('targets'),
      ]);
      inFlight = targets.filter((t) => t.nodeId === input.nodeId).reduce((n, t) => n + t.load.connections, 0);
      const routed = table.targets.some((t) => t.nodeId === input.nodeId);
      if (!routed && inFlight === 0 && Date.now() >= settledAt)
        return { drained: true, inFlight: 0, waitedMs: Date.now() - started };
    } catch {
      // The agent did not answer this time (a failover): the next read tries again.
    }
    if (Date.now() - started >= input.deadlineMs)
      return { drained: false, inFlight: Number.isNaN(inFlight) ? -1 : inFlight, waitedMs: Date.now() - started };
    Context.current().heartbeat({ inFlight });
    await Context.current().sleep(100);
  }
}

/** The LoadBalancer's traffic summary from its memo (describe: no worker needed); null when none yet. */
export async function readLbTraffic(client: Client, input: { clusterId: string }): Promise<TrafficMemo | null> {
  try {
    const d = await client.workflow.getHandle(agentWorkflowId(input.clusterId, 'load-balancer')).describe();
    const parsed = TrafficMemo.safeParse(d.memo?.[TRAFFIC_MEMO]);
    return parsed.success ? parsed.data : null;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw ApplicationFailure.nonRetryable('the load-balancer agent does not run', 'NoLoadBalancer');
    throw err;
  }
}

/** A rebalance at the LoadBalancer (`rebalance` update); with a strategy, also a switch to it. */
export async function rebalanceLb(
  client: Client,
  input: { clusterId: string; strategy?: string; reason: string },
): Promise<RebalanceResult> {
  const handle = client.workflow.getHandle(agentWorkflowId(input.clusterId, 'load-balancer'));
  try {
    return await handle.executeUpdate<RebalanceResult, [Record<string, unknown>]>('rebalance', {
      args: [{ reason: input.reason, ...(input.strategy ? { strategy: input.strategy } : {}) }],
    });
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw ApplicationFailure.nonRetryable('the load-balancer agent does not run', 'NoLoadBalancer');
    if (err instanceof WorkflowUpdateFailedError)
      throw ApplicationFailure.nonRetryable(err.cause?.message ?? err.message, 'Refused');
    throw err;
  }
}

/**
 * A rebalance's check: until a traffic summary of table `tableVersion` or later says the imbalance is
 * at most `threshold`, or `settleMs` passed (then it says what it last read). Reads every 500 ms,
 * heartbeating.
 */
export async function awaitBalanced(
  client: Client,
  input: { clusterId: string; tableVersion: number; threshold: number; settleMs: number },
): Promise<{ balanced: boolean; imbalance: number; basis: string; waitedMs: number }> {
  const started = Date.now();
  let last: TrafficMemo | null = null;
  for (;;) {
    const t = await readLbTraffic(client, input).catch((err: unknown) => {
      if (err instanceof ApplicationFailure) throw err;
      return null; // the server did not answer this time: the next read tries again
    });
    if (t && t.tableVersion >= input.tableVersion) {
      last = t;
      if (t.imbalance <= input.threshold)
        return { balanced: true, imbalance: t.imbalance, basis: t.basis, waitedMs: Date.now() - started };
    }
    if (Date.now() - started >= input.settleMs)
      return {
        balanced: false,
        imbalance: last?.imbalance ?? Number.NaN,
        basis: last?.basis ?? 'none',
        waitedMs: Date.now() - started,
      };
    Context.current().heartbeat({ imbalance: last?.imbalance });
    await Context.current().sleep(500);
  }
}
