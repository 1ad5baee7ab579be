/**
 * NetworkPartitionHandler (`<clusterId>/partition-handler`): the reachability graph the hosts
 * report (changes only, through their NodeAgents), the partitions it shows, which side keeps
 * serving, and the fences on the others.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { z } from 'zod';
import { BaseConfig, NodeId } from './common';

export const PARTITION_ROLE = 'partition-handler';
/** Memo field with the fences (hosts read it with `describe`, no query). */
export const FENCES_MEMO = 'fences';
/**
 * Memo field with the latest partitions (`PARTITIONS_MEMO_KEPT`), without their shape and decision
 * histories: the network_partition procedure reads its scope with `describe`, which the server
 * answers alone (a query waits for a worker, 10.3 s in a nemesis run while the handler's sticky
 * worker was cut off).
 */
export const PARTITIONS_MEMO = 'partitions';
export const PARTITIONS_MEMO_KEPT = 3;

const STRATEGY = /^(keep-majority|keep-oldest|static-quorum:([1-9][0-9]{0,3})|keep-referee:([A-Za-z0-9][A-Za-z0-9_.-]{0,62}))$/;
export const PartitionStrategy = z
  .string()
  .regex(STRATEGY, 'expected keep-majority, static-quorum:N, keep-oldest or keep-referee:NODE');

const Ms = (min: number, max: number) => z.number().int().min(min).max(max);

export const PartitionHandlerConfig = BaseConfig.extend({
  strategy: PartitionStrategy.default('keep-majority'),
  /** The graph must not change for this long before a side is chosen (ms), plus `stableAfterPerHostMs` per host. */
  stableAfterMs: Ms(0, 600_000).default(5_000),
  stableAfterPerHostMs: Ms(0, 60_000).default(200),
  /**
   * A graph that keeps moving (or whose strategy cannot choose) is decided by the fallback this long
   * after the window, counted from when it left its last whole or decided shape (ms). 1 000: a
   * cut's first report comes up to 1.6 s after the cut (a 1 s round, a 300 ms probe tried twice),
   * so every cut is decided within the window + 3 s of it.
   */
  decisionMarginMs: Ms(0, 600_000).default(1_000),
  /** How often the members are read from NodeDiscovery (ms). */
  membersIntervalMs: Ms(100, 600_000).default(2_000),
  /** Partitions kept (default 10). */
  historySize: z.number().int().min(1).max(1_000).default(10),
  /**
   * Once the graph is whole and stable, the network_partition procedure lifts the fences (after a
   * consensus round); if it has not within this long, the handler lifts them itself (ms).
   */
  healFallbackMs: Ms(0, 3_600_000).default(30_000),
  /**
   * A host NodeDiscovery calls dead stays in the graph only while it shows that it runs: its last
   * report came within this long and misses a live member. A host cut off from its peers sends
   * its report again every 2 s while it misses one; a killed host sends nothing more (ms).
   */
  cutReportFreshMs: Ms(500, 600_000).default(5_000),
  /**
   * The handler rolls over after 80 signals, not the base's 1,000. During a cut every host sends
   * its report every 2 s, and a continue-as-new that races one fails. The SDK then evicts the run
   * and replays its whole history. A run of 1,000 signals took seconds to replay, and reports came
   * in faster than that. Every attempt failed until the server refused signals: nemesis run 7,
   * where no host could report for ~10 s and a heal took 19.4 s. A short run replays in a fraction
   * of a second. 200 signals still made ~2,200 events, which a loaded host replayed in 2.1 s
   * (nemesis run F: the run refused signals as closing all that time, and a heal took 11 s); 80
   * make ~900.
   */
  continueAsNewAfterSignals: z.number().int().min(10).max(1_000_000).default(80),
});
export type PartitionHandlerConfig = z.infer<typeof PartitionHandlerConfig>;

/** What one host reaches now (from its NodeAgent, when it changed). */
export const ReachabilityReport = z.object({
  nodeId: NodeId,
  /** Peers whose health endpoint answered at the host's last check. */
  reachable: z.array(NodeId).max(10_000),
  /** Peers it checked and could not reach. */
  unreachable: z.array(NodeId).max(10_000).default([]),
  /** Round-trip times to the peers it reached (ms). */
  rttMs: z.record(z.string(), z.number().nonnegative()).default({}),
  /** When the host checked (its clock, epoch ms). */
  at: z.number(),
  /**
   * The same reachable set as the host's last report, sent again because the host still misses a
   * peer NodeDiscovery holds alive: it shows the handler that the host still runs (hosts before
   * this field reported changes only).
   */
  unchanged: z.boolean().optional(),
});
export type ReachabilityReport = z.infer<typeof ReachabilityReport>;

export interface Fence {
  generation: number;
  since: number;
  reason: string;
}

/** The memo hosts read: the fenced hosts and the generation of the latest decision. */
export const FencesMemo = z.object({
  generation: z.number().int().nonnegative(),
  fenced: z.record(z.string(), z.object({ generation: z.number(), since: z.number(), reason: z.string() })),
  /**
   * The `at` of the latest report the handler holds from each host: a host whose last report is
   * not here sends it again (it may have gone out while the handler did not run).
   */
  seen: z.record(z.string(), z.number()).default({}),
});
export type FencesMemo = z.infer<typeof FencesMemo>;

export interface PartitionRecord {
  /** `p<generation>`-style id: the first decision's generation, or `p-<startedAt>` while undecided. */
  id: string;
  /** The graph first showed it (the first report that split it). */
  startedAt: number;
  sides: string[][];
  indirect: string[];
  /** Members that did not hold the server (not alive in the membership): on no serving side. */
  offServer: string[];
  /**
   * Each shape the graph took while the partition was open, and when (the last 20): every change
   * restarts the stable window, so this is where the time before a decision went.
   */
  shapes?: { at: number; sides: string[][]; indirect: string[] }[];
  /** The first decision. */
  decidedAt?: number;
  /** The decision in force (the latest). */
  keep?: string[];
  fenced?: string[];
  reason?: string;
  generation?: number;
  /** The last side that kept serving in this partition: a later decision keeps a side that holds one of it. */
  served?: string[];
  /** Set when a later decision left no side serving: an operator must choose. */
  escalated?: string;
  /** Every decision taken in this partition (the last 10): a crash or a change of the cut brings a new one. */
  decisions?: { at: number; generation: number; keep?: string[]; fenced: string[]; reason: string }[];
  /** The graph was whole and stable again (the procedure was told). */
  healedAt?: number;
  /**
   * The procedure's word (the agents agreed the partition is over) that came while the graph was
   * split again after the heal was told: it lifts the fences as soon as the graph is whole and
   * stable again, unless the handler decides anew first. Ignored, it was lost: the procedure had
   * ended, and only the 30 s fallback lifted the fences (nemesis run P).
   */
  agreed?: { at: number; by: string };
  /** The graph split again after the heal was told, before the fences were lifted (cleared by a new decision). */
  splitAfterHealAt?: number;
  /** The fences were lifted, and by whom (the procedure after a consensus round, or the fallback). */
  unfencedAt?: number;
  unfencedBy?: string;
}

/** A partition as the handler's memo holds it (`PARTITIONS_MEMO`). */
export type PartitionSummary = Omit<PartitionRecord, 'shapes' | 'decisions'>;

/** The memo's partitions, compact: the latest `PARTITIONS_MEMO_KEPT` records without their histories. */
export function partitionSummaries(records: PartitionRecord[]): PartitionSummary[] {
  return records.slice(-PARTITIONS_MEMO_KEPT).map(({ shapes: _shapes, decisions: _decisions, ...r }) => r);
}

export interface PartitionHandlerState {
  views: Record<
    string,
    {
      reachable: string[];
      rttMs: Record<string, number>;
      at: number;
      receivedAt: number;
      /** Since when (received, ms) each peer it misses has been missed in its reports. */
      missingSince?: Record<string, number>;
    }
  >;
  /** NodeDiscovery's members (not left), with when they joined and since when their status holds. */
  members: Record<string, { joinedAt: number; status: string; statusSince?: number }>;
  membersVersion: number;
  /**
   * The graph as last evaluated: since when it has looked like this, when it was last looked at,
   * and since when it has moved without a decision (absent: whole, or the shape is decided).
   */
  current: {
    signature: string;
    since: number;
    whole: boolean;
    sides: string[][];
    indirect: string[];
    checkedAt?: number;
    unsettledSince?: number;
  };
  generation: number;
  fenced: Record<string, Fence>;
  /** The partition now open (not healed), as an index into `partitions`. */
  open?: string;
  partitions: PartitionRecord[];
  reports: number;
}

/** To the handler, from the network_partition procedure: the agents agreed, lift the fences. */
export const UnfencePayload = z.object({
  partitionId: z.string().min(1).max(100),
  by: z.string().min(1).max(300),
  reason: z.string().max(2_000).default(''),
});
export type UnfencePayload = z.infer<typeof UnfencePayload>;
export const unfenceSignal = defineSignal<[UnfencePayload]>('unfence');

/** To the network_partition procedure, from the handler: the graph is whole and stable again. */
export const PartitionHealedPayload = z.object({ partitionId: z.string().min(1), at: z.number() });
export type PartitionHealedPayload = z.infer<typeof PartitionHealedPayload>;
export const partitionHealedSignal = defineSignal<[PartitionHealedPayload]>('partitionHealed');

/**
 * To the network_partition procedure, from the handler: a later decision on its partition (a crash
 * on the kept side, a change of the cut). `escalate`: no side serves any more, an operator must choose.
 */
export const PartitionDecidedPayload = z.object({
  partitionId: z.string().min(1),
  generation: z.number().int(),
  keep: z.array(z.string()),
  fenced: z.array(z.string()),
  reason: z.string(),
  escalate: z.string().optional(),
});
export type PartitionDecidedPayload = z.infer<typeof PartitionDecidedPayload>;
export const partitionDecidedSignal = defineSignal<[PartitionDecidedPayload]>('partitionDecided');

export const reachabilitySignal = defineSignal<[ReachabilityReport]>('reachability');
export const partitionsQuery = defineQuery<PartitionRecord[]>('partitions');
export const reachabilityQuery = defineQuery<PartitionHandlerState['views']>('reachability');

export const PARTITION_SIGNALS = { reachability: ReachabilityReport, unfence: UnfencePayload } as const;
export const PARTITION_QUERIES = ['partitions', 'reachability'] as const;
