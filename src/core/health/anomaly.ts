/**
 * The HealthMonitor's anomaly models (the spec's), each over a window of a node's recent samples
 * of one metric. A model needs at least `minSamples` before it judges: a baseline of two points
 * says nothing.
 *
 *   cpu            z-score of the newest sample against the previous ones: anomaly when
 *                  (x − mean) / σ > 2.5, over the last 20 samples
 *   memory         the same with 2σ over 15 samples
 *   network        trend over the last 30 latency samples: the least-squares slope times the
 *                  window, relative to the mean — anomaly when it rises: Δ / mean > 0.3
 *                  (sensitivity) and Δ ≥ 2 ms
 *   response time  the newest response time against the p95 of the window (at least 5 ms):
 *                  anomaly when it is more than 2 × p95
 *
 * σ has a floor (`minStdDev`): a perfectly flat metric would otherwise flag any change at all.
 */
import type { Anomaly, Metric } from '../../contracts/health-monitor';
import { linearFit, mean, percentile, stdDev } from './stats';

export { METRICS, type Anomaly, type Metric } from '../../contracts/health-monitor';

export interface ModelParams {
  /** Samples the model looks at (the newest included). */
  window: number;
  /** σ multiple (cpu, memory), relative trend (network) or p95 multiple (response time). */
  threshold: number;
  /** Fewer samples than this: no verdict. */
  minSamples: number;
  /** Floor of σ in the metric's unit (share 0..1 for cpu/memory). */
  minStdDev?: number;
  /**
   * Smallest change that matters, in the metric's unit: the network trend must move latency by at
   * least this much (ms), a response time must exceed the multiple of at least this p95 (ms).
   * Sub-millisecond loopback latencies would otherwise "double" on any scheduler hiccup.
   */
  floor?: number;
}

/** The spec's models. */
export const DEFAULT_MODELS: Record<Metric, ModelParams> = {
  cpu: { window: 20, threshold: 2.5, minSamples: 10, minStdDev: 0.02 },
  memory: { window: 15, threshold: 2, minSamples: 8, minStdDev: 0.01 },
  network: { window: 30, threshold: 0.3, minSamples: 10, floor: 2 },
  responseTime: { window: 50, threshold: 2, minSamples: 10, floor: 5 },
};

/** Judges the newest sample of `samples` (oldest first); undefined when normal or too few samples. */
export function detectAnomaly(metric: Metric, samples: readonly number[], p: ModelParams): Anomaly | undefined {
  const w = samples.slice(-p.window);
  if (w.length < p.minSamples) return undefined;
  const value = w[w.length - 1] as number;
  const history = w.slice(0, -1);
  switch (metric) {
    case 'cpu':
    case 'memory': {
      const m = mean(history);
      const sigma = Math.max(stdDev(history), p.minStdDev ?? 0);
      const z = sigma === 0 ? 0 : (value - m) / sigma;
      if (z <= p.threshold) return undefined;
      return {
        metric,
        value,
        baseline: m,
        score: z,
        threshold: p.threshold,
        message: `${metric} ${pct(value)} is ${z.toFixed(1)}σ above its mean ${pct(m)} (threshold ${p.threshold}σ over ${w.length})`,
      };
    }
    case 'network': {
      const m = mean(w);
      if (m <= 0) return undefined;
      const { slope } = linearFit(w);
      const change = slope * (w.length - 1);
      const rel = change / m;
      // Only a rising latency degrades a node; a falling one is good news, not an anomaly.
      if (rel <= p.threshold || change < (p.floor ?? 0)) return undefined;
      return {
        metric,
        value,
        baseline: m,
        score: rel,
        threshold: p.threshold,
        message: `network latency trend ${rel > 0 ? '+' : ''}${Math.round(rel * 100)} % over ${w.length} samples (sensitivity ${p.threshold})`,
      };
    }
    case 'responseTime': {
      const p95 = Math.max(percentile(history, 95), p.floor ?? 0);
      if (!(p95 > 0)) return undefined;
      const ratio = value / p95;
      if (ratio <= p.threshold) return undefined;
      return {
        metric,
        value,
        baseline: p95,
        score: ratio,
        threshold: p.threshold,
        message: `response time ${value} ms is ${ratio.toFixed(1)} × the p95 ${p95} ms (threshold ${p.threshold} ×)`,
      };
    }
  }
}

function pct(x: number): string {
  return `${Math.round(x * 1000) / 10} %`;
}

/** How much evidence an anomaly needs before it is one, and before it is over. */
export interface Evidence {
  /** The last `of` samples are judged (default 5)… */
  of: number;
  /** …and `needed` of them must be anomalous (default 3): one spike is not an anomaly. */
  needed: number;
  /** An anomaly is over once this many newest samples in a row are normal (default 3): hysteresis. */
  clearAfter: number;
}

/**
 * Floors under the models' own (`floor` in their config, which may raise them): changes smaller
 * than these are jitter no user notices — CPU 10 points, memory 5 points over the mean; network
 * latency rising by 5 ms over the window; a response time must be over twice a p95 of at least 25 ms.
 * A fresh-clone test run once saw a critical "73.93 ms is 4.8 × the p95 15.25 ms" on loopback.
 */
export const EVIDENCE_FLOORS: Record<Metric, number> = { cpu: 0.1, memory: 0.05, network: 5, responseTime: 25 };

export interface Judgement {
  /** The newest anomalous sample among the judged ones, judged. */
  anomaly?: Anomaly;
  /** Anomalous samples among the last `of`. */
  hits: number;
  /** Samples judged (≤ of). */
  judged: number;
  /** The newest `clearAfter` samples are all normal. */
  clear: boolean;
}

/**
 * Judges each of the last `ev.of` samples. cpu, memory and response time are judged against the
 * samples *before* them (the reference window): a sustained step would otherwise raise its own
 * baseline and hide after one sample. The network trend is a window statistic: it is judged on the
 * window ending at each of those samples. Floors (the larger of `p.floor` and EVIDENCE_FLOORS) apply
 * to every metric: for cpu and memory the value must exceed the mean by at least the floor.
 */
export function judgeMetric(metric: Metric, samples: readonly number[], p: ModelParams, ev: Evidence): Judgement {
  const params = { ...p, floor: Math.max(p.floor ?? 0, EVIDENCE_FLOORS[metric]) };
  const n = Math.min(ev.of, samples.length);
  const marks: (Anomaly | undefined)[] = [];
  if (metric === 'network') {
    for (let j = n - 1; j >= 0; j--) marks.push(detectAnomaly(metric, samples.slice(0, samples.length - j), params));
  } else {
    const reference = samples.slice(0, samples.length - n).slice(-(params.window - 1));
    if (reference.length + 1 >= params.minSamples)
      for (const x of samples.slice(samples.length - n)) marks.push(judgeAgainst(metric, reference, x, params));
  }
  const hits = marks.filter((m) => m !== undefined).length;
  const newest = [...marks].reverse().find((m) => m !== undefined);
  const tail = marks.slice(-ev.clearAfter);
  return {
    ...(newest ? { anomaly: newest } : {}),
    hits,
    judged: marks.length,
    clear: tail.length >= Math.min(ev.clearAfter, samples.length) && tail.every((m) => m === undefined),
  };
}

/** One value against a reference window (cpu, memory: z-score and floor; response time: p95 multiple). */
function judgeAgainst(metric: Metric, reference: readonly number[], value: number, p: ModelParams): Anomaly | undefined {
  if (metric === 'cpu' || metric === 'memory') {
    const m = mean(reference);
    if (value - m < (p.floor ?? 0)) return undefined;
  }
  return detectAnomaly(metric, [...reference, value], { ...p, window: reference.length + 1, minSamples: 2 });
}
