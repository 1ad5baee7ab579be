/**
 * Picks a target from a routing table, the same code in the agent (distributeLoad) and in every
 * router. A pick allocates nothing: per-view state lives in typed arrays built once per table.
 *
 * Strategies:
 * - round_robin: a cursor.
 * - weighted_round_robin: earliest deadline first (as Envoy's EDF scheduler) over cycles of
 *   W = Σ weights picks, in which each target gets exactly its weight, interleaved. A binary heap
 *   makes a pick O(log n); nginx's smooth WRR, used before, scans every target (O(n)). See EdfSchedule.
 * - least_connections: power of two choices (Mitzenmacher): two random targets, the one with fewer
 *   connections (reported + in flight from this router) relative to its maximum. O(1), and unlike
 *   "least of all" it does not send a herd to the one target that just reported low.
 * - latency_aware: P2C on (EWMA response time + zone penalty when the client's zone differs) ×
 *   (1 + in flight).
 * - capacity_aware: P2C on headroom (cpu 0.4, memory 0.3, network 0.3) minus in-flight share.
 * - geographic: round robin within the client's zone while at least `spilloverThreshold` of its
 *   live targets are routable, otherwise across all zones.
 * - consistent_hash: Maglev lookup of the key (P2C least connections without a key).
 *   A request with a key is sticky under every strategy: it always goes through the Maglev table.
 * - adaptive: P2C on a predicted response time: EWMA × (1 + connection share) × (1 + rising cpu
 *   trend over the next 10 s) + zone penalty.
 */
import type { LbStrategy, RouteTarget, RoutingTable } from '../../contracts/load-balancer';
import { buildMaglev, maglevLookup, type MaglevTable } from './maglev';

export interface PickRequest {
  key?: string;
  clientZone?: string;
  service?: string;
  strategy?: LbStrategy;
}

const ADAPTIVE_HORIZON_S = 10;

interface View {
  idx: Int32Array;
  rr: number;
  wrr?: EdfSchedule;
  maglev?: MaglevTable;
  zones: Map<string, View>;
}

export class Picker {
  readonly table: RoutingTable;
  /** Requests this process has in flight per target (index into table.targets). */
  readonly inFlight: Int32Array;
  /** This process's own EWMA of response times per target (0 = none yet). */
  readonly localEwma: Float64Array;
  private readonly all: View;
  private readonly services = new Map<string, View>();
  private readonly random: () => number;
  private readonly alpha: number;
  private readonly byId = new Map<string, number>();

  constructor(table: RoutingTable, opts: { random?: () => number; ewmaAlpha?: number } = {}) {
    this.table = table;
    this.random = opts.random ?? Math.random;
    this.alpha = opts.ewmaAlpha ?? 0.3;
    const n = table.targets.length;
    this.inFlight = new Int32Array(n);
    this.localEwma = new Float64Array(n);
    table.targets.forEach((t, i) => this.byId.set(t.id, i));
    this.all = this.view(Int32Array.from({ length: n }, (_, i) => i));
  }

  get size(): number {
    return this.table.targets.length;
  }

  indexOf(targetId: string): number {
    return this.byId.get(targetId) ?? -1;
  }

  /** The chosen target's index in `table.targets`, or -1 when none is routable. */
  pick(req?: PickRequest): number {
    const v = req?.service !== undefined ? this.serviceView(req.service) : this.all;
    const n = v.idx.length;
    if (n === 0) return -1;
    if (n === 1) return v.idx[0] as number;
    if (req?.key !== undefined) return this.consistent(v, req.key);
    switch (req?.strategy ?? this.table.strategy) {
      case 'round_robin':
        return this.roundRobin(v);
      case 'weighted_round_robin':
        return this.weighted(v);
      case 'least_connections':
        return this.p2c(v, this.connectionCost);
      case 'latency_aware':
        return this.p2c(v, this.latencyCost, req?.clientZone);
      case 'capacity_aware':
        return this.p2c(v, this.capacityCost);
      case 'geographic':
        return this.geographic(v, req?.clientZone);
      case 'consistent_hash':
        return this.p2c(v, this.connectionCost);
      case 'adaptive':
        return this.p2c(v, this.adaptiveCost, req?.clientZone);
    }
  }

  target(i: number): RouteTarget | undefined {
    return this.table.targets[i];
  }

  begin(i: number): void {
    if (i >= 0) this.inFlight[i] = (this.inFlight[i] as number) + 1;
  }

  end(i: number, latencyMs: number): void {
    if (i < 0) return;
    if ((this.inFlight[i] as number) > 0) this.inFlight[i] = (this.inFlight[i] as number) - 1;
    const prev = this.localEwma[i] as number;
    this.localEwma[i] = prev === 0 ? latencyMs : prev + this.alpha * (latencyMs - prev);
  }

  private view(idx: Int32Array): View {
    return { idx, rr: -1, zones: new Map() };
  }

  private serviceView(service: string): View {
    let v = this.services.get(service);
    if (!v) {
      const idx: number[] = [];
      this.table.targets.forEach((t, i) => t.service === service && idx.push(i));
      v = this.view(Int32Array.from(idx));
      this.services.set(service, v);
    }
    return v;
  }

  private roundRobin(v: View): number {
    v.rr = v.rr + 1 >= v.idx.length ? 0 : v.rr + 1;
    return v.idx[v.rr] as number;
  }

  private weighted(v: View): number {
    v.wrr ??= new EdfSchedule(Array.from(v.idx, (i) => (this.table.targets[i] as RouteTarget).weight));
    return v.idx[v.wrr.next()] as number;
  }

  private p2c(v: View, cost: (i: number, zone?: string) => number, zone?: string): number {
    const n = v.idx.length;
    const a = Math.floor(this.random() * n);
    let b = Math.floor(this.random() * (n - 1));
    if (b >= a) b += 1;
    const ia = v.idx[a] as number;
    const ib = v.idx[b] as number;
    return cost.call(this, ib, zone) < cost.call(this, ia, zone) ? ib : ia;
  }

  private connectionCost(i: number): number {
    const t = this.table.targets[i] as RouteTarget;
    return (t.connections + (this.inFlight[i] as number)) / t.maxConnections;
  }

  private ewma(i: number): number {
    const local = this.localEwma[i] as number;
    return local > 0 ? local : (this.table.targets[i] as RouteTarget).ewmaMs;
  }

  private penalty(i: number, zone?: string): number {
    return zone !== undefined && (this.table.targets[i] as RouteTarget).zone !== zone ? this.table.zonePenaltyMs : 0;
  }

  private latencyCost(i: number, zone?: string): number {
    return (this.ewma(i) + this.penalty(i, zone)) * (1 + (this.inFlight[i] as number));
  }

  private capacityCost(i: number): number {
    const t = this.table.targets[i] as RouteTarget;
    return -(t.headroom - (this.inFlight[i] as number) / t.maxConnections);
  }

  private adaptiveCost(i: number, zone?: string): number {
    const t = this.table.targets[i] as RouteTarget;
    const share = (t.connections + (this.inFlight[i] as number)) / t.maxConnections;
    const rising = Math.max(0, t.trend * ADAPTIVE_HORIZON_S);
    return Math.max(1, this.ewma(i)) * (1 + share) * (1 + rising) + this.penalty(i, zone);
  }

  private geographic(v: View, zone?: string): number {
    if (zone !== undefined) {
      let local = v.zones.get(zone);
      if (!local) {
        local = this.view(v.idx.filter((i) => (this.table.targets[i] as RouteTarget).zone === zone));
        v.zones.set(zone, local);
      }
      const counts = this.table.zones[zone];
      const share = counts && counts.live > 0 ? local.idx.length / counts.live : 0;
      if (local.idx.length > 0 && share >= this.table.spilloverThreshold) return this.roundRobin(local);
    }
    return this.roundRobin(v);
  }

  private consistent(v: View, key: string): number {
    if (!v.maglev) {
      const names = Array.from(v.idx, (i) => (this.table.targets[i] as RouteTarget).id);
      v.maglev = buildMaglev(names, this.table.maglevTableSize);
    }
    return v.idx[maglevLookup(v.maglev, key)] as number;
  }
}

/**
 * Weighted round robin by earliest deadline first, in cycles of W = Σ weights picks. Entry j of n,
 * weight w_j, after k_j picks this cycle, is next due at (k_j + φ_j) / w_j with the phase
 * φ_j = (2j + 1) / 2n: all phases lie in (0, 1), so exactly w_j of j's deadlines fall in the cycle
 * [0, 1) and when it ends every k_j = w_j and the next cycle starts from zero. Distinct phases keep
 * entries of equal weight apart (with one phase, nine targets of weight 1 next to one of 100 came as
 * a burst of nine). Measured over 200 random weight sets, every prefix of a cycle stays within 1.7
 * picks of each entry's exact share (nginx's smooth WRR: 1.6).
 * Invariants:
 * 1. `heap` is a binary min-heap of entries by (deadline, entry index) — a total order, so the
 *    sequence is the same in the agent and every router.
 * 2. Deadlines are compared as integer cross products, never as floats: no drift over cycles.
 * 3. 0 ≤ picks < W between calls.
 */
export class EdfSchedule {
  private readonly w: Int32Array;
  private readonly k: Int32Array;
  private readonly heap: Int32Array;
  private readonly total: number;
  private picks = 0;

  /** Weights are rounded to integers ≥ 1 (the table builder's are already). */
  constructor(weights: readonly number[]) {
    const n = weights.length;
    this.w = Int32Array.from(weights, (x) => Math.max(1, Math.round(x)));
    this.k = new Int32Array(n);
    this.heap = Int32Array.from({ length: n }, (_, j) => j);
    this.total = this.w.reduce((a, b) => a + b, 0);
    this.heapify();
  }

  /** The entry (index into the weights) whose turn it is. */
  next(): number {
    const heap = this.heap;
    const j = heap[0] as number;
    this.k[j] = (this.k[j] as number) + 1;
    if (++this.picks === this.total) {
      this.picks = 0;
      this.k.fill(0);
      this.heapify();
    } else this.siftDown(0);
    return j;
  }

  /** Entry a is due before entry b. */
  private before(a: number, b: number): boolean {
    const n2 = 2 * this.w.length;
    const da = (n2 * (this.k[a] as number) + 2 * a + 1) * (this.w[b] as number);
    const db = (n2 * (this.k[b] as number) + 2 * b + 1) * (this.w[a] as number);
    return da < db || (da === db && a < b);
  }

  private heapify(): void {
    this.heap.forEach((_, j) => (this.heap[j] = j));
    for (let p = (this.heap.length >> 1) - 1; p >= 0; p--) this.siftDown(p);
  }

  private siftDown(p: number): void {
    const heap = this.heap;
    const n = heap.length;
    const x = heap[p] as number;
    for (;;) {
      let c = 2 * p + 1;
      if (c >= n) break;
      if (c + 1 < n && this.before(heap[c + 1] as number, heap[c] as number)) c += 1;
      if (!this.before(heap[c] as number, x)) break;
      heap[p] = heap[c] as number;
      p = c;
    }
    heap[p] = x;
  }
}
