/**
 * Picks a target from a routing table, the same code in the agent (distributeLoad) and in every
 * router. A pick allocates nothing: per-view state lives in typed arrays built once per table.
 *
 * Strategies:
 * - round_robin: a cursor.
 * - weighted_round_robin: smooth WRR (nginx): each pick adds every weight to its counter and takes
 *   the largest, which then pays the total back; spreads a 5:1:1 ratio as a,a,b,a,c,a,a. O(n).
 * - least_connections: power of two choices (Mitzenmacher): two random targets, the one with fewer
 *   connections (reported + in flight from this router) relative to its maximum. O(1), and unlike
 *   "least of all" it does not send a herd to the one target that just reported low.
 * - latency_aware: P2C on (EWMA response time + zone penalty when the client's zone differs) ×
 *   (1 + in flight).
 * - capacity_aware: P2C on headroom (cpu 0.4, memory 0.3, network 0.3) minus in-flight share.
 * - geographic: round robin within the client's zone while at least `spilloverThreshold` of its
 *   live targets are routable, otherwise across all zones.
 * - consistent_hash: Maglev lookup of the key (P2C least connections without a key).
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
  wrrCurrent: Float64Array;
  wrrTotal: number;
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
        return req?.key !== undefined ? this.consistent(v, req.key) : this.p2c(v, this.connectionCost);
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
    let total = 0;
    for (const i of idx) total += (this.table.targets[i] as RouteTarget).weight;
    return { idx, rr: -1, wrrCurrent: new Float64Array(idx.length), wrrTotal: total, zones: new Map() };
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
    let best = 0;
    let bestValue = -Infinity;
    const cur = v.wrrCurrent;
    for (let j = 0; j < v.idx.length; j++) {
      const c = (cur[j] as number) + (this.table.targets[v.idx[j] as number] as RouteTarget).weight;
      cur[j] = c;
      if (c > bestValue) {
        bestValue = c;
        best = j;
      }
    }
    cur[best] = (cur[best] as number) - v.wrrTotal;
    return v.idx[best] as number;
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
