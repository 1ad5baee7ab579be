/**
 * What every procedure shares: its report (memo `procedure`, current details in the Web UI, a
 * signal to the orchestrator) and the timeline it appends to. Published by the steps, and awaited
 * there, never from a handler.
 */
import {
  ActivityFailure,
  CancellationScope,
  getExternalWorkflowHandle,
  setCurrentDetails,
  upsertMemo,
} from '@temporalio/workflow';
import {
  PROCEDURE_MEMO,
  procedureReportSignal,
  type ProcedureReport,
  type TimelineEntry,
} from '../../contracts/orchestrator';

const TIMELINE_KEPT = 60;

export interface Reporter {
  /** Memo, current details and a report to the orchestrator. */
  publish(): Promise<void>;
  /** One timeline entry (a `started` entry makes it the current step), then publish. */
  note(step: string, status: TimelineEntry['status'], detail?: string): Promise<void>;
}

export function reporter(parentId: string, report: ProcedureReport, details: () => string): Reporter {
  const publish = async () => {
    upsertMemo({ [PROCEDURE_MEMO]: report });
    setCurrentDetails(details());
    await getExternalWorkflowHandle(parentId)
      .signal(procedureReportSignal, { ...report, timeline: report.timeline.slice(-10) })
      .catch(() => undefined); // the orchestrator reads the memo when it starts again
  };
  const note = async (step: string, status: TimelineEntry['status'], detail = '') => {
    report.timeline.push({ at: Date.now(), step, status, detail: detail.slice(0, 1_000) });
    if (report.timeline.length > TIMELINE_KEPT) report.timeline.splice(0, report.timeline.length - TIMELINE_KEPT);
    if (status === 'started') report.step = step;
    await publish();
  };
  return { publish, note };
}

/** The timeline as a Markdown table (the last 15 entries), for current details. */
export function timelineTable(r: ProcedureReport): string[] {
  return [
    '| time | step | status | detail |',
    '|---|---|---|---|',
    ...r.timeline
      .slice(-15)
      .map(
        (t) =>
          `| ${new Date(t.at).toISOString().slice(11, 23)} | ${t.step} | ${t.status} | ${t.detail.replace(/\|/g, '/')} |`,
      ),
  ];
}

/** An activity's own message (not "Activity task failed"), else the error's. */
export function errorText(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}

/** One undo step (compensation), where a cancellation cannot interrupt it; the timeline says how it went. */
export async function undoStep(
  note: Reporter['note'],
  step: string,
  fn: () => Promise<unknown>,
  detail: string,
): Promise<void> {
  await CancellationScope.nonCancellable(async () => {
    try {
      await fn();
      await note(step, 'undone', detail);
    } catch (e) {
      await note(step, 'failed', `undo failed: ${errorText(e)}`);
    }
  });
}

/** The procedure failed at its current step (after its undo). */
export function failed(report: ProcedureReport, step: string, err: unknown): void {
  report.status = 'failed';
  report.outcome = `step ${step} failed for good: ${errorText(err)}`;
}

/** Ends the procedure: its end time, no current step, and the last timeline entry. */
export async function finish(report: ProcedureReport, note: Reporter['note']): Promise<ProcedureReport> {
  report.endedAt = Date.now();
  report.step = undefined;
  await note('procedure', 'info', `${report.status}: ${report.outcome ?? ''}`);
  return report;
}

/** A procedure's Web UI details: what it is, the facts it began with, where it is now, its timeline. */
export function detailsText(r: ProcedureReport, title: string, facts: string[]): string {
  return [
    title,
    '',
    ...facts.filter((f) => f !== ''),
    ...(r.step ? [`- now: **${r.step}**`] : []),
    ...(r.outcome ? [`- outcome: ${r.outcome}`] : []),
    '',
    ...timelineTable(r),
  ].join('\n');
}

/**
 * Escalation to manual intervention: the report says so (status, why), its timeline and the
 * orchestrator too (`note`), and the operator's webhook, when one is configured, gets the report.
 * Once only: a procedure that is no longer running does not escalate.
 */
export function escalator(
  report: ProcedureReport,
  note: Reporter['note'],
  webhook: {
    url?: string;
    notify: (input: { url: string; body: unknown; timeoutMs: number }) => Promise<unknown>;
  },
): (why: string) => Promise<void> {
  return async (why: string) => {
    if (report.status !== 'running') return;
    report.status = 'escalated';
    report.escalation = { at: Date.now(), why };
    await note('escalation', 'escalated', why);
    if (webhook.url) {
      try {
        await webhook.notify({
          url: webhook.url,
          body: { kind: 'procedure.escalated', procedure: { ...report, timeline: report.timeline.slice(-10) } },
          timeoutMs: 5_000,
        });
        await note('escalation', 'info', `POSTed to ${webhook.url}`);
      } catch (err) {
        await note('escalation', 'failed', `webhook: ${errorText(err)}`);
      }
    }
  };
}
