/**
 * NetworkPartitionHandler (`<clusterId>/partition-handler`): holds the reachability graph the hosts
 * report (changes only, through their NodeAgents), finds the partitions in it
 * (src/core/partition/graph.ts), and once the graph has been stable for the window chooses the side
 * that keeps serving and fences every other host:
 * - out of every routing table (a `fence` signal to the LoadBalancer, with the fence generation);
 * - each fenced host reads the fences from this agent's memo and answers /healthz 503 `fenced`;
 * - NodeDiscovery records the partition, the orchestrator gets a network_partition incident.
 * When the graph is whole again and stable for the window, the network_partition procedure is told;
 * it lifts the fences (a new generation) once the agents agree in a consensus round — or the
 * handler does after `healFallbackMs` (no orchestrator, no coordinator).
 *
 * Handlers record reports; the loop evaluates the graph and executes what the pure decision machine
 * (src/core/partition/decide.ts) says: the window, the deadline, the strategies, no flip, the heal.
 */
import { setCurrentDetails, upsertMemo } from '@temporalio/workflow';
import { lbFenceSignal } from '../contracts/load-balancer';
import { networkPartitionDetectedSignal } from '../contracts/node-discovery';
import { incidentSignal } from '../contracts/orchestrator';
import {
  FENCES_MEMO,
  PARTITIONS_MEMO,
  PARTITION_ROLE,
  PartitionHandlerConfig,
  ReachabilityReport,
  UnfencePayload,
  partitionDecidedSignal,
  partitionHealedSignal,
  unfenceSignal,
  partitionSummaries,
  partitionsQuery,
  reachabilityQuery,
  reachabilitySignal,
  type PartitionHandlerState,
} from '../contracts/partition-handler';
import {
  applyMembers,
  applyReport,
  applyUnfence,
  emptyPartitionState,
  evaluate,
  graphHosts,
  nextDue,
  openRecord,
  type MachineConfig,
  type PartitionAction,
} from '../core/partition/decide';
import type { Strategy } from '../core/partition/graph';
import { Agent } from './agent-base';

export async function partitionHandlerWorkflow(input: unknown): Promise<void> {
  const agent = new Agent<PartitionHandlerConfig, PartitionHandlerState>(
    {
      role: PARTITION_ROLE,
      configSchema: PartitionHandlerConfig,
      initialState: emptyPartitionState,
      intervals: (c) => ({ members: c.membersIntervalMs }),
      health: (s) => {
        const fenced = Object.keys(s.fenced);
        if (!fenced.length) return { status: 'healthy', reasons: [] };
        return { status: 'degraded', reasons: [`${fenced.length} host(s) fenced: ${fenced.join(', ')}`] };
      },
    },
    input,
  );
  const h = new Handler(agent);
  agent.onSignal(reachabilitySignal, ReachabilityReport, (p) => h.report(p));
  agent.onSignal(unfenceSignal, UnfencePayload, (p) => h.unfence(p));
  agent.onQuery(partitionsQuery, () => agent.state.partitions);
  agent.onQuery(reachabilityQuery, () => agent.state.views);
  h.publish();
  await agent.run({
    timers: {
      members: async () => {
        agent.beside('members', () => h.readMembers(), { abandonable: true });
      },
    },
    hasWork: () => h.dirty,
    doWork: async () => h.evaluate(),
    dueAt: () => h.nextDue(),
    onDue: () => h.evaluate(),
  });
}

class Handler {
  dirty = true;
  private published = '';
  /** Actions decided in a handler, sent by the loop. */
  private readonly pending: PartitionAction[] = [];

  constructor(private readonly agent: Agent<PartitionHandlerConfig, PartitionHandlerState>) {}

  private get s(): PartitionHandlerState {
    return this.agent.state;
  }

  private get machine(): MachineConfig {
    const c = this.agent.config;
    return {
      strategy: c.strategy as Strategy,
      stableAfterMs: c.stableAfterMs,
      stableAfterPerHostMs: c.stableAfterPerHostMs,
      decisionMarginMs: c.decisionMarginMs,
      healFallbackMs: c.healFallbackMs,
      cutReportFreshMs: c.cutReportFreshMs,
      historySize: c.historySize,
    };
  }

  report(p: ReachabilityReport): void {
    applyReport(this.s, p, Date.now());
    this.dirty = true;
  }

  async readMembers(): Promise<void> {
    const read = await this.agent.readMembers();
    if (read && applyMembers(this.s, read.members, read.version, Date.now())) this.dirty = true;
  }

  nextDue(): number | undefined {
    return nextDue(this.s, this.machine, Date.now());
  }

  evaluate(): void {
    this.dirty = false;
    this.act([...this.pending.splice(0), ...evaluate(this.s, this.machine, Date.now())]);
  }

  /** The network_partition procedure's word: the agents agreed the partition is over (the loop sends what follows). */
  unfence(p: UnfencePayload): void {
    this.pending.push(...applyUnfence(this.s, p.partitionId, `${p.by}${p.reason ? `: ${p.reason}` : ''}`, Date.now()));
    this.dirty = true;
  }

  /** What the machine decided, sent by the loop's outbox. */
  private act(actions: PartitionAction[]): void {
    for (const a of actions) {
      if (a.kind === 'fence')
        this.agent.notify('load-balancer', lbFenceSignal, { generation: a.generation, nodeIds: a.nodeIds, reason: a.reason });
      else if (a.kind === 'recordPartition')
        this.agent.notify('node-discovery', networkPartitionDetectedSignal, {
          components: a.components,
          detectedBy: PARTITION_ROLE,
          reason: a.reason,
        });
      else if (a.kind === 'incident')
        this.agent.notify('orchestrator', incidentSignal, {
          kind: 'network_partition',
          subject: a.partitionId,
          source: PARTITION_ROLE,
          detail: a.detail,
        });
      else if (a.kind === 'decided') {
        const { kind: _kind, ...payload } = a;
        this.agent.notify(`procedure/network_partition/${a.partitionId}`, partitionDecidedSignal, payload);
      } else
        this.agent.notify(`procedure/network_partition/${a.partitionId}`, partitionHealedSignal, {
          partitionId: a.partitionId,
          at: a.at,
        });
    }
    this.publish();
  }

  /** Memo (what hosts read) and current details, when they changed. */
  publish(): void {
    const seen: Record<string, number> = {};
    for (const [id, v] of Object.entries(this.s.views)) seen[id] = v.at;
    const memo = { generation: this.s.generation, fenced: this.s.fenced, seen };
    const partitions = partitionSummaries(this.s.partitions);
    const json = JSON.stringify([memo, partitions]);
    if (json !== this.published) {
      this.published = json;
      upsertMemo({ [FENCES_MEMO]: memo, [PARTITIONS_MEMO]: partitions });
    }
    setCurrentDetails(this.details());
  }

  private details(): string {
    const c = this.s.current;
    const fenced = Object.entries(this.s.fenced);
    const open = openRecord(this.s);
    return [
      c.whole
        ? `**Whole**: ${graphHosts(this.s, this.agent.config.cutReportFreshMs, Date.now()).hosts.length} host(s) reach each other (since ${new Date(c.since).toISOString().slice(11, 23)})`
        : `**Partitioned**: sides ${c.sides.map((s) => `[${s.join(', ')}]`).join(' ')}${c.indirect.length ? `; indirectly connected: ${c.indirect.join(', ')}` : ''}`,
      '',
      `Strategy ${this.agent.config.strategy}; fence generation ${this.s.generation}; ${this.s.reports} reachability reports`,
      '',
      ...(fenced.length
        ? ['Fenced:', '', ...fenced.map(([id, f]) => `- ${id} (generation ${f.generation}): ${f.reason}`), '']
        : []),
      ...(open
        ? [
            `Open partition \`${open.id}\`: ${open.healedAt ? 'whole again: waiting for the network_partition procedure to lift the fences' : open.agreed ? `split again after the heal: ${open.agreed.by.slice(0, 120)} agreed to lift the fences at ${new Date(open.agreed.at).toISOString().slice(11, 23)}, which they are once the graph is whole and stable` : open.decidedAt ? `decided: ${open.reason}` : c.unsettledSince !== undefined ? `waiting for the graph to be stable (moving since ${new Date(c.unsettledSince).toISOString().slice(11, 23)})` : 'waiting for the graph to be stable'}`,
            ...(open.escalated ? ['', `**Manual intervention**: ${open.escalated}`] : []),
          ]
        : []),
    ].join('\n');
  }
}
