/**
 * When a host tells the load balancer its load: on meaningful change only. A report goes out when
 * the host's CPU or memory share moved by more than `step` since the last report, and at most once
 * per `intervalMs`; a host at rest sends nothing (the first report excepted). Load is what the host
 * carried for at least five of its last six samples (one per lease beat): the second smallest of
 * them. Bursts of up to four seconds (a GC, a compaction, a batch of tasks) are not a change; a
 * sustained rise is reported on its fifth sample, a fall on its second (routes come back sooner
 * than they leave), once, with the level of its last three samples (`reportedLoad`). Measured at rest on a 2-core machine running
 * 50 simulated hosts, 1 s samples of its CPU ranged 0.1-0.27 with bursts of 1-4 s up to 0.9: a
 * median of three with a 0.1 step reported 2-6 times a second across the cluster; medians of five
 * to nine still reported every 3-4 s bursts (test/core/lb/load-report.test.ts keeps that trace).
 */

import type { LoadPoint } from '../../contracts/common';

export type { LoadPoint };

export interface LoadReportPolicy {
  /** Share (0..1) by which CPU or memory must move since the last report. */
  step: number;
  /** Least time between two reports (ms). */
  intervalMs: number;
}

/** Samples one load point is taken from (one per lease beat: 6 s at the default 1 s heartbeat). */
export const LOAD_SMOOTHING_SAMPLES = 6;

/** True when `now` should be reported, given what was reported `last` (undefined: nothing yet). */
export function loadReportDue(last: LoadPoint | undefined, now: LoadPoint, p: LoadReportPolicy): boolean {
  if (!last) return true;
  if (now.at - last.at < p.intervalMs) return false;
  return Math.abs(now.cpu - last.cpu) > p.step || Math.abs(now.memory - last.memory) > p.step;
}

/**
 * The load the host sustained: per resource, the second smallest of the last LOAD_SMOOTHING_SAMPLES
 * samples (the smallest of fewer than three), measured at the last one; undefined without any.
 */
export function smoothedLoad(samples: readonly { cpu: number; memory: number; at: number }[]): LoadPoint | undefined {
  const w = samples.slice(-LOAD_SMOOTHING_SAMPLES);
  const last = w[w.length - 1];
  if (!last) return undefined;
  const sustained = (f: (s: { cpu: number; memory: number }) => number) => {
    const v = w.map(f).sort((a, b) => a - b);
    return Math.round((v[v.length >= 3 ? 1 : 0] as number) * 1000) / 1000;
  };
  return { cpu: sustained((s) => s.cpu), memory: sustained((s) => s.memory), at: last.at };
}

/**
 * The value a report carries once `smoothedLoad` decided that the load moved: the median of the last
 * three samples. The sustained value is biased towards the partial sample a step began in (a burner
 * started half-way through a 1 s sample shows as half its load); three samples after the step, two
 * are whole.
 */
export function reportedLoad(samples: readonly { cpu: number; memory: number; at: number }[]): LoadPoint | undefined {
  const w = samples.slice(-3);
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
