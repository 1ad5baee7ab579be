/**
 * Messages and data every agent shares (the spec's BaseAgent). zod schemas are the single source
 * of truth; each message has one input object.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';

export const NodeStatus = z.enum(['alive', 'suspect', 'dead', 'left']);
export type NodeStatus = z.infer<typeof NodeStatus>;

export const NodeHealth = z.enum(['healthy', 'degraded', 'unhealthy', 'unknown']);
export type NodeHealth = z.infer<typeof NodeHealth>;

export const AgentHealthStatus = z.enum(['healthy', 'degraded', 'unhealthy']);
export type AgentHealthStatus = z.infer<typeof AgentHealthStatus>;

export const NodeId = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/,
    'expected 1-63 letters, digits, "-", "_" or ".", starting with a letter or digit',
  );
export const Port = z.number().int().min(1).max(65535);
const Millis = (min: number) => z.number().int().min(min);

/** Free-form JSON a message may carry: at most this deep and this long once encoded. */
export const FREE_JSON_MAX_DEPTH = 32;
export const FREE_JSON_MAX_CHARS = 16_384;

/**
 * True when `value` is JSON no deeper than FREE_JSON_MAX_DEPTH with at most FREE_JSON_MAX_CHARS
 * characters. Iterative: a value nested 40 000 deep (which a foreign client once sent, and which
 * then broke every query and continue-as-new of the agent that kept it) must not blow the stack.
 */
export function isBoundedJson(value: unknown): boolean {
  const stack: { v: unknown; depth: number }[] = [{ v: value, depth: 0 }];
  let chars = 0;
  while (stack.length) {
    const { v, depth } = stack.pop() as { v: unknown; depth: number };
    if (depth > FREE_JSON_MAX_DEPTH) return false;
    if (v === null || typeof v === 'boolean') chars += 5;
    else if (typeof v === 'number') chars += Number.isFinite(v) ? String(v).length : Infinity;
    else if (typeof v === 'string') chars += v.length + 2;
    else if (typeof v === 'object') {
      const entries = Array.isArray(v) ? v.map((x) => ['', x] as const) : Object.entries(v as object);
      chars += 2;
      for (const [k, x] of entries) {
        chars += k.length + 4;
        stack.push({ v: x, depth: depth + 1 });
      }
    } else return false; // undefined, functions, bigint: not JSON
    if (chars > FREE_JSON_MAX_CHARS) return false;
  }
  return true;
}

const FREE_JSON = {
  message: `expected JSON at most ${FREE_JSON_MAX_DEPTH} deep and ${FREE_JSON_MAX_CHARS} characters long`,
};
export const FreeJson = z.unknown().refine(isBoundedJson, FREE_JSON);

/**
 * Timers every agent runs. Defaults are the spec's; tests set them far lower.
 */
export const BaseConfig = z.object({
  /** How often the agent records that it is alive (ms, default 5 s). Its `state` shows the last tick. */
  heartbeatIntervalMs: Millis(50).default(5_000),
  /** How often the agent re-evaluates its own health (ms, default 10 s). */
  healthCheckIntervalMs: Millis(50).default(10_000),
  /** How often topology is re-synchronised (ms, default 15 s). */
  topologySyncIntervalMs: Millis(50).default(15_000),
  /** Rejected messages kept in state for operators to read (default 20). */
  rejectionHistorySize: z.number().int().min(1).max(1000).default(20),
  /**
   * A run continues as new once it has taken this many signals (default 1,000), whatever the
   * history's length. Temporal cannot continue a run as new while signals keep arriving (each
   * attempt fails and is retried with them) until it refuses signals past
   * `history.maximumSignalsPerExecution` (10,000 by default; 1,200 on the servers this project
   * starts): rolling over well before that limit keeps a flooded run short and its refusals few.
   */
  continueAsNewAfterSignals: z.number().int().min(10).max(1_000_000).default(1_000),
});
export type BaseConfig = z.infer<typeof BaseConfig>;

export const HeartbeatPayload = z.object({
  from: z.string().min(1),
  at: z.number().optional(),
  details: z.record(z.string(), z.unknown()).refine(isBoundedJson, FREE_JSON).optional(),
});
export type HeartbeatPayload = z.infer<typeof HeartbeatPayload>;

export const MemberSummary = z.object({
  nodeId: NodeId,
  status: NodeStatus,
  health: NodeHealth,
  address: z.string(),
  healthPort: Port,
  zone: z.string(),
  incarnation: z.number().int().nonnegative(),
  /** Services the host serves, NAME → port (load-balancing targets). */
  services: z.record(z.string(), Port).optional(),
});
export type MemberSummary = z.infer<typeof MemberSummary>;

export const TopologyChangeKind = z.enum([
  'joined',
  'rejoined',
  'restarted',
  'recovered',
  'suspect',
  'dead',
  'left',
  'health',
]);
export type TopologyChangeKind = z.infer<typeof TopologyChangeKind>;

export const TopologyChange = z.object({
  version: z.number().int().nonnegative(),
  at: z.number(),
  nodeId: z.string(),
  kind: TopologyChangeKind,
  from: z.string().optional(),
  to: z.string().optional(),
  source: z.string().optional(),
  reason: z.string().optional(),
});
export type TopologyChange = z.infer<typeof TopologyChange>;

export const TopologyUpdatePayload = z.object({
  version: z.number().int().nonnegative(),
  at: z.number(),
  members: z.array(MemberSummary),
  changes: z.array(TopologyChange),
});
export type TopologyUpdatePayload = z.infer<typeof TopologyUpdatePayload>;

export const HealthCheckLevel = z.enum(['basic', 'comprehensive', 'deep', 'predictive']);
export const HealthCheckRequestPayload = z.object({
  from: z.string().min(1),
  requestId: z.string().optional(),
  level: HealthCheckLevel.default('basic'),
  nodeId: z.string().optional(),
});
export type HealthCheckRequestPayload = z.infer<typeof HealthCheckRequestPayload>;

export const ConsensusRequestPayload = z.object({
  proposalId: z.string().min(1),
  from: z.string().min(1),
  topic: z.string().min(1),
  value: FreeJson,
  /**
   * The round's workflow id (`<clusterId>/consensus/<topic>/<seq>`): the agent answers there with a
   * `consensusVote` signal. Requests without it are recorded and not answered.
   */
  replyTo: z.string().min(1).max(300).optional(),
});
export type ConsensusRequestPayload = z.infer<typeof ConsensusRequestPayload>;

export const AgentHealth = z.object({
  role: z.string(),
  status: AgentHealthStatus,
  checkedAt: z.number(),
  reasons: z.array(z.string()),
});
export type AgentHealth = z.infer<typeof AgentHealth>;
/** Memo key under which every agent publishes its AgentHealth (read with `describe`, no query). */
export const HEALTH_MEMO = 'health';

export const Rejection = z.object({
  kind: z.enum(['signal', 'input']),
  name: z.string(),
  error: z.string(),
  at: z.number(),
});
export type Rejection = z.infer<typeof Rejection>;

/** What every agent keeps besides its own state; JSON-safe, carried across continue-as-new. */
export const BaseState = z.object({
  role: z.string(),
  clusterId: z.string(),
  startedAt: z.number(),
  runStartedAt: z.number(),
  runs: z.number().int().nonnegative(),
  lastTickAt: z.number(),
  heartbeats: z.object({ received: z.number(), lastFrom: z.string().optional(), lastAt: z.number().optional() }),
  topology: z.object({ version: z.number(), receivedAt: z.number().optional(), members: z.array(MemberSummary) }),
  healthCheckRequests: z.object({
    received: z.number(),
    lastAt: z.number().optional(),
    lastFrom: z.string().optional(),
  }),
  consensusRequests: z.object({
    received: z.number(),
    recent: z.array(ConsensusRequestPayload.extend({ at: z.number() })),
  }),
  rejected: z.object({ count: z.number(), recent: z.array(Rejection) }),
  timers: z.record(z.string(), z.number()),
  health: AgentHealth,
  /**
   * Version of the agent's own state shape that `carried.agent` has; a run that starts with an
   * older one migrates it (absent in runs carried before versions existed: 1).
   */
  stateVersion: z.number().int().min(1).default(1),
  /** Signals to other agents: delivered, or skipped because that agent does not run. */
  notified: z.object({ sent: z.number(), absent: z.number() }).default({ sent: 0, absent: 0 }),
  /**
   * Steps of the loop that threw (an activity that timed out on a dying host, a bug): recorded and
   * survived, never the end of the agent; the agent reports itself degraded for a while after one.
   */
  loopFailures: z
    .object({
      count: z.number(),
      recent: z.array(z.object({ step: z.string(), error: z.string(), at: z.number() })),
    })
    .default({ count: 0, recent: [] }),
});
export type BaseState = z.infer<typeof BaseState>;

/** Input of every agent workflow. `carried` is set only by continue-as-new. */
export const AgentInput = z.object({
  clusterId: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'expected 1-64 letters, digits, "-", "_" or "."')
    .default('default'),
  config: z.record(z.string(), z.unknown()).default({}),
  carried: z.object({ base: BaseState, agent: z.unknown() }).optional(),
});
export type AgentInput = z.input<typeof AgentInput>;

/** A message to another agent, queued by a handler and sent by the agent's loop. JSON-safe. */
export const OutgoingSignal = z.object({
  role: z.string().min(1),
  signal: z.string().min(1),
  payload: z.unknown(),
  /** Where the message goes when `role` does not run. */
  orElse: z.string().min(1).optional(),
});
export type OutgoingSignal = z.infer<typeof OutgoingSignal>;

export const heartbeatSignal = defineSignal<[HeartbeatPayload]>('heartbeat');
export const topologyUpdateSignal = defineSignal<[TopologyUpdatePayload]>('topologyUpdate');
export const healthCheckRequestSignal = defineSignal<[HealthCheckRequestPayload]>('healthCheckRequest');
export const consensusRequestSignal = defineSignal<[ConsensusRequestPayload]>('consensusRequest');

export interface AgentStateView<S = unknown> {
  base: BaseState;
  config: Record<string, unknown>;
  agent: S;
}
export const stateQuery = defineQuery<AgentStateView>('state');
export const healthQuery = defineQuery<AgentHealth>('health');

/** Partial config; validated against the agent's own schema, rejected to the caller when invalid. */
export const configureUpdate = defineUpdate<Record<string, unknown>, [Record<string, unknown>]>('configure');
export const ConfigurePayload = z.record(z.string(), z.unknown());

export const BASE_SIGNALS = {
  heartbeat: HeartbeatPayload,
  topologyUpdate: TopologyUpdatePayload,
  healthCheckRequest: HealthCheckRequestPayload,
  consensusRequest: ConsensusRequestPayload,
} as const;
export const BASE_QUERIES = ['state', 'health'] as const;

/** A host's load as it reports it: CPU and memory shares (0..1) and when they were measured (host clock, epoch ms). */
export interface LoadPoint {
  cpu: number;
  memory: number;
  at: number;
}
