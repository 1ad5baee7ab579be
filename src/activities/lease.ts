/**
 * The host's lease: a long-running activity on `host.<nodeId>` that heartbeats every
 * `heartbeatMs` with the host's vitals as details. Temporal's heartbeat timeout on it is the lease
 * timeout: if this process dies, stops or loses the server, the NodeAgent hears of it within that
 * timeout. A term ends after `termMs` and returns the beats' intervals and vitals samples, so the
 * agent's history grows by a few events per term, not per beat.
 */
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import type { LeaseTerm, VitalsSample } from '../contracts/node-agent';
import {
  LOAD_SMOOTHING_SAMPLES,
  loadReportDue,
  reportedLoad,
  smoothedLoad,
  type LoadPoint,
} from '../core/lb/load-report';
import { judgeSelf, type SelfProbe } from '../core/fd/self-check';
import type { Vitals } from '../workers/vitals';

export interface LeaseHost {
  bootId: string;
  vitals(): Vitals;
  /** The worst one-second event-loop p99 sampled after `sinceMs` (the host's sampler keeps a minute). */
  lagPeakMs?(sinceMs: number): number;
  /** Aborted when the host worker is stopping: the lease ends at once instead of at its next beat. */
  stopping?: AbortSignal;
  /** Stops the host gracefully, as SIGTERM does (a drain with --stop). */
  requestStop?(reason: string): void;
  /** One request to the host's own health endpoint, as peers reach it (never throws); undefined while the host leaves. */
  probeSelf?: () => Promise<SelfProbe | undefined>;
  /** The incarnation the host's NodeAgent holds its lease under: its health endpoint tells its watchers. */
  holdsIncarnation?(incarnation: number): void;
}

export interface HoldLeaseInput {
  heartbeatMs: number;
  termMs: number;
  /** Return right after the first beat: the agent only wants to know that the host is back. */
  untilFirstBeat?: boolean;
  /** Vitals samples kept per term (default 4). */
  samplesPerTerm?: number;
  /**
   * Load reporting (NodeAgents that report load; older runs pass none): the term ends early when
   * the host's load (what it sustained over its last six beats) moved by more than `step` since `last`, the load
   * the agent last reported, and at least `intervalMs` after it. The first report (no `last`) waits
   * for the term's end: a host's load while it boots says little, and ending the first terms early
   * would judge its health on one busy boot-time sample.
   */
  load?: { step: number; intervalMs: number; last?: LoadPoint };
  /**
   * Self-check (NodeAgents that ask; older runs pass none): the host's own health endpoint is asked
   * once per beat, beside the beats (a slow answer never delays one), and the term ends as soon as
   * the judgement differs from `ok`, what the agent knows.
   */
  selfCheck?: { ok: boolean };
  /**
   * The NodeAgent's incarnation (NodeAgents that pass it): the host's peer watches report a crash
   * with it, so that the FailureDetector's verdict names the incarnation the NodeAgent holds.
   */
  incarnation?: number;
}

export function sampleOf(v: Vitals): VitalsSample {
  return {
    cpu: v.cpu,
    memory: v.memory,
    load1: v.load[0],
    lagP99Ms: v.eventLoopLagMs.p99,
    rssBytes: v.processRssBytes,
    ...(v.watches ? { watches: v.watches } : {}),
    at: v.sampledAt,
  };
}

/** The host context, or a non-retryable NotAHost failure: `what` runs only on a host worker. */
export function requireHost(host: LeaseHost | undefined, what: string): LeaseHost {
  if (!host)
    throw ApplicationFailure.create({
      type: 'NotAHost',
      message: `${what} runs only on a host worker (npm run worker), which knows its boot id and vitals`,
      nonRetryable: true,
    });
  return host;
}

export async function holdLease(host: LeaseHost | undefined, input: HoldLeaseInput): Promise<LeaseTerm> {
  const h = requireHost(host, 'holdLease');
  const ctx = Context.current();
  if (input.incarnation !== undefined) h.holdsIncarnation?.(input.incarnation);
  const intervals: number[] = [];
  const vitals: VitalsSample[] = [];
  let worstLag = 0;
  let previousSampledAt = Date.now() - input.heartbeatMs;
  const sampleEvery = Math.max(input.heartbeatMs, input.termMs / Math.max(1, input.samplesPerTerm ?? 4));
  let lastSampleAt = 0;
  let beats = 0;
  let lastBeat = performance.now();
  const recent: LoadPoint[] = [];
  // Self-check state: the last two probes, the judgement, and a wake-up for the beat loop.
  const self =
    input.selfCheck && h.probeSelf ? { ...input.selfCheck, detail: 'not probed yet', changed: false } : undefined;
  const probes: SelfProbe[] = [];
  let probing = false;
  let wake: (() => void) | undefined;
  const changedSelf = new Promise<void>((resolve) => (wake = resolve));
  const probe = () => {
    if (!self || probing || self.changed) return;
    probing = true;
    void (h.probeSelf as () => Promise<SelfProbe | undefined>)()
      .then((p) => {
        if (!p) return;
        probes.push(p);
        if (probes.length > 2) probes.shift();
        const j = judgeSelf(probes, self.ok);
        self.detail = j.detail;
        if (j.ok !== self.ok) {
          self.ok = j.ok;
          self.changed = true;
          wake?.();
        }
      })
      .finally(() => (probing = false));
  };
  const beat = () => {
    const v = h.vitals();
    probe();
    ctx.heartbeat({
      bootId: h.bootId,
      beat: beats,
      at: Date.now(),
      vitals: v,
      ...(self ? { self: { ok: self.ok, detail: self.detail } } : {}),
    });
    beats += 1;
    recent.push({ cpu: v.cpu, memory: v.memory, at: v.sampledAt });
    if (recent.length > LOAD_SMOOTHING_SAMPLES) recent.shift();
    // The event loop's worst second since the last sample: a stall between two samples is not lost.
    worstLag = Math.max(worstLag, v.eventLoopLagMs.p99);
    if (v.sampledAt - lastSampleAt >= sampleEvery) {
      // The sampler's own record too: a second it sampled between two beats is not skipped.
      const peak = Math.max(worstLag, h.lagPeakMs?.(previousSampledAt) ?? 0);
      previousSampledAt = v.sampledAt;
      vitals.push({ ...sampleOf(v), lagP99Ms: peak });
      lastSampleAt = v.sampledAt;
      worstLag = 0;
    }
  };
  const result = (cancelled: boolean, loadChanged = false): LeaseTerm => ({
    bootId: h.bootId,
    beats,
    intervals,
    vitals,
    cancelled,
    ...(input.load ? { load: reportedLoad(recent), sustained: smoothedLoad(recent), loadChanged } : {}),
    ...(self ? { self: { ok: self.ok, detail: self.detail, changed: self.changed } } : {}),
  });
  /** The load moved enough to be reported now (with six beats behind it). */
  const loadMoved = (): boolean => {
    const l = input.load;
    if (!l?.last || recent.length < LOAD_SMOOTHING_SAMPLES) return false;
    const now = smoothedLoad(recent);
    return now !== undefined && loadReportDue(l.last, now, l);
  };
  beat();
  if (input.untilFirstBeat) return result(false);
  const endAt = Date.now() + input.termMs;
  const stopping = h.stopping;
  const stopped = new Promise<void>((resolve) => {
    if (stopping?.aborted) resolve();
    stopping?.addEventListener('abort', () => resolve(), { once: true });
  });
  while (Date.now() < endAt) {
    if (stopping?.aborted) return result(true);
    try {
      await Promise.race([
        ctx.sleep(Math.min(input.heartbeatMs, Math.max(1, endAt - Date.now()))),
        stopped,
        changedSelf,
      ]);
    } catch (err) {
      if (err instanceof CancelledFailure) return result(true);
      throw err;
    }
    if (stopping?.aborted) return result(true);
    // The endpoint's judgement changed: the agent hears of it now, not at the next beat (no beat
    // is counted for this wake-up: the intervals stay the heartbeat's).
    if (self?.changed) return result(false);
    const now = performance.now();
    intervals.push(Math.round(now - lastBeat));
    lastBeat = now;
    beat();
    if (loadMoved()) return result(false, true);
  }
  return result(false);
}
