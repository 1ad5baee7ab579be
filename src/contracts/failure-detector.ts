/**
 * FailureDetector: confirms or refutes the suspicions NodeAgents raise, with indirect probes from
 * k peers (SWIM), φ-accrual over arrivals and a Lifeguard suspicion timeout (src/core/fd).
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { z } from 'zod';
import { BaseConfig, NodeId, Port, type MemberSummary } from './common';

/** Inter-arrival statistics of a host's heartbeats (src/core/fd/phi.ts computes them). */
export interface ArrivalStats {
  /** Intervals counted. */
  count: number;
  /** Mean inter-arrival interval (ms). */
  meanMs: number;
  /** Standard deviation of the intervals (ms). */
  stdMs: number;
}

export const PROBE_EVIDENCE = ['answered', 'refused', 'rebooted', 'timeout', 'error'] as const;
export type ProbeEvidenceKind = (typeof PROBE_EVIDENCE)[number];
export interface ProbeEvidence {
  observer: string;
  evidence: ProbeEvidenceKind;
  /** When the result reached the agent (workflow time, ms). */
  at: number;
  latencyMs: number;
  httpStatus?: number;
  error?: string;
}

export interface Suspicion {
  nodeId: string;
  incarnation: number;
  bootId: string;
  address: string;
  healthPort: number;
  /** When the suspicion began (workflow time). */
  since: number;
  /** Last heartbeat that reached the server, or last answered probe (workflow time). */
  lastArrivalAt: number;
  arrivals: ArrivalStats;
  /** The latest result of each observer. */
  probes: Record<string, ProbeEvidence>;
  /** Probers asked in the latest round. */
  asked: string[];
  rounds: number;
  /** Rounds whose probes all came back. */
  completedRounds: number;
  declaredDeadAt?: number;
  /**
   * What raised the suspicion: the node's lease (its NodeAgent) or a peer's broken watch. A watch
   * suspicion ends when the probers reach the same boot; a lease suspicion only when the lease is
   * held again. Absent: the lease (records from before watches).
   */
  source?: 'lease' | 'watch';
}

export interface Judgement {
  verdict: 'dead' | 'wait';
  phi: number;
  confirmations: string[];
  weak: string[];
  /** Suspicion timeout for the confirmations so far (ms). */
  timeoutMs: number;
  /** When to judge again if nothing new arrives (workflow time). */
  recheckAt: number;
  reason: string;
}

export const FailureDetectorConfig = BaseConfig.extend({
  /** Peers asked to probe a suspect (SWIM's k, default 3: memberlist's IndirectChecks). */
  indirectProbes: z.number().int().min(0).max(16).default(3),
  /** One probe's connect + answer timeout (ms, default 500); the activity gets 1 s more to report. */
  probeTimeoutMs: z.number().int().min(20).max(30_000).default(500),
  /** A new round of probes while the suspicion lasts (ms, default 1 000). */
  probeIntervalMs: z.number().int().min(50).max(60_000).default(1_000),
  /** φ at which silence alone (with agreeing peers) is death (default 8: Akka's; 1 error in 10⁸). */
  phiThreshold: z.number().min(0.5).max(50).default(8),
  /** Floor of σ in φ (ms, default 100: Akka's `min-std-deviation`). */
  minStdDevMs: z.number().int().min(1).max(60_000).default(100),
  /**
   * Pause a host may take without being condemned on silence (ms, default 2 000; Akka's
   * `acceptable-heartbeat-pause` is 3 000). φ's mean is the mean interval plus this; with 1 s beats
   * and the default σ floor, silence condemns after about 1 000 + 2 000 + 520 ms: a host that went
   * silent at the default lease (1 s / 3 s) is dead within 1.2 × its lease timeout, and a pause
   * shorter than 2 s is never condemned (its lease does not even lapse). Runs that started with
   * the earlier default (3 000) keep it (patch fd-pause-default-2s).
   */
  acceptablePauseMs: z.number().int().min(0).max(600_000).default(2_000),
  /** Suspicion timeout once every asked peer confirmed (ms, default 200). */
  suspicionMinMs: z.number().int().min(0).max(600_000).default(200),
  /** Suspicion timeout with no confirmation (ms, default 6 000: twice the default lease). */
  suspicionMaxMs: z.number().int().min(100).max(3_600_000).default(6_000),
  /** Verdicts kept for `verdicts` (default 200). */
  verdictHistorySize: z.number().int().min(1).max(10_000).default(200),
  /** Probe round trips kept for `probes` (default 200). */
  probeWindow: z.number().int().min(1).max(10_000).default(200),
}).refine((c) => c.suspicionMaxMs >= c.suspicionMinMs, {
  message: 'expected suspicionMaxMs to be at least suspicionMinMs',
  path: ['suspicionMaxMs'],
});
export type FailureDetectorConfig = z.infer<typeof FailureDetectorConfig>;

const Arrivals = z.object({
  count: z.number().int().nonnegative(),
  meanMs: z.number().nonnegative(),
  stdMs: z.number().nonnegative(),
});

/** From a NodeAgent: its lease timed out. */
export const NodeSuspect = z.object({
  nodeId: NodeId,
  incarnation: z.number().int().nonnegative(),
  bootId: z.string().min(1),
  address: z.string().min(1),
  healthPort: Port,
  /** When the lease timed out (the NodeAgent's workflow time). */
  since: z.number(),
  /** The last heartbeat that reached the server (workflow time). */
  lastBeatAt: z.number(),
  arrivals: Arrivals,
  heartbeatMs: z.number().int().positive(),
});
export type NodeSuspect = z.infer<typeof NodeSuspect>;

/** From a NodeAgent: its host holds the lease again (refuted, restarted or rejoined). */
export const NodeAlive = z.object({
  nodeId: NodeId,
  incarnation: z.number().int().nonnegative(),
  bootId: z.string().min(1),
  reason: z.string().optional(),
});
export type NodeAlive = z.infer<typeof NodeAlive>;

export const NodeLeft = z.object({ nodeId: NodeId, bootId: z.string().optional() });
export type NodeLeft = z.infer<typeof NodeLeft>;

/**
 * From a host worker's peer watch (src/workers/peer-watch.ts): its long-lived connection to the
 * node's health endpoint closed without a goodbye and a reconnect was refused — the process is
 * gone. Strong evidence from one observer: the detector confirms it with a probe round at once.
 */
export const PeerLost = z.object({
  nodeId: NodeId,
  /** The boot the watch was connected to. */
  bootId: z.string().min(1).max(200),
  /**
   * The incarnation its NodeAgent held the lease under, as the host's endpoint said; absent when
   * the host crashed before its first lease (the detector then uses the newest it knows).
   */
  incarnation: z.number().int().nonnegative().optional(),
  /** The watching host. */
  observer: NodeId,
  evidence: z.enum(['refused']),
  detail: z.string().max(500),
});
export type PeerLost = z.infer<typeof PeerLost>;

export interface SuspectRecord extends Suspicion {
  heartbeatMs: number;
  lastJudgement?: Judgement;
  /** When the next probe round is due (workflow time). */
  nextProbeAt: number;
}

export interface Verdict {
  at: number;
  nodeId: string;
  incarnation: number;
  verdict: 'suspect' | 'dead' | 'refuted' | 'rejoined' | 'left';
  reason: string;
  /** Time from the suspicion to this verdict (ms). */
  afterMs?: number;
}

export interface ProbeRecord extends ProbeEvidence {
  nodeId: string;
  /** Activity scheduled → result in the agent (ms, workflow time). */
  roundTripMs: number;
}

export interface FailureDetectorState {
  /** Lifeguard local health awareness, 0..8: timeouts are stretched × (score + 1). */
  awareness?: number;
  suspects: Record<string, SuspectRecord>;
  /** Nodes declared dead, by id, with the incarnation that died. */
  dead: Record<
    string,
    {
      incarnation: number;
      bootId: string;
      at: number;
      reason: string;
      /** A suspicion raised by a peer's watch became this verdict (absent: the lease's). */
      source?: 'watch';
    }
  >;
  verdicts: Verdict[];
  probes: ProbeRecord[];
  probesSent: number;
  /** Members as NodeDiscovery last told (broadcast or read): the probers come from these. */
  members: MemberSummary[];
  membersVersion: number;
}

export const nodeSuspectSignal = defineSignal<[NodeSuspect]>('nodeSuspect');
export const nodeAliveSignal = defineSignal<[NodeAlive]>('nodeAlive');
export const nodeLeftSignal = defineSignal<[NodeLeft]>('nodeLeft');
export const peerLostSignal = defineSignal<[PeerLost]>('peerLost');

export const suspectsQuery = defineQuery<SuspectRecord[]>('suspects');
export const verdictsQuery = defineQuery<Verdict[]>('verdicts');
export const probesQuery = defineQuery<ProbeRecord[]>('probes');

export const FAILURE_DETECTOR_SIGNALS = {
  nodeSuspect: NodeSuspect,
  nodeAlive: NodeAlive,
  nodeLeft: NodeLeft,
  peerLost: PeerLost,
} as const;
export const FAILURE_DETECTOR_QUERIES = ['suspects', 'verdicts', 'probes'] as const;
