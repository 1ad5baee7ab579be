/**
 * Peers watch each other's process (issue 13): each host worker holds a long-lived connection to
 * GET /watch on the health endpoint of the next k hosts of the ring (src/core/fd/watch-ring.ts).
 * The kernel closes a crashed process's sockets at once, so a watch that closes without the peer's
 * goodbye line is strong evidence, known in about a millisecond instead of after a lease timeout.
 *
 * When a watch breaks without a goodbye, the watcher connects again once, at once:
 *   - refused (nothing listens on the port any more): the process is gone. Reported to the
 *     FailureDetector (`peerLost`), which runs its confirmation round (k peers probe) immediately;
 *     the watcher's report alone condemns no one.
 *   - the same boot answers: the connection broke, not the process. Watched again, not reported.
 *   - another boot answers: the process restarted; its NodeAgent tells the rest. Not reported.
 *   - no answer in time (a paused process still accepts connections; a cut link answers nothing):
 *     silent loss, which the lease bounds. Not reported; watched again with backoff.
 *
 * A paused process (SIGSTOP) keeps its sockets: its watches stay open and it is judged by its
 * lease alone, with the acceptable pause. A cut link sends nothing either. Only crashes are sped up.
 *
 * Cost: k idle TCP connections per host, one NodeDiscovery `describe` per refresh (the membership,
 * no signal, no query) and one signal per crash seen. Counted in the host's vitals.
 */
import http from 'node:http';
import type { Client } from '@temporalio/client';
import { agentWorkflowId } from '../contracts/agents';
import { peerLostSignal, type PeerLost } from '../contracts/failure-detector';
import { MEMBERS_MEMO, MembersMemo } from '../contracts/node-discovery';
import type { MemberSummary } from '../contracts/common';
import { watchTargets } from '../core/fd/watch-ring';
import type { WatchLine } from './health-server';

export interface PeerWatchOptions {
  nodeId: string;
  clusterId: string;
  /** Reads the membership and reports; optional only when `members` and `report` are given. */
  client?: Client;
  /** Peers each host watches (default 3; 0 turns watching off). */
  k: number;
  /** How often the membership is read again (ms). */
  refreshMs: number;
  /** The one reconnect after a break: connect + hello within this (ms). */
  reconnectTimeoutMs: number;
  /** Host name of a member's address as this host reaches it (0.0.0.0 → loopback). */
  reach?: (address: string) => string;
  log?: (msg: string) => void;
  /** Where a lost peer is reported (default: a `peerLost` signal to the FailureDetector). */
  report?: (lost: PeerLost) => Promise<void>;
  /** Where the members come from (default: NodeDiscovery's memo, read with `describe`). */
  members?: () => Promise<MemberSummary[] | undefined>;
}

export interface WatchCounts {
  /** Peers this host watches with an open connection. */
  watching: number;
  /** Watch connections opened again after a break, since start. */
  reconnects: number;
  /** Breaks reported as a lost peer, since start. */
  reported: number;
}

type Target = Pick<MemberSummary, 'nodeId' | 'address' | 'healthPort' | 'status'>;

/** What one attempt to watch a peer ended with. */
type Outcome =
  | { kind: 'goodbye'; reason: string }
  | { kind: 'broken'; detail: string }
  | { kind: 'refused'; detail: string }
  | { kind: 'unreachable'; detail: string }
  | { kind: 'stopped' };

/** A wait that never holds the process up on its own. */
const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

class Watch {
  bootId: string | undefined;
  /** The incarnation the peer's lease is held under, as its health endpoint last said. */
  incarnation: number | undefined;
  open = false;
  stopped = false;
  private req: http.ClientRequest | undefined;

  constructor(
    readonly target: Target,
    private readonly host: string,
  ) {}

  /** Connects and resolves when the watch ends; `onHello` runs once the peer said who it is. */
  run(connectTimeoutMs: number, onHello: (bootId: string) => void): Promise<Outcome> {
    return new Promise((resolve) => {
      let settled = false;
      let hello = false;
      const done = (o: Outcome) => {
        if (settled) return;
        settled = true;
        this.open = false;
        clearTimeout(timer);
        req.destroy();
        resolve(this.stopped ? { kind: 'stopped' } : o);
      };
      const req = http.get({
        host: this.host,
        port: this.target.healthPort,
        path: `/watch`,
        agent: false,
        headers: { connection: 'keep-alive' },
      });
      this.req = req;
      const timer = setTimeout(
        () => done({ kind: 'unreachable', detail: `no hello within ${connectTimeoutMs} ms` }),
        connectTimeoutMs,
      );
      req.on('socket', (s) => s.setNoDelay(true));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (!hello && err.code === 'ECONNREFUSED') done({ kind: 'refused', detail: 'connection refused' });
        else if (!hello) done({ kind: 'unreachable', detail: err.code ?? err.message });
        else
          done({ kind: 'broken', detail: err.code === 'ECONNRESET' ? 'connection reset' : (err.code ?? err.message) });
      });
      req.on('response', (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          done({ kind: 'unreachable', detail: `GET /watch answered ${res.statusCode}` });
          return;
        }
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
            const text = buf.slice(0, i);
            buf = buf.slice(i + 1);
            let msg: WatchLine;
            try {
              msg = JSON.parse(text) as WatchLine;
            } catch {
              done({ kind: 'unreachable', detail: 'GET /watch: not a watch line' });
              return;
            }
            if ('leaving' in msg) return done({ kind: 'goodbye', reason: String(msg.leaving) });
            if ('incarnation' in msg && typeof msg.incarnation === 'number') this.incarnation = msg.incarnation;
            if ('hello' in msg && !hello) {
              if (msg.hello.nodeId !== this.target.nodeId) {
                done({ kind: 'unreachable', detail: `another host answers (${msg.hello.nodeId})` });
                return;
              }
              hello = true;
              clearTimeout(timer);
              this.open = true;
              this.incarnation = typeof msg.hello.incarnation === 'number' ? msg.hello.incarnation : undefined;
              onHello(msg.hello.bootId);
            }
          }
          if (buf.length > 4_096) done({ kind: 'unreachable', detail: 'GET /watch: line too long' });
        });
        res.on('end', () => done({ kind: 'broken', detail: 'connection closed without goodbye' }));
        res.on('error', () => done({ kind: 'broken', detail: 'connection reset' }));
        res.on('close', () => done({ kind: 'broken', detail: 'connection closed without goodbye' }));
      });
    });
  }

  stop(): void {
    this.stopped = true;
    this.req?.destroy();
  }
}

export class PeerWatcher {
  private readonly watches = new Map<string, Watch>();
  private readonly counts = { reconnects: 0, reported: 0 };
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private refreshing: Promise<void> | undefined;
  private readonly log: (msg: string) => void;
  private readonly report: (lost: PeerLost) => Promise<void>;

  constructor(private readonly o: PeerWatchOptions) {
    this.log = o.log ?? (() => undefined);
    this.report =
      o.report ??
      (async (lost) => {
        await this.client()
          .workflow.getHandle(agentWorkflowId(o.clusterId, 'failure-detector'))
          .signal(peerLostSignal, lost);
      });
  }

  start(): this {
    if (this.o.k <= 0) return this;
    const tick = () => {
      if (this.stopped) return;
      void this.refresh().finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, this.o.refreshMs);
      });
    };
    tick();
    return this;
  }

  /** Stops watching (a host that leaves stops first: its goodbye is its own health server's). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const w of this.watches.values()) w.stop();
    this.watches.clear();
  }

  private client(): Client {
    if (!this.o.client) throw new Error('peer watch: no Temporal client to read the members or report with');
    return this.o.client;
  }

  current(): WatchCounts {
    let watching = 0;
    for (const w of this.watches.values()) if (w.open) watching += 1;
    return { watching, ...this.counts };
  }

  /** Reads the membership and re-spreads the watches over the ring (one refresh at a time). */
  refresh(): Promise<void> {
    this.refreshing ??= this.readMembers()
      .then((members) => {
        if (members) this.spread(members);
      })
      .catch((err: Error) => this.log(`peer watch: reading the membership failed: ${err.message}`))
      .finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async readMembers(): Promise<MemberSummary[] | undefined> {
    if (this.o.members) return this.o.members();
    const d = await this.client().workflow.getHandle(agentWorkflowId(this.o.clusterId, 'node-discovery')).describe();
    const memo = MembersMemo.safeParse(d.memo?.[MEMBERS_MEMO]);
    return memo.success ? memo.data.members : undefined;
  }

  private spread(members: MemberSummary[]): void {
    if (this.stopped) return;
    const want = new Map(watchTargets(members, this.o.nodeId, this.o.k).map((m) => [m.nodeId, m]));
    for (const [id, w] of this.watches) {
      const m = want.get(id);
      // Gone from the ring, or moved to another endpoint (a restarted host may listen elsewhere).
      if (!m || m.address !== w.target.address || m.healthPort !== w.target.healthPort) {
        w.stop();
        this.watches.delete(id);
      }
    }
    for (const m of want.values()) if (!this.watches.has(m.nodeId)) this.watch(m);
  }

  private watch(target: Target): void {
    const host = this.o.reach ? this.o.reach(target.address) : target.address;
    const w = new Watch(target, host);
    this.watches.set(target.nodeId, w);
    void this.keep(w);
  }

  /**
   * Keeps one watch up while the peer is in the ring (the next refresh stops it once the peer is
   * dead or left). A break is followed by one reconnect at once; refused then is a crash, reported
   * once per boot. Anything else is tried again with backoff.
   */
  private async keep(w: Watch): Promise<void> {
    let backoff = 250;
    let broke: { detail: string; bootId: string; incarnation?: number; tries: number } | undefined;
    let reportedBoot: string | undefined;
    let established = false;
    while (!w.stopped && !this.stopped) {
      const outcome = await w.run(this.o.reconnectTimeoutMs, (bootId) => {
        if (established) this.counts.reconnects += 1;
        established = true;
        broke = undefined;
        backoff = 250;
        w.bootId = bootId;
      });
      if (outcome.kind === 'stopped') return;
      if (outcome.kind === 'broken' && w.bootId !== undefined) {
        broke = {
          detail: outcome.detail,
          bootId: w.bootId,
          ...(w.incarnation !== undefined ? { incarnation: w.incarnation } : {}),
          tries: 0,
        };
        continue; // at once: is anything still listening?
      }
      // A connection reset before the hello, right after a break: the dying process's listener
      // accepted it while its kernel tore it down. Ask again at once, a few times.
      if (broke && outcome.kind === 'unreachable' && /ECONNRESET|EPIPE/.test(outcome.detail) && broke.tries < 3) {
        broke.tries += 1;
        await pause(5);
        continue;
      }
      if (outcome.kind === 'refused' && broke && reportedBoot !== broke.bootId) {
        reportedBoot = broke.bootId;
        this.counts.reported += 1;
        const detail = `${broke.detail}, then ${outcome.detail} on reconnect`;
        this.log(`peer watch: ${w.target.nodeId} lost (${detail})`);
        await this.report({
          nodeId: w.target.nodeId,
          bootId: broke.bootId,
          ...(broke.incarnation !== undefined ? { incarnation: broke.incarnation } : {}),
          observer: this.o.nodeId,
          evidence: 'refused',
          detail,
        }).catch((err: Error) => this.log(`peer watch: reporting ${w.target.nodeId} failed: ${err.message}`));
      } else if (outcome.kind === 'goodbye') {
        this.log(`peer watch: ${w.target.nodeId} left (${outcome.reason})`);
      }
      // Left, lost, refused or unreachable: nothing more to say; watched again once it answers.
      broke = undefined;
      await pause(backoff);
      backoff = Math.min(backoff * 2, 5_000);
    }
  }
}
