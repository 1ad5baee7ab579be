/**
 * NodeDiscovery agent: membership, topology, topology history and the connectivity matrix.
 * Strategies run in parallel as activities, each under its own timeout; a failing one yields
 * nothing. Nodes become alive only after a connectivity check (a local activity: one workflow
 * task from announcement to membership).
 */
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { StrategyResult } from '../activities/dns-discovery';
import type { MemberSummary, TopologyChange } from '../contracts/common';
import {
  Announcement,
  DiscoveryCriteria,
  LeavePayload,
  NodeDiscoveryConfig,
  NodeHealthChangePayload,
  PartitionReport,
  announceSignal,
  discoverNodesSignal,
  discoverUpdate,
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
import { Agent } from './agent-base';

export const NODE_DISCOVERY_ROLE = 'node-discovery';

export async function nodeDiscoveryWorkflow(input: unknown): Promise<void> {
  const agent = new Agent<NodeDiscoveryConfig, NodeDiscoveryState>(
    {
      role: NODE_DISCOVERY_ROLE,
      configSchema: NodeDiscoveryConfig,
      initialState: emptyMembership,
      intervals: (c) => ({ topologySync: c.topologySyncIntervalMs }),
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
  agent.onSignal(announceSignal, Announcement, (a) => discovery.announce(a));
  agent.onSignal(leaveSignal, LeavePayload, (p) => discovery.leave(p));
  agent.onSignal(nodeHealthChangeSignal, NodeHealthChangePayload, (p) => discovery.healthChange(p));
  agent.onSignal(discoverNodesSignal, DiscoveryCriteria, (c) => discovery.request(c));
  agent.onSignal(networkPartitionDetectedSignal, PartitionReport, (p) => discovery.partitionDetected(p));
  agent.onUpdate(discoverUpdate, DiscoveryCriteria, (c) => discovery.round(c));
  agent.onQuery(nodesQuery, () => membersOf(agent.state));
  agent.onQuery(topologyQuery, () => topologyOf(agent.state));
  agent.onQuery(topologyHistoryQuery, () => agent.state.history);
  agent.onQuery(partitionsQuery, () => agent.state.partitions);

  await agent.run({
    timers: { topologySync: () => discovery.round({}) },
    hasWork: () => discovery.pending !== undefined,
    doWork: () => discovery.round(discovery.takePending()),
  });
}

class Discovery {
  pending: DiscoveryCriteria | undefined;
  /** Rounds run one after another; each starts from the state the previous one left. */
  private chain: Promise<unknown> = Promise.resolve();

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
    };
  }

  private local() {
    return proxyLocalActivities<Activities>({
      startToCloseTimeout: this.config.connectTimeoutMs * 2 + 1_000,
      retry: { maximumAttempts: 1 },
    });
  }

  async announce(a: Announcement): Promise<void> {
    applyAnnounce(this.state, a);
    const [result] = await this.local().checkConnectivity({
      targets: [{ address: a.address, healthPort: a.healthPort, nodeId: a.nodeId }],
      timeoutMs: this.config.connectTimeoutMs,
    });
    if (!result) return;
    // The announcement may have been withdrawn (leave) while the check ran.
    if (this.state.registry[a.nodeId]?.bootId !== a.bootId) return;
    const now = Date.now();
    const changes = applyCheck(this.state, this.policy, result, ['registry'], now);
    recordConnectivity(this.state, [result], now);
    await this.broadcast(changes);
  }

  async leave(p: LeavePayload): Promise<void> {
    await this.broadcast(applyLeave(this.state, this.policy, p, Date.now()));
  }

  async healthChange(p: NodeHealthChangePayload): Promise<void> {
    await this.broadcast(applyHealthChange(this.state, this.policy, p, Date.now()));
  }

  request(c: DiscoveryCriteria): void {
    this.pending = c;
  }

  takePending(): DiscoveryCriteria {
    const c = this.pending ?? {};
    this.pending = undefined;
    return c;
  }

  partitionDetected(p: PartitionReport): void {
    pushBounded(this.state.partitions, { ...p, at: Date.now() }, this.config.partitionHistorySize);
  }

  round(criteria: DiscoveryCriteria): Promise<DiscoveryRound> {
    const next = this.chain.then(() => this.runRound(criteria));
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async runRound(criteria: DiscoveryCriteria): Promise<DiscoveryRound> {
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
      ? await this.local().checkConnectivity({ targets: candidates, timeoutMs: this.config.connectTimeoutMs })
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
    await this.broadcast(changes);
    return round;
  }

  private async runStrategy(s: DiscoveryStrategy): Promise<StrategyResult> {
    const c = this.config;
    const remote = proxyActivities<Activities>({
      startToCloseTimeout: c.strategyTimeoutMs,
      retry: { maximumAttempts: 1 },
    });
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

  private async broadcast(changes: TopologyChange[]): Promise<void> {
    if (!changes.length || !this.config.broadcast) return;
    const members: MemberSummary[] = membersOf(this.state).map(summaryOf);
    const { broadcastTopology } = proxyActivities<Activities>({
      startToCloseTimeout: '10s',
      retry: { maximumAttempts: 3, initialInterval: '200ms' },
    });
    try {
      await broadcastTopology({
        clusterId: this.agent.clusterId,
        fromRole: NODE_DISCOVERY_ROLE,
        update: { version: this.state.version, at: Date.now(), members, changes },
      });
    } catch {
      // Receivers catch up from the next change or from the topology query; membership is already recorded.
    }
  }
}

function failureMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
}
