/**
 * Network partitions, the pure part: from what each host reaches (its peers' health endpoints) to
 * the sides of a partition, the hosts that are only indirectly connected, and which side keeps
 * serving. No I/O, no Temporal: table-tested (test/core/partition).
 *
 * - Two hosts are connected when each reaches the other, or when the newer of their two
 *   observations of each other says so: a check is a TCP exchange, so one that passes shows packets
 *   flow both ways, and one that fails shows a cut (a one-way drop fails it from either end). An
 *   older observation is overtaken by a newer one from the other end, whichever way it goes: a heal
 *   is whole once every cut pair was seen through from one end, not when the slowest host reports
 *   (nemesis run R: one host's report 1.6 s after the others held a heal 9.0 s), and a cut still
 *   cuts at the first report of it. Observations are compared by the time each round began (`at`,
 *   the hosts' clocks): equal times, or a view that says nothing newer, keep the mutual rule.
 * - Indirectly connected hosts are set aside one at a time until every group that remains is fully
 *   connected: the host missing the most links in its group (reached through others only), ties
 *   to the one that bridges more pairs that cannot reach each other, then the highest id. What
 *   remains are the sides: groups in which every host reaches every other. (A bridge between two
 *   halves thus serves with one of them; the other half is named indirectly connected.)
 * - A side is chosen by the strategy; every host not on it (other sides, indirectly connected
 *   hosts) is fenced. At most one side is ever kept.
 */

export interface HostView {
  /** Peers this host reached at its last check. */
  reachable: string[];
  /** Round-trip times it measured to them (ms). */
  rttMs?: Record<string, number>;
  /** When it reported (epoch ms). */
  at: number;
}

export type Strategy = 'keep-majority' | `static-quorum:${number}` | 'keep-oldest' | `keep-referee:${string}`;

export interface Partition {
  /** Fully connected groups, largest first (ties: the one with the lowest id first); ids sorted. */
  sides: string[][];
  /** Hosts connected to some hosts of their group and not to others (bridges, one-way links). */
  indirect: string[];
  /** True when there is one side holding every host and nobody is indirectly connected. */
  whole: boolean;
}

const key = (a: string, b: string) => (a < b ? `${a}|${b}` : `${b}|${a}`);

/**
 * Links between hosts: both reach each other, or the newer of the two observations (by `at`) says
 * the one that made it reached the other. A host that did not report reaches nobody.
 */
export function links(hosts: readonly string[], views: Record<string, HostView>): Set<string> {
  const out = new Set<string>();
  const reach = new Map(hosts.map((h) => [h, new Set(views[h]?.reachable ?? [])]));
  for (let i = 0; i < hosts.length; i++)
    for (let j = i + 1; j < hosts.length; j++) {
      const a = hosts[i]!;
      const b = hosts[j]!;
      const ab = !!reach.get(a)?.has(b);
      const ba = !!reach.get(b)?.has(a);
      const atA = views[a]?.at;
      const atB = views[b]?.at;
      const newer = atA === undefined || atB === undefined || atA === atB ? undefined : atA > atB ? ab : ba;
      if ((ab && ba) || newer === true) out.add(key(a, b));
    }
  return out;
}

function groups(hosts: readonly string[], linked: (a: string, b: string) => boolean): string[][] {
  const seen = new Set<string>();
  const out: string[][] = [];
  for (const h of [...hosts].sort()) {
    if (seen.has(h)) continue;
    const group: string[] = [];
    const stack = [h];
    seen.add(h);
    while (stack.length) {
      const x = stack.pop()!;
      group.push(x);
      for (const y of hosts)
        if (!seen.has(y) && linked(x, y)) {
          seen.add(y);
          stack.push(y);
        }
    }
    out.push(group.sort());
  }
  return out;
}

/** Sides in a partition's order: largest first, ties by the lowest id (sorts `sides` in place). */
export function orderSides(sides: string[][]): string[][] {
  return sides.sort((a, b) => b.length - a.length || (a[0]! < b[0]! ? -1 : 1));
}

/** The sides and the indirectly connected hosts of `hosts` (the members that hold the server). */
export function partitionOf(hosts: readonly string[], views: Record<string, HostView>): Partition {
  const linkSet = links(hosts, views);
  const linked = (a: string, b: string) => linkSet.has(key(a, b));
  let remaining = [...hosts].sort();
  const indirect: string[] = [];
  for (let guard = 0; guard <= hosts.length; guard++) {
    const gs = groups(remaining, linked);
    let worst: { host: string; bridge: number; missing: number } | undefined;
    for (const g of gs) {
      if (g.length < 3 && g.every((a) => g.every((b) => a === b || linked(a, b)))) continue;
      for (const h of g) {
        const nbrs = g.filter((x) => x !== h && linked(h, x));
        const missing = g.length - 1 - nbrs.length;
        let bridge = 0;
        for (let i = 0; i < nbrs.length; i++)
          for (let j = i + 1; j < nbrs.length; j++) if (!linked(nbrs[i]!, nbrs[j]!)) bridge += 1;
        if (missing === 0) continue;
        const c = { host: h, bridge, missing };
        if (
          !worst ||
          c.missing > worst.missing ||
          (c.missing === worst.missing && c.bridge > worst.bridge) ||
          (c.missing === worst.missing && c.bridge === worst.bridge && c.host > worst.host)
        )
          worst = c;
      }
    }
    if (!worst) {
      const sides = orderSides(gs);
      return { sides, indirect: indirect.sort(), whole: sides.length === 1 && indirect.length === 0 };
    }
    indirect.push(worst.host);
    remaining = remaining.filter((h) => h !== worst!.host);
  }
  throw new Error('partitionOf: did not converge'); // every round removes a host: unreachable
}

const STRATEGY = /^(keep-majority|keep-oldest|static-quorum:([1-9][0-9]{0,3})|keep-referee:([A-Za-z0-9][A-Za-z0-9_.-]{0,62}))$/;

/** Parses a strategy; the error names what was expected. */
export function parseStrategy(raw: string): { strategy: Strategy } | { error: string } {
  if (!STRATEGY.test(raw))
    return {
      error: `expected keep-majority, static-quorum:N, keep-oldest or keep-referee:NODE, got ${JSON.stringify(raw)}`,
    };
  return { strategy: raw as Strategy };
}

export interface Decision {
  /** The side that keeps serving (absent: none does; every host is fenced). */
  keep?: string[];
  /** Every host not on the kept side. */
  fence: string[];
  reason: string;
}

/**
 * Which side keeps serving under `strategy`, or undefined when the strategy cannot choose (no side
 * holds the static quorum, the referee is on no side). `joinedAt`: when each host joined (for
 * keep-oldest). `total`: the hosts that hold the server (sides and indirectly connected).
 */
export function chooseSide(
  p: Partition,
  strategy: Strategy,
  joinedAt: Record<string, number> = {},
): Decision | undefined {
  const all = [...p.sides.flat(), ...p.indirect].sort();
  const fenceBut = (keep: string[], reason: string): Decision => ({
    keep,
    fence: all.filter((h) => !keep.includes(h)),
    reason,
  });
  if (strategy === 'keep-majority') return majority(p, all);
  if (strategy === 'keep-oldest') {
    const oldest = [...all].sort((a, b) => (joinedAt[a] ?? Infinity) - (joinedAt[b] ?? Infinity) || (a < b ? -1 : 1))[0];
    const side = p.sides.find((s) => oldest !== undefined && s.includes(oldest));
    return side ? fenceBut(side, `keep-oldest: the side of ${oldest}, the oldest host`) : undefined;
  }
  if (strategy.startsWith('static-quorum:')) {
    const n = Number(strategy.slice('static-quorum:'.length));
    const ok = p.sides.filter((s) => s.length >= n);
    return ok.length === 1
      ? fenceBut(ok[0]!, `static-quorum:${n}: the only side with at least ${n} hosts (${ok[0]!.length})`)
      : undefined;
  }
  const referee = strategy.slice('keep-referee:'.length);
  const side = p.sides.find((s) => s.includes(referee));
  return side ? fenceBut(side, `keep-referee: the side of ${referee}`) : undefined;
}

/** More than half of the hosts; a side of exactly half keeps when it holds the lowest id. */
function majority(p: Partition, all: string[]): Decision | undefined {
  const lowest = all[0];
  for (const s of p.sides) {
    if (2 * s.length > all.length)
      return { keep: s, fence: all.filter((h) => !s.includes(h)), reason: `keep-majority: ${s.length} of ${all.length} hosts` };
    if (2 * s.length === all.length && lowest !== undefined && s.includes(lowest))
      return {
        keep: s,
        fence: all.filter((h) => !s.includes(h)),
        reason: `keep-majority: a tie (${s.length} of ${all.length}) goes to the side of the lowest id, ${lowest}`,
      };
  }
  return undefined;
}

/** The stable window for a cluster of `hosts` (Akka's stable-after grows with the cluster). */
export function stableWindowMs(hosts: number, baseMs: number, perHostMs: number): number {
  return baseMs + perHostMs * hosts;
}

/** A partition as one comparable string (its sides and indirectly connected hosts). */
export function signatureOf(p: Partition): string {
  return JSON.stringify([p.sides, p.indirect]);
}
