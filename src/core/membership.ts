/**
 * Membership decisions of NodeDiscovery, as pure functions over plain JSON state.
 *
 * Invariants:
 * 1. A node is `alive` only after a connectivity check (TCP + GET /healthz) succeeded.
 * 2. A node that left stays `left` until a process with another boot id answers: a late check of
 *    the process that just left never revives it.
 * 3. Every change bumps the topology version by one and is recorded once in the history.
 */
import type { MemberSummary, NodeHealth, NodeStatus, TopologyChange, TopologyChangeKind } from '../contracts/common';
import type {
  Announcement,
  Candidate,
  ConnectivityResult,
  DiscoveryStrategy,
  LeavePayload,
  Member,
  NodeDiscoveryState,
  NodeHealthChangePayload,
  Topology,
} from '../contracts/node-discovery';
import { pushBounded } from './bounded';

export interface MembershipPolicy {
  clusterId: string;
  suspectAfterFailedChecks: number;
  deadAfterFailedChecks: number;
  historySize: number;
  /**
   * The observer whose health verdicts outrank this agent's own checks and other observers'
   * reports (the HealthMonitor's role). Absent in runs recorded before it existed: every health
   * report and check then sets the member's health, the last one winning.
   */
  healthAuthority?: string;
}

/** A member NodeDiscovery holds live: alive, or suspect (not yet dead or gone). */
export function isLiveStatus(status: string): boolean {
  return status === 'alive' || status === 'suspect';
}

export function emptyMembership(now: number): NodeDiscoveryState {
  return {
    members: {},
    registry: {},
    version: 0,
    updatedAt: now,
    history: [],
    connectivity: {},
    partitions: [],
    rounds: 0,
  };
}

export const endpointKey = (address: string, port: number): string => `${address}:${port}`;

/** Merges candidate lists from all strategies: one per endpoint, with the union of their sources. */
export function mergeCandidates(lists: Candidate[][]): Candidate[] {
  const byEndpoint: Record<string, Candidate> = {};
  for (const list of lists) {
    for (const c of list) {
      const key = endpointKey(c.address, c.healthPort);
      const seen = byEndpoint[key];
      if (!seen) {
        byEndpoint[key] = { ...c, sources: [...c.sources] };
        continue;
      }
      for (const s of c.sources) if (!seen.sources.includes(s)) seen.sources.push(s);
      seen.nodeId ??= c.nodeId;
    }
  }
  return Object.values(byEndpoint).sort((a, b) =>
    endpointKey(a.address, a.healthPort).localeCompare(endpointKey(b.address, b.healthPort)),
  );
}

/** Candidates the agent already knows: announced hosts (registry) and members that have not left. */
export function knownCandidates(state: NodeDiscoveryState): Candidate[] {
  const out: Candidate[] = Object.values(state.registry).map((a) => ({
    address: a.address,
    healthPort: a.healthPort,
    sources: ['registry'],
    nodeId: a.nodeId,
  }));
  for (const m of Object.values(state.members)) {
    if (m.status === 'left') continue;
    out.push({ address: m.address, healthPort: m.healthPort, sources: [], nodeId: m.nodeId });
  }
  return out;
}

function record(
  state: NodeDiscoveryState,
  policy: MembershipPolicy,
  now: number,
  change: Omit<TopologyChange, 'version' | 'at'>,
): TopologyChange {
  state.version += 1;
  state.updatedAt = now;
  const full: TopologyChange = { version: state.version, at: now, ...change };
  pushBounded(state.history, full, policy.historySize);
  return full;
}

function setStatus(
  state: NodeDiscoveryState,
  policy: MembershipPolicy,
  member: Member,
  status: NodeStatus,
  kind: TopologyChangeKind,
  now: number,
  extra: { source?: string; reason?: string } = {},
): TopologyChange {
  const from = member.status;
  member.status = status;
  member.statusChangedAt = now;
  if (extra.reason !== undefined) member.reason = extra.reason;
  return record(state, policy, now, { nodeId: member.nodeId, kind, from, to: status, ...extra });
}

function healthFromHttp(status: number | undefined): NodeHealth {
  if (status === undefined) return 'unknown';
  if (status >= 200 && status < 300) return 'healthy';
  if (status === 429) return 'degraded';
  return 'unhealthy';
}

function addSources(member: Member, sources: DiscoveryStrategy[]): void {
  for (const s of sources) if (!member.sources.includes(s)) member.sources.push(s);
}

/**
 * Applies one connectivity check. `sources` are the strategies that produced the candidate.
 * Returns the changes it caused (none when the check only refreshed lastSeen).
 */
export function applyCheck(
  state: NodeDiscoveryState,
  policy: MembershipPolicy,
  result: ConnectivityResult,
  sources: DiscoveryStrategy[],
  now: number,
): TopologyChange[] {
  if (result.ok && result.nodeId) return applySuccess(state, policy, result, sources, now);
  return applyFailure(state, policy, result, now);
}

function applySuccess(
  state: NodeDiscoveryState,
  policy: MembershipPolicy,
  r: ConnectivityResult,
  sources: DiscoveryStrategy[],
  now: number,
): TopologyChange[] {
  const nodeId = r.nodeId as string;
  if (r.clusterId !== undefined && r.clusterId !== policy.clusterId) return [];
  const changes: TopologyChange[] = [];
  const registered = state.registry[nodeId];
  const bootId = r.bootId ?? registered?.bootId ?? 'unknown';
  const health = healthFromHttp(r.httpStatus);
  const source = sources[0];
  const existing = state.members[nodeId];
  if (!existing) {
    const member: Member = {
      nodeId,
      status: 'alive',
      health,
      address: r.address,
      healthPort: r.healthPort,
      zone: r.zone ?? registered?.zone ?? 'default',
      incarnation: 1,
      bootId,
      startedAt: r.startedAt ?? registered?.startedAt ?? now,
      services: r.services ?? registered?.services ?? {},
      sources: [...sources],
      firstSeen: now,
      lastSeen: now,
      statusChangedAt: now,
      failedChecks: 0,
      latencyMs: r.latencyMs,
    };
    state.members[nodeId] = member;
    changes.push(record(state, policy, now, { nodeId, kind: 'joined', to: 'alive', source }));
    return changes;
  }
  // A check answered by the very process that left must not revive it (invariant 2).
  if (existing.status === 'left' && bootId === existing.bootId) return [];
  const restarted = bootId !== existing.bootId;
  Object.assign(existing, {
    address: r.address,
    healthPort: r.healthPort,
    zone: r.zone ?? existing.zone,
    lastSeen: now,
    failedChecks: 0,
    latencyMs: r.latencyMs,
    bootId,
    startedAt: r.startedAt ?? existing.startedAt,
    services: r.services ?? existing.services,
  });
  addSources(existing, sources);
  if (existing.status === 'left' || existing.status === 'dead') {
    existing.incarnation += 1;
    existing.reason = undefined;
    changes.push(setStatus(state, policy, existing, 'alive', 'rejoined', now, { source }));
  } else if (existing.status === 'suspect') {
    existing.incarnation += 1;
    existing.reason = undefined;
    changes.push(setStatus(state, policy, existing, 'alive', 'recovered', now, { source }));
  } else if (restarted) {
    existing.incarnation += 1;
    changes.push(record(state, policy, now, { nodeId, kind: 'restarted', from: 'alive', to: 'alive', source }));
  }
  // The health authority's verdict stands over this check (a quarantined host answers /healthz).
  if (health !== existing.health && !(policy.healthAuthority && existing.healthVerdict)) {
    const from = existing.health;
    existing.health = health;
    changes.push(record(state, policy, now, { nodeId, kind: 'health', from, to: health, source }));
  }
  return changes;
}

function applyFailure(
  state: NodeDiscoveryState,
  policy: MembershipPolicy,
  r: ConnectivityResult,
  now: number,
): TopologyChange[] {
  const member =
    (r.nodeId ? state.members[r.nodeId] : undefined) ??
    Object.values(state.members).find((m) => m.address === r.address && m.healthPort === r.healthPort);
  if (!member || member.status === 'left' || member.status === 'dead') return [];
  if (r.clusterId !== undefined && r.clusterId !== policy.clusterId) return [];
  member.failedChecks += 1;
  const reason = r.error ?? 'connectivity check failed';
  if (member.status === 'alive' && member.failedChecks >= policy.suspectAfterFailedChecks) {
    return [setStatus(state, policy, member, 'suspect', 'suspect', now, { reason })];
  }
  if (member.status === 'suspect' && member.failedChecks >= policy.deadAfterFailedChecks) {
    return [setStatus(state, policy, member, 'dead', 'dead', now, { reason })];
  }
  return [];
}

/** Records an announcement in the registry; the node becomes a member once its check passes. */
export function applyAnnounce(state: NodeDiscoveryState, a: Announcement): void {
  state.registry[a.nodeId] = a;
}

/** A graceful leave. Ignored when it comes from an older process than the member's current one. */
export function applyLeave(
  state: NodeDiscoveryState,
  policy: MembershipPolicy,
  p: LeavePayload,
  now: number,
): TopologyChange[] {
  const registered = state.registry[p.nodeId];
  if (registered && (p.bootId === undefined || p.bootId === registered.bootId)) delete state.registry[p.nodeId];
  const member = state.members[p.nodeId];
  if (!member || member.status === 'left') return [];
  if (p.bootId !== undefined && p.bootId !== member.bootId) return [];
  return [setStatus(state, policy, member, 'left', 'left', now, { reason: p.reason ?? 'left gracefully' })];
}

/**
 * A liveness or health verdict from another agent (FailureDetector, HealthMonitor) or a host's
 * report. Health from the policy's health authority is kept as the member's verdict, which other
 * observers' health reports do not override.
 */
export function applyHealthChange(
  state: NodeDiscoveryState,
  policy: MembershipPolicy,
  p: NodeHealthChangePayload,
  now: number,
): TopologyChange[] {
  const member = state.members[p.nodeId];
  if (!member) return [];
  const changes: TopologyChange[] = [];
  const extra = { source: p.observer, reason: p.reason };
  if (p.status !== undefined && p.status !== member.status) {
    const kind: TopologyChangeKind =
      p.status === 'alive' ? (member.status === 'suspect' ? 'recovered' : 'rejoined') : p.status;
    if (p.status === 'alive') member.incarnation += 1;
    changes.push(setStatus(state, policy, member, p.status, kind, now, extra));
  }
  let health = p.health;
  if (health !== undefined && policy.healthAuthority) {
    if (p.observer === policy.healthAuthority) member.healthVerdict = { health, at: now };
    else if (member.healthVerdict) health = undefined;
  }
  if (health !== undefined && health !== member.health) {
    const from = member.health;
    member.health = health;
    changes.push(record(state, policy, now, { nodeId: member.nodeId, kind: 'health', from, to: health, ...extra }));
  }
  return changes;
}

/** Keeps the latest check of each observer → node pair, for current members only. */
export function recordConnectivity(state: NodeDiscoveryState, results: ConnectivityResult[], now: number): void {
  for (const r of results) {
    const nodeId =
      r.nodeId ??
      Object.values(state.members).find((m) => m.address === r.address && m.healthPort === r.healthPort)?.nodeId;
    if (!nodeId || !state.members[nodeId]) continue;
    const row = (state.connectivity[r.observer] ??= {});
    row[nodeId] = { ok: r.ok, latencyMs: r.latencyMs, at: now };
  }
}

export function topologyOf(state: NodeDiscoveryState): Topology {
  const counts: Record<NodeStatus, number> = { alive: 0, suspect: 0, dead: 0, left: 0 };
  const zones: Record<string, string[]> = {};
  for (const m of Object.values(state.members).sort((a, b) => a.nodeId.localeCompare(b.nodeId))) {
    counts[m.status] += 1;
    if (m.status === 'alive') (zones[m.zone] ??= []).push(m.nodeId);
  }
  return { version: state.version, updatedAt: state.updatedAt, counts, zones, connectivity: state.connectivity };
}

export function membersOf(state: NodeDiscoveryState): Member[] {
  return Object.values(state.members).sort((a, b) => a.nodeId.localeCompare(b.nodeId));
}

/** What other agents are told about a member (topology broadcasts, readMembers). */
export function summaryOf(m: Member): MemberSummary {
  return {
    nodeId: m.nodeId,
    status: m.status,
    health: m.health,
    address: m.address,
    healthPort: m.healthPort,
    zone: m.zone,
    incarnation: m.incarnation,
    services: m.services,
  };
}
