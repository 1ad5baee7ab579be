/**
 * node_failure: a child workflow of the orchestrator, id `<clusterId>/procedure/node_failure/<node>`.
 *
 * Steps (each an activity or a message to an agent, with its own timeout and retries):
 * 0. agree_gone — unless an operator started it: a consensus round node-gone among the
 *    FailureDetector, the HealthMonitor and NodeDiscovery (majority); not accepted, nothing is done
 *    (no coordinator: skipped, the verdict stands alone).
 * 1. isolate_node — the HealthMonitor quarantines the node (reason `node_failure`).
 * 2. redistribute_load — wait until the LoadBalancer's table (what routers hold) routes nothing to it.
 * 3. start_replacement — the operator's hook (config, never a payload), rate-limited by the
 *    orchestrator (`replacementNotBefore`); skipped when no hook is configured.
 * 4. await_recovery — checked, not assumed: the node alive again (a new incarnation: its isolation
 *    is lifted, and the health monitor's checks decide its routing) or a replacement alive and not
 *    unhealthy, read from NodeDiscovery's members memo.
 *
 * Beside the steps an escalation timer runs: past `escalateAfterMs` (or at once, when the
 * orchestrator saw a mass failure) the procedure escalates to manual intervention — its current
 * details, its memo (`cluster procedures`), a report to the orchestrator and the webhook — and
 * waits for recovery or an operator's `acknowledge`. When a step fails for good, the steps already
 * done are undone in reverse, in a scope that a cancellation cannot interrupt.
 */
import {
  patched,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { MemberSummary } from '../../contracts/common';
import { quarantineNodeSignal, releaseNodeSignal } from '../../contracts/health-monitor';
import { AckPayload, acknowledgeSignal, type Hook, type ProcedureReport } from '../../contracts/orchestrator';
import { ACTIVITY } from '../activity-options';

/**
 * Patch: a procedure started by an agent's verdict (not an operator) first runs a consensus round
 * node-gone among the FailureDetector, the HealthMonitor and NodeDiscovery, and does nothing when it
 * is not accepted.
 */
export const NODE_FAILURE_AGREE_GONE = 'node-failure-agree-gone';
/** Patch: recovery is the node back or the replacement the hook named; an escalated one claims no other's. */
export const NODE_FAILURE_OWN_REPLACEMENT = 'node-failure-own-replacement';
import { errorText, escalator, failed, finish, reporter, timelineTable } from './report';

export interface NodeFailureInput {
  clusterId: string;
  /** The orchestrator's workflow id (reports go there). */
  parentId: string;
  nodeId: string;
  reason: string;
  source: string;
  escalateAfterMs: number;
  /** Escalate at once with this reason (the orchestrator saw a mass failure): no replacement. */
  escalateNow?: string;
  replacementHook?: Hook;
  /** Epoch ms before which no replacement may start (the orchestrator's rate limit). */
  replacementNotBefore?: number;
  webhookUrl?: string;
}

export async function nodeFailureProcedure(input: NodeFailureInput): Promise<ProcedureReport> {
  const id = workflowInfo().workflowId;
  const report: ProcedureReport = {
    id,
    kind: 'node_failure',
    subject: input.nodeId,
    status: 'running',
    startedAt: Date.now(),
    timeline: [],
  };
  let acked = false;
  setHandler(acknowledgeSignal, (raw: unknown) => {
    const p = AckPayload.safeParse(raw ?? {});
    if (!p.success || acked || report.status !== 'escalated') return;
    acked = true;
    report.ack = { at: Date.now(), by: p.data.by };
  });

  const { note } = reporter(input.parentId, report, () => details(report, input));

  const hm = getExternalWorkflowHandle(`${input.clusterId}/health-monitor`);
  const { awaitUnrouted } = proxyActivities<Activities>({
    ...ACTIVITY.procedureStep(30_000),
    summary: `redistribute_load: until no routing table routes ${input.nodeId}`,
  });
  const { runHook } = proxyActivities<Activities>({
    ...ACTIVITY.procedureStep(input.replacementHook?.timeoutMs ?? 30_000, input.replacementHook?.host),
    summary: `start_replacement: the replacement hook for ${input.nodeId}`,
  });
  const { readMembers } = proxyActivities<Activities>({
    ...ACTIVITY.clusterRead,
    summary: `members (recovery of ${input.nodeId})`,
  });
  const { notifyWebhook } = proxyActivities<Activities>({ ...ACTIVITY.webhook, summary: 'escalation to the webhook' });
  const { proposeConsensus } = proxyActivities<Activities>({
    ...ACTIVITY.procedureStep(20_000),
    retry: { maximumAttempts: 2, initialInterval: '500ms' },
    summary: `agree_gone: consensus round node-gone (${input.nodeId})`,
  });

  /** Undo steps, newest first: run even when the procedure is cancelled. */
  const undo: { step: string; fn: () => Promise<void> }[] = [];
  const compensate = () =>
    CancellationScope.nonCancellable(async () => {
      for (const u of undo.splice(0).reverse()) {
        try {
          await u.fn();
          await note(u.step, 'undone');
        } catch (err) {
          await note(u.step, 'failed', `undo failed: ${errorText(err)}`);
        }
      }
    });

  let recovered: string | undefined;
  /** The host the replacement hook said it started. */
  let replacement: string | undefined;
  const escalate = escalator(report, note, { url: input.webhookUrl, notify: notifyWebhook });

  // The escalation timer, beside the steps.
  const escalation = (async () => {
    if (input.escalateNow) return;
    const due = report.startedAt + input.escalateAfterMs;
    const done = await condition(
      () => recovered !== undefined || report.status !== 'running',
      Math.max(1, due - Date.now()),
    );
    if (!done)
      await escalate(`not recovered ${Math.round(input.escalateAfterMs / 1000)} s after it began (${input.reason})`);
  })();

  /** The consensus round node-gone; what went wrong when the agents do not agree, else undefined. */
  const agreeGone = async (): Promise<string | undefined> => {
    await note('agree_gone', 'started', 'consensus round node-gone: the FailureDetector, the HealthMonitor, NodeDiscovery');
    try {
      const round = await proposeConsensus({
        clusterId: input.clusterId,
        proposal: {
          topic: 'node-gone',
          value: { nodeId: input.nodeId },
          participants: ['failure-detector', 'health-monitor', 'node-discovery'],
          rule: 'majority',
          emergency: true,
          from: id,
        },
      });
      const votes = round.votes.map((v) => `${v.participant} ${v.vote}: ${v.reason}`).join('; ');
      if (round.result === 'accepted') {
        await note('agree_gone', 'done', `${round.proposalId} ${round.summary} (${votes})`);
        return undefined;
      }
      await note('agree_gone', 'failed', `${round.proposalId} ${round.summary} (${votes})`);
      return `the agents do not agree that ${input.nodeId} is gone (${round.proposalId}: ${round.summary}): nothing was done`;
    } catch (err) {
      // No coordinator (or it could not be reached): the verdict that started this stands alone.
      await note('agree_gone', 'skipped', `no consensus round: ${errorText(err)}`);
      return undefined;
    }
  };

  await note('incident', 'info', `${input.source}: ${input.reason}`);
  const startMembers = await readMembers({ clusterId: input.clusterId }).catch(() => undefined);
  const before = new Set((startMembers?.members ?? []).map((m) => m.nodeId));
  const failedIncarnation = startMembers?.members.find((m) => m.nodeId === input.nodeId)?.incarnation ?? -1;
  try {
    // 0. agree_gone: before anything acts on the node, the agents that know it agree it is gone
    // (an operator's emergency is its own agreement).
    if (input.source !== 'operator' && patched(NODE_FAILURE_AGREE_GONE)) {
      const disagreed = await agreeGone();
      if (disagreed) {
        report.status = 'failed';
        report.outcome = disagreed;
        await finish(report, note);
        await escalation;
        return report;
      }
    }

    // 1. isolate_node
    await note('isolate_node', 'started');
    try {
      await hm.signal(quarantineNodeSignal, {
        nodeId: input.nodeId,
        reason: `node_failure: ${input.reason}`.slice(0, 500),
        cause: 'node_failure',
      });
      undo.push({
        step: 'isolate_node',
        fn: () =>
          hm.signal(releaseNodeSignal, {
            nodeId: input.nodeId,
            reason: `procedure ${id} undone`,
            cause: 'node_failure',
          }),
      });
      await note('isolate_node', 'done', 'the health monitor was told to quarantine it (reason node_failure)');
    } catch (err) {
      await note('isolate_node', 'skipped', `the health monitor did not take it: ${errorText(err)}`);
    }

    // 2. redistribute_load
    await note('redistribute_load', 'started');
    const table = await awaitUnrouted({ clusterId: input.clusterId, nodeId: input.nodeId, timeoutMs: 20_000 });
    await note('redistribute_load', 'done', `routing table v${table.version} routes nothing to ${input.nodeId}`);

    // 3. start_replacement
    if (input.escalateNow) {
      await note('start_replacement', 'skipped', input.escalateNow);
      await escalate(`${input.escalateNow}: no replacement is started blindly`);
    } else if (!input.replacementHook) {
      await note('start_replacement', 'skipped', 'no replacementHook configured: waiting for the node to come back');
    } else {
      await note('start_replacement', 'started');
      const wait = (input.replacementNotBefore ?? 0) - Date.now();
      if (wait > 0) {
        await note(
          'start_replacement',
          'info',
          `rate limit: waiting ${Math.round(wait)} ms for the next replacement slot`,
        );
        await condition(() => acked, wait);
      }
    }
    if (input.replacementHook && !input.escalateNow && acked) {
      await note('start_replacement', 'skipped', `acknowledged by ${report.ack?.by ?? 'the operator'} first`);
    } else if (input.replacementHook && !input.escalateNow) {
      const r = await runHook({
        hook: input.replacementHook,
        context: {
          clusterId: input.clusterId,
          procedureId: id,
          action: 'start_replacement',
          nodeId: input.nodeId,
          reason: input.reason,
          requestId: `${id}/${workflowInfo().runId}/start_replacement`,
        },
      });
      replacement = r.nodeId;
      await note('start_replacement', 'done', r.detail);
    }

    // 4. await_recovery
    // Whose recovery counts: the node back, else the replacement the hook named; a procedure that
    // started none because of a mass failure waits for its own node or an operator (another
    // procedure's replacement is not its recovery). Runs from before: any new host.
    const own = patched(NODE_FAILURE_OWN_REPLACEMENT);
    const claim: RecoveryClaim = own
      ? input.escalateNow
        ? { only: 'node' }
        : replacement
          ? { only: 'named', nodeId: replacement }
          : { only: 'any' }
      : { only: 'any' };
    await note('await_recovery', 'started');
    let pause = 500;
    while (recovered === undefined && !acked) {
      const read = await readMembers({ clusterId: input.clusterId }).catch(() => undefined);
      if (read) recovered = recoveryOf(read.members, input.nodeId, failedIncarnation, before, claim);
      if (recovered !== undefined || acked) break;
      await condition(() => acked, pause);
      pause = Math.min(5_000, Math.round(pause * 1.5));
    }
    if (recovered !== undefined) {
      await note('await_recovery', 'done', recovered);
      if (recovered.startsWith('node back')) {
        await hm
          .signal(releaseNodeSignal, {
            nodeId: input.nodeId,
            reason: `procedure ${id}: ${recovered}`,
            cause: 'node_failure',
          })
          .then(() => note('isolate_node', 'undone', 'isolation lifted: the node is back'))
          .catch(() => undefined);
      }
      report.status = 'completed';
      report.outcome = recovered;
    } else {
      report.status = 'acknowledged';
      report.outcome = `handed over to ${report.ack?.by ?? 'the operator'} (escalated: ${report.escalation?.why ?? ''})`;
    }
  } catch (err) {
    const failedStep = report.step ?? '?';
    await note(failedStep, 'failed', errorText(err));
    await compensate();
    // Failed once the done steps are undone: a reader who sees "failed" sees the undo too.
    failed(report, failedStep, err);
  }
  await finish(report, note);
  await escalation;
  return report;
}

/**
 * The recovery criteria: the node alive again as a newer incarnation and not unhealthy, or a node
 * that was not a member when the procedure began alive and not unhealthy (a replacement).
 */
/** What counts as this procedure's recovery besides the node coming back. */
export type RecoveryClaim = { only: 'any' } | { only: 'node' } | { only: 'named'; nodeId: string };

export function recoveryOf(
  members: readonly MemberSummary[],
  nodeId: string,
  failedIncarnation: number,
  before: ReadonlySet<string>,
  claim: RecoveryClaim = { only: 'any' },
): string | undefined {
  const serving = (m: MemberSummary) => m.status === 'alive' && m.health !== 'unhealthy';
  const node = members.find((m) => m.nodeId === nodeId);
  // The node's own health is not asked: our isolation holds it unhealthy until it is lifted; the
  // health monitor's checks decide its routing once it is.
  if (node && node.status === 'alive' && node.incarnation > failedIncarnation)
    return `node back: ${nodeId} alive as incarnation ${node.incarnation}`;
  if (claim.only === 'node') return undefined;
  const fresh = members.filter(
    (m) =>
      !before.has(m.nodeId) && m.nodeId !== nodeId && serving(m) && (claim.only === 'any' || m.nodeId === claim.nodeId),
  );
  if (fresh.length) return `replacement alive: ${fresh.map((m) => `${m.nodeId} (${m.health})`).join(', ')}`;
  return undefined;
}

function details(r: ProcedureReport, input: NodeFailureInput): string {
  const lines = [
    `## node_failure of ${r.subject} — ${r.status}`,
    '',
    `- began ${new Date(r.startedAt).toISOString()}: ${input.source}: ${input.reason}`,
    r.step ? `- now: **${r.step}**` : '',
    r.escalation
      ? `- **ESCALATED to manual intervention** at ${new Date(r.escalation.at).toISOString()}: ${r.escalation.why}. Acknowledge with \`npm run cluster -- ack ${r.id}\``
      : `- escalates after ${Math.round(input.escalateAfterMs / 1000)} s without recovery`,
    r.ack ? `- acknowledged by ${r.ack.by} at ${new Date(r.ack.at).toISOString()}` : '',
    r.outcome ? `- outcome: ${r.outcome}` : '',
    '',
    ...timelineTable(r),
  ];
  return lines.filter((l, i) => l !== '' || i === 1 || i > 5).join('\n');
}
