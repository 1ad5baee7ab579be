/**
 * Temporal refuses signals to a workflow run past its per-run limit
 * (`history.maximumSignalsPerExecution`) until the run continues as new; an agent does that within
 * seconds (it rolls over at `continueAsNewAfterSignals`). A refused signal was not recorded, so
 * sending it again cannot count it twice: our clients retry it for a while instead of losing it.
 */
const REFUSED = /exceeded workflow execution limit for signal events/;

export function isSignalLimitRefusal(err: unknown): boolean {
  const e = err as { message?: unknown; cause?: { message?: unknown } } | undefined;
  return REFUSED.test(String(e?.message ?? '')) || REFUSED.test(String(e?.cause?.message ?? ''));
}

/** Runs `send` until it succeeds, retrying only a signal-limit refusal (back-off 100 ms → 2 s) for up to `withinMs`. */
export async function retrySignalRefusals<R>(send: () => Promise<R>, withinMs = 20_000): Promise<R> {
  const until = Date.now() + withinMs;
  for (let wait = 100; ; wait = Math.min(wait * 2, 2_000)) {
    try {
      return await send();
    } catch (err) {
      if (!isSignalLimitRefusal(err) || Date.now() + wait > until) throw err;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
