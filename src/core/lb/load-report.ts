/**
 * When a host tells the load balancer its load: on meaningful change only. A report goes out when
 * the host's CPU or memory share moved by more than `step` since the last report, and at most once
 * per `intervalMs`; a host at rest sends nothing (the first report excepted). Load is the median of
 * the last three samples: one busy second (a GC, a burst) is not a change, and a real step is
 * reported once, at its full height, on its second sample (a mean would ramp over three samples
 * and report each third of the step).
 */

import type { LoadPoint } from '../../contracts/common';

export type { LoadPoint };

export interface LoadReportPolicy {
  /** Share (0..1) by which CPU or memory must move since the last report. */
  step: number;
  /** Least time between two reports (ms). */
  intervalMs: number;
}

/** Samples averaged into one load point (one per lease beat: 3 s at the default 1 s heartbeat). */
export const LOAD_SMOOTHING_SAMPLES = 3;

/** True when `now` should be reported, given what was reported `last` (undefined: nothing yet). */
export function loadReportDue(last: LoadPoint | undefined, now: LoadPoint, p: LoadReportPolicy): boolean {
  if (!last) return true;
  if (now.at - last.at < p.intervalMs) return false;
  return Math.abs(now.cpu - last.cpu) > p.step || Math.abs(now.memory - last.memory) > p.step;
}

/** The median of the last LOAD_SMOOTHING_SAMPLES samples per resource (undefined without any), measured at the last one. */
export function smoothedLoad(samples: readonly { cpu: number; memory: number; at: number }[]): LoadPoint | undefined {
  const w = samples.slice(-LOAD_SMOOTHING_SAMPLES);
  const last = w[w.length - 1];
  if (!last) return undefined;
  const median = (f: (s: { cpu: number; memory: number }) => number) => {
    const v = w.map(f).sort((a, b) => a - b);
    const mid = Math.floor(v.length / 2);
    const m = v.length % 2 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
    return Math.round(m * 1000) / 1000;
  };
  return { cpu: median((s) => s.cpu), memory: median((s) => s.memory), at: last.at };
}
