/**
 * maintenance_window (a drain): a child workflow of the orchestrator, id
 * `<clusterId>/procedure/maintenance_window/<node>`, started by `cluster drain NODE`.
 *
 * Steps (each an activity with its own timeout and retries):
 * 1. cordon — the LoadBalancer takes the node out of its routing table at once (routers' long-polls
 *    return with the new table; sticky keys move to other targets).
 * 2. drain — wait until the routers report no request in flight on the node, or the deadline.
 * 3. stop_host (with --stop) — the host's own worker stops gracefully (it says goodbye and leaves).
 * 4. in_maintenance — the node stays cordoned until `cluster uncordon NODE` (signal `uncordon`), which
 *    returns it to rotation and completes the procedure.
 * A step that fails for good undoes the cordon (compensation a cancellation cannot interrupt).
 */
import { condition, patched, proxyActivities, proxyLocalActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { UncordonSignalPayload, uncordonSignal, type ProcedureReport } from '../../contracts/orchestrator';
import { ACTIVITY } from '../activity-options';
import { detailsText, errorText, failed, finish, reporter, undoStep } from './report';

/** The cordon's activity starts in the same workflow task as its 'started' report (not after the report's signal). */
export const MAINTENANCE_CORDON_AT_ONCE = 'maintenance-cordon-at-once';
/**
 * The cordon runs as a local activity, in the worker that runs the procedure's task: no round trip
 * through the server's queues before the LoadBalancer hears of it (about a third of the 66 ms from
 * the cordon step to the last router).
 */
export const MAINTENANCE_CORDON_LOCAL = 'maintenance-cordon-local';

export interface MaintenanceInput {
  clusterId: string;
  /** The orchestrator's workflow id (reports go there). */
  parentId: string;
  nodeId: string;
  reason: string;
  by: string;
  /** Longest wait for in-flight requests to finish (ms). */
  deadlineMs: number;
  /** Stop the host's worker gracefully once drained. */
  stop: boolean;
}

export async function maintenanceProcedure(input: MaintenanceInput): Promise<ProcedureReport> {
  const id = workflowInfo().workflowId;
  const report: ProcedureReport = {
    id,
    kind: 'maintenance_window',
    subject: input.nodeId,
    status: 'running',
    startedAt: Date.now(),
    timeline: [],
  };
  let uncordonBy: string | undefined;
  setHandler(uncordonSignal, (raw: unknown) => {
    const p = UncordonSignalPayload.safeParse(raw ?? {});
    if (p.success && uncordonBy === undefined) uncordonBy = p.data.by;
  });
  const { note } = reporter(input.parentId, report, () => details(report, input));
  const { setCordon } = proxyActivities<Activities>({
    ...ACTIVITY.procedureStep(10_000),
    summary: `cordon / uncordon ${input.nodeId} at the LoadBalancer`,
  });
  const { awaitDrained } = proxyActivities<Activities>({
    ...ACTIVITY.procedureStep(input.deadlineMs),
    summary: `drain: until no router has a request in flight on ${input.nodeId}`,
  });
  const { stopHost } = proxyActivities<Activities>({
    ...ACTIVITY.procedureStep(10_000, input.nodeId),
    summary: `stop_host: ${input.nodeId}'s worker leaves gracefully`,
  });
  const { setCordon: setCordonHere } = proxyLocalActivities<Activities>({
    ...ACTIVITY.procedureStep(10_000),
    summary: `cordon ${input.nodeId} at the LoadBalancer`,
  });
  const cordon = { clusterId: input.clusterId, nodeId: input.nodeId };

  await note('request', 'info', `${input.by}: ${input.reason}`);
  let cordoned = false;
  try {
    const cordonWith = patched(MAINTENANCE_CORDON_LOCAL) ? setCordonHere : setCordon;
    const cordonIt = () => cordonWith({ ...cordon, cordon: true, reason: input.reason, by: input.by });
    let c: Awaited<ReturnType<typeof cordonIt>>;
    if (patched(MAINTENANCE_CORDON_AT_ONCE)) {
      // The cordon and its report leave in one workflow task: the report's signal to the
      // orchestrator no longer holds up the routers (it took ~100 ms of a 166 ms cordon).
      [c] = await Promise.all([cordonIt(), note('cordon', 'started')]);
    } else {
      await note('cordon', 'started');
      c = await cordonIt();
    }
    cordoned = true;
    await note('cordon', 'done', `no new picks: routing table v${c.tableVersion} leaves ${input.nodeId} out`);

    await note('drain', 'started', `waiting up to ${Math.round(input.deadlineMs / 1000)} s for requests in flight`);
    const d = await awaitDrained({ ...cordon, deadlineMs: input.deadlineMs, since: c.since });
    if (d.drained) await note('drain', 'done', `no request in flight after ${d.waitedMs} ms`);
    else
      await note(
        'drain',
        'done',
        `deadline passed with ${d.inFlight < 0 ? 'an unknown number of' : d.inFlight} request(s) still in flight`,
      );

    if (input.stop) {
      await note('stop_host', 'started');
      await stopHost({ nodeId: input.nodeId, reason: `drained (${id})` });
      await note('stop_host', 'done', `${input.nodeId}'s worker is stopping gracefully (it leaves the cluster)`);
    }

    await note('in_maintenance', 'started', `cordoned until \`npm run cluster -- uncordon ${input.nodeId}\``);
    await condition(() => uncordonBy !== undefined);
    await note('uncordon', 'started', `requested by ${uncordonBy ?? 'operator'}`);
    const u = await setCordon({ ...cordon, cordon: false });
    cordoned = false;
    await note(
      'uncordon',
      'done',
      u.tableVersion < 0 ? 'it was uncordoned already' : `back in rotation: routing table v${u.tableVersion}`,
    );
    report.status = 'completed';
    report.outcome = `maintenance of ${input.nodeId} ended by ${uncordonBy ?? 'operator'}`;
  } catch (err) {
    const failedStep = report.step ?? '?';
    await note(failedStep, 'failed', errorText(err));
    if (cordoned)
      await undoStep(note, 'cordon', () => setCordon({ ...cordon, cordon: false }), `${input.nodeId} is routed again`);
    failed(report, failedStep, err);
  }
  return finish(report, note);
}

function details(r: ProcedureReport, input: MaintenanceInput): string {
  return detailsText(r, `## maintenance_window of ${r.subject} — ${r.status}`, [
    `- began ${new Date(r.startedAt).toISOString()} by ${input.by}: ${input.reason}`,
    `- drain deadline ${Math.round(input.deadlineMs / 1000)} s${input.stop ? '; the host stops once drained' : ''}`,
  ]);
}
