/**
 * Refusals the server makes without recording anything, which a client may therefore send again
 * without applying the message twice:
 * - a signal to a run past its per-run limit (`history.maximumSignalsPerExecution`): refused until
 *   the run continues as new, which an agent does within seconds (`continueAsNewAfterSignals`);
 * - an update whose workflow task failed before the update was accepted ("unexpected workflow task
 *   failure", e.g. a continue-as-new that raced a signal, or the worker died): not applied. The
 *   retry reuses the update id, so the server deduplicates it if it was accepted after all.
 */
const SIGNAL_LIMIT = /exceeded workflow execution limit for signal events/;
const UPDATE_TASK_FAILED = /unexpected workflow task failure/;

function matches(err: unknown, re: RegExp): boolean {
  const e = err as { message?: unknown; cause?: { message?: unknown } } | undefined;
  return re.test(String(e?.message ?? '')) || re.test(String(e?.cause?.message ?? ''));
}

export const isSignalLimitRefusal = (err: unknown): boolean => matches(err, SIGNAL_LIMIT);
export const isUpdateTaskFailure = (err: unknown): boolean => matches(err, UPDATE_TASK_FAILED);

/** Runs `send` until it succeeds, retrying only errors `retryable` says were refusals (back-off 100 ms → 2 s), for up to `withinMs`. */
export async function retryRefusals<R>(
  retryable: (err: unknown) => boolean,
  send: () => Promise<R>,
  withinMs = 20_000,
): Promise<R> {
  const until = Date.now() + withinMs;
  for (let wait = 100; ; wait = Math.min(wait * 2, 2_000)) {
    try {
      return await send();
    } catch (err) {
      if (!retryable(err) || Date.now() + wait > until) throw err;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/** A signal refused at the per-run limit, sent again once the run rolled over. */
export const retrySignalRefusals = <R>(send: () => Promise<R>, withinMs?: number): Promise<R> =>
  retryRefusals(isSignalLimitRefusal, send, withinMs);
