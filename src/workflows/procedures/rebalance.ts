/**
 * rebalance_load: a child workflow of the orchestrator, id `<clusterId>/procedure/rebalance_load/cluster`,
 * started when the LoadBalancer's imbalance (max / mean load per unit capacity) stays above the
 * threshold for a window, or by `cluster rebalance`.
 *
 * Steps (each an activity with its own timeout and retries):
 * 1. measure — the LoadBalancer's traffic summary (its memo): imbalance, basis, strategy, loads.
 * 2. rebalance — a routing table from the latest loads now (past the threshold that holds small
 *    moves back); a load-blind strategy (round_robin) is switched to one that weighs free capacity,
 *    or to the strategy the operator asked for.
 * 3. verify — until a summary of the new table says the imbalance is at most the threshold, or the
 *    settle time passed. Not balanced by then: the strategy switch is undone (compensation a
 *    cancellation cannot interrupt) and the procedure fails, saying what it measured.
 */
import { ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { LbStrategy } from '../../contracts/load-balancer';
import type { ProcedureReport } from '../../contracts/orchestrator';
import { loadBlindAlternative } from '../../core/lb/traffic';
import { ACTIVITY } from '../activity-options';
import { detailsText, errorText, failed, finish, reporter, undoStep } from './report';

export interface RebalanceInput {
  clusterId: string;
  /** The orchestrator's workflow id (reports go there). */
  parentId: string;
  reason: string;
  by: string;
  /** The strategy to switch to (operator); without it only a load-blind strategy is switched. */
  strategy?: LbStrategy;
  threshold: number;
  settleMs: number;
}

export async function rebalanceProcedure(input: RebalanceInput): Promise<ProcedureReport> {
  const report: ProcedureReport = {
    id: workflowInfo().workflowId,
    kind: 'rebalance_load',
    subject: 'cluster',
    status: 'running',
    startedAt: Date.now(),
    timeline: [],
  };
  const { note } = reporter(input.parentId, report, () => details(report, input));
  const { readLbTraffic } = proxyActivities<Activities>({
    ...ACTIVITY.procedureStep(10_000),
    summary: 'measure: the LoadBalancer’s traffic summary',
  });
  const { rebalanceLb } = proxyActivities<Activities>({
    ...ACTIVITY.procedureStep(10_000),
    summary: 'rebalance: a routing table from the latest loads',
  });
  const { awaitBalanced } = proxyActivities<Activities>({
    ...ACTIVITY.procedureStep(input.settleMs),
    summary: `verify: imbalance at most ${input.threshold}`,
  });
  const lb = { clusterId: input.clusterId };

  await note('request', 'info', `${input.by}: ${input.reason}`);
  let switched: { from: LbStrategy; to: LbStrategy } | undefined;
  try {
    await note('measure', 'started');
    const before = await readLbTraffic(lb);
    if (!before)
      throw ApplicationFailure.nonRetryable(
        'the LoadBalancer has published no traffic summary yet (memo `traffic`)',
        'NoTraffic',
      );
    await note(
      'measure',
      'done',
      `imbalance ${before.imbalance} (${before.basis}) under ${before.strategy}, threshold ${input.threshold}: ${before.loads.map((l) => `${l.nodeId} ${l.load}`).join(', ')}`,
    );

    const strategy = input.strategy ?? loadBlindAlternative(before.strategy);
    await note('rebalance', 'started', strategy && strategy !== before.strategy ? `switching to ${strategy}` : '');
    const r = await rebalanceLb({ ...lb, reason: `${input.reason} (${report.id})`, ...(strategy ? { strategy } : {}) });
    if (r.strategy !== r.previousStrategy) switched = { from: r.previousStrategy, to: r.strategy };
    await note(
      'rebalance',
      'done',
      `routing table v${r.tableVersion} from the latest loads${switched ? `; strategy ${switched.from} → ${switched.to}` : ''}`,
    );

    await note(
      'verify',
      'started',
      `until the imbalance is at most ${input.threshold} (${Math.round(input.settleMs / 1000)} s)`,
    );
    const v = await awaitBalanced({
      ...lb,
      tableVersion: r.tableVersion,
      threshold: input.threshold,
      settleMs: input.settleMs,
    });
    if (!v.balanced)
      throw ApplicationFailure.nonRetryable(
        `imbalance still ${Number.isNaN(v.imbalance) ? 'unknown' : v.imbalance} (${v.basis}) after ${Math.round(v.waitedMs / 1000)} s, above ${input.threshold}`,
        'NotBalanced',
      );
    await note('verify', 'done', `imbalance ${v.imbalance} after ${v.waitedMs} ms`);
    report.status = 'completed';
    report.outcome = `imbalance ${before.imbalance} → ${v.imbalance}${switched ? ` (strategy ${switched.to})` : ''}`;
  } catch (err) {
    const failedStep = report.step ?? '?';
    await note(failedStep, 'failed', errorText(err));
    const back = switched;
    if (back)
      await undoStep(
        note,
        'rebalance',
        () => rebalanceLb({ ...lb, reason: `undo of ${report.id}`, strategy: back.from }),
        `strategy ${back.from} again`,
      );
    failed(report, failedStep, err);
  }
  return finish(report, note);
}

function details(r: ProcedureReport, input: RebalanceInput): string {
  return detailsText(r, `## rebalance_load — ${r.status}`, [
    `- began ${new Date(r.startedAt).toISOString()} by ${input.by}: ${input.reason}`,
    `- threshold ${input.threshold} (max / mean load per unit capacity), settle ${Math.round(input.settleMs / 1000)} s${input.strategy ? `, strategy ${input.strategy}` : ''}`,
  ]);
}
