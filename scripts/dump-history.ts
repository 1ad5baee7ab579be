/** Prints a saved history (.binpb) one event per line: id, time, type, and what it names. Debugging aid. */
import { readFileSync } from 'node:fs';
import { temporal } from '@temporalio/proto';
const h = temporal.api.history.v1.History.decode(readFileSync(process.argv[2] as string));
const from = Number(process.argv[3] ?? 0),
  to = Number(process.argv[4] ?? 1e9);
for (const e of h.events) {
  const id = Number(e.eventId);
  if (id < from || id > to) continue;
  const t = new Date(Number(e.eventTime?.seconds) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6))
    .toISOString()
    .slice(11, 23);
  const type = temporal.api.enums.v1.EventType[e.eventType as number];
  const a: unknown =
    e.activityTaskScheduledEventAttributes?.activityType?.name ??
    e.workflowExecutionSignaledEventAttributes?.signalName ??
    e.timerStartedEventAttributes?.startToFireTimeout?.nanos ??
    e.workflowTaskStartedEventAttributes?.identity ??
    e.workflowTaskCompletedEventAttributes?.identity ??
    e.timerCanceledEventAttributes?.timerId ??
    e.timerFiredEventAttributes?.timerId ??
    e.workflowTaskTimedOutEventAttributes?.timeoutType ??
    e.workflowTaskFailedEventAttributes?.cause ??
    '';
  const tid = e.timerStartedEventAttributes
    ? ` id ${e.timerStartedEventAttributes.timerId} ${Number(e.timerStartedEventAttributes.startToFireTimeout?.seconds ?? 0)}s+${Math.round((e.timerStartedEventAttributes.startToFireTimeout?.nanos ?? 0) / 1e6)}ms`
    : '';
  console.log(id, t, (type ?? '?').replace('EVENT_TYPE_', ''), tid || a);
}
