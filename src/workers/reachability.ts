/**
 * Reachability and fences, on the host (a loop of the host worker, not one activity per probe):
 *
 * - Every `intervalMs` (default 1 s) it GETs each peer's /healthz, from the host's own address
 *   (so packet filters between hosts apply to it), with a 300 ms timeout, a failed GET tried once
 *   more at once. The members are read beside the probes (the round probes the last list read). Any HTTP
 *   answer means reachable (a peer that is
 *   fenced or draining still answers). Only a *change* of the reachable set goes out: a
 *   `reachability` signal straight to the partition handler, with the round trips measured (through
 *   the host's NodeAgent it took a second hop, which can wait on a killed worker's workflow task). While it misses a peer it
 *   lost recently it checks every `cutIntervalMs`.
 * - It reads the partition handler's fences from its memo (`describe`, no query) every 250 ms
 *   (`fencesEveryMs`), apart from the probe rounds: when this host is fenced, /healthz answers 503
 *   `fenced` and local routers refuse new picks.
 * - It pings the Temporal server every 250 ms (GetSystemInfo). A host that has not reached it for
 *   `selfFenceAfterMs` fences itself before its lease can lapse on the server (the host worker sets
 *   lease timeout − heartbeat − 400 ms: the last renewal may be a heartbeat older than the last
 *   contact), and the other side must never believe it gone while it still serves. Contact again
 *   lifts that fence.
 */
import http from 'node:http';
import type { Client } from '@temporalio/client';
import { agentWorkflowId } from '../contracts/agents';
import type { MemberSummary } from '../contracts/common';
import { MEMBERS_MEMO, MembersMemo } from '../contracts/node-discovery';
import { isLiveStatus } from '../core/membership';
import { FENCES_MEMO, FencesMemo, PARTITION_ROLE, reachabilitySignal, type ReachabilityReport } from '../contracts/partition-handler';

export interface HostFence {
  generation: number;
  reason: string;
  /** `handler`: the partition handler fenced this host; `self`: it lost the Temporal server. */
  by: 'handler' | 'self';
  since: number;
}

export interface ReachabilityOptions {
  nodeId: string;
  clusterId: string;
  client?: Client;
  /** The host's own address: probes leave from it. */
  localAddress?: string;
  intervalMs?: number;
  timeoutMs?: number;
  selfFenceAfterMs?: number;
  /** Longest wait for one call to the server (ms, default 800). */
  serverCallMs?: number;
  /** How often the server is pinged to know it is reachable (ms, default 250; 0: only by the rounds). */
  contactEveryMs?: number;
  /**
   * While the host misses a peer NodeDiscovery holds live, or NodeDiscovery doubts the host and it
   * misses any peer, its report is sent again this often (ms, default 2 000): the handler keeps a
   * host NodeDiscovery calls dead in the graph only while it hears from it, and NodeDiscovery may
   * call it dead at any time of a cut (its checks run from either side), long after its last change.
   */
  reportAgainEveryMs?: number;
  /**
   * While the host misses a peer it lost within `fastForMs` (a cut), its rounds come this often
   * instead of `intervalMs` (ms, default 250): a heal is seen within a few hundred ms, not a second,
   * and so is the rest of a cut once part of it is. The members are still read once per `intervalMs`.
   * A peer missed for longer (a killed host NodeDiscovery keeps as dead) costs nothing more.
   */
  cutIntervalMs?: number;
  /** How long after losing a peer the rounds stay fast while it is missed (ms, default 120 000). */
  fastForMs?: number;
  /** How often the handler's fences are read (ms, default 250; 0: with each round). */
  fencesEveryMs?: number;
  /** A ping of the server (default: the frontend's GetSystemInfo, which touches no database). */
  ping?: () => Promise<unknown>;
  members?: () => Promise<MemberSummary[] | undefined>;
  fences?: () => Promise<FencesMemo | undefined>;
  report?: (r: ReachabilityReport) => Promise<void>;
  onFence?: (fence: HostFence | undefined) => void;
  log?: (line: string) => void;
  /** The last status the client's retries met since an instant (a failed report's log names it). */
  lastRetried?: (since: number) => { code: string; details: string } | undefined;
}

export interface ReachabilityStats {
  reachable: string[];
  unreachable: string[];
  reports: number;
  rounds: number;
  lastServerContactAt?: number;
  fence?: HostFence;
}

/** GET /healthz of a peer: its round trip (ms) when it answered anything, else undefined. */
export function probePeer(
  address: string,
  port: number,
  timeoutMs: number,
  localAddress?: string,
): Promise<number | undefined> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.get(
      {
        host: address,
        port,
        path: '/healthz',
        timeout: timeoutMs,
        agent: false,
        ...(localAddress ? { localAddress } : {}),
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(performance.now() - t0));
        res.on('error', () => resolve(performance.now() - t0));
      },
    );
    req.on('timeout', () => {
      req.destroy();
      resolve(undefined);
    });
    req.on('error', () => resolve(undefined));
  });
}

export class ReachabilityMonitor {
  private timer: NodeJS.Timeout | undefined;
  private pinger: NodeJS.Timeout | undefined;
  private checker: NodeJS.Timeout | undefined;
  private fenceTimer: NodeJS.Timeout | undefined;
  /** The handler's fences as last read. */
  private fences: FencesMemo | undefined;
  /** The last read found no partition handler. */
  private noHandler = false;
  private stopped = false;
  private lastReported: string | undefined;
  /** The last report sent, and when: sent again while the handler's memo does not show it. */
  private last: { report: ReachabilityReport; sentAt: number } | undefined;
  private members: MemberSummary[] = [];
  private membersReadAt = 0;
  /** When each peer missed now was first missed (cleared when it answers). */
  private lostAt: Record<string, number> = {};
  private handlerFence: HostFence | undefined;
  private selfFence: HostFence | undefined;
  private fenceKey = '';
  readonly stats: ReachabilityStats = { reachable: [], unreachable: [], reports: 0, rounds: 0 };
  private readonly startedAt = Date.now();

  constructor(private readonly o: ReachabilityOptions) {}

  start(): this {
    const every = this.o.contactEveryMs ?? 250;
    if (every > 0) {
      // Pings on a fixed cadence (each bounded by its deadline), and the contact checked every
      // 100 ms: a lost server is known within the threshold plus 100 ms.
      const ping = () =>
        void this.server(
          this.o.ping ?? (() => this.client().connection.workflowService.getSystemInfo({})),
          Math.min(every, this.o.serverCallMs ?? 800),
        ).catch(() => undefined);
      ping();
      this.pinger = setInterval(ping, every);
      this.checker = setInterval(() => this.checkContact(), 100);
    }
    const fencesEvery = this.fencesEvery;
    if (fencesEvery > 0) {
      // One read at a time: the next starts `fencesEvery` after the last began, or when it ended;
      // every second only while no partition handler runs (nothing can fence this host then).
      const read = async () => {
        if (this.stopped) return;
        const t0 = Date.now();
        await this.refreshFences();
        const every = this.noHandler ? Math.max(fencesEvery, 1_000) : fencesEvery;
        if (!this.stopped) this.fenceTimer = setTimeout(read, Math.max(0, every - (Date.now() - t0)));
      };
      this.fenceTimer = setTimeout(read, 0);
    }
    const loop = async () => {
      if (this.stopped) return;
      const t0 = Date.now();
      await this.round().catch((err: Error) => this.o.log?.(`reachability: round failed: ${err.message}`));
      const interval = this.o.intervalMs ?? 1_000;
      const now = Date.now();
      // Only while a partition handler runs: without one nothing is decided on what this host sees.
      const inCut = !this.noHandler && Object.values(this.lostAt).some((at) => now - at < (this.o.fastForMs ?? 120_000));
      const every = inCut ? Math.min(interval, this.o.cutIntervalMs ?? 250) : interval;
      if (!this.stopped) this.timer = setTimeout(loop, Math.max(0, every - (now - t0)));
    };
    this.timer = setTimeout(loop, 0);
    return this;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.pinger) clearInterval(this.pinger);
    if (this.checker) clearInterval(this.checker);
    if (this.fenceTimer) clearTimeout(this.fenceTimer);
  }

  /** How often the fences are read apart from the rounds (0: with each round). */
  private get fencesEvery(): number {
    return this.o.fencesEveryMs ?? 250;
  }

  /** Fences the host when the server has not answered for `selfFenceAfterMs`; lifts it on contact. */
  private checkContact(generation?: number): void {
    const now = Date.now();
    const lostFor = now - (this.stats.lastServerContactAt ?? this.startedAt);
    if (lostFor >= (this.o.selfFenceAfterMs ?? 2_000))
      this.selfFence ??= {
        generation: generation ?? this.handlerFence?.generation ?? 0,
        reason: `lost the Temporal server ${lostFor} ms ago: its lease is about to lapse`,
        by: 'self',
        since: now,
      };
    else this.selfFence = undefined;
    this.applyFence();
  }

  /** The fence in force: the handler's, else the host's own. */
  fence(): HostFence | undefined {
    return this.handlerFence ?? this.selfFence;
  }

  private client(): Client {
    if (!this.o.client) throw new Error('reachability: no Temporal client');
    return this.o.client;
  }

  /** A call to the server with a deadline; success counts as contact. */
  private async server<T>(fn: () => Promise<T>, deadlineMs?: number): Promise<T> {
    const ms = deadlineMs ?? this.o.serverCallMs ?? 800;
    const r = this.o.client ? await this.o.client.connection.withDeadline(Date.now() + ms, fn) : await fn();
    this.stats.lastServerContactAt = Date.now();
    return r;
  }

  private async readMembers(): Promise<MemberSummary[] | undefined> {
    if (this.o.members) return this.server(this.o.members);
    const d = await this.server(() =>
      this.client().workflow.getHandle(agentWorkflowId(this.o.clusterId, 'node-discovery')).describe(),
    );
    const memo = MembersMemo.safeParse(d.memo?.[MEMBERS_MEMO]);
    return memo.success ? memo.data.members : undefined;
  }

  private async readFences(): Promise<FencesMemo | undefined> {
    if (this.o.fences) return this.server(this.o.fences);
    try {
      const d = await this.server(() =>
        this.client().workflow.getHandle(agentWorkflowId(this.o.clusterId, PARTITION_ROLE)).describe(),
      );
      const memo = FencesMemo.safeParse(d.memo?.[FENCES_MEMO]);
      this.noHandler = d.status.name !== 'RUNNING';
      return memo.success ? memo.data : undefined;
    } catch (err) {
      // No partition handler runs: nothing is fenced (the call reached the server all the same).
      if ((err as Error).name === 'WorkflowNotFoundError') {
        this.noHandler = true;
        this.stats.lastServerContactAt = Date.now();
        return { generation: 0, fenced: {}, seen: {} };
      }
      throw err;
    }
  }

  /** Reads the handler's fences and applies this host's; undefined when the read failed. */
  private async refreshFences(): Promise<FencesMemo | undefined> {
    const fences = await this.readFences().catch(() => undefined);
    if (fences) {
      this.fences = fences;
      const f = fences.fenced[this.o.nodeId];
      this.handlerFence = f ? { generation: f.generation, reason: f.reason, by: 'handler', since: f.since } : undefined;
      this.checkContact(fences.generation);
    }
    return fences;
  }

  private async round(): Promise<void> {
    this.stats.rounds += 1;
    const now = Date.now();
    // The members are read beside the probes, which go to the last list read (the first round waits);
    // once per interval (fast rounds during a cut reuse the last list).
    const readNow = !this.members.length || now - this.membersReadAt >= (this.o.intervalMs ?? 1_000);
    if (readNow) this.membersReadAt = now;
    const reading = readNow ? this.readMembers().catch(() => undefined) : Promise.resolve(this.members);
    const fencing = this.fencesEvery > 0 ? Promise.resolve(this.fences) : this.refreshFences();
    if (!this.members.length) {
      const first = await reading;
      if (first) this.members = first;
    }

    // Dead members too: NodeDiscovery calls dead a host its own checks could not reach across a
    // cut, and keeps it so; only the hosts' own probes can show it reachable again.
    const peers = this.members.filter((m) => m.nodeId !== this.o.nodeId && m.status !== 'left');
    const timeout = this.o.timeoutMs ?? 300;
    // A failed probe is tried once more at once: one slow answer (a busy host) must not make the
    // graph flap, which restarts the handler's stable window; a cut peer costs one more timeout.
    // A peer already missed is probed once: one timeout says it is still cut.
    const probe = async (m: MemberSummary) =>
      (await probePeer(m.address, m.healthPort, timeout, this.o.localAddress)) ??
      (this.lostAt[m.nodeId] !== undefined ? undefined : await probePeer(m.address, m.healthPort, timeout, this.o.localAddress));
    const rtts = await Promise.all(peers.map(probe));
    const reachable: string[] = [];
    const unreachable: string[] = [];
    const rttMs: Record<string, number> = {};
    peers.forEach((m, i) => {
      const rtt = rtts[i];
      if (rtt === undefined) unreachable.push(m.nodeId);
      else {
        reachable.push(m.nodeId);
        rttMs[m.nodeId] = Math.round(rtt * 10) / 10;
      }
    });
    reachable.sort();
    unreachable.sort();
    const lostAt: Record<string, number> = {};
    for (const id of unreachable) lostAt[id] = this.lostAt[id] ?? now;
    this.lostAt = lostAt;
    this.stats.reachable = reachable;
    this.stats.unreachable = unreachable;
    const key = JSON.stringify(reachable);
    const [members, fences] = await Promise.all([reading, fencing]);
    if (!members) return; // a view of the members we could not refresh
    this.members = members;
    let report: ReachabilityReport = { nodeId: this.o.nodeId, reachable, unreachable, rttMs, at: now };
    if (key === this.lastReported) {
      const l = this.last;
      // No change. Sent again as it is now while a peer NodeDiscovery holds live is out of reach,
      // or while NodeDiscovery suspects this host or calls it dead and any peer is: the handler
      // keeps a host NodeDiscovery calls dead in the graph only while it hears from it, and
      // NodeDiscovery can call it dead at any moment of a cut (its checks run from either side).
      // Repeating only while doubted and missing a live peer (6ed7fda) left a host out of the graph
      // once NodeDiscovery called its unreachable peers dead too: unfenced beside the kept side.
      // A host that only misses dead peers, and is not doubted itself, is quiet (a dead member is
      // never reached again, and NodeDiscovery keeps it).
      const status = new Map(members.map((m) => [m.nodeId, m.status]));
      const self = status.get(this.o.nodeId);
      const doubted = self === 'suspect' || self === 'dead';
      const missesLive = unreachable.some((id) => isLiveStatus(status.get(id) ?? 'left'));
      if (
        l &&
        (missesLive || (doubted && unreachable.length > 0)) &&
        now - l.sentAt >= (this.o.reportAgainEveryMs ?? 2_000)
      )
        report = { ...report, unchanged: true };
      // Otherwise sent again only when the handler does not hold it (it was not running, say).
      else if (!l || !fences || fences.seen[this.o.nodeId] === l.report.at || now - l.sentAt < 2_000) return;
      else report = l.report;
    }
    // No partition handler runs (its memo read says so): nobody to tell; the report goes out once one does.
    if (this.noHandler && !this.o.report) return;
    const sendingAt = Date.now();
    try {
      if (this.o.report) await this.server(() => this.o.report!(report));
      else
        await this.server(() =>
          this.client()
            .workflow.getHandle(agentWorkflowId(this.o.clusterId, PARTITION_ROLE))
            .signal(reachabilitySignal, report),
        );
      this.lastReported = key;
      this.last = { report, sentAt: now };
      this.stats.reports += 1;
      this.o.log?.(
        `reachability: reaches ${reachable.join(', ') || 'nobody'}${unreachable.length ? `; not ${unreachable.join(', ')}` : ''}`,
      );
    } catch (err) {
      // The client's message ("Failed to signal Workflow") says nothing; its cause says why (the
      // server's per-run signal limit, a deadline, no such workflow).
      const e = err as Error & { cause?: { message?: string } };
      const r = this.o.lastRetried?.(sendingAt);
      this.o.log?.(
        `reachability: report failed (${e.message}${e.cause?.message ? `: ${e.cause.message}` : ''}${r ? `; the client retried ${r.code}: ${r.details}` : ''}); retried next round`,
      );
    }
  }

  private applyFence(): void {
    const f = this.fence();
    const key = f ? `${f.by}:${f.generation}:${f.reason}` : '';
    if (key === this.fenceKey) return;
    this.fenceKey = key;
    this.stats.fence = f;
    this.o.log?.(f ? `FENCED (${f.by}, generation ${f.generation}): ${f.reason}` : 'not fenced');
    this.o.onFence?.(f);
  }
}
