/** One history event, short: its type and who ran it or what it was (worker identity, activity type, signal name). */
import { temporal } from '@temporalio/proto';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

export const eventMs = (e: HistoryEvent): number =>
  Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);

export function describeEvent(e: HistoryEvent): string {
  const what =
    e.workflowTaskStartedEventAttributes?.identity ??
    e.activityTaskStartedEventAttributes?.identity ??
    e.activityTaskScheduledEventAttributes?.activityType?.name ??
    e.workflowExecutionSignaledEventAttributes?.signalName ??
    '';
  const type = temporal.api.enums.v1.EventType[e.eventType ?? 0]?.replace('EVENT_TYPE_', '') ?? '?';
  return `${type} ${what}`.trim();
}

/** The cause of a WorkflowTaskFailed event by its enum name (WORKFLOW_TASK_FAILED_CAUSE_…). */
export function taskFailedCause(a: temporal.api.history.v1.IWorkflowTaskFailedEventAttributes): string {
  return temporal.api.enums.v1.WorkflowTaskFailedCause[a.cause ?? 0] ?? String(a.cause);
}

/** A timeout's type by its short name (START_TO_CLOSE, SCHEDULE_TO_START…). */
export function timeoutTypeName(t: number | null | undefined): string {
  return (temporal.api.enums.v1.TimeoutType[t ?? 0] ?? String(t)).replace(/^TIMEOUT_TYPE_/, '');
}

/** Whether a workflow task was scheduled on a worker's sticky queue (not the shared one). */
export const onStickyQueue = (a: temporal.api.history.v1.IWorkflowTaskScheduledEventAttributes): boolean =>
  a.taskQueue?.kind === temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_STICKY;
