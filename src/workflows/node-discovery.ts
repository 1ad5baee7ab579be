/**
 * NodeDiscovery agent: membership, topology, topology history and the connectivity matrix.
 * Strategies run in parallel as activities, each under its own timeout; a failing one yields
 * nothing. Nodes become alive only after a connectivity check of their health endpoint (an
 * activity, from whichever host runs it).
 *
 * Invariants:
 * 1. Handlers only record and queue: an announcement waits in `toCheck`, a membership change in
 *    `changes`, a discovery request (signal or update) in the round queue. The loop does the work,
 *    one step after another: the connectivity check, rounds, then one topology broadcast with every
 *    change. So no command is ever issued beside another that is still running, and the order of
 *    commands cannot depend on how long a check took (the cause of the replay divergence
 *    "Activity machine does not handle this event … TimerStarted": the announce handler ran the
 *    check as a local activity, and broadcast, while the loop started timers and activities).
 * 2. An announcement withdrawn (leave, or a newer boot) while its check ran is not applied.
 * 3. Runs that started before invariant 1 (`agent.loopActs` false) keep their recorded order
 *    through the legacy paths below; nothing else calls them.
 * 4. Health is the HealthMonitor's to decide: once it gave a verdict about a node (unhealthy,
 *    quarantined, healthy again), this agent's own checks and hosts' self-reports do not override
 *    it (src/core/membership.ts, `healthAuthority`). Runs without the patch
 *    HEALTH_MONITOR_VERDICTS (recorded before it) let the last check or report win.
 * 5. Other agents read the members from the memo (MEMBERS_MEMO), which the loop republishes when
 *    they changed: `describe` is answered by the server, so agents never query this workflow.
 */
import { condition, patched, proxyActivities, proxyLocalActivities, upsertMemo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { StrategyResult } from '../activities/dns-discovery';
/**
 * The agents a topology update goes to, in this order (a replay must signal the same workflows in
 * the same order: this is not AGENTS, which grows). Agents added later read the members' memo.
 */
const TOPOLOGY_LISTENERS = ['node-discovery', 'load-balancer', 'health-monitor', 'failure-detector', 'orchestrator'] as const;
import {
  topologyUpdateSignal,
  type MemberSummary,
  type TopologyChange,
  type TopologyUpdatePayload,
} from '../contracts/common';
import {
  Announcement,
  DiscoveryCriteria,
  FailurePredictionPayload,
  LeavePayload,
  MEMBERS_MEMO,
  NodeDiscoveryConfig,
  NodeHealthChangePayload,
  PartitionReport,
  announceSignal,
  discoverNodesSignal,
  discoverUpdate,
  failurePredictionSignal,
  leaveSignal,
  networkPartitionDetectedSignal,
  nodeHealthChangeSignal,
  nodesQuery,
  partitionsQuery,
  topologyHistoryQuery,
  topologyQuery,
  type Candidate,
  type DiscoveryRound,
  type DiscoveryStrategy,
  type NodeDiscoveryState,
  type StrategyOutcome,
} from '../contracts/node-discovery';
import { pushBounded } from '../core/bounded';
import {
  applyAnnounce,
  applyCheck,
  applyHealthChange,
  applyLeave,
  emptyMembership,
  knownCandidates,
  membersOf,
  mergeCandidates,
  recordConnectivity,
  summaryOf,
  topologyOf,
  type MembershipPolicy,
} from '../core/membership';
import { ACTIVITY } from './activity-options';
import { nodeDiscoveryVote, type VoteDecision } from '../core/consensus/votes';
import { Agent } from './agent-base';

export const NODE_DISCOVERY_ROLE = 'node-discovery';
/**
 * Runs with this patch keep the HealthMonitor's health verdicts over their own checks (invariant
 * 4); runs recorded before it let every check and report set a member's health, and must replay so.
 */
export const HEALTH_MONITOR_VERDICTS = 'nd-health-monitor-verdicts';
/** The health authority's role (the HealthMonitor's; not imported: that module is its workflow). */
const HEALTH_AUTHORITY = 'health-monitor';
/**
 * Runs with this patch publish their members in the memo (MEMBERS_MEMO) at start and after every
 * change, from the loop (invariant 5); runs recorded before it issued no such command.
 */
export const MEMBERS_IN_MEMO = 'nd-members-in-memo';
/**
 * Patch id: topology updates go to the orchestrator too, since it is an agent of this build. Runs
 * from before it sent one signal fewer per update, and a replay of them must too.
 */
export const ND_TELLS_ORCHESTRATOR = 'nd-tells-orchestrator';

export async function nodeDiscoveryWorkflow(input: unknown): Promise<void> {
  const agent = new Agent<NodeDiscoveryConfig, NodeDiscoveryState>(
    {
      role: NODE_DISCOVERY_ROLE,
      configSchema: NodeDiscoveryConfig,
      initialState: emptyMembership,
      intervals: (c) => ({ topologySync: c.topologySyncIntervalMs }),
      vote: (p): VoteDecision => nodeDiscoveryVote(p.topic, p.value, agent.state.members, Date.now()),
      health: (s, c) => {
        const failed = Object.entries(s.lastRound?.strategies ?? {}).filter(([, o]) => !o.ok);
        const reasons = failed.map(([name, o]) => `strategy ${name} failed: ${o.error ?? 'unknown error'}`);
        if (failed.length && failed.length >= c.strategies.length) return { status: 'unhealthy', reasons };
        return { status: failed.length ? 'degraded' : 'healthy', reasons };
      },
    },
    input,
  );
  const discovery = new Discovery(agent);

  // Message-handling API
  if (agent.loopActs) {
    agent.onSignal(announceSignal, Announcement, (a) => discovery.announce(a));
    agent.onSignal(leaveSignal, LeavePayload, (p) => discovery.leave(p));
    agent.onSignal(nodeHealthChangeSignal, NodeHealthChangePayload, (p) => discovery.healthChange(p));
    agent.onUpdate(discoverUpdate, DiscoveryCriteria, (c) => discovery.requestRound(c));
  } else {
    agent.onSignal(announceSignal, Announcement, (a) => discovery.legacyAnnounce(a));
    agent.onSignal(leaveSignal, LeavePayload, (p) => discovery.legacyLeave(p));
    agent.onSignal(nodeHealthChangeSignal, NodeHealthChangePayload, (p) => discovery.legacyHealthChange(p));
    agent.onUpdate(discoverUpdate, DiscoveryCriteria, (c) => discovery.legacyRound(c));
  }
  agent.onSignal(discoverNodesSignal, DiscoveryCriteria, (c) => discovery.request(c));
  agent.onSignal(networkPartitionDetectedSignal, PartitionReport, (p) => discovery.partitionDetected(p));
  agent.onSignal(failurePredictionSignal, FailurePredictionPayload, (p) => {
    const m = agent.state.members[p.nodeId];
    if (!m) throw new Error(`nodeId: ${p.nodeId} is not a member`);
    m.risk = p.risk;
  });
  agent.onQuery(nodesQuery, () => membersOf(agent.state));
  agent.onQuery(topologyQuery, () => topologyOf(agent.state));
  agent.onQuery(topologyHistoryQuery, () => agent.state.history);
  agent.onQuery(partitionsQuery, () => agent.state.partitions);

  if (agent.loopActs) {
    discovery.publish();
    await agent.run({
      timers: { topologySync: () => discovery.syncRound() },
      hasWork: () => discovery.hasWork(),
      doWork: () => discovery.work(),
    });
  } else {
    await agent.run({
      timers: { topologySync: () => discovery.legacyRound({}) },
      hasWork: () => discovery.pending !== undefined,
      doWork: () => discovery.legacyRound(discovery.takePending()),
    });
  }
}

interface RoundJob {
  criteria: DiscoveryCriteria;
  result?: DiscoveryRound;
  error?: string;
}

class Discovery {
  pending: DiscoveryCriteria | undefined;
  /** Announcements waiting for their connectivity check, by node (the latest wins). */
  private toCheck: Record<string, Announcement> = {};
  /** Rounds asked for by `discover` updates, in order; their handlers wait for the result. */
  private jobs: RoundJob[] = [];
  /** Membership changes not broadcast yet. */
  private changes: TopologyChange[] = [];
  /** The members last put in the memo (invariant 5), as JSON; undefined before the first. */
  private published: string | undefined;
  private readonly publishes = patched(MEMBERS_IN_MEMO);
  private readonly tellsOrchestrator = patched(ND_TELLS_ORCHESTRATOR);
  /** Legacy: rounds run one after another; each starts from the state the previous one left. */
  private chain: Promise<unknown> = Promise.resolve();

  /** Invariant 4; false when replaying a run recorded before it. */
  private readonly healthVerdicts = patched(HEALTH_MONITOR_VERDICTS);

  constructor(private readonly agent: Agent<NodeDiscoveryConfig, NodeDiscoveryState>) {}

  private get state(): NodeDiscoveryState {
    return this.agent.state;
  }
  private get config(): NodeDiscoveryConfig {
    return this.agent.config;
  }
  private get policy(): MembershipPolicy {
    return {
      clusterId: this.agent.clusterId,
      suspectAfterFailedChecks: this.config.suspectAfterFailedChecks,
      deadAfterFailedChecks: this.config.deadAfterFailedChecks,
      historySize: this.config.topologyHistorySize,
      ...(this.healthVerdicts ? { healthAuthority: HEALTH_AUTHORITY } : {}),
    };
  }

  /**
   * The connectivity check: an activity on the agents' queue. Legacy runs used a local activity;
   * a local activity holds the workflow task open while it runs, so under load the task could time
   * out with an update in it, which the server then delivered again (a live "Invalid transition
   * while handling update response" nondeterminism error in the ordering test).
   */
  private checker() {
    return this.agent.loopActs
      ? proxyActivities<Activities>(ACTIVITY.connectivityCheck(this.config.connectTimeoutMs))
      : proxyLocalActivities<Activities>(ACTIVITY.legacyLocalConnectivityCheck(this.config.connectTimeoutMs));
  }

  // --- handlers: record and queue (invariant 1) ---

  announce(a: Announcement): void {
    applyAnnounce(this.state, a);
    this.toCheck[a.nodeId] = a;
  }

  leave(p: LeavePayload): void {
    this.changes.push(...applyLeave(this.state, this.policy, p, Date.now()));
    delete this.toCheck[p.nodeId];
  }

  healthChange(p: NodeHealthChangePayload): void {
    this.changes.push(...applyHealthChange(this.state, this.policy, p, Date.now()));
  }

  request(c: DiscoveryCriteria): void {
    this.pending = c;
  }

  /** The `discover` update: the loop runs the round; the handler waits for it (so CAN waits too). */
  async requestRound(criteria: DiscoveryCriteria): Promise<DiscoveryRound> {
    const job: RoundJob = { criteria };
    this.jobs.push(job);
    await condition(() => job.result !== undefined || job.error !== undefined);
    if (job.result) return job.result;
    throw new Error(job.error);
  }

  takePending(): DiscoveryCriteria {
    const c = this.pending ?? {};
    this.pending = undefined;
    return c;
  }

  partitionDetected(p: PartitionReport): void {
    pushBounded(this.state.partitions, { ...p, at: Date.now() }, this.config.partitionHistorySize);
  }

  // --- the loop's work ---

  hasWork(): boolean {
    return (
      this.pending !== undefined ||
      this.jobs.length > 0 ||
      this.changes.length > 0 ||
      Object.keys(this.toCheck).length > 0
    );
  }

  async work(): Promise<void> {
    const announced = Object.values(this.toCheck);
    this.toCheck = {};
    if (announced.length) await this.checkAnnounced(announced);
    for (const job of this.jobs.splice(0)) {
      try {
        job.result = await this.runRound(job.criteria);
      } catch (err) {
        job.error = failureMessage(err);
      }
    }
    if (this.pending !== undefined) await this.runRound(this.takePending());
    this.broadcast();
  }

  async syncRound(): Promise<void> {
    await this.runRound({});
    this.broadcast();
  }

  private async checkAnnounced(announced: Announcement[]): Promise<void> {
    const results = await this.checker().checkConnectivity({
      targets: announced.map((a) => ({ address: a.address, healthPort: a.healthPort, nodeId: a.nodeId })),
      timeoutMs: this.config.connectTimeoutMs,
    });
    const now = Date.now();
    const applied = [];
    for (const [i, a] of announced.entries()) {
      const result = results[i];
      // Invariant 2: withdrawn (leave) or superseded (a newer boot) while the check ran.
      if (!result || this.state.registry[a.nodeId]?.bootId !== a.bootId) continue;
      this.changes.push(...applyCheck(this.state, this.policy, result, ['registry'], now));
      applied.push(result);
    }
    recordConnectivity(this.state, applied, now);
  }

  /** Puts the members in the memo when they changed since the last time (invariant 5). */
  publish(): void {
    if (!this.publishes) return;
    const members = membersOf(this.state).map(summaryOf);
    const json = JSON.stringify(members);
    if (json === this.published) return;
    this.published = json;
    upsertMemo({ [MEMBERS_MEMO]: { version: this.state.version, members } });
  }

  /** One topology update with every change since the last, to every other agent that runs. */
  private broadcast(): void {
    this.publish();
    const changes = this.changes.splice(0);
    if (!changes.length || !this.config.broadcast) return;
    const update: TopologyUpdatePayload = {
      version: this.state.version,
      at: Date.now(),
      members: membersOf(this.state).map(summaryOf),
      changes,
    };
    for (const role of TOPOLOGY_LISTENERS) {
      if (role === NODE_DISCOVERY_ROLE || (role === 'orchestrator' && !this.tellsOrchestrator)) continue;
      this.agent.notify(role, topologyUpdateSignal, update);
    }
  }

  private async runRound(criteria: DiscoveryCriteria): Promise<DiscoveryRound> {
    const round = await this.discover(criteria);
    this.changes.push(...round.changes);
    return round;
  }

  /** Strategies in parallel, then one connectivity check of every candidate; records the round. */
  private async discover(criteria: DiscoveryCriteria): Promise<DiscoveryRound> {
    const startedAt = Date.now();
    const strategies = criteria.strategies ?? this.config.strategies;
    const outcomes: Partial<Record<DiscoveryStrategy, StrategyOutcome>> = {};
    const lists = await Promise.all(
      strategies.map(async (s) => {
        const t0 = Date.now();
        try {
          const r = await this.runStrategy(s);
          outcomes[s] = {
            ok: r.errors.length === 0,
            candidates: r.candidates.length,
            durationMs: Date.now() - t0,
            ...(r.errors.length ? { error: r.errors.join('; ') } : {}),
          };
          return r.candidates;
        } catch (err) {
          outcomes[s] = { ok: false, candidates: 0, durationMs: Date.now() - t0, error: failureMessage(err) };
          return [];
        }
      }),
    );
    const known = knownCandidates(this.state).filter((c) => c.sources.length === 0);
    const candidates = mergeCandidates([...lists, known]);
    const results = candidates.length
      ? await this.checker().checkConnectivity({ targets: candidates, timeoutMs: this.config.connectTimeoutMs })
      : [];
    const now = Date.now();
    const changes: TopologyChange[] = [];
    results.forEach((r, i) => {
      const c = candidates[i] as Candidate;
      if (criteria.zones && r.zone !== undefined && !criteria.zones.includes(r.zone)) return;
      changes.push(...applyCheck(this.state, this.policy, r, c.sources, now));
    });
    recordConnectivity(this.state, results, now);
    const round: DiscoveryRound = {
      startedAt,
      finishedAt: now,
      strategies: outcomes,
      checked: results.length,
      changes,
    };
    this.state.lastRound = round;
    this.state.rounds += 1;
    return round;
  }

  private async runStrategy(s: DiscoveryStrategy): Promise<StrategyResult> {
    const c = this.config;
    const remote = proxyActivities<Activities>(ACTIVITY.discoveryStrategy(c.strategyTimeoutMs));
    switch (s) {
      case 'registry':
        return { candidates: knownCandidates(this.state).filter((k) => k.sources.includes('registry')), errors: [] };
      case 'static':
        return { candidates: c.staticNodes.map((n) => ({ ...n, sources: ['static'] })), errors: [] };
      case 'dns':
        if (!c.dns.names.length && !c.dns.srvNames.length) return { candidates: [], errors: [] };
        return remote.dnsDiscover({ ...c.dns, timeoutMs: c.strategyTimeoutMs });
      case 'multicast':
        return remote.multicastDiscover({ clusterId: this.agent.clusterId, ...c.multicast });
    }
  }

  // --- legacy paths: runs that started before invariant 1 (invariant 3) ---

  async legacyAnnounce(a: Announcement): Promise<void> {
    applyAnnounce(this.state, a);
    const [result] = await this.checker().checkConnectivity({
      targets: [{ address: a.address, healthPort: a.healthPort, nodeId: a.nodeId }],
      timeoutMs: this.config.connectTimeoutMs,
    });
    if (!result) return;
    if (this.state.registry[a.nodeId]?.bootId !== a.bootId) return;
    const now = Date.now();
    const changes = applyCheck(this.state, this.policy, result, ['registry'], now);
    recordConnectivity(this.state, [result], now);
    await this.legacyBroadcast(changes);
  }

  async legacyLeave(p: LeavePayload): Promise<void> {
    await this.legacyBroadcast(applyLeave(this.state, this.policy, p, Date.now()));
  }

  async legacyHealthChange(p: NodeHealthChangePayload): Promise<void> {
    await this.legacyBroadcast(applyHealthChange(this.state, this.policy, p, Date.now()));
  }

  legacyRound(criteria: DiscoveryCriteria): Promise<DiscoveryRound> {
    const next = this.chain.then(async () => {
      const round = await this.discover(criteria);
      await this.legacyBroadcast(round.changes);
      return round;
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async legacyBroadcast(changes: TopologyChange[]): Promise<void> {
    if (!changes.length || !this.config.broadcast) return;
    const members: MemberSummary[] = membersOf(this.state).map(summaryOf);
    const { broadcastTopology } = proxyActivities<Activities>(ACTIVITY.legacyBroadcast);
    try {
      await broadcastTopology({
        clusterId: this.agent.clusterId,
        fromRole: NODE_DISCOVERY_ROLE,
        update: { version: this.state.version, at: Date.now(), members, changes },
      });
    } catch {
      // Receivers catch up from the next change or from the topology query.
    }
  }
}

function failureMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
}
