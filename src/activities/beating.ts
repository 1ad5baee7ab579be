/**
 * A procedure's step beats while it waits (a consensus round, the routing table, an operator
 * hook): with a heartbeat timeout (ACTIVITY.procedureStep), a step whose host died is retried on
 * another within seconds, not after the step's whole start-to-close timeout. Nemesis run F: the host
 * running maintain_quorum's round was SIGKILLed, and the procedure sat in that step for the
 * round's 22 s, so the fences outlived the heal by 25 s.
 */
import { Context } from '@temporalio/activity';

/** Runs `fn`, heartbeating every `everyMs` while it runs (when the activity has a heartbeat timeout). */
export async function beating<T>(fn: () => Promise<T>, everyMs = 1_000): Promise<T> {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return fn(); // called outside an activity (a script, a unit test)
  }
  const timeoutMs = ctx.info.heartbeatTimeoutMs;
  if (!timeoutMs) return fn();
  ctx.heartbeat();
  const timer = setInterval(() => ctx.heartbeat(), Math.min(everyMs, timeoutMs / 3));
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

/** An id for an update an activity sends, the same on each of its attempts: a retry after a lost
 * attempt attaches to the update the first one started (the server keeps one per id and run). */
export function attemptFreeId(what: string): string | undefined {
  try {
    const i = Context.current().info;
    const wf = i.workflowExecution;
    return wf ? `${what}/${wf.workflowId}/${wf.runId}/${i.activityId}` : undefined;
  } catch {
    return undefined;
  }
}
