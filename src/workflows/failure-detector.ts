/**
 * FailureDetector: turns a NodeAgent's suspicion (its lease timed out) into a verdict. While a
 * node is suspect it asks k live peers, each on its own `host.<id>` queue, to probe the suspect's
 * health endpoint (SWIM indirect probes), and judges the evidence with φ-accrual and a Lifeguard
 * suspicion timeout (src/core/fd/judge.ts). A dead verdict goes to NodeDiscovery, the
 * LoadBalancer and the orchestrator (those that run) and to the node's own agent.
 *
 * Invariants:
 * 1. Probe rounds run beside the main loop; a result only records evidence and wakes the loop,
 *    which alone decides — so a verdict is reached once, in one place.
 * 2. A result about a suspicion that ended (refuted, left, decided) is dropped.
 * 3. A dead verdict is pinned to an incarnation; only a NodeAgent's newer incarnation lifts it.
 * 4. Handlers record and queue (`agent.notify`); the loop sends and probes. Runs that started
 *    before that rule (`agent.loopActs` false) keep their recorded order through `legacyReport`.
 */
import { condition, patched, proxyActivities, setCurrentDetails } from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  FailureDetectorConfig,
  NodeAlive,
  NodeLeft,
  NodeSuspect,
  PeerLost,
  nodeAliveSignal,
  nodeLeftSignal,
  nodeSuspectSignal,
  peerLostSignal,
  probesQuery,
  suspectsQuery,
  verdictsQuery,
  type FailureDetectorState,
  type SuspectRecord,
  type Verdict,
} from '../contracts/failure-detector';
import { lbNodeHealthChangeSignal } from '../contracts/load-balancer';
import { declaredDeadSignal } from '../contracts/node-agent';
import { nodeHealthChangeSignal, type NodeHealthChangePayload } from '../contracts/node-discovery';
import { pushBounded } from '../core/bounded';
import { awarenessScaled, chooseProbers, judge, recordProbe, refutedByPeers, type JudgeParams } from '../core/fd/judge';
import { ACTIVITY } from './activity-options';
import { failureDetectorVote, type VoteDecision } from '../core/consensus/votes';
import { Agent } from './agent-base';

export const FAILURE_DETECTOR_ROLE = 'failure-detector';
/**
 * Runs since this patch read the membership beside the loop: a read whose task went to a paused
 * host (its polls still wait at the server) held the loop, and so every verdict, for up to its
 * timeouts.
 */
export const FD_MEMBERS_BESIDE_LOOP = 'fd-members-beside-loop';
/**
 * The heartbeat interval assumed for a suspicion raised by a peer's watch before the node's lease
 * says more (φ's mean; the NodeAgent's default beat).
 */
const WATCH_HEARTBEAT_MS = 1_000;
/**
 * Runs since this patch take the acceptable pause's new default (2 s) when their config names none;
 * runs that started before it keep the 3 s they judged with (a replay must reach the same verdicts).
 */
export const FD_PAUSE_DEFAULT_2S = 'fd-pause-default-2s';
const LEGACY_ACCEPTABLE_PAUSE_MS = 3_000;
/** Highest Lifeguard awareness score (memberlist's AwarenessMaxMultiplier is 8): timeouts × 9 at most. */
const AWARENESS_MAX = 8;

/** Version 2: the `reported` counters moved to the agent base (`base.notified`). */
export const FD_STATE_VERSION = 2;

export function emptyFdState(): FailureDetectorState {
  return {
    awareness: 0,
    suspects: {},
    dead: {},
    verdicts: [],
    probes: [],
    probesSent: 0,
    members: [],
    membersVersion: 0,
  };
}
type FdState = FailureDetectorState;

/** Carried state of version 1 → 2: drops `reported` (counted in `base.notified` now). */
export function migrateFdState(state: unknown, from: number): FdState {
  const s = { ...(state as FdState & { reported?: unknown }) };
  if (from < 2) delete s.reported;
  return s;
}

export async function failureDetectorWorkflow(input: unknown): Promise<void> {
  const agent = new Agent<FailureDetectorConfig, FdState>(
    {
      role: FAILURE_DETECTOR_ROLE,
      configSchema: FailureDetectorConfig,
      initialState: emptyFdState,
      stateVersion: FD_STATE_VERSION,
      migrate: migrateFdState,
      intervals: (c) => ({ topologySync: c.topologySyncIntervalMs }),
      vote: (p): VoteDecision => failureDetectorVote(p.topic, p.value, agent.state),
      health: (s) => {
        const n = Object.keys(s.suspects).length;
        return n ? { status: 'healthy', reasons: [`${n} node(s) suspect`] } : { status: 'healthy', reasons: [] };
      },
      onTopologyUpdate: (u) => {
        if (u.version < agent.state.membersVersion) return;
        agent.state.members = u.members;
        agent.state.membersVersion = u.version;
      },
    },
    input,
  );
  const named = (input as { config?: { acceptablePauseMs?: unknown } } | undefined)?.config?.acceptablePauseMs;
  if (named === undefined && !patched(FD_PAUSE_DEFAULT_2S)) agent.config.acceptablePauseMs = LEGACY_ACCEPTABLE_PAUSE_MS;
  const fd = new Detector(agent);

  // Message-handling API
  agent.onSignal(nodeSuspectSignal, NodeSuspect, (p) => fd.suspect(p));
  agent.onSignal(nodeAliveSignal, NodeAlive, (p) => fd.alive(p));
  agent.onSignal(nodeLeftSignal, NodeLeft, (p) => fd.left(p));
  agent.onSignal(peerLostSignal, PeerLost, (p) => fd.peerLost(p));
  agent.onQuery(suspectsQuery, () => Object.values(agent.state.suspects));
  agent.onQuery(verdictsQuery, () => agent.state.verdicts);
  agent.onQuery(probesQuery, () => agent.state.probes);

  // A fresh detector waits for the membership (it needs peers to ask); a continued one has it
  // carried and refreshes it beside the loop, so that a read stuck on a paused host holds nothing.
  if (fd.membersBeside && agent.state.membersVersion > 0) await fd.syncMembers();
  else await fd.readMembers();
  await agent.run({
    timers: { topologySync: () => fd.syncMembers() },
    hasWork: () => fd.dirty,
    doWork: () => fd.evaluate(),
    dueAt: () => fd.nextDue(),
    onDue: () => fd.evaluate(),
    // Probes are evidence: awaited. A membership read is not: the next run reads again.
    beforeContinueAsNew: () => condition(() => fd.probing.size === 0),
  });
}

class Detector {
  dirty = false;
  /** Watch suspicions NodeDiscovery has not been told of yet (node → reason): told by the loop. */
  private readonly unreported = new Map<string, string>();
  /** Probes under way: launched by the loop beside itself (invariant 1), awaited before continue-as-new. */
  readonly probing = new Set<Promise<void>>();
  readonly membersBeside = patched(FD_MEMBERS_BESIDE_LOOP);

  constructor(private readonly agent: Agent<FailureDetectorConfig, FdState>) {}

  private get s(): FdState {
    return this.agent.state;
  }
  private get c(): FailureDetectorConfig {
    return this.agent.config;
  }

  suspect(p: NodeSuspect): void {
    const dead = this.s.dead[p.nodeId];
    if (dead && dead.incarnation >= p.incarnation) return; // invariant 3
    // A watch's verdict may name an older incarnation than the lease's (the host's endpoint learns
    // its incarnation from the lease): the same boot is dead all the same.
    if (dead?.source === 'watch' && dead.bootId === p.bootId) return;
    const existing = this.s.suspects[p.nodeId];
    if (existing?.source === 'watch' && p.incarnation >= existing.incarnation) {
      // A peer's watch saw the process go first; now its lease lapsed too: the suspicion is the
      // lease's from here on (refuted only by a renewed lease), with the evidence gathered so far.
      Object.assign(existing, {
        source: 'lease',
        incarnation: p.incarnation,
        bootId: p.bootId,
        address: p.address,
        healthPort: p.healthPort,
        lastArrivalAt: Math.min(existing.lastArrivalAt, p.lastBeatAt),
        arrivals: p.arrivals,
        heartbeatMs: p.heartbeatMs,
      });
      this.dirty = true;
      return;
    }
    if (existing && existing.incarnation >= p.incarnation) return;
    const now = Date.now();
    this.s.suspects[p.nodeId] = {
      nodeId: p.nodeId,
      incarnation: p.incarnation,
      bootId: p.bootId,
      address: p.address,
      healthPort: p.healthPort,
      since: p.since,
      lastArrivalAt: p.lastBeatAt,
      arrivals: p.arrivals,
      heartbeatMs: p.heartbeatMs,
      probes: {},
      asked: [],
      rounds: 0,
      completedRounds: 0,
      nextProbeAt: now,
      source: 'lease',
    };
    this.verdict({ nodeId: p.nodeId, incarnation: p.incarnation, verdict: 'suspect', reason: 'lease timed out' });
    this.report(['node-discovery'], { nodeId: p.nodeId, status: 'suspect', reason: 'lease timed out' });
    this.dirty = true;
  }

  alive(p: NodeAlive): void {
    const suspect = this.s.suspects[p.nodeId];
    const dead = this.s.dead[p.nodeId];
    if (suspect && p.incarnation > suspect.incarnation) {
      delete this.s.suspects[p.nodeId];
      this.verdict({
        nodeId: p.nodeId,
        incarnation: p.incarnation,
        verdict: 'refuted',
        reason: p.reason ?? 'lease renewed',
        afterMs: Date.now() - suspect.since,
      });
      this.report(['node-discovery'], { nodeId: p.nodeId, status: 'alive', reason: 'refuted: lease renewed' });
    }
    if (dead && p.incarnation > dead.incarnation) {
      delete this.s.dead[p.nodeId];
      this.verdict({
        nodeId: p.nodeId,
        incarnation: p.incarnation,
        verdict: 'rejoined',
        reason: p.reason ?? 'host back',
      });
      this.report(['node-discovery', 'load-balancer', 'orchestrator'], {
        nodeId: p.nodeId,
        status: 'alive',
        reason: `rejoined as incarnation ${p.incarnation}`,
      });
    }
  }

  /**
   * A peer's watch on the node broke and a reconnect was refused: one strong observation. It raises
   * a suspicion (or adds to one) and the loop probes at once; the probers confirm or refute it.
   */
  peerLost(p: PeerLost): void {
    const member = this.s.members.find((m) => m.nodeId === p.nodeId);
    if (!member || member.status === 'left') return;
    const dead = this.s.dead[p.nodeId];
    if (dead?.bootId === p.bootId) return; // that boot is dead already
    // The NodeAgent's incarnation, as the host's endpoint said (NodeDiscovery counts its own); a host
    // that crashed before its first lease said none: the newest this detector knows.
    const incarnation = p.incarnation ?? Math.max(dead?.incarnation ?? 0, this.s.suspects[p.nodeId]?.incarnation ?? 0);
    if (dead && dead.incarnation > incarnation) return;
    const now = Date.now();
    const evidence = { observer: p.observer, evidence: p.evidence, at: now, latencyMs: 0, error: p.detail };
    const existing = this.s.suspects[p.nodeId];
    if (existing) {
      if (existing.bootId === p.bootId) recordProbe(existing, evidence);
      this.dirty = true;
      return;
    }
    const x: SuspectRecord = {
      nodeId: p.nodeId,
      incarnation,
      bootId: p.bootId,
      address: member.address,
      healthPort: member.healthPort,
      since: now,
      lastArrivalAt: now,
      arrivals: { count: 0, meanMs: 0, stdMs: 0 },
      heartbeatMs: WATCH_HEARTBEAT_MS,
      probes: {},
      asked: [],
      rounds: 0,
      completedRounds: 0,
      nextProbeAt: now,
      source: 'watch',
    };
    recordProbe(x, evidence);
    this.s.suspects[p.nodeId] = x;
    const reason = `${p.observer}'s watch: ${p.detail || 'connection lost'}`;
    this.verdict({ nodeId: p.nodeId, incarnation: x.incarnation, verdict: 'suspect', reason });
    // NodeDiscovery hears of it from the loop, and only if it is not decided in the same step: two
    // signals sent in one workflow task may arrive in either order, and a 'suspect' that overtook
    // its 'dead' would leave the dead host listed as suspect.
    this.unreported.set(p.nodeId, reason);
    this.dirty = true;
  }

  left(p: NodeLeft): void {
    const had = this.s.suspects[p.nodeId] ?? this.s.dead[p.nodeId];
    delete this.s.suspects[p.nodeId];
    delete this.s.dead[p.nodeId];
    if (had)
      this.verdict({ nodeId: p.nodeId, incarnation: had.incarnation, verdict: 'left', reason: 'left gracefully' });
  }

  nextDue(): number | undefined {
    let due: number | undefined;
    for (const x of Object.values(this.s.suspects)) {
      const t = Math.min(x.nextProbeAt, x.lastJudgement?.recheckAt ?? x.nextProbeAt);
      due = due === undefined ? t : Math.min(due, t);
    }
    return due;
  }

  async evaluate(): Promise<void> {
    this.dirty = false;
    const now = Date.now();
    for (const x of Object.values(this.s.suspects)) {
      if (x.nextProbeAt <= now) this.probeRound(x, now);
      const j = judge(x, now, this.params(x));
      x.lastJudgement = j;
      // A watch suspicion is judged like any other; before that, the probers may refute it.
      const refuted =
        x.source !== 'watch'
          ? undefined
          : x.asked.length === 0
            ? 'no peer to confirm a watch report; the lease decides'
            : refutedByPeers(x);
      const told = this.unreported.get(x.nodeId);
      this.unreported.delete(x.nodeId);
      if (refuted !== undefined) this.watchRefuted(x, refuted, now, told !== undefined);
      else if (j.verdict === 'dead') await this.declareDead(x, j.reason, now);
      else if (told !== undefined)
        this.report(['node-discovery'], { nodeId: x.nodeId, status: 'suspect', reason: told });
    }
    this.show();
  }

  /** A watch suspicion the probers did not confirm: the watch broke, not the process. */
  private watchRefuted(x: SuspectRecord, why: string, now: number, untold: boolean): void {
    delete this.s.suspects[x.nodeId];
    this.verdict({
      nodeId: x.nodeId,
      incarnation: x.incarnation,
      verdict: 'refuted',
      reason: why,
      afterMs: now - x.since,
    });
    // NodeDiscovery never heard of the suspicion: nothing to take back.
    if (!untold) this.report(['node-discovery'], { nodeId: x.nodeId, status: 'alive', reason: `refuted: ${why}` });
  }

  private params(x: SuspectRecord): JudgeParams {
    return awarenessScaled(this.baseParams(x), this.s.awareness ?? 0);
  }

  private baseParams(x: SuspectRecord): JudgeParams {
    return {
      acceptablePauseMs: this.c.acceptablePauseMs,
      minStdDevMs: this.c.minStdDevMs,
      phiThreshold: this.c.phiThreshold,
      suspicion: { minMs: this.c.suspicionMinMs, maxMs: this.c.suspicionMaxMs },
      heartbeatIntervalMs: x.heartbeatMs,
    };
  }

  /** Live peers that may probe: alive members that are neither suspect nor dead here. */
  private peers(): string[] {
    return this.s.members
      .filter((m) => m.status === 'alive' && !this.s.suspects[m.nodeId] && !this.s.dead[m.nodeId])
      .map((m) => m.nodeId)
      .sort();
  }

  private probeRound(x: SuspectRecord, now: number): void {
    const probers = chooseProbers(this.peers(), x.nodeId, this.c.indirectProbes, x.rounds);
    x.asked = probers;
    x.rounds += 1;
    x.nextProbeAt = now + this.c.probeIntervalMs;
    let pending = probers.length;
    let unanswered = 0;
    for (const observer of probers) {
      this.s.probesSent += 1;
      const launched: Promise<void> = this.probe(observer, x).then((answered) => {
        this.probing.delete(launched);
        pending -= 1;
        // Lifeguard awareness: each probe our own observer did not answer makes us slower to
        // condemn, at once; a round that fully answered earns one step back.
        if (!answered) {
          unanswered += 1;
          this.s.awareness = Math.min(AWARENESS_MAX, (this.s.awareness ?? 0) + 1);
          this.dirty = true;
        }
        if (pending > 0) return;
        if (!unanswered) this.s.awareness = Math.max(0, (this.s.awareness ?? 0) - 1);
        if (this.s.suspects[x.nodeId] === x) x.completedRounds += 1;
      });
      this.probing.add(launched);
    }
  }

  /** True when the observer answered (whatever it saw). */
  private async probe(observer: string, x: SuspectRecord): Promise<boolean> {
    const { probeNode } = proxyActivities<Activities>({
      ...ACTIVITY.indirectProbe(observer, this.c.probeTimeoutMs),
      summary: `probe ${x.nodeId}'s health endpoint from ${observer} (${x.source === 'watch' ? "a peer's watch broke" : 'its lease timed out'})`,
    });
    const scheduledAt = Date.now();
    let result;
    try {
      result = await probeNode({
        nodeId: x.nodeId,
        address: x.address,
        healthPort: x.healthPort,
        bootId: x.bootId,
        timeoutMs: this.c.probeTimeoutMs,
      });
    } catch {
      return false; // the observer itself did not answer: no evidence either way
    }
    const at = Date.now();
    const evidence = { ...result, at };
    pushBounded(this.s.probes, { ...evidence, nodeId: x.nodeId, roundTripMs: at - scheduledAt }, this.c.probeWindow);
    if (this.s.suspects[x.nodeId] !== x) return true; // invariant 2
    recordProbe(x, evidence);
    this.dirty = true;
    return true;
  }

  private async declareDead(x: SuspectRecord, reason: string, now: number): Promise<void> {
    delete this.s.suspects[x.nodeId];
    this.s.dead[x.nodeId] = {
      incarnation: x.incarnation,
      bootId: x.bootId,
      at: now,
      reason,
      ...(x.source === 'watch' ? { source: 'watch' as const } : {}),
    };
    this.verdict({ nodeId: x.nodeId, incarnation: x.incarnation, verdict: 'dead', reason, afterMs: now - x.since });
    const payload: NodeHealthChangePayload = {
      nodeId: x.nodeId,
      status: 'dead',
      reason,
      observer: FAILURE_DETECTOR_ROLE,
    };
    const dead = { incarnation: x.incarnation, reason, by: FAILURE_DETECTOR_ROLE };
    if (!this.agent.loopActs) {
      await Promise.all([
        this.legacyReport(['node-discovery', 'load-balancer', 'orchestrator'], payload),
        this.agent.sendNow(`node/${x.nodeId}`, declaredDeadSignal, dead),
      ]);
      return;
    }
    this.report(['node-discovery', 'load-balancer', 'orchestrator'], payload);
    this.agent.notify(`node/${x.nodeId}`, declaredDeadSignal, dead);
  }

  /** The periodic membership read: beside the loop (one at a time), or awaited in runs before the patch. */
  async syncMembers(): Promise<void> {
    if (!this.membersBeside) return this.readMembers();
    this.agent.beside('members', () => this.readMembers(), { abandonable: true });
  }

  async readMembers(): Promise<void> {
    const read = await this.agent.readMembers();
    if (read && read.version >= this.s.membersVersion) {
      this.s.members = read.members;
      this.s.membersVersion = read.version;
    }
  }

  private verdict(v: Omit<Verdict, 'at'>): void {
    pushBounded(this.s.verdicts, { at: Date.now(), ...v }, this.c.verdictHistorySize);
    this.show();
  }

  /** What the detector is doing now, for the Web UI's current details (metadata, not history). */
  show(): void {
    const time = (ms: number) => new Date(ms).toISOString().slice(11, 23);
    const suspects = Object.values(this.s.suspects).map((x) => {
      const confirmed = x.lastJudgement?.confirmations.length ?? 0;
      return `- **${x.nodeId}** (incarnation ${x.incarnation}) suspect since ${time(x.since)} on its ${x.source === 'watch' ? "peers' watch" : 'lease'}; ${confirmed} of ${x.asked.length} asked confirm; round ${x.rounds}`;
    });
    const recent = this.s.verdicts
      .slice(-8)
      .reverse()
      .map((v) => `- ${time(v.at)} **${v.nodeId}** ${v.verdict}: ${v.reason}`);
    setCurrentDetails(
      [
        `**Suspects** (${suspects.length})`,
        '',
        ...(suspects.length ? suspects : ['- none']),
        '',
        `**Latest verdicts** (awareness ${this.s.awareness ?? 0} of ${AWARENESS_MAX}; times UTC)`,
        '',
        ...(recent.length ? recent : ['- none yet']),
      ].join('\n'),
    );
  }

  /** Tells `roles` about a node (queued for the loop; invariant 4). */
  private report(roles: string[], payload: NodeHealthChangePayload): void {
    if (!this.agent.loopActs) {
      this.agent.legacyLaunch('report', () => this.legacyReport(roles, payload));
      return;
    }
    for (const role of roles)
      this.agent.notify(role, role === 'load-balancer' ? lbNodeHealthChangeSignal : nodeHealthChangeSignal, payload);
  }

  private async legacyReport(roles: string[], payload: NodeHealthChangePayload): Promise<void> {
    await Promise.all(
      roles.map((role) =>
        this.agent.sendNow(role, role === 'load-balancer' ? lbNodeHealthChangeSignal : nodeHealthChangeSignal, payload),
      ),
    );
  }
}
