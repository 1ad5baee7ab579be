/**
 * scale_cluster: a child workflow of the orchestrator, id `<clusterId>/procedure/scale_cluster/cluster`,
 * started by `cluster scale N`. It brings the number of alive hosts to N through the same hooks as
 * the other procedures:
 * - up: the operator's replacementHook (action `scale_up`), once per missing host, one at a time,
 *   then it waits until N hosts are alive;
 * - down: the hosts to stop (the newest node ids first) are drained one at a time — cordon, wait for
 *   the routers' requests in flight (up to `drainDeadlineMs`), stop the host's worker gracefully —
 *   and each must be `left` before the next; its cordon is lifted once it left (a host started again
 *   under that id is routed).
 * Every step is an activity with its own timeout and retries; a step that fails for good lifts the
 * cordon it set and fails the procedure (hosts already started or stopped stay so: the outcome says
 * how many are alive).
 */
import { proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { MemberSummary } from '../../contracts/common';
import type { Hook, ProcedureReport } from '../../contracts/orchestrator';
import { hostsToStop } from '../../core/orchestrator/scale';
import { ACTIVITY } from '../activity-options';
import { detailsText, errorText, failed, finish, reporter, undoStep } from './report';

export interface ScaleInput {
  clusterId: string;
  parentId: string;
  target: number;
  by: string;
  reason: string;
  replacementHook?: Hook;
  /** Longest wait for a stopping host's requests in flight (ms). */
  drainDeadlineMs: number;
  /** Longest wait for a started host to be alive, or a stopped one to be left (ms). */
  settleTimeoutMs: number;
}

const alive = (ms: readonly MemberSummary[]) => ms.filter((m) => m.status === 'alive');

export async function scaleProcedure(input: ScaleInput): Promise<ProcedureReport> {
  const report: ProcedureReport = {
    id: workflowInfo().workflowId,
    kind: 'scale_cluster',
    subject: 'cluster',
    status: 'running',
    startedAt: Date.now(),
    timeline: [],
  };
  const { note } = reporter(input.parentId, report, () => details(report, input));
  const { readMembers } = proxyActivities<Activities>({ ...ACTIVITY.clusterRead, summary: 'members (alive hosts)' });
  const { setCordon } = proxyActivities<Activities>({
    ...ACTIVITY.procedureStep(10_000),
    summary: 'cordon / uncordon at the LoadBalancer',
  });
  const { awaitDrained } = proxyActivities<Activities>({
    ...ACTIVITY.procedureStep(input.drainDeadlineMs),
    summary: 'drain: until no router has a request in flight',
  });
  const { runHook } = proxyActivities<Activities>({
    ...ACTIVITY.procedureStep(input.replacementHook?.timeoutMs ?? 30_000, input.replacementHook?.host),
    summary: 'start_host: the replacement hook (scale_up)',
  });
  const members = async (): Promise<MemberSummary[]> => {
    const r = await readMembers({ clusterId: input.clusterId });
    if (!r) throw new Error('NodeDiscovery does not answer: the members are unknown');
    return r.members;
  };
  /** Reads the members until `done` holds, or throws after settleTimeoutMs. */
  const settle = async (what: string, done: (ms: MemberSummary[]) => boolean): Promise<MemberSummary[]> => {
    const until = Date.now() + input.settleTimeoutMs;
    for (;;) {
      const ms = await members();
      if (done(ms)) return ms;
      if (Date.now() >= until) throw new Error(`${what}: not within ${Math.round(input.settleTimeoutMs / 1000)} s`);
      await sleep(500);
    }
  };

  await note('request', 'info', `${input.by}: ${input.reason} (target ${input.target} alive hosts)`);
  let cordoned: string | undefined;
  try {
    const now = alive(await members()).length;
    await note('plan', 'info', `${now} alive, target ${input.target}`);
    if (now < input.target) {
      if (!input.replacementHook) throw new Error('no replacementHook configured: this cluster cannot start hosts');
      for (let i = now; i < input.target; i++) {
        await note('start_host', 'started', `host ${i + 1} of ${input.target}`);
        const r = await runHook({
          hook: input.replacementHook,
          context: {
            clusterId: input.clusterId,
            procedureId: report.id,
            action: 'scale_up',
            nodeId: '',
            reason: input.reason,
            requestId: `${report.id}/${workflowInfo().runId}/scale_up/${i + 1}`,
          },
        });
        await note('start_host', 'done', r.detail);
      }
      await note('await_alive', 'started');
      const ms = await settle(`${input.target} alive hosts`, (x) => alive(x).length >= input.target);
      await note(
        'await_alive',
        'done',
        `${alive(ms).length} alive: ${alive(ms)
          .map((m) => m.nodeId)
          .join(', ')}`,
      );
    } else {
      for (const nodeId of hostsToStop(await members(), input.target)) {
        await note('stop_host', 'started', `${nodeId}: cordon, drain, stop`);
        const c = await setCordon({
          clusterId: input.clusterId,
          nodeId,
          cordon: true,
          reason: `scale to ${input.target}`,
          by: input.by,
        });
        cordoned = nodeId;
        const d = await awaitDrained({
          clusterId: input.clusterId,
          nodeId,
          deadlineMs: input.drainDeadlineMs,
          since: c.since,
        });
        // The host's own worker stops itself (its own queue).
        await proxyActivities<Activities>({
          ...ACTIVITY.procedureStep(10_000, nodeId),
          summary: `stop_host: ${nodeId}'s worker leaves gracefully`,
        }).stopHost({
          nodeId,
          reason: `scale to ${input.target} (${report.id})`,
        });
        await settle(`${nodeId} left`, (x) => x.find((m) => m.nodeId === nodeId)?.status !== 'alive');
        await setCordon({ clusterId: input.clusterId, nodeId, cordon: false });
        cordoned = undefined;
        await note(
          'stop_host',
          'done',
          `${nodeId} left (${d.drained ? 'drained' : `deadline passed with ${d.inFlight} in flight`})`,
        );
      }
    }
    const final = alive(await members());
    report.status = 'completed';
    report.outcome = `${final.length} alive hosts (target ${input.target}): ${final.map((m) => m.nodeId).join(', ')}`;
  } catch (err) {
    const failedStep = report.step ?? '?';
    await note(failedStep, 'failed', errorText(err));
    const node = cordoned;
    if (node)
      await undoStep(
        note,
        'stop_host',
        () => setCordon({ clusterId: input.clusterId, nodeId: node, cordon: false }),
        `${node} uncordoned`,
      );
    failed(report, failedStep, err);
  }
  return finish(report, note);
}

function details(r: ProcedureReport, input: ScaleInput): string {
  return detailsText(r, `## scale_cluster to ${input.target} alive hosts — ${r.status}`, [
    `- began ${new Date(r.startedAt).toISOString()} by ${input.by}: ${input.reason}`,
  ]);
}
