/**
 * The in-process router a service embeds. It holds the LoadBalancer's current routing table,
 * picks targets locally with the agent's own strategy code (a pick is a few array reads), and
 * reports outcomes in batches.
 *
 * Invariants:
 * 1. `pick` never waits on the network: it uses the table it has, however old, so routing goes on
 *    while the Temporal server or the agent is away.
 * 2. The table only moves forward (a higher version replaces a lower one, never the reverse).
 * 3. Outcomes are aggregated per target between reports; a report that cannot be sent is kept
 *    (bounded) and retried with the next one.
 * 4. Reports carry the requests this router has in flight per target whenever they changed (and at
 *    least every `inFlightRefreshMs` while any are), so the agent sums real connections over all
 *    routers; this router's own share is taken out of the table's counts (it adds its live ones).
 *
 * Refresh: a long-poll (`awaitRoutingTable` update) returns as soon as a newer table exists. The
 * update must be accepted within `acceptMs`: the server admits only so many updates in flight per
 * workflow (10 by default) and answers the rest RESOURCE_EXHAUSTED, which the client retries for
 * half a minute — a router past that limit would hold a stale table all that time. When the
 * long-poll fails or is not accepted in time, the router reads the table with a `routingTable`
 * query: if that answers, it tries the long-poll again after `pollMs`; if not (no worker, the
 * server away), after an exponential backoff.
 */
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { agentWorkflowId } from '../contracts/agents';
import type { LbStrategy, Outcome, RouteTarget, RoutingTable } from '../contracts/load-balancer';
import { Picker, type PickRequest } from '../core/lb/picker';

export interface RouterOptions {
  client: Client;
  clusterId?: string;
  /** Name in outcome reports (default router-<random>). */
  name?: string;
  /** The zone this process runs in; latency_aware and geographic prefer it. */
  clientZone?: string;
  /** Pick with this strategy instead of the table's. */
  strategy?: LbStrategy;
  /** How often outcomes are reported (ms, default 1000). */
  reportIntervalMs?: number;
  /** Longest wait of one long-poll (ms, default 30 s). */
  longPollMs?: number;
  /** Longest wait for the agent to accept a long-poll (ms, default 1000; it takes milliseconds when admitted). */
  acceptMs?: number;
  /** Pause between a refresh by query and the next long-poll attempt, while the agent answers (ms, default 500). */
  pollMs?: number;
  /** Backoff after a refresh that failed entirely: first delay and cap (ms, defaults 200 and 10 000). */
  backoffMs?: { initial: number; max: number };
  /** In-flight counts are reported at least this often while any request is in flight (ms, default 5 000). */
  inFlightRefreshMs?: number;
  random?: () => number;
  /** Called after a newer table replaced the one held (e.g. to log or measure propagation). */
  onTable?: (table: RoutingTable) => void;
  /**
   * The fence of the host this router runs on (e.g. `hostFence(...).current`): while it returns
   * one, `pick` refuses with a FencedError — the host is on the losing side of a partition, or lost
   * the Temporal server, and must take no new requests.
   */
  fence?: () => { generation: number; reason: string } | undefined;
}

/** Thrown by `pick` on a fenced host. */
export class FencedError extends Error {
  constructor(readonly generation: number, why: string) {
    super(`this host is fenced (generation ${generation}): ${why}; it takes no new requests`);
    this.name = 'FencedError';
  }
}

interface Pending {
  count: number;
  failures: number;
  latencySum: number;
}

const MAX_PENDING_TARGETS = 10_000;

export class Router {
  readonly name: string;
  private picker: Picker | undefined;
  private pending = new Map<string, Pending>();
  /**
   * Requests in flight per target id, whatever table is held: a target that left the table (a
   * cordon, a dead node) keeps its requests until they end, and the agent hears of them (a drain
   * waits for them).
   */
  private readonly flights = new Map<string, number>();
  /** The in-flight counts the agent last heard from this router, and when. */
  private reportedInFlight = new Map<string, number>();
  private lastReportAt = Date.now();
  private closed = false;
  private loop: Promise<void> | undefined;
  /** Cancels the backoff sleep on close. */
  private readonly stopping = new AbortController();
  /** Cancels the call in flight on close (one per call: the SDK never removes its abort listener). */
  private callInFlight: AbortController | undefined;
  private reportTimer: NodeJS.Timeout | undefined;
  private readonly opts: Required<Omit<RouterOptions, 'clientZone' | 'strategy' | 'random' | 'onTable' | 'fence'>> &
    RouterOptions;
  /**
   * Times the table was replaced; refreshes that failed; long-polls the agent refused because
   * enough routers already wait (this router then refreshes by query); outcome reports.
   */
  readonly stats = { tables: 0, refreshFailures: 0, longPollsRefused: 0, reportsSent: 0, reportFailures: 0 };

  constructor(options: RouterOptions) {
    this.opts = {
      clusterId: 'default',
      name: `router-${Math.random().toString(36).slice(2, 8)}`,
      reportIntervalMs: 1_000,
      longPollMs: 30_000,
      acceptMs: 1_000,
      pollMs: 500,
      backoffMs: { initial: 200, max: 10_000 },
      inFlightRefreshMs: 5_000,
      ...options,
    };
    this.name = this.opts.name;
  }

  private get handle() {
    return this.opts.client.workflow.getHandle(agentWorkflowId(this.opts.clusterId, 'load-balancer'));
  }

  /** Fetches the first table (throws when the agent cannot be reached), then keeps it fresh. */
  async start(): Promise<this> {
    this.install(
      await this.opts.client.connection.withDeadline(Date.now() + 5_000, () =>
        this.handle.query<RoutingTable>('routingTable'),
      ),
    );
    this.loop = this.refreshLoop();
    this.reportTimer = setInterval(() => void this.flush(), this.opts.reportIntervalMs);
    this.reportTimer.unref();
    return this;
  }

  get table(): RoutingTable | undefined {
    return this.picker?.table;
  }

  get version(): number {
    return this.picker?.table.version ?? 0;
  }

  /** The chosen target, or undefined when the table has none for the request. */
  pick(req?: PickRequest): RouteTarget | undefined {
    const f = this.opts.fence?.();
    if (f) throw new FencedError(f.generation, f.reason);
    const p = this.picker;
    if (!p) return undefined;
    const r =
      this.opts.strategy !== undefined || this.opts.clientZone !== undefined
        ? { clientZone: this.opts.clientZone, strategy: this.opts.strategy, ...req }
        : req;
    return p.target(p.pick(r));
  }

  /** Marks a request in flight (least-connections counts it) until `end`. */
  begin(target: RouteTarget): void {
    this.flights.set(target.id, (this.flights.get(target.id) ?? 0) + 1);
    const p = this.picker;
    const i = p ? p.indexOf(target.id) : -1;
    if (p && i >= 0) p.begin(i);
  }

  end(target: RouteTarget, ok: boolean, latencyMs: number): void {
    const n = (this.flights.get(target.id) ?? 0) - 1;
    if (n > 0) this.flights.set(target.id, n);
    else this.flights.delete(target.id);
    const p = this.picker;
    const i = p ? p.indexOf(target.id) : -1;
    if (p && i >= 0) p.end(i, latencyMs);
    this.report(target.id, ok, latencyMs);
  }

  /** Records an outcome for the next batch. */
  report(targetId: string, ok: boolean, latencyMs: number): void {
    let e = this.pending.get(targetId);
    if (!e) {
      if (this.pending.size >= MAX_PENDING_TARGETS) return;
      e = { count: 0, failures: 0, latencySum: 0 };
      this.pending.set(targetId, e);
    }
    e.count += 1;
    if (!ok) e.failures += 1;
    e.latencySum += latencyMs;
  }

  /** Requests in flight per target now (targets with none left out). */
  private inFlightNow(): Map<string, number> {
    return new Map(this.flights);
  }

  /** Sends the aggregated outcomes and in-flight counts now (also runs every reportIntervalMs). */
  async flush(): Promise<void> {
    const now = Date.now();
    const inFlight = this.inFlightNow();
    const moved =
      inFlight.size !== this.reportedInFlight.size ||
      [...inFlight].some(([id, n]) => this.reportedInFlight.get(id) !== n) ||
      (inFlight.size > 0 && now - this.lastReportAt >= this.opts.inFlightRefreshMs);
    if (!this.pending.size && !moved) return;
    const batch = this.pending;
    this.pending = new Map();
    const outcomes: Outcome[] = [...batch].map(([targetId, e]) => ({
      targetId,
      ok: e.failures === 0,
      latencyMs: e.latencySum / e.count,
      count: e.count,
      failures: e.failures,
    }));
    // Targets that drained since the last report are sent as 0, so the agent forgets them.
    const counts: Record<string, number> = {};
    for (const id of this.reportedInFlight.keys()) counts[id] = 0;
    for (const [id, n] of inFlight) counts[id] = n;
    try {
      await this.opts.client.connection.withDeadline(Date.now() + 5_000, () =>
        this.handle.signal('reportOutcome', {
          router: this.name,
          outcomes,
          inFlight: counts,
          intervalMs: Math.max(1, now - this.lastReportAt),
        }),
      );
      this.stats.reportsSent += 1;
      this.reportedInFlight = inFlight;
      this.lastReportAt = now;
    } catch {
      this.stats.reportFailures += 1;
      for (const [id, e] of batch) {
        const now = this.pending.get(id);
        if (now) {
          now.count += e.count;
          now.failures += e.failures;
          now.latencySum += e.latencySum;
        } else if (this.pending.size < MAX_PENDING_TARGETS) this.pending.set(id, e);
      }
    }
  }

  /** Stops refreshing (the long-poll in flight is cancelled) and sends the outcomes still pending. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.reportTimer) clearInterval(this.reportTimer);
    this.stopping.abort();
    this.callInFlight?.abort();
    await this.loop?.catch(() => undefined);
    await this.flush();
  }

  /** A call of the refresh loop: bounded by `ms`, cancelled by close (no call outlives the router). */
  private async call<T>(ms: number, fn: () => Promise<T>): Promise<T> {
    const connection = this.opts.client.connection;
    const ctrl = new AbortController();
    this.callInFlight = ctrl;
    try {
      return await connection.withAbortSignal(ctrl.signal, () => connection.withDeadline(Date.now() + ms, fn));
    } finally {
      if (this.callInFlight === ctrl) this.callInFlight = undefined;
    }
  }

  private install(t: RoutingTable): boolean {
    if (this.picker && t.version <= this.picker.table.version) return false; // invariant 2
    // Invariant 4: the table counts what this router reported; the picker adds its live counts.
    const own = this.reportedInFlight;
    const mine = own.size
      ? {
          ...t,
          targets: t.targets.map((x) =>
            own.has(x.id) ? { ...x, connections: Math.max(0, x.connections - (own.get(x.id) as number)) } : x,
          ),
        }
      : t;
    const next = new Picker(mine, { random: this.opts.random });
    const prev = this.picker;
    if (prev) {
      // Carry in-flight counts and this router's own EWMA over to the new table.
      prev.table.targets.forEach((target, i) => {
        const j = next.indexOf(target.id);
        if (j < 0) return;
        next.localEwma[j] = prev.localEwma[i] as number;
      });
    }
    // In flight as this router counts them (a target back in the table finds its requests again).
    next.table.targets.forEach((target, j) => (next.inFlight[j] = this.flights.get(target.id) ?? 0));
    this.picker = next;
    this.stats.tables += 1;
    // Requests in flight on a target this table dropped (a cordon): the agent hears of them now, so
    // a drain waits for them.
    if ([...this.flights.keys()].some((id) => next.indexOf(id) < 0)) void this.flush();
    this.opts.onTable?.(t);
    return true;
  }

  private async refreshLoop(): Promise<void> {
    let delay = this.opts.backoffMs.initial;
    while (!this.closed) {
      try {
        const poll = await this.call(this.opts.acceptMs, () =>
          this.handle.startUpdate<RoutingTable, [{ knownVersion: number; waitMs: number }]>('awaitRoutingTable', {
            args: [{ knownVersion: this.version, waitMs: this.opts.longPollMs }],
            waitForStage: 'ACCEPTED',
          }),
        );
        const t = await this.call(this.opts.longPollMs + Math.min(10_000, Math.max(1_000, this.opts.longPollMs)), () =>
          poll.result(),
        );
        this.install(t);
        delay = this.opts.backoffMs.initial;
        continue;
      } catch (err) {
        if (this.closed) return;
        if (refusedAsBusy(err)) this.stats.longPollsRefused += 1;
        else this.stats.refreshFailures += 1;
      }
      let answered = false;
      try {
        this.install(await this.call(5_000, () => this.handle.query<RoutingTable>('routingTable')));
        answered = true;
      } catch {
        // keep routing on the table we have (invariant 1)
      }
      if (answered) {
        delay = this.opts.backoffMs.initial;
        await this.sleep(this.opts.pollMs);
      } else {
        await this.sleep(delay);
        delay = Math.min(delay * 2, this.opts.backoffMs.max);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    const signal = this.stopping.signal;
    return new Promise((ok) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        ok();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
    });
  }
}

/** The agent refused the long-poll because `maxLongPolls` already wait (its validator says "busy"). */
function refusedAsBusy(err: unknown): boolean {
  return err instanceof WorkflowUpdateFailedError && /^busy:/.test(err.cause?.message ?? '');
}
