/**
 * How each agent votes in a consensus round: a pure function of its own view, with a reason. The
 * default is to accept unless the agent's own view contradicts the proposal.
 *
 * Topics with a meaning here:
 * - `node-gone` (value `{ nodeId }`): the node is gone and a procedure may act on it (isolate,
 *   replace). NodeDiscovery, the FailureDetector and the HealthMonitor each know something of it.
 * - `partition` (value `{ fence: [ids], keep: [ids] }`): fence these hosts, keep serving on those.
 * - `quarantine` (value `{ nodeId, reason }`): take the node out of routing (HealthMonitors, when
 *   more than one runs).
 * - `surge` (value `{ rate, baseline }`): move to the surge strategy (LoadBalancers, when more than
 *   one runs).
 * Any other topic: no agent has a view, so each accepts ("no objection").
 */
import type { VoteValue } from '../../contracts/consensus';

export interface VoteDecision {
  vote: VoteValue;
  reason: string;
}

/** The node id a `node-gone` proposal names, or an error in its words. */
export function nodeOf(value: unknown): string | undefined {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const n = (value as Record<string, unknown>).nodeId;
    if (typeof n === 'string' && n) return n;
  }
  return undefined;
}

const noView = (topic: string): VoteDecision => ({ vote: 'accept', reason: `no objection: no view on ${topic}` });
const malformed = (topic: string, expected: string): VoteDecision => ({
  vote: 'reject',
  reason: `malformed ${topic} proposal: value must be ${expected}`,
});

/** The FailureDetector: a node is gone when it declared it dead or suspects it now. */
export function failureDetectorVote(
  topic: string,
  value: unknown,
  view: {
    suspects: Record<string, { since: number; source?: string }>;
    dead: Record<string, { at: number; reason: string }>;
  },
): VoteDecision {
  if (topic !== 'node-gone') return noView(topic);
  const nodeId = nodeOf(value);
  if (!nodeId) return malformed(topic, '{ nodeId }');
  const dead = view.dead[nodeId];
  if (dead) return { vote: 'accept', reason: `declared dead: ${dead.reason}` };
  const s = view.suspects[nodeId];
  if (s) return { vote: 'accept', reason: `suspected (on ${s.source === 'watch' ? "a peer's watch" : 'the lease'})` };
  return { vote: 'reject', reason: `${nodeId} is neither suspected nor declared dead here` };
}

/** NodeDiscovery: a node is gone unless it is a member it sees alive. */
export function nodeDiscoveryVote(
  topic: string,
  value: unknown,
  members: Record<string, { status: string; lastSeen?: number }>,
  now: number,
): VoteDecision {
  if (topic === 'partition') return partitionMembersVote(value, members);
  if (topic !== 'node-gone') return noView(topic);
  const nodeId = nodeOf(value);
  if (!nodeId) return malformed(topic, '{ nodeId }');
  const m = members[nodeId];
  if (!m) return { vote: 'accept', reason: `${nodeId} is not a member` };
  if (m.status !== 'alive') return { vote: 'accept', reason: `${nodeId} is ${m.status}` };
  const seen = m.lastSeen !== undefined ? `, last seen ${Math.max(0, now - m.lastSeen)} ms ago` : '';
  return { vote: 'reject', reason: `${nodeId} is alive in the membership${seen}` };
}

/** A partition decision must not fence every member that is alive: someone has to keep serving. */
function partitionMembersVote(value: unknown, members: Record<string, { status: string }>): VoteDecision {
  const v = value as { fence?: unknown; keep?: unknown } | null;
  if (!v || typeof v !== 'object' || !Array.isArray(v.fence) || !Array.isArray(v.keep))
    return malformed('partition', '{ fence: [node ids], keep: [node ids] }');
  const keep = v.keep.filter((n): n is string => typeof n === 'string');
  const aliveKept = keep.filter((n) => members[n]?.status === 'alive');
  if (!aliveKept.length) return { vote: 'reject', reason: 'no host kept serving is alive in the membership' };
  return { vote: 'accept', reason: `${aliveKept.length} kept host(s) alive in the membership` };
}

/** How long an alert on a node counts for a quarantine vote (ms). */
export const QUARANTINE_ALERT_MS = 60_000;

/**
 * The HealthMonitor: a node is gone unless its checks passed recently (within `freshMs`). A
 * quarantine is agreed when this monitor raised an alert on the node within QUARANTINE_ALERT_MS,
 * or its own checks do not show it healthy; it is refused when its checks passed recently and it
 * saw nothing.
 */
export function healthMonitorVote(
  topic: string,
  value: unknown,
  nodes: Record<string, { health: string; lastCheckAt?: number }>,
  now: number,
  freshMs: number,
  alerts: readonly { nodeId: string; at: number; kind: string; severity: string }[] = [],
): VoteDecision {
  if (topic !== 'node-gone' && topic !== 'quarantine') return noView(topic);
  const nodeId = nodeOf(value);
  if (!nodeId) return malformed(topic, '{ nodeId }');
  if (topic === 'quarantine') {
    let seen: (typeof alerts)[number] | undefined;
    for (const a of alerts) if (a.nodeId === nodeId && now - a.at <= QUARANTINE_ALERT_MS && (!seen || a.at > seen.at)) seen = a;
    if (seen) return { vote: 'accept', reason: `${seen.severity} ${seen.kind} alert on ${nodeId} here ${Math.max(0, now - seen.at)} ms ago` };
  }
  const n = nodes[nodeId];
  if (!n || n.lastCheckAt === undefined) return { vote: 'accept', reason: `no check of ${nodeId} here` };
  const age = Math.max(0, now - n.lastCheckAt);
  // Degraded is no ground for a quarantine: the node answers and stays in rotation at a lower weight.
  const serves = n.health === 'healthy' || (topic === 'quarantine' && n.health === 'degraded');
  if (serves && age <= freshMs)
    return {
      vote: 'reject',
      reason: `${nodeId} passed its checks ${age} ms ago${topic === 'quarantine' ? ` (${n.health}) and raised no alert here` : ''}`,
    };
  return { vote: 'accept', reason: `${nodeId} is ${n.health}, last checked ${age} ms ago` };
}

/**
 * The LoadBalancer on a `surge`: agreed when the request rate reported to it is past its own surge
 * limit, or it has no baseline to judge by (no objection); refused when its last complete window
 * was within the limit.
 */
export function loadBalancerVote(
  topic: string,
  traffic: { rate?: number; baseline?: number; windows: number } | undefined,
  p: { factor: number; minRequestsPerSecond: number; baselineWindows: number },
): VoteDecision {
  if (topic !== 'surge') return noView(topic);
  if (!traffic || traffic.rate === undefined || traffic.baseline === undefined || traffic.windows < p.baselineWindows)
    return { vote: 'accept', reason: 'no objection: no traffic baseline here' };
  const limit = Math.max(p.factor * traffic.baseline, p.minRequestsPerSecond);
  if (traffic.rate > limit)
    return { vote: 'accept', reason: `rate here ${traffic.rate}/s past ${limit}/s (baseline ${traffic.baseline}/s)` };
  return { vote: 'reject', reason: `rate here ${traffic.rate}/s within ${limit}/s (baseline ${traffic.baseline}/s): no surge seen` };
}
