/**
 * The partition decision machine, pure: the NetworkPartitionHandler feeds it reports, member reads
 * and the passing of time, and executes the actions it returns (fences to the LoadBalancer, the
 * record to NodeDiscovery, an incident to the orchestrator, words to the network_partition
 * procedure). No I/O, no Temporal: table-tested in test/core/partition.
 *
 * Invariants:
 * 1. Never two sides: a decision keeps at most one side serving and fences every member not on it,
 *    in the graph or not (a member out of the graph may be a killed process, which a fence costs
 *    nothing, or a host that still serves).
 * 2. A bounded time to decide: the window starts at the first report of a cut and restarts only
 *    when the sides change (a report that confirms the same cut changes nothing; NodeDiscovery's
 *    status of a host that shows it runs does not move it in or out of the graph; a host that
 *    leaves the graph, killed, rearranges none of the hosts that remain). Once the graph
 *    has moved for `window + decisionMarginMs` since it left its last whole or decided shape, the
 *    fallback decides: only a strict majority that is fully connected keeps serving.
 * 3. No needless flip: while a partition is open, a new decision keeps a side that holds a host
 *    that served under the decision before (the incumbent). A tie, or any strategy that could go
 *    either way, keeps the incumbent; a crash on the kept side never hands service to the side that
 *    was fenced. When the incumbent no longer holds (its quorum is gone), every host is fenced and
 *    the decision says an operator must choose (`escalate`).
 * 4. The fences are lifted only once the graph is whole and stable for the window: by the
 *    network_partition procedure (after a consensus round), or by the machine itself
 *    `healFallbackMs` later.
 */
import type { PartitionHandlerState, PartitionRecord, ReachabilityReport } from '../../contracts/partition-handler';
import { pushBounded } from '../bounded';
import { isLiveStatus } from '../membership';
import { chooseSide, orderSides, partitionOf, signatureOf, stableWindowMs, type Decision, type Partition, type Strategy } from './graph';

export interface MachineConfig {
  strategy: Strategy;
  stableAfterMs: number;
  stableAfterPerHostMs: number;
  decisionMarginMs: number;
  healFallbackMs: number;
  cutReportFreshMs: number;
  historySize: number;
}

/** What the handler must do, in this order, after an evaluation. */
export type PartitionAction =
  | { kind: 'fence'; generation: number; nodeIds: string[]; reason: string }
  | { kind: 'recordPartition'; components: string[][]; reason: string }
  | { kind: 'incident'; partitionId: string; detail: string }
  | { kind: 'decided'; partitionId: string; generation: number; keep: string[]; fenced: string[]; reason: string; escalate?: string }
  | { kind: 'healed'; partitionId: string; at: number };

export interface MachineDecision extends Decision {
  /** Set when no side keeps serving after a side did: an operator must choose. */
  escalate?: string;
}

/** Decisions kept per partition record. */
const DECISIONS_KEPT = 10;

export function emptyPartitionState(now: number): PartitionHandlerState {
  return {
    views: {},
    members: {},
    membersVersion: 0,
    current: { signature: '', since: now, whole: true, sides: [], indirect: [] },
    generation: 0,
    fenced: {},
    partitions: [],
    reports: 0,
  };
}

export function windowMs(c: MachineConfig, hosts: number): number {
  return stableWindowMs(hosts, c.stableAfterMs, c.stableAfterPerHostMs);
}

/** Records a host's report. A report sent again unchanged keeps what the first one said. */
export function applyReport(s: PartitionHandlerState, p: ReachabilityReport, now: number): void {
  const reachable = [...new Set(p.reachable.filter((n) => n !== p.nodeId))].sort();
  const before = s.views[p.nodeId];
  // Since when each peer has been missed: carried over while the reports keep missing it.
  const missingSince: Record<string, number> = {};
  const missed = new Set([...p.unreachable, ...(before?.reachable ?? []), ...Object.keys(before?.missingSince ?? {})]);
  for (const peer of missed)
    if (peer !== p.nodeId && !reachable.includes(peer)) missingSince[peer] = before?.missingSince?.[peer] ?? now;
  s.views[p.nodeId] = { reachable, rttMs: p.rttMs, at: p.at, receivedAt: now, missingSince };
  s.reports += 1;
}

/** Records NodeDiscovery's members (not `left`), when each status was first seen; forgets hosts that left. */
export function applyMembers(
  s: PartitionHandlerState,
  members: readonly { nodeId: string; status: string }[],
  version: number,
  now: number,
): boolean {
  if (version < s.membersVersion) return false;
  const next: PartitionHandlerState['members'] = {};
  for (const m of members) {
    if (m.status === 'left') continue;
    const before = s.members[m.nodeId];
    next[m.nodeId] = {
      joinedAt: before?.joinedAt ?? now,
      status: m.status,
      statusSince: before && before.status === m.status ? (before.statusSince ?? now) : now,
    };
  }
  for (const id of Object.keys(s.views)) if (!next[id]) delete s.views[id];
  s.members = next;
  s.membersVersion = version;
  return true;
}

/**
 * How long a host may claim to reach peers that have missed it since before it counts as gone (ms).
 * A live host that can reach the server reports such a change within one round (at most 1.6 s) and
 * a signal; one that cannot fences itself (lease timeout - heartbeat - 400 ms, 1.6 s by default).
 * So a host still contradicted after 3 s serves nobody: it was killed, or fenced itself.
 */
export const CONTRADICTED_AFTER_MS = 3_000;

/**
 * The hosts in the graph: members that reported and show that they run. A member NodeDiscovery
 * holds live (alive, suspect) is in. One it calls dead (its checks from one host could not reach
 * it, which a cut does on either side) stays in while its last report misses a member, or came
 * after NodeDiscovery's word, and is younger than `cutReportFreshMs`, or came within that long
 * before NodeDiscovery's word (a cut
 * host learns it is doubted and reports again every 2 s: NodeDiscovery's flip must not move it out
 * and in), or while a host in the graph reaches it. A killed host falls silent, nobody reaches it:
 * it leaves — and any host, whatever NodeDiscovery says, is gone once its last report claims peers
 * that have missed it for `CONTRADICTED_AFTER_MS` and nobody reaches it (a crash on either side of
 * a cut). Returns
 * also `staleAt`, when the graph must be looked at again for a dead member.
 */
export function graphHosts(
  s: PartitionHandlerState,
  freshMs: number,
  now: number,
  /** `staleAt` counts only points after this (default `now`; `nextDue` gives the last evaluation). */
  after = now,
): { hosts: string[]; offServer: string[]; staleAt?: number } {
  const inGraph = new Set<string>();
  const dead: string[] = [];
  const gone = new Set<string>();
  let staleAt: number | undefined;
  const dueAt = (at: number) => {
    if (at > after) staleAt = staleAt === undefined ? at : Math.min(staleAt, at);
  };
  const memberIds = Object.keys(s.members);
  for (const [id, m] of Object.entries(s.members)) {
    const view = s.views[id];
    if (!view) continue;
    // Whatever NodeDiscovery says (its verdict on a killed host reached the handler 4.5 s after
    // the kill in a nemesis run, which held a heal past the window + 2 s).
    const contradicted = contradictedSince(s, id);
    if (contradicted !== undefined) {
      dueAt(contradicted + CONTRADICTED_AFTER_MS);
      if (now - contradicted >= CONTRADICTED_AFTER_MS) {
        dead.push(id);
        gone.add(id);
        continue;
      }
    }
    if (isLiveStatus(m.status)) {
      inGraph.add(id);
      continue;
    }
    const misses = memberIds.some((other) => other !== id && !view.reachable.includes(other));
    // A report that came after NodeDiscovery's word shows the host runs: a killed host sends none.
    // The first report of an isolated host after the heal reaches everyone before anyone reaches
    // it; dropped from the graph for that, it left the rest whole and long stable, and the handler
    // told a heal at once (nemesis run P: 0.3 s after the heal, then split again by the next
    // reports, which voided the procedure's word).
    const reportedSince = view.receivedAt > (m.statusSince ?? 0);
    const until = misses || reportedSince ? Math.max(view.receivedAt, m.statusSince ?? 0) + freshMs : 0;
    if (misses || reportedSince) dueAt(until);
    if (until > now) inGraph.add(id);
    else dead.push(id);
  }
  for (let added = true; added; ) {
    added = false;
    for (const id of dead)
      if (!inGraph.has(id) && !gone.has(id) && [...inGraph].some((h) => s.views[h]?.reachable.includes(id))) {
        inGraph.add(id);
        added = true;
      }
  }
  return { hosts: [...inGraph].sort(), offServer: dead.filter((id) => !inGraph.has(id)).sort(), ...(staleAt ? { staleAt } : {}) };
}

/**
 * Since when the last report of `id` has been contradicted: it claims to reach peers that have
 * missed it since after that report, and nobody reports reaching it. Undefined when it is not.
 */
function contradictedSince(s: PartitionHandlerState, id: string): number | undefined {
  const view = s.views[id];
  if (!view) return undefined;
  let since: number | undefined;
  for (const [other, v] of Object.entries(s.views)) {
    if (other === id || !s.members[other]) continue;
    if (v.reachable.includes(id)) return undefined; // reached: it runs
    const missedAt = v.missingSince?.[id] ?? v.receivedAt;
    if (view.reachable.includes(other) && missedAt > view.receivedAt) since = since === undefined ? missedAt : Math.min(since, missedAt);
  }
  return since;
}

const intersects = (a: readonly string[], b: readonly string[]) => a.some((x) => b.includes(x));

/**
 * Whether a side that served keeps its right to serve under `strategy` (`total`: hosts in the graph
 * that show they run, see `silentHosts`).
 * - keep-majority: at least half (a tie keeps the side that serves: the other cannot know whether
 *   the hosts it lost crashed or were cut, and a flip takes traffic from hosts that did nothing).
 * - static-quorum:N: at least N hosts.
 * - keep-oldest: any host (the side the oldest chose stays; the fenced side cannot tell that the
 *   oldest crashed rather than was cut off).
 * - keep-referee:R: while it holds the referee (without it nobody may serve).
 */
export function incumbentHolds(side: readonly string[], strategy: Strategy, total: number): boolean {
  if (!side.length) return false;
  if (strategy === 'keep-majority') return 2 * side.length >= total;
  if (strategy === 'keep-oldest') return true;
  if (strategy.startsWith('static-quorum:')) return side.length >= Number(strategy.slice('static-quorum:'.length));
  return side.includes(strategy.slice('keep-referee:'.length));
}

function fenceBut(all: string[], keep: string[] | undefined, reason: string, escalate?: string): MachineDecision {
  return {
    ...(keep ? { keep } : {}),
    fence: all.filter((h) => !keep?.includes(h)),
    reason,
    ...(escalate ? { escalate } : {}),
  };
}

/**
 * The side that keeps serving for a stable graph: the strategy's, held to the incumbent (the hosts
 * that served under the decision in force in this partition; none before the first decision).
 * Undefined when neither the strategy nor the incumbent can choose (wait for the fallback).
 */
export function decideSide(
  p: Partition,
  strategy: Strategy,
  joinedAt: Record<string, number>,
  incumbent?: readonly string[],
  silent: readonly string[] = [],
): MachineDecision | undefined {
  const all = [...p.sides.flat(), ...p.indirect].sort();
  const counted = all.filter((h) => !silent.includes(h)).length;
  const chosen = chooseSide(p, strategy, joinedAt);
  if (!incumbent?.length) return chosen;
  if (chosen?.keep && intersects(chosen.keep, incumbent)) return chosen;
  const inc = incumbentSide(p, incumbent);
  if (inc && incumbentHolds(inc, strategy, counted))
    return fenceBut(
      all,
      inc,
      `${strategy}: the side that serves keeps serving (${inc.length} of ${counted} hosts that show they run; ${chosen?.keep ? `the strategy alone would pick ${chosen.keep.join(', ')}, which was fenced` : 'the strategy alone cannot choose'}: no flip while the cut lasts)`,
    );
  return fenceBut(
    all,
    undefined,
    `${strategy}: the side that served (${incumbent.join(', ')}) no longer holds ${inc ? `(${inc.length} of ${all.length} hosts left on it)` : '(none of it is in the graph)'}, and service never moves to the side that was fenced while the cut lasts: every host is fenced`,
    `no side of the partition keeps serving: the side that served lost its quorum (crashed or cut), an operator must choose`,
  );
}

/**
 * When the graph keeps moving past the window and its margin: the largest side keeps serving only if
 * it is a strict majority of the hosts in the graph and fully connected (a side is), and holds a
 * host that served (when one did); or the side that served keeps serving while it holds under the
 * strategy (a tie, say). Otherwise nobody does. Never two sides.
 */
export function fallbackSide(
  p: Partition,
  strategy: Strategy = 'keep-majority',
  incumbent?: readonly string[],
  silent: readonly string[] = [],
): MachineDecision {
  const all = [...p.sides.flat(), ...p.indirect].sort();
  const counted = all.filter((h) => !silent.includes(h)).length;
  const largest = p.sides[0];
  if (largest && 2 * largest.length > all.length && (!incumbent?.length || intersects(largest, incumbent)))
    return fenceBut(all, largest, `no stable graph within the window and its margin: the fully connected strict majority (${largest.length} of ${all.length}) keeps serving`);
  const inc = incumbent?.length ? incumbentSide(p, incumbent) : undefined;
  if (inc && incumbentHolds(inc, strategy, counted))
    return fenceBut(all, inc, `no stable graph within the window and its margin: the side that serves keeps serving (${inc.length} of ${counted} hosts that show they run, ${strategy})`);
  return fenceBut(
    all,
    undefined,
    `no stable graph within the window and its margin, and no fully connected strict majority${incumbent?.length ? ' holding a host that served' : ''}: every host is fenced`,
    incumbent?.length ? 'no side of the partition keeps serving after the graph kept moving: an operator must choose' : undefined,
  );
}

/** The side holding most of the hosts that served (ties: the order of the sides, largest first). */
function incumbentSide(p: Partition, incumbent: readonly string[]): string[] | undefined {
  const held = (side: string[]) => side.filter((x) => incumbent.includes(x)).length;
  return [...p.sides].filter((side) => held(side) > 0).sort((a, b) => held(b) - held(a))[0];
}

/**
 * Hosts of the graph that no other host of the graph reaches and that NodeDiscovery calls dead or
 * whose last report peers contradict (they missed it since): a killed host looks like this until
 * it leaves the graph, before NodeDiscovery's verdict reaches the handler too. Whether the side
 * that served still holds is counted without them (a crash on the kept side must not cost it its
 * tie); a live host cut off from everyone is on no side that serves either way.
 */
export function silentHosts(s: PartitionHandlerState, hosts: readonly string[]): string[] {
  return hosts.filter(
    (id) =>
      !hosts.some((h) => h !== id && s.views[h]?.reachable.includes(id)) &&
      (!isLiveStatus(s.members[id]?.status ?? 'dead') || contradictedSince(s, id) !== undefined),
  );
}

export function openRecord(s: PartitionHandlerState): PartitionRecord | undefined {
  return s.open ? s.partitions.find((p) => p.id === s.open) : undefined;
}

/** The hosts that serve under the open partition's decision in force (the last kept side). */
function incumbentOf(open: PartitionRecord | undefined): string[] | undefined {
  return open?.served;
}

/**
 * Looks at the graph now and decides what is due. Mutates `s`; returns what the handler must do.
 */
export function evaluate(s: PartitionHandlerState, c: MachineConfig, now: number): PartitionAction[] {
  const out: PartitionAction[] = [];
  s.current.checkedAt = now;
  const { hosts, offServer } = graphHosts(s, c.cutReportFreshMs, now);
  if (!hosts.length) return out;
  const p = partitionOf(hosts, s.views);
  const signature = signatureOf(p);
  const changed = signature !== s.current.signature;
  if (changed) {
    const unsettled = s.current.unsettledSince;
    // Only hosts left the graph (killed, or silent past the fresh period): the hosts that remain
    // are arranged as they were, so the window counts on from when they were last rearranged. A host
    // killed in a cut left the graph ~3 s after the heal and restarted the heal's window (a nemesis
    // run: the four live hosts served again 8.3 s after the heal).
    const since = onlyLeft(s.current, hosts, signature) ? s.current.since : now;
    s.current = { signature, since, whole: p.whole, sides: p.sides, indirect: p.indirect, checkedAt: now };
    // The deadline runs from when the graph left its last whole or decided shape.
    if (!p.whole) s.current.unsettledSince = unsettled ?? now;
  }
  const window = windowMs(c, hosts.length);
  const stableFor = now - s.current.since;
  let open = openRecord(s);

  if (!p.whole) {
    // Split again before the fences were lifted: the heal is off.
    if (open && open.healedAt !== undefined && open.unfencedAt === undefined) {
      delete open.healedAt;
      open.splitAfterHealAt = now;
    }
    if (!open) {
      open = { id: `p-${now}`, startedAt: now, sides: p.sides, indirect: p.indirect, offServer };
      pushBounded(s.partitions, open, c.historySize);
      s.open = open.id;
    }
    if (changed) {
      open.shapes ??= [];
      pushBounded(open.shapes, { at: now, sides: p.sides, indirect: p.indirect }, 20);
    }
    if (open.decidedAt === undefined) {
      // The record says the shape the partition had when it was first decided.
      open.sides = p.sides;
      open.indirect = p.indirect;
      open.offServer = offServer;
    }
    const decidedThisShape = s.current.unsettledSince === undefined;
    if (decidedThisShape) return out;
    const deadline = s.current.unsettledSince! + window + c.decisionMarginMs;
    const joined: Record<string, number> = {};
    for (const [id, m] of Object.entries(s.members)) joined[id] = m.joinedAt;
    const silent = silentHosts(s, hosts);
    let d: MachineDecision | undefined;
    if (stableFor >= window) d = decideSide(p, c.strategy, joined, incumbentOf(open), silent);
    if (!d && now >= deadline) d = fallbackSide(p, c.strategy, incumbentOf(open), silent);
    if (d) decide(s, open, withOutOfGraph(s, d), now, out);
    return out;
  }

  s.current.unsettledSince = undefined;
  if (stableFor < window || (!open && !Object.keys(s.fenced).length)) return out;
  if (!open || open.decidedAt === undefined) {
    heal(s, open, now, 'healed before any decision', out);
    return out;
  }
  // Whole and stable: the network_partition procedure lifts the fences once the agents agree;
  // past healFallbackMs, the machine does.
  if (open.healedAt === undefined) {
    open.healedAt = now;
    if (open.agreed) {
      heal(s, open, now, `${open.agreed.by} (agreed at ${new Date(open.agreed.at).toISOString().slice(11, 23)}, while the graph was split again; whole and stable since)`, out);
      return out;
    }
    out.push({ kind: 'healed', partitionId: open.id, at: now });
  }
  if (now - open.healedAt >= c.healFallbackMs)
    heal(s, open, now, `fallback: no network_partition procedure lifted the fences within ${c.healFallbackMs} ms`, out);
  return out;
}

/**
 * Whether the graph's new shape (`signature`, over `hosts`) is the previous one with hosts taken
 * out and nothing else: each remaining host on the same side, or indirectly connected, as before.
 */
export function onlyLeft(prev: Pick<PartitionHandlerState['current'], 'sides' | 'indirect'>, hosts: readonly string[], signature: string): boolean {
  const before = [...prev.sides.flat(), ...prev.indirect];
  if (hosts.length >= before.length || !hosts.every((h) => before.includes(h))) return false;
  const keep = (xs: readonly string[]) => xs.filter((h) => hosts.includes(h));
  const sides = orderSides(prev.sides.map(keep).filter((side) => side.length > 0));
  const indirect = keep(prev.indirect);
  return signatureOf({ sides, indirect, whole: sides.length === 1 && !indirect.length }) === signature;
}

/** Every member not kept is fenced, in the graph or not. */
function withOutOfGraph(s: PartitionHandlerState, d: MachineDecision): MachineDecision {
  const keep = d.keep ?? [];
  const extra = Object.keys(s.members)
    .filter((id) => !keep.includes(id) && !d.fence.includes(id))
    .sort();
  if (!extra.length) return d;
  return {
    ...d,
    fence: [...d.fence, ...extra].sort(),
    reason: `${d.reason}; also fenced, out of the graph (dead in NodeDiscovery with no fresh report, or never reported): ${extra.join(', ')}`,
  };
}

function decide(s: PartitionHandlerState, open: PartitionRecord, d: MachineDecision, now: number, out: PartitionAction[]): void {
  s.current.unsettledSince = undefined;
  const same =
    open.decidedAt !== undefined &&
    (open.keep ?? []).join() === (d.keep ?? []).join() &&
    Object.keys(s.fenced).sort().join() === d.fence.join();
  if (same) return; // the decision in force already says this: no new generation
  s.generation += 1;
  const g = s.generation;
  const fenced: PartitionHandlerState['fenced'] = {};
  for (const id of d.fence) fenced[id] = { generation: g, since: s.fenced[id]?.since ?? now, reason: d.reason };
  s.fenced = fenced;
  const first = open.decidedAt === undefined;
  Object.assign(open, { decidedAt: open.decidedAt ?? now, keep: d.keep, fenced: d.fence, reason: d.reason, generation: g });
  // The agents' word on an earlier heal is void: they agreed on another graph.
  delete open.agreed;
  delete open.splitAfterHealAt;
  if (d.keep?.length) open.served = d.keep;
  if (d.escalate) open.escalated = d.escalate;
  open.decisions ??= [];
  pushBounded(
    open.decisions,
    { at: now, generation: g, ...(d.keep ? { keep: d.keep } : {}), fenced: d.fence, reason: d.reason },
    DECISIONS_KEPT,
  );
  out.push({ kind: 'fence', generation: g, nodeIds: d.fence, reason: d.reason });
  if (first && open.sides.length)
    out.push({ kind: 'recordPartition', components: [...open.sides, ...open.indirect.map((x) => [x])], reason: d.reason });
  const detail = `${d.reason}; fenced: ${d.fence.join(', ') || 'none'}; sides ${JSON.stringify(s.current.sides)}${s.current.indirect.length ? `; indirectly connected: ${s.current.indirect.join(', ')}` : ''}`;
  if (first) out.push({ kind: 'incident', partitionId: open.id, detail });
  else
    out.push({
      kind: 'decided',
      partitionId: open.id,
      generation: g,
      keep: d.keep ?? [],
      fenced: d.fence,
      reason: d.reason,
      ...(d.escalate ? { escalate: d.escalate } : {}),
    });
}

function heal(s: PartitionHandlerState, open: PartitionRecord | undefined, now: number, by: string, out: PartitionAction[]): void {
  s.generation += 1;
  s.fenced = {};
  if (open) {
    open.healedAt ??= now;
    open.unfencedAt = now;
    open.unfencedBy = by.slice(0, 500);
  }
  s.open = undefined;
  out.push({ kind: 'fence', generation: s.generation, nodeIds: [], reason: 'healed' });
}

/**
 * The procedure's word: the agents agreed the partition is over. It lifts the fences while the
 * graph is whole again, and is ignored before any heal was told. One that comes while the graph is
 * split again after the heal was told is kept: it lifts them once the graph is whole and stable
 * again, unless the handler decides anew first.
 */
export function applyUnfence(s: PartitionHandlerState, partitionId: string, by: string, now: number): PartitionAction[] {
  const open = openRecord(s);
  if (!open || open.id !== partitionId) return [];
  if (open.healedAt === undefined) {
    // A word before any heal was told is stale; one for a heal the graph has since undone is kept.
    if (open.splitAfterHealAt !== undefined) open.agreed = { at: now, by: by.slice(0, 500) };
    return [];
  }
  const out: PartitionAction[] = [];
  heal(s, open, now, by, out);
  return out;
}

/**
 * When the machine must look again: the window's end for the current shape (until an evaluation has
 * seen it), the deadline of a graph still moving, the heal's fallback, a dead member's report going
 * stale. Undefined: nothing is due (a whole graph with nothing fenced).
 */
export function nextDue(s: PartitionHandlerState, c: MachineConfig, now: number): number | undefined {
  // A dead member's point is counted from the last evaluation, not from now: asked again when its
  // timer fired, "from now" no longer saw the point that had just passed, so nothing re-evaluated
  // and a host killed in a cut stayed in the graph until some report came (a heal 2 s late).
  const { hosts, staleAt } = graphHosts(s, c.cutReportFreshMs, now, s.current.checkedAt ?? now);
  const cur = s.current;
  const end = cur.since + windowMs(c, hosts.length);
  const open = openRecord(s);
  let due: number | undefined;
  if (!cur.whole) {
    if (cur.unsettledSince !== undefined) {
      const deadline = cur.unsettledSince + windowMs(c, hosts.length) + c.decisionMarginMs;
      due = (cur.checkedAt ?? 0) < end ? Math.min(end, deadline) : deadline;
    }
  } else if (open?.healedAt !== undefined) due = open.healedAt + c.healFallbackMs;
  else if (Object.keys(s.fenced).length || open) due = end;
  if (staleAt === undefined) return due;
  return due === undefined ? staleAt : Math.min(due, staleAt);
}
