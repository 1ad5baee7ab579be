/** Host vitals sampled in the worker process: cpu, memory, load, event-loop lag. */
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface Vitals {
  /** Share of all cores busy since the previous sample, 0..1. */
  cpu: number;
  /** Share of physical memory in use, 0..1. */
  memory: number;
  memoryUsedBytes: number;
  memoryTotalBytes: number;
  processRssBytes: number;
  /** 1, 5 and 15 minute load averages. */
  load: [number, number, number];
  cores: number;
  /** Event-loop delay of this worker (ms): mean and p99 since the previous sample. */
  eventLoopLagMs: { mean: number; p99: number };
  sampledAt: number;
}

function cpuTimes(): { idle: number; total: number } {
  let idle = 0;
  let total = 0;
  for (const c of os.cpus()) {
    idle += c.times.idle;
    total += c.times.user + c.times.nice + c.times.sys + c.times.irq + c.times.idle;
  }
  return { idle, total };
}

/** The delay histogram samples with a timer of this period; every sample includes it, so it is subtracted. */
const LAG_RESOLUTION_MS = 10;
const lagMs = (ns: number): number => (Number.isFinite(ns) ? round(Math.max(0, ns / 1e6 - LAG_RESOLUTION_MS)) : 0);

/** Samples on an interval; `current()` is cheap and always returns the latest sample. */
export class VitalsSampler {
  private last = cpuTimes();
  private readonly lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  private sample: Vitals;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs = 1_000) {
    this.lag.enable();
    this.sample = this.take();
  }

  start(): this {
    this.timer = setInterval(() => (this.sample = this.take()), this.intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.lag.disable();
  }

  current(): Vitals {
    return this.sample;
  }

  private take(): Vitals {
    const now = cpuTimes();
    const total = now.total - this.last.total;
    const idle = now.idle - this.last.idle;
    this.last = now;
    const totalMem = os.totalmem();
    const used = totalMem - os.freemem();
    const loadavg = os.loadavg();
    const vitals: Vitals = {
      cpu: total > 0 ? round(1 - idle / total) : 0,
      memory: round(used / totalMem),
      memoryUsedBytes: used,
      memoryTotalBytes: totalMem,
      processRssBytes: process.memoryUsage.rss(),
      load: [round(loadavg[0] ?? 0), round(loadavg[1] ?? 0), round(loadavg[2] ?? 0)],
      cores: os.cpus().length,
      eventLoopLagMs: {
        mean: lagMs(this.lag.mean),
        p99: lagMs(this.lag.percentile(99)),
      },
      sampledAt: Date.now(),
    };
    this.lag.reset();
    return vitals;
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
