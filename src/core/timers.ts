/**
 * Periodic timers kept as plain data (name → next due time, epoch ms) so that they survive
 * continue-as-new. The workflow sleeps until the earliest due time; these functions decide.
 */
export type TimerTable = Record<string, number>;
export type Intervals = Record<string, number>;

/** Earliest due time in the table, or undefined when there are no timers. */
export function nextDue(timers: TimerTable): number | undefined {
  let min: number | undefined;
  for (const due of Object.values(timers)) if (min === undefined || due < min) min = due;
  return min;
}

/** Names of the timers due at `now`, oldest first. */
export function dueTimers(timers: TimerTable, now: number): string[] {
  return Object.entries(timers)
    .filter(([, due]) => due <= now)
    .sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]))
    .map(([name]) => name);
}

/**
 * Next due time after a timer fired. Skips missed periods instead of firing a burst of catch-up
 * ticks after a long pause (a worker outage must not turn into a storm of rounds).
 */
export function reschedule(previousDue: number, interval: number, now: number): number {
  if (interval <= 0) throw new RangeError(`interval must be > 0 ms, got ${interval}`);
  const next = previousDue + interval;
  if (next > now) return next;
  return now + interval - ((now - previousDue) % interval);
}

/** Aligns the table with the configured intervals: new timers start one interval from now, removed ones go. */
export function syncTimers(timers: TimerTable, intervals: Intervals, now: number): TimerTable {
  const out: TimerTable = {};
  for (const [name, interval] of Object.entries(intervals)) {
    const current = timers[name];
    out[name] = current === undefined || current > now + interval ? now + interval : current;
  }
  return out;
}
