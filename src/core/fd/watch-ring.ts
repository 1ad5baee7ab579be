/**
 * Who watches whom: every host keeps a long-lived connection to the health endpoint of the next k
 * hosts after it in a ring over the membership (sorted by node id), so that every host is watched
 * by k others when there are more than k. A crashed process's sockets are closed by its kernel at
 * once: its watchers learn of it in about a millisecond, with no timer (src/workers/peer-watch.ts).
 *
 * Pure: the host worker calls it with the members NodeDiscovery publishes.
 *
 * Invariants:
 * 1. A host never watches itself, nor a host that is dead or left (there is nothing to watch).
 * 2. Suspect hosts stay in the ring: a suspicion is what a broken watch may confirm.
 * 3. The choice depends only on the set of node ids, not on the order they come in; a host that is
 *    not (yet) a member watches the hosts that would follow it.
 */
import type { MemberSummary } from '../../contracts/common';

export type WatchCandidate = Pick<MemberSummary, 'nodeId' | 'status' | 'address' | 'healthPort'>;

/** Statuses a watch makes sense for (invariants 1 and 2). */
const WATCHED: ReadonlySet<string> = new Set(['alive', 'suspect']);

export function watchTargets<T extends WatchCandidate>(members: readonly T[], self: string, k: number): T[] {
  if (k <= 0) return [];
  const ring = members
    .filter((m) => m.nodeId !== self && WATCHED.has(m.status))
    .sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  if (ring.length <= k) return ring;
  // The first host after `self` in node-id order, wrapping around (invariant 3).
  let start = ring.findIndex((m) => m.nodeId > self);
  if (start < 0) start = 0;
  return Array.from({ length: k }, (_, i) => ring[(start + i) % ring.length] as T);
}

/** How many of `members` watch `nodeId` under the same rule: k when the ring is larger than k. */
export function watchersOf(members: readonly WatchCandidate[], nodeId: string, k: number): string[] {
  return members
    .filter((m) => m.nodeId !== nodeId && WATCHED.has(m.status))
    .filter((m) => watchTargets(members, m.nodeId, k).some((t) => t.nodeId === nodeId))
    .map((m) => m.nodeId)
    .sort();
}
