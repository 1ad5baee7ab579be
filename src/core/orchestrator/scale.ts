/** scale_cluster's pure part: which hosts a scale-down stops. */
import type { MemberSummary } from '../../contracts/common';

/**
 * The alive hosts to stop to leave `target` alive: the newest node ids first (numbers inside ids
 * compared as numbers, so node-10 is newer than node-9). Hosts that are not alive are not counted.
 */
export function hostsToStop(members: readonly MemberSummary[], target: number): string[] {
  const ids = members.filter((m) => m.status === 'alive').map((m) => m.nodeId);
  ids.sort((a, b) => b.localeCompare(a, 'en', { numeric: true }));
  return ids.slice(0, Math.max(0, ids.length - target));
}
