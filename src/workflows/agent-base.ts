/**
 * The base every agent workflow stands on (the spec's BaseAgent): validated config, the common
 * signals and queries, periodic timers, and continue-as-new that carries the state.
 *
 * Invariants:
 * 1. A signal handler never throws: a bad payload is logged, counted in `base.rejected` and dropped.
 * 2. An update's payload is checked by a synchronous validator, so bad input is rejected to the
 *    caller and never enters history.
 * 3. Timers live in state as due times (epoch ms, workflow time) and survive continue-as-new.
 * 4. Continue-as-new waits for every handler to finish and for the work they queued, so no
 *    signal's work is lost.
 * 5. An agent's hooks for the common signals run only once `run()` started: before that the
 *    agent's own objects may not exist yet (signals that came with the start are delivered while
 *    the constructor registers the handlers). Until then they queue, in order.
 */
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  proxyActivities,
  setHandler,
  workflowInfo,
  type QueryDefinition,
  type SignalDefinition,
} from '@temporalio/workflow';
import type { UpdateDefinition } from '@temporalio/common';
import type { Activities } from '../activities';
import type { z } from 'zod';
import {
  AgentInput,
  ConfigurePayload,
  ConsensusRequestPayload,
  HealthCheckRequestPayload,
  HeartbeatPayload,
  TopologyUpdatePayload,
  configureUpdate,
  consensusRequestSignal,
  healthCheckRequestSignal,
  healthQuery,
  heartbeatSignal,
  stateQuery,
  topologyUpdateSignal,
  type AgentHealth,
  type AgentHealthStatus,
  type BaseConfig,
  type BaseState,
  type MemberSummary,
  type ConsensusRequestPayload as ConsensusRequest,
  type TopologyUpdatePayload as TopologyUpdate,
} from '../contracts/common';
import { pushBounded } from '../core/bounded';
import { dueTimers, nextDue, reschedule, syncTimers } from '../core/timers';
import { describeZodError } from '../core/validation';

export interface AgentDefinition<C extends BaseConfig, S> {
  role: string;
  configSchema: z.ZodType<C>;
  initialState(now: number): S;
  /** Timers of the agent's own, besides heartbeat and healthCheck: name → interval (ms). */
  intervals?(config: C): Record<string, number>;
  /** The agent's own verdict on its health; the base adds nothing when this is absent. */
  health?(state: S, config: C, now: number): { status: AgentHealthStatus; reasons: string[] };
  /** Called after a topologyUpdate signal was recorded in the base state. */
  onTopologyUpdate?(update: TopologyUpdate): void;
  /** Called after a healthCheckRequest signal was recorded (an agent that checks nodes runs one). */
  onHealthCheckRequest?(request: HealthCheckRequestPayload): void;
  /** Called after a consensusRequest signal was recorded. */
  onConsensusRequest?(request: ConsensusRequest): void;
}

export interface RunHooks {
  /** Timer name → what to do when it fires. */
  timers?: Record<string, () => Promise<unknown>>;
  /** True when the agent has queued work; the loop wakes for it at once. */
  hasWork?: () => boolean;
  doWork?: () => Promise<unknown>;
  /** A due time that is not periodic (e.g. a breaker's ejection end); `onDue` runs once it passed. */
  dueAt?: () => number | undefined;
  onDue?: () => Promise<unknown> | unknown;
  /** True when the agent's work is over: `run` returns and the workflow completes. */
  done?: () => boolean;
  /** Runs once handlers finished, before continue-as-new (stop background loops, cancel leases). */
  beforeContinueAsNew?: () => Promise<unknown>;
}

const CONSENSUS_REQUESTS_KEPT = 20;

export class Agent<C extends BaseConfig, S> {
  readonly clusterId: string;
  base: BaseState;
  config: C;
  state: S;
  private configChanged = false;
  /** True while continue-as-new waits for handlers: long waits in handlers must return now. */
  draining = false;

  constructor(
    private readonly def: AgentDefinition<C, S>,
    rawInput: unknown,
  ) {
    const input = AgentInput.safeParse(rawInput ?? {});
    if (!input.success) throw invalidInput(`${def.role} input`, describeZodError(input.error, 'input'));
    const config = def.configSchema.safeParse(input.data.config);
    if (!config.success) throw invalidInput(`${def.role} config`, describeZodError(config.error, 'config'));
    this.clusterId = input.data.clusterId;
    this.config = config.data;
    const now = Date.now();
    const carried = input.data.carried;
    if (carried) {
      this.base = { ...carried.base, runs: carried.base.runs + 1, runStartedAt: now };
      this.state = carried.agent as S;
    } else {
      this.base = freshBase(def.role, this.clusterId, now);
      this.state = def.initialState(now);
    }
    this.registerCommonHandlers();
  }

  /** The workflow id of another agent of this cluster. */
  workflowIdOf(role: string): string {
    return `${this.clusterId}/${role}`;
  }

  /**
   * The members as NodeDiscovery knows them (an activity reads its queries): null when it does not
   * run, undefined when it could not be reached — keep what you have; the next sync retries.
   */
  async readMembers(): Promise<{ version: number; members: MemberSummary[] } | null | undefined> {
    const { readMembers } = proxyActivities<Activities>({
      startToCloseTimeout: '5s',
      retry: { maximumAttempts: 3, initialInterval: '200ms' },
    });
    try {
      return await readMembers({ clusterId: this.clusterId });
    } catch {
      return undefined;
    }
  }

  /** Registers a signal whose payload is parsed first; bad payloads are counted and dropped (invariant 1). */
  onSignal<T>(
    signal: SignalDefinition<[T]>,
    schema: z.ZodType<T>,
    handler: (payload: T) => void | Promise<void>,
  ): void {
    setHandler(signal, async (raw: unknown) => {
      const parsed = schema.safeParse(raw);
      if (!parsed.success) {
        this.reject('signal', signal.name, describeZodError(parsed.error));
        return;
      }
      try {
        await handler(parsed.data);
      } catch (err) {
        this.reject('signal', signal.name, `handler failed: ${errorMessage(err)}`);
      }
    });
  }

  onQuery<R>(query: QueryDefinition<R, []>, handler: () => R): void {
    setHandler(query, handler);
  }

  /** Registers an update validated synchronously (invariant 2); the handler gets the parsed payload. */
  onUpdate<R, T>(
    update: UpdateDefinition<R, [T]>,
    schema: z.ZodType<T>,
    handler: (payload: T) => R | Promise<R>,
  ): void {
    setHandler(update, (raw: unknown) => handler(schema.parse(raw ?? {})), {
      validator: (raw: unknown) => {
        const parsed = schema.safeParse(raw ?? {});
        if (!parsed.success) throw new Error(`invalid ${update.name} payload: ${describeZodError(parsed.error)}`);
      },
    });
  }

  currentHealth(): AgentHealth {
    const now = Date.now();
    const own = this.def.health?.(this.state, this.config, now) ?? { status: 'healthy' as const, reasons: [] };
    return { role: this.def.role, status: own.status, reasons: own.reasons, checkedAt: now };
  }

  /** The main loop: sleeps until the next timer or queued work, continues-as-new when suggested. */
  async run(hooks: RunHooks = {}): Promise<void> {
    const deferred = this.deferredHooks ?? [];
    this.deferredHooks = undefined;
    for (const h of deferred) this.hook(h.name, h.fn);
    this.base.timers = syncTimers(this.base.timers, this.intervals(), Date.now());
    for (;;) {
      if (hooks.done?.()) return;
      const wake = () =>
        this.configChanged || !!hooks.hasWork?.() || !!hooks.done?.() || workflowInfo().continueAsNewSuggested;
      const extra = hooks.dueAt?.();
      const periodic = nextDue(this.base.timers) ?? Date.now() + 60_000;
      const wait = (extra !== undefined && extra < periodic ? extra : periodic) - Date.now();
      if (wait > 0 && !wake()) await condition(wake, wait);
      if (this.configChanged) {
        this.configChanged = false;
        this.base.timers = syncTimers(this.base.timers, this.intervals(), Date.now());
      }
      if (hooks.hasWork?.() && hooks.doWork) await hooks.doWork();
      const due = hooks.dueAt?.();
      if (due !== undefined && due <= Date.now()) await hooks.onDue?.();
      await this.fireDueTimers(hooks);
      if (workflowInfo().continueAsNewSuggested) await this.continueAsNew(hooks);
    }
  }

  private async fireDueTimers(hooks: RunHooks): Promise<void> {
    const intervals = this.intervals();
    const now = Date.now();
    for (const name of dueTimers(this.base.timers, now)) {
      const interval = intervals[name];
      const due = this.base.timers[name];
      if (interval === undefined || due === undefined) continue;
      this.base.timers[name] = reschedule(due, interval, now);
      if (name === 'heartbeat') this.base.lastTickAt = now;
      else if (name === 'healthCheck') this.base.health = this.currentHealth();
      else await hooks.timers?.[name]?.();
    }
  }

  private async continueAsNew(hooks: RunHooks): Promise<never> {
    // Invariant 4: in-flight handlers finish first; their effects are in the carried state.
    this.draining = true;
    await condition(allHandlersFinished);
    // Work a handler queued while the loop was busy (e.g. inside a timer) is done here, not dropped.
    while (hooks.hasWork?.() && hooks.doWork) {
      await hooks.doWork();
      await condition(allHandlersFinished);
    }
    await hooks.beforeContinueAsNew?.();
    log.info('continuing as new', { role: this.def.role, runs: this.base.runs, history: workflowInfo().historyLength });
    return continueAsNew<(input: AgentInput) => Promise<void>>({
      clusterId: this.clusterId,
      config: this.config as Record<string, unknown>,
      carried: { base: this.base, agent: this.state },
    });
  }

  private intervals(): Record<string, number> {
    return {
      heartbeat: this.config.heartbeatIntervalMs,
      healthCheck: this.config.healthCheckIntervalMs,
      ...(this.def.intervals?.(this.config) ?? {}),
    };
  }

  private reject(kind: 'signal' | 'input', name: string, error: string): void {
    log.warn('rejected message', { role: this.def.role, kind, name, error });
    this.base.rejected.count += 1;
    pushBounded(this.base.rejected.recent, { kind, name, error, at: Date.now() }, this.config.rejectionHistorySize);
  }

  /**
   * Runs an agent's hook for a common signal — or, before `run()`, queues it (invariant 5): a
   * signal that arrived with the workflow's start is delivered while the constructor registers the
   * handlers, when the agent's own code (which the hook calls) does not exist yet.
   */
  private hook(name: string, fn: () => void): void {
    if (this.deferredHooks) {
      this.deferredHooks.push({ name, fn });
      return;
    }
    try {
      fn();
    } catch (err) {
      this.reject('signal', name, `handler failed: ${errorMessage(err)}`);
    }
  }

  private deferredHooks: { name: string; fn: () => void }[] | undefined = [];

  private registerCommonHandlers(): void {
    this.onSignal(heartbeatSignal, HeartbeatPayload, (p) => {
      this.base.heartbeats = { received: this.base.heartbeats.received + 1, lastFrom: p.from, lastAt: Date.now() };
    });
    this.onSignal(topologyUpdateSignal, TopologyUpdatePayload, (p) => {
      if (p.version < this.base.topology.version) return; // an older broadcast overtaken by a newer one
      this.base.topology = { version: p.version, receivedAt: Date.now(), members: p.members };
      this.hook('topologyUpdate', () => this.def.onTopologyUpdate?.(p));
    });
    this.onSignal(healthCheckRequestSignal, HealthCheckRequestPayload, (p) => {
      const now = Date.now();
      this.base.healthCheckRequests = {
        received: this.base.healthCheckRequests.received + 1,
        lastAt: now,
        lastFrom: p.from,
      };
      this.base.health = this.currentHealth();
      this.hook('healthCheckRequest', () => this.def.onHealthCheckRequest?.(p));
    });
    this.onSignal(consensusRequestSignal, ConsensusRequestPayload, (p) => {
      this.base.consensusRequests.received += 1;
      pushBounded(this.base.consensusRequests.recent, { ...p, at: Date.now() }, CONSENSUS_REQUESTS_KEPT);
      this.hook('consensusRequest', () => this.def.onConsensusRequest?.(p));
    });
    this.onQuery(stateQuery, () => ({
      base: this.base,
      config: this.config as Record<string, unknown>,
      agent: this.state as unknown,
    }));
    this.onQuery(healthQuery, () => this.currentHealth());
    // The patch is validated against the agent's own schema merged with the current config.
    setHandler(
      configureUpdate,
      (patch) => {
        this.config = this.def.configSchema.parse({ ...this.config, ...patch });
        this.configChanged = true;
        return this.config as Record<string, unknown>;
      },
      {
        validator: (patch: unknown) => {
          const asObject = ConfigurePayload.safeParse(patch);
          if (!asObject.success) throw new Error(`invalid configure payload: ${describeZodError(asObject.error)}`);
          const merged = this.def.configSchema.safeParse({ ...this.config, ...asObject.data });
          if (!merged.success)
            throw new Error(`invalid configure payload: ${describeZodError(merged.error, 'config')}`);
        },
      },
    );
  }
}

function freshBase(role: string, clusterId: string, now: number): BaseState {
  return {
    role,
    clusterId,
    startedAt: now,
    runStartedAt: now,
    runs: 0,
    lastTickAt: now,
    heartbeats: { received: 0 },
    topology: { version: 0, members: [] },
    healthCheckRequests: { received: 0 },
    consensusRequests: { received: 0, recent: [] },
    rejected: { count: 0, recent: [] },
    timers: {},
    health: { role, status: 'healthy', checkedAt: now, reasons: [] },
  };
}

function invalidInput(what: string, detail: string): ApplicationFailure {
  return ApplicationFailure.create({ type: 'InvalidInput', message: `invalid ${what}: ${detail}`, nonRetryable: true });
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
