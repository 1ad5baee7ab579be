/**
 * A host's view of its own health endpoint: the lease activity asks its own `/healthz` (over real
 * HTTP on the address peers use) once per beat, and the NodeAgent hears of a change at once (the
 * term ends early), so a host that answers 5xx, or whose endpoint stopped answering while the
 * worker holds its lease, leaves the routing tables within about a beat — without anyone polling
 * every host from one place.
 *
 * Judged on the last two probes, with hysteresis:
 * - a 5xx answer is failing at once (the host says so itself; a status code has no jitter);
 * - no answer (refused, reset, timed out) must happen twice in a row (a GC pause can miss one);
 * - a failing host is well again only after two answers below 500 in a row.
 * 429 (overloaded) and other 4xx are answers: the endpoint works; load goes through load reports.
 */

/** One probe of the host's own health endpoint. */
export interface SelfProbe {
  /** HTTP status, when the endpoint answered. */
  status?: number;
  /** Why there was no answer (refused, timed out, …). */
  error?: string;
  /** What the endpoint said (its `reason`), when it gave one. */
  reason?: string;
}

/** The host's own health endpoint as judged: `ok` false routes it out. */
export interface SelfHealth {
  ok: boolean;
  detail: string;
}

const answered = (p: SelfProbe | undefined): p is SelfProbe & { status: number } => p?.status !== undefined;

export function describeProbe(p: SelfProbe): string {
  if (answered(p)) return `answers HTTP ${p.status}${p.reason ? ` (${p.reason})` : ''}`;
  return `does not answer: ${p.error ?? 'no answer'}`;
}

/** The judgement after `recent` (oldest first; only the last two matter), given whether it was ok. */
export function judgeSelf(recent: readonly SelfProbe[], wasOk: boolean): SelfHealth {
  const last = recent[recent.length - 1];
  const prev = recent[recent.length - 2];
  if (!last) return { ok: wasOk, detail: wasOk ? 'not probed yet' : 'failing' };
  const failing = (p: SelfProbe | undefined) => p !== undefined && (!answered(p) || p.status >= 500);
  if (wasOk) {
    if (answered(last) && last.status >= 500) return { ok: false, detail: describeProbe(last) };
    if (!answered(last) && failing(prev)) return { ok: false, detail: `${describeProbe(last)} (twice in a row)` };
    return { ok: true, detail: describeProbe(last) };
  }
  if (!failing(last) && prev !== undefined && !failing(prev)) return { ok: true, detail: describeProbe(last) };
  return { ok: false, detail: failing(last) ? describeProbe(last) : `${describeProbe(last)} (once; twice to recover)` };
}
