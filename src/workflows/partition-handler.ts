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
 * Handlers record reports; the loop evaluates the graph, decides and notifies.
 */
import { patched, setCurrentDetails, upsertMemo } from '@temporalio/workflow';
import { lbFenceSignal } from '../contracts/load-balancer';
import { networkPartitionDetectedSignal } from '../contracts/node-discovery';
import { incidentSignal } from '../contracts/orchestrator';
import {
  FENCES_MEMO,
  PARTITION_ROLE,
  PartitionHandlerConfig,
  ReachabilityReport,
  UnfencePayload,
  partitionHealedSignal,
  unfenceSignal,
  partitionsQuery,
  reachabilityQuery,
  reachabilitySignal,
  type PartitionHandlerState,
  type PartitionRecord,
} from '../contracts/partition-handler';
import { pushBounded } from '../core/bounded';
import {
  chooseSide,
  fallback,
  partitionOf,
  signatureOf,
  stableWindowMs,
  type Decision,
  type Strategy,
} from '../core/partition/graph';
import { isLiveStatus } from '../core/membership';
import { Agent } from './agent-base';

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

/**
 * Before this patch the loop's due time moved on to the decision timeout as soon as the window had
 * passed, evaluated or not: a window that ended between two member reads was decided only at the
 * next read (up to 2 s late). Now it stays at the window's end until an evaluation has seen it.
 */
export const DUE_AFTER_WINDOW_PATCH = 'partition-due-after-window';

/**
 * Before this patch a host NodeDiscovery called dead stayed in the graph for good when its last
 * report had lost a peer and reached fewer than all the other members: a host killed just after it
 * lost a peer (one stopped for a second) stayed a side of its own, was fenced, and its partition
 * never healed; a member joining later made "fewer than all" true on its own. Now a dead host stays
 * only while its last report is fresh (`cutReportFreshMs`) and misses a live member: a host cut
 * off from its peers sends its report again while it misses one, a killed host falls silent.
 */
export const DEAD_NEEDS_FRESH_REPORT_PATCH = 'partition-dead-needs-fresh-report';

/**
 * Before this patch a decision fenced only the hosts in the graph, and a dead member stayed in the
 * graph only while its fresh report missed a member NodeDiscovery held live. NodeDiscovery's checks
 * run from any host, so across a cut it can call hosts on both sides dead. A bridge [n2 n4] n3
 * [n1 n5] with n1, n2 and n5 called dead then left n2 (its report missing only hosts called dead)
 * out of the graph: the decision kept n1 n3 n5, fenced n4, and n2 served on beside them, a split
 * brain (what a nemesis run showed: b1 b2 b3 b5 serving, b4 alone fenced). Now a decision fences
 * every member not on the kept side, in the graph or not (a host out of the graph may still serve),
 * and a dead member stays in the graph while its fresh report misses any member, or while a host in
 * the graph reaches it.
 */
export const FENCE_ALL_BUT_KEPT_PATCH = 'partition-fence-all-but-kept';

class Handler {
  dirty = true;
  private published = '';
  private readonly dueAfterWindow = patched(DUE_AFTER_WINDOW_PATCH);
  private readonly deadNeedsFreshReport = patched(DEAD_NEEDS_FRESH_REPORT_PATCH);
  private readonly fenceAllButKept = patched(FENCE_ALL_BUT_KEPT_PATCH);
  /** Workflow time of the last evaluation of the graph. */
  private evaluatedAt = 0;

  constructor(private readonly agent: Agent<PartitionHandlerConfig, PartitionHandlerState>) {}

  private get s(): PartitionHandlerState {
    return this.agent.state;
  }

  report(p: ReachabilityReport): void {
    const before = this.s.views[p.nodeId];
    const reachable = [...new Set(p.reachable.filter((n) => n !== p.nodeId))].sort();
    // A report sent again unchanged (only hosts that send `unchanged` do) keeps what the first said.
    const again = p.unchanged === true && !!before && before.reachable.join() === reachable.join();
    this.s.views[p.nodeId] = {
      // It no longer reaches a peer it reached: it was running when something cut it off.
      lostAny: again ? before.lostAny : !!before && before.reachable.some((n) => !reachable.includes(n)),
      reachable,
      rttMs: p.rttMs,
      at: p.at,
      receivedAt: Date.now(),
    };
    this.s.reports += 1;
    this.dirty = true;
  }

  async readMembers(): Promise<void> {
    const read = await this.agent.readMembers();
    if (!read || read.version < this.s.membersVersion) return;
    const now = Date.now();
    const next: PartitionHandlerState['members'] = {};
    for (const m of read.members) {
      if (m.status === 'left') continue;
      next[m.nodeId] = { joinedAt: this.s.members[m.nodeId]?.joinedAt ?? now, status: m.status };
    }
    // Views of hosts that left the membership are forgotten.
    for (const id of Object.keys(this.s.views)) if (!next[id]) delete this.s.views[id];
    this.s.members = next;
    this.s.membersVersion = read.version;
    this.dirty = true;
  }

  /**
   * Hosts in the graph: members that have reported and are not dead. A suspect stays in: NodeDiscovery
   * suspects a host its own check could not reach, which in a partition depends on which side ran the
   * check. A dead host lost its lease (or its process): it is on no serving side, and fences itself
   * when it lost the server.
   */
  private hosts(): { hosts: string[]; offServer: string[] } {
    const inGraph = new Set<string>();
    const dead: string[] = [];
    const now = Date.now();
    for (const [id, m] of Object.entries(this.s.members)) {
      const view = this.s.views[id];
      if (!view) continue;
      if (isLiveStatus(m.status)) inGraph.add(id);
      // NodeDiscovery also calls dead a host its own checks could not reach three times, which a
      // cut does. Such a host still runs: it stays in the graph (the side it is on decides).
      else if (this.deadNeedsFreshReport ? this.staleAt(id) > now : this.legacyCutOff(id)) inGraph.add(id);
      else dead.push(id);
    }
    // A member NodeDiscovery calls dead that a host in the graph reaches (its /healthz answers)
    // runs: it stays in the graph, whether its own report is fresh or not. Otherwise a bridge host
    // NodeDiscovery called dead in the fault before (it reaches everyone, so it reports nothing new)
    // joined the graph only when NodeDiscovery's checks passed again, and restarted the window.
    if (this.fenceAllButKept)
      for (let added = true; added;) {
        added = false;
        for (const id of dead)
          if (!inGraph.has(id) && [...inGraph].some((h) => this.s.views[h]?.reachable.includes(id))) {
            inGraph.add(id);
            added = true;
          }
      }
    return { hosts: [...inGraph].sort(), offServer: dead.filter((id) => !inGraph.has(id)).sort() };
  }

  /**
   * Until when a dead member stays in the graph: while its last report is fresh and misses a
   * member (the host still runs and is cut off from it; before FENCE_ALL_BUT_KEPT_PATCH, a live
   * member only); 0 when it does not stay at all.
   */
  private staleAt(id: string): number {
    const view = this.s.views[id];
    if (!view) return 0;
    const misses = Object.entries(this.s.members).some(
      ([other, m]) =>
        other !== id && (this.fenceAllButKept || isLiveStatus(m.status)) && !view.reachable.includes(other),
    );
    return misses ? view.receivedAt + this.agent.config.cutReportFreshMs : 0;
  }

  /** Before the patch: a host that reported after it lost members it had reached was running after the cut. */
  private legacyCutOff(id: string): boolean {
    const view = this.s.views[id]!;
    return view.reachable.length < Object.keys(this.s.members).length - 1 && !!view.lostAny;
  }

  private windowMs(hosts: number): number {
    return stableWindowMs(hosts, this.agent.config.stableAfterMs, this.agent.config.stableAfterPerHostMs);
  }

  /** When the loop must look again: the window (or the decision timeout) of the current graph ends. */
  nextDue(): number | undefined {
    const due = this.graphDue();
    if (!this.deadNeedsFreshReport) return due;
    // A dead member kept in the graph leaves it when its report goes stale: look again then.
    const now = Date.now();
    let stale: number | undefined;
    for (const [id, m] of Object.entries(this.s.members)) {
      if (isLiveStatus(m.status)) continue;
      const at = this.staleAt(id);
      if (at > now && (stale === undefined || at < stale)) stale = at;
    }
    return stale === undefined ? due : due === undefined ? stale : Math.min(due, stale);
  }

  private graphDue(): number | undefined {
    const c = this.s.current;
    const n = this.hosts().hosts.length;
    const end = c.since + this.windowMs(n);
    const open = this.openRecord();
    if (!c.whole) {
      if (open?.decidedAt !== undefined && open.decidedAt >= c.since) return undefined;
      const seen = this.dueAfterWindow ? this.evaluatedAt : Date.now();
      return seen < end ? end : end + this.agent.config.decisionTimeoutMs;
    }
    if (open?.healedAt !== undefined) return open.healedAt + this.agent.config.healFallbackMs;
    if (Object.keys(this.s.fenced).length || open) return end;
    return undefined;
  }

  private openRecord(): PartitionRecord | undefined {
    return this.s.open ? this.s.partitions.find((p) => p.id === this.s.open) : undefined;
  }

  evaluate(): void {
    this.dirty = false;
    const now = Date.now();
    this.evaluatedAt = now;
    const { hosts, offServer } = this.hosts();
    if (!hosts.length) return this.publish();
    const p = partitionOf(hosts, this.s.views);
    const signature = signatureOf(p);
    const changed = signature !== this.s.current.signature;
    if (changed) this.s.current = { signature, since: now, whole: p.whole, sides: p.sides, indirect: p.indirect };
    const stableFor = now - this.s.current.since;
    const window = this.windowMs(hosts.length);
    let open = this.openRecord();

    if (!p.whole) {
      // Split again before the fences were lifted: the heal is off.
      if (open && open.healedAt !== undefined && open.unfencedAt === undefined) delete open.healedAt;
      if (!open) {
        open = { id: `p-${now}`, startedAt: now, sides: p.sides, indirect: p.indirect, offServer };
        pushBounded(this.s.partitions, open, this.agent.config.historySize);
        this.s.open = open.id;
      }
      if (changed) {
        open.shapes ??= [];
        pushBounded(open.shapes, { at: now, sides: p.sides, indirect: p.indirect }, 20);
      }
      const decidedThisShape = open.decidedAt !== undefined && open.decidedAt >= this.s.current.since;
      // The shape the partition first took is what the record says; later shapes (a cut that
      // spreads, a heal that comes link by link) may bring new decisions, each in `reason`.
      if (open.decidedAt === undefined) {
        open.sides = p.sides;
        open.indirect = p.indirect;
        open.offServer = offServer;
      }
      if (!decidedThisShape && stableFor >= window) {
        const joined: Record<string, number> = {};
        for (const [id, m] of Object.entries(this.s.members)) joined[id] = m.joinedAt;
        let d: Decision | undefined = chooseSide(p, this.agent.config.strategy as Strategy, joined);
        if (!d && stableFor >= window + this.agent.config.decisionTimeoutMs) d = fallback(p);
        if (d) this.decide(open, this.fenceAllButKept ? this.outOfGraphFenced(d) : d, now);
      }
    } else if (stableFor >= window && (open || Object.keys(this.s.fenced).length)) {
      if (!open || open.decidedAt === undefined) this.heal(open, now, 'healed before any decision');
      else {
        // Whole and stable: the network_partition procedure lifts the fences once the agents
        // agree; past healFallbackMs, the handler does.
        if (open.healedAt === undefined) {
          open.healedAt = now;
          this.agent.notify(`procedure/network_partition/${open.id}`, partitionHealedSignal, {
            partitionId: open.id,
            at: now,
          });
        }
        if (now - open.healedAt >= this.agent.config.healFallbackMs)
          this.heal(
            open,
            now,
            `fallback: no network_partition procedure lifted the fences within ${this.agent.config.healFallbackMs} ms`,
          );
      }
    }
    this.publish();
  }

  /**
   * The decision with every member not on the kept side fenced, in the graph or not: a member out
   * of the graph (it never reported, or NodeDiscovery calls it dead and it sent no fresh report
   * that misses anyone) may be a killed process, which a fence costs nothing, or a host that still
   * serves.
   */
  private outOfGraphFenced(d: Decision): Decision {
    const keep = d.keep ?? [];
    const extra = Object.keys(this.s.members)
      .filter((id) => !keep.includes(id) && !d.fence.includes(id))
      .sort();
    if (!extra.length) return d;
    return {
      ...d,
      fence: [...d.fence, ...extra].sort(),
      reason: `${d.reason}; also fenced, out of the graph (dead in NodeDiscovery with no fresh report, or never reported): ${extra.join(', ')}`,
    };
  }

  /** The network_partition procedure's word: the agents agreed the partition is over. */
  unfence(p: UnfencePayload): void {
    const open = this.openRecord();
    if (!open || open.id !== p.partitionId || open.healedAt === undefined) return; // not healed (again): stale
    this.heal(open, Date.now(), `${p.by}${p.reason ? `: ${p.reason}` : ''}`);
    this.dirty = true;
  }

  private decide(open: PartitionRecord, d: Decision, now: number): void {
    this.s.generation += 1;
    const g = this.s.generation;
    const fenced: PartitionHandlerState['fenced'] = {};
    for (const id of d.fence) fenced[id] = { generation: g, since: this.s.fenced[id]?.since ?? now, reason: d.reason };
    this.s.fenced = fenced;
    Object.assign(open, { decidedAt: now, keep: d.keep, fenced: d.fence, reason: d.reason, generation: g });
    this.agent.notify('load-balancer', lbFenceSignal, { generation: g, nodeIds: d.fence, reason: d.reason });
    if (open.sides.length)
      this.agent.notify('node-discovery', networkPartitionDetectedSignal, {
        components: [...open.sides, ...open.indirect.map((x) => [x])],
        detectedBy: PARTITION_ROLE,
        reason: d.reason,
      });
    this.agent.notify('orchestrator', incidentSignal, {
      kind: 'network_partition',
      subject: open.id,
      source: PARTITION_ROLE,
      detail: `${d.reason}; fenced: ${d.fence.join(', ') || 'none'}; sides ${JSON.stringify(open.sides)}${open.indirect.length ? `; indirectly connected: ${open.indirect.join(', ')}` : ''}`,
    });
  }

  private heal(open: PartitionRecord | undefined, now: number, by: string): void {
    this.s.generation += 1;
    this.s.fenced = {};
    if (open) {
      open.healedAt ??= now;
      open.unfencedAt = now;
      open.unfencedBy = by.slice(0, 500);
    }
    this.s.open = undefined;
    this.agent.notify('load-balancer', lbFenceSignal, { generation: this.s.generation, nodeIds: [], reason: 'healed' });
  }

  /** Memo (what hosts read) and current details, when they changed. */
  publish(): void {
    const seen: Record<string, number> = {};
    for (const [id, v] of Object.entries(this.s.views)) seen[id] = v.at;
    const memo = { generation: this.s.generation, fenced: this.s.fenced, seen };
    const json = JSON.stringify(memo);
    if (json !== this.published) {
      this.published = json;
      upsertMemo({ [FENCES_MEMO]: memo });
    }
    setCurrentDetails(this.details());
  }

  private details(): string {
    const c = this.s.current;
    const fenced = Object.entries(this.s.fenced);
    const open = this.openRecord();
    return [
      c.whole
        ? `**Whole**: ${this.hosts().hosts.length} host(s) reach each other (since ${new Date(c.since).toISOString().slice(11, 23)})`
        : `**Partitioned**: sides ${c.sides.map((s) => `[${s.join(', ')}]`).join(' ')}${c.indirect.length ? `; indirectly connected: ${c.indirect.join(', ')}` : ''}`,
      '',
      `Strategy ${this.agent.config.strategy}; fence generation ${this.s.generation}; ${this.s.reports} reachability reports`,
      '',
      ...(fenced.length
        ? ['Fenced:', '', ...fenced.map(([id, f]) => `- ${id} (generation ${f.generation}): ${f.reason}`), '']
        : []),
      ...(open
        ? [
            `Open partition \`${open.id}\`: ${open.healedAt ? 'whole again: waiting for the network_partition procedure to lift the fences' : open.decidedAt ? `decided: ${open.reason}` : 'waiting for the graph to be stable'}`,
          ]
        : []),
    ].join('\n');
  }
}
