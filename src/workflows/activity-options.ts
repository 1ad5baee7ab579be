/**
 * Every activity option the agents use, named by purpose, in one place. Each has a
 * schedule-to-close bound, so that no activity (retries included) can outlive what its caller is
 * ready to wait for, and a retry policy that says whether the next round is the retry.
 *
 * Activities report failure by throwing (src/activities): the retry policies below are what runs
 * on a failure; non-retryable failures (bad input) are not retried whatever they say.
 */
import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';
import { hostTaskQueue } from '../contracts/agents';

/** No automatic retry: the agent's next round (or its timer) is the retry. */
const ONCE = { maximumAttempts: 1 } as const;

export const ACTIVITY = {
  /**
   * Reads another agent's queries (e.g. NodeDiscovery's members): 4 quick tries within 15 s. A query
   * answers in milliseconds; the short attempts bound what a task handed to a paused host costs.
   */
  clusterRead: {
    startToCloseTimeout: '3s',
    scheduleToCloseTimeout: '15s',
    retry: { maximumAttempts: 4, initialInterval: '200ms' },
  },

  /** The HealthMonitor's read of the hosts' vitals memos: once per round (the next round retries), bounded. */
  vitalsRead: {
    startToCloseTimeout: '10s',
    scheduleToCloseTimeout: '15s',
    retry: ONCE,
  },

  /**
   * NodeDiscovery's connectivity check of candidates: connect + answer within `connectTimeoutMs`
   * per target, all in parallel; the next round (or announcement) is the retry.
   */
  connectivityCheck: (connectTimeoutMs: number): ActivityOptions => ({
    startToCloseTimeout: connectTimeoutMs * 2 + 1_000,
    scheduleToCloseTimeout: connectTimeoutMs * 2 + 6_000,
    retry: ONCE,
  }),

  /** A consensus round's signals to its participants (local: in the round's first task). */
  askParticipants: (timeoutMs: number): LocalActivityOptions => ({
    startToCloseTimeout: Math.min(5_000, timeoutMs),
    scheduleToCloseTimeout: timeoutMs,
    retry: { initialInterval: 100, backoffCoefficient: 2, maximumInterval: 1_000 },
  }),

  /** The same check as a local activity, as runs that started before the loop rule scheduled it. */
  legacyLocalConnectivityCheck: (connectTimeoutMs: number): LocalActivityOptions => ({
    startToCloseTimeout: connectTimeoutMs * 2 + 1_000,
    scheduleToCloseTimeout: connectTimeoutMs * 2 + 1_000,
    retry: ONCE,
  }),

  /** A discovery strategy (DNS, multicast) under its own timeout; a failing one yields nothing. */
  discoveryStrategy: (strategyTimeoutMs: number): ActivityOptions => ({
    startToCloseTimeout: strategyTimeoutMs,
    scheduleToCloseTimeout: strategyTimeoutMs + 5_000,
    retry: ONCE,
  }),

  /** Legacy topology broadcast (runs that started before agents signalled each other directly). */
  legacyBroadcast: {
    startToCloseTimeout: '10s',
    retry: { maximumAttempts: 3, initialInterval: '200ms' },
  },

  /** A SWIM indirect probe from `observer`'s own queue; an observer that does not answer in time is weak evidence. */
  indirectProbe: (observer: string, probeTimeoutMs: number): ActivityOptions => ({
    taskQueue: hostTaskQueue(observer),
    scheduleToCloseTimeout: probeTimeoutMs + 1_000,
    retry: ONCE,
  }),

  /**
   * A host's lease: heartbeats under the lease timeout. Alive: a host that does not pick up its next
   * term within the lease timeout is silent. Otherwise wait for it, a minute at a time.
   */
  lease: (nodeId: string, lease: { timeoutMs: number }, termMs: number, recovering: boolean): ActivityOptions => {
    const scheduleToStart = recovering ? 60_000 : lease.timeoutMs;
    const startToClose = (recovering ? 0 : termMs) + lease.timeoutMs + 5_000;
    return {
      taskQueue: hostTaskQueue(nodeId),
      heartbeatTimeout: lease.timeoutMs,
      scheduleToStartTimeout: scheduleToStart,
      startToCloseTimeout: startToClose,
      scheduleToCloseTimeout: scheduleToStart + startToClose,
      retry: ONCE,
    };
  },

  /** A health probe under the check's timeout (optionally on a host's queue); the next round retries. */
  healthProbe: (timeoutMs: number, nodeId?: string): ActivityOptions => ({
    ...(nodeId ? { taskQueue: hostTaskQueue(nodeId) } : {}),
    scheduleToCloseTimeout: timeoutMs,
    retry: ONCE,
  }),

  /** The operator's recovery procedure: two tries (on the host when it is a command). */
  recovery: (timeoutMs: number, nodeId?: string): ActivityOptions => ({
    ...(nodeId ? { taskQueue: hostTaskQueue(nodeId) } : {}),
    startToCloseTimeout: timeoutMs + 2_000,
    scheduleToCloseTimeout: 2 * (timeoutMs + 2_000) + 5_000,
    retry: { maximumAttempts: 2, initialInterval: '1s' },
  }),

  /**
   * A procedure's step (an operator hook, a wait on the routing table): three tries, each under
   * the step's timeout, on a host's queue when named (else any live host). The step beats every
   * second (src/activities/beating.ts): a host that dies under it is noticed in 5 s.
   */
  procedureStep: (timeoutMs: number, nodeId?: string): ActivityOptions => ({
    ...(nodeId ? { taskQueue: hostTaskQueue(nodeId) } : {}),
    startToCloseTimeout: timeoutMs + 2_000,
    heartbeatTimeout: '5s',
    scheduleToCloseTimeout: 3 * (timeoutMs + 2_000) + 10_000,
    retry: { maximumAttempts: 3, initialInterval: '1s' },
  }),

  /** The orchestrator's supervision (describe every agent; start one again): quick, the next round retries. */
  supervision: {
    startToCloseTimeout: '10s',
    scheduleToCloseTimeout: '15s',
    retry: ONCE,
  },

  /** A webhook POST (manual intervention): three tries within 30 s. */
  webhook: {
    startToCloseTimeout: '8s',
    scheduleToCloseTimeout: '30s',
    retry: { maximumAttempts: 3, initialInterval: '1s' },
  },
} as const;
