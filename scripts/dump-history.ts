/** Prints a saved history (.binpb) one event per line: id, time, type, and what it names. Debugging aid. */
import { readFileSync } from 'node:fs';
import { temporal } from '@temporalio/proto';
import { describeEvent, eventMs } from './lib/history-events';

const h = temporal.api.history.v1.History.decode(readFileSync(process.argv[2] as string));
const from = Number(process.argv[3] ?? 0);
const to = Number(process.argv[4] ?? 1e9);
for (const e of h.events) {
  const id = Number(e.eventId);
  if (id < from || id > to) continue;
  const timer = e.timerStartedEventAttributes;
  const extra = timer
    ? ` id ${timer.timerId} ${Number(timer.startToFireTimeout?.seconds ?? 0) * 1000 + Math.round((timer.startToFireTimeout?.nanos ?? 0) / 1e6)} ms`
    : (e.timerFiredEventAttributes?.timerId ??
      e.timerCanceledEventAttributes?.timerId ??
      e.workflowTaskTimedOutEventAttributes?.timeoutType ??
      e.workflowTaskFailedEventAttributes?.cause ??
      '');
  console.log(id, new Date(eventMs(e)).toISOString().slice(11, 23), describeEvent(e), extra);
}
