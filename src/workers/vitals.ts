/**
 * Host vitals sampled in the worker process: cpu, memory, load, event-loop lag.
 *
 * CPU is the machine's (all cores, /proc/stat via os.cpus()) unless the host is a container or a
 * cgroup of its own (`--cpu-source cgroup`): then it is the usage of the worker's cgroup against
 * the cores it may use (its CPU quota, else every core), as cAdvisor and the kubelet count a
 * container. Several hosts on one machine (a test, a demo) each see their own load that way.
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export type CpuSource = 'machine' | 'cgroup';

export interface Vitals {
  /** Share of all cores (or of the cgroup's quota) busy since the previous sample, 0..1. */
  cpu: number;
  cpuSource: CpuSource;
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
  /** Peer watches (src/workers/peer-watch.ts): open ones each way, reconnects and crashes reported since start. */
  watches?: WatchVitals;
  sampledAt: number;
}

export interface WatchVitals {
  /** Peers this host watches with an open connection. */
  watching: number;
  /** Peers watching this host now. */
  watchedBy: number;
  reconnects: number;
  reported: number;
}

/** Busy and available CPU time so far (any unit, the same for both): differences give a share. */
interface CpuCounter {
  busy: number;
  total: number;
  /** Where it was read (a change, e.g. the process moved to another cgroup, restarts the count). */
  from: string;
}

function machineCpu(): CpuCounter {
  let idle = 0;
  let total = 0;
  for (const c of os.cpus()) {
    idle += c.times.idle;
    total += c.times.user + c.times.nice + c.times.sys + c.times.irq + c.times.idle;
  }
  return { busy: total - idle, total, from: 'machine' };
}

const CGROUP_ROOT = '/sys/fs/cgroup';

function readNumber(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Cores the cgroup may use: its CFS quota (v1 cpu.cfs_quota_us, v2 cpu.max), else every core. */
function cgroupCores(quotaDir: string, v2: boolean): number {
  const cores = os.cpus().length;
  if (v2) {
    try {
      const [quota = 'max', period = '100000'] = readFileSync(`${quotaDir}/cpu.max`, 'utf8').trim().split(/\s+/);
      if (quota !== 'max' && Number(period) > 0) return Math.min(cores, Number(quota) / Number(period));
    } catch {
      /* no quota file: every core */
    }
    return cores;
  }
  const quota = readNumber(`${quotaDir}/cpu.cfs_quota_us`);
  const period = readNumber(`${quotaDir}/cpu.cfs_period_us`);
  return quota !== undefined && quota > 0 && period ? Math.min(cores, quota / period) : cores;
}

/**
 * The CPU usage of this process's cgroup (v1 cpuacct, v2 cpu.stat), in ns, against wall time ×
 * cores it may use; undefined when no cgroup accounting is found.
 */
export function cgroupCpu(procCgroup = '/proc/self/cgroup', root = CGROUP_ROOT): CpuCounter | undefined {
  let lines: string[];
  try {
    lines = readFileSync(procCgroup, 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const wallNs = Number(process.hrtime.bigint());
  for (const line of lines) {
    const [, controllers = '', path = ''] = line.split(':');
    if (controllers.split(',').includes('cpuacct')) {
      for (const mount of [`${root}/cpuacct`, `${root}/cpu,cpuacct`, `${root}/cpuacct,cpu`]) {
        const usage = readNumber(`${mount}${path}/cpuacct.usage`);
        if (usage === undefined) continue;
        const quotaDir = existsSync(`${root}/cpu${path}`) ? `${root}/cpu${path}` : `${mount}${path}`;
        return { busy: usage, total: wallNs * cgroupCores(quotaDir, false), from: `${mount}${path}` };
      }
    }
  }
  const v2 = lines.find((l) => l.startsWith('0::'));
  if (v2 !== undefined) {
    const dir = `${root}${v2.slice(3).replace(/\/$/, '')}`;
    try {
      const m = /^usage_usec (\d+)$/m.exec(readFileSync(`${dir}/cpu.stat`, 'utf8'));
      if (m) return { busy: Number(m[1]) * 1_000, total: wallNs * cgroupCores(dir, true), from: dir };
    } catch {
      /* no cgroup v2 accounting here */
    }
  }
  return undefined;
}

/** A counter for `source`; for cgroup, an error naming what was looked for when there is none. */
function cpuCounter(source: CpuSource): () => CpuCounter {
  if (source === 'machine') return machineCpu;
  const first = cgroupCpu();
  if (!first)
    throw new Error(
      `--cpu-source cgroup: no cgroup CPU accounting for this process (looked for cpuacct.usage under ${CGROUP_ROOT}/cpuacct and cpu.stat under ${CGROUP_ROOT}, from /proc/self/cgroup)`,
    );
  let last = first;
  // The process may be moved to another cgroup while it runs: read where it is now each time.
  return () => (last = cgroupCpu() ?? last);
}

/** The delay histogram samples with a timer of this period; every sample includes it, so it is subtracted. */
const LAG_RESOLUTION_MS = 10;
const lagMs = (ns: number): number => (Number.isFinite(ns) ? round(Math.max(0, ns / 1e6 - LAG_RESOLUTION_MS)) : 0);

/** Samples on an interval; `current()` is cheap and always returns the latest sample. */
export class VitalsSampler {
  private readonly readCpu: () => CpuCounter;
  private last: CpuCounter;
  private readonly lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  private sample: Vitals;
  private readonly history: Vitals[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Where the watch counts come from, once the host watches its peers. */
  watches: (() => WatchVitals) | undefined;

  constructor(
    private readonly intervalMs = 1_000,
    readonly cpuSource: CpuSource = 'machine',
  ) {
    this.readCpu = cpuCounter(cpuSource);
    this.last = this.readCpu();
    this.lag.enable();
    this.sample = this.take();
  }

  start(): this {
    this.timer = setInterval(() => {
      this.sample = this.take();
      this.history.push(this.sample);
      if (this.history.length > 60) this.history.shift();
    }, this.intervalMs);
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

  /**
   * The worst one-second event-loop p99 of the samples taken after `sinceMs` (the last minute is
   * kept): a reader that looks once in a while (the lease, every few beats) misses no stall.
   */
  lagPeakMs(sinceMs: number): number {
    let peak = 0;
    for (const s of this.history) if (s.sampledAt > sinceMs) peak = Math.max(peak, s.eventLoopLagMs.p99);
    return peak;
  }

  private take(): Vitals {
    const now = this.readCpu();
    const moved = now.from !== this.last.from;
    const total = moved ? 0 : now.total - this.last.total;
    const busy = now.busy - this.last.busy;
    this.last = now;
    const totalMem = os.totalmem();
    const used = totalMem - os.freemem();
    const loadavg = os.loadavg();
    const vitals: Vitals = {
      // Moved to another cgroup since the last sample: no difference to take yet, keep the last share.
      cpu: total > 0 ? round(Math.min(1, Math.max(0, busy / total))) : (this.sample?.cpu ?? 0),
      cpuSource: this.cpuSource,
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
      ...(this.watches ? { watches: this.watches() } : {}),
      sampledAt: Date.now(),
    };
    this.lag.reset();
    return vitals;
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
