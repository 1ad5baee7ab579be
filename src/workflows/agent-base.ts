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
 * 6. Handlers decide, the loop acts: a handler validates, changes state and queues work (`notify`
 *    queues a signal to another agent); activities, child workflows and signals to other workflows
 *    start from the loop, one step after another, so the order of commands never depends on how
 *    long an activity took. Runs that started before this rule (`loopActs` false, patch
 *    LOOP_ACTS) keep their recorded order through the agents' legacy paths.
 * 7. Carried state has a version (`base.stateVersion`); a run that starts with an older shape
 *    migrates it before anything reads it.
 */
import {
  ApplicationFailure,
  ContinueAsNew,
  allHandlersFinished,
  condition,
  continueAsNew,
  makeContinueAsNewFunc,
  isCancellation,
  getExternalWorkflowHandle,
  log,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  upsertMemo,
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
  HEALTH_MEMO,
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
  AgentHealth,
  type AgentHealthStatus,
  type BaseConfig,
  type BaseState,
  type MemberSummary,
  type OutgoingSignal,
  type ConsensusRequestPayload as ConsensusRequest,
  type TopologyUpdatePayload as TopologyUpdate,
} from '../contracts/common';
import { isUndecodable } from '../contracts/undecodable';
import { pushBounded } from '../core/bounded';
import { dueTimers, nextDue, reschedule, syncTimers } from '../core/timers';
import { describeZodError, unknownFields } from '../core/validation';
import { ACTIVITY } from './activity-options';
import { consensusVoteSignal } from '../contracts/consensus';
import type { VoteDecision } from '../core/consensus/votes';

/**
 * Patch id: handlers only queue work and the loop starts every activity, child and external signal
 * (invariant 6). Checked once per run, at its start; a run without the marker keeps its old order.
 */
export const LOOP_ACTS = 'handlers-decide-loop-acts';
/**
 * Patch id: the loop does not wake for a continue-as-new suggestion alone, only with an event: a
 * signal or accepted update that ran since it last woke, a timer, queued work. The suggestion can arrive in a workflow task
 * that holds no event (the server persists the speculative task of a rejected update): the
 * original run woke in it, a replay has no activation there — "No command scheduled for event
 * TimerCanceled" (the fault suite's garbage phase).
 */
export const CAN_AT_NEXT_WAKE = 'continue-as-new-at-next-wake';
/**
 * Patch id: a run also continues as new once it took `continueAsNewAfterSignals` signals (the
 * server suggests it by history length only, and a flood could otherwise hold a run open up to the
 * server's per-run signal limit).
 */
export const CAN_AFTER_SIGNALS = 'continue-as-new-after-signals';
/**
 * A run that took its share of signals rolls over once none came for CAN_QUIET_MS, or at once past
 * CAN_SIGNALS_OVER more. A roll-over that races a signal fails (UNHANDLED_COMMAND), and the server
 * refuses signals as "closing" while another host replays the run: a burst is the worst moment to
 * roll over, and the count reaches its limit most often in one. Nemesis run H: the partition
 * handler rolled over in the reports of a heal, they landed 1.2 s late, and the heal took 8.2 s.
 */
export const CAN_QUIET_MS = 1_000;
export const CAN_SIGNALS_OVER = 100;
/**
 * Patch id: a handler's mark (`touched`) lasts only until the loop has looked at it. A signal that
 * came while continue-as-new was not due left it set, and a later task with no new event (a
 * rejected update) in which the server suggested continue-as-new woke the loop: commands a replay
 * does not issue (test/fixtures/diverged/load-balancer-cas-after-rejected-update.binpb).
 */
export const CAN_WAKE_FRESH = 'continue-as-new-wake-fresh-handler';
/**
 * Patch id, asked for only when a loop step throws: the agent records the failure and goes on.
 * Runs without the marker ended failed there (an activity's timeout thrown out of the loop failed
 * NodeDiscovery in the churn soak), and a replay of them must end the same way.
 */
export const LOOP_SURVIVES = 'loop-survives-failed-steps';
/**
 * Patch id: the agent publishes its health in its memo (HEALTH_MEMO) at the start of each run and
 * whenever it changes, from the loop. Operators and the fault suite read it with `describe`, which
 * the server answers without a worker: reading an agent's health then never sends it a query, and
 * a query answered by a cold worker right after the sticky worker died is how sdk-core 1.24 can
 * make a run send commands its replay decides otherwise (`npm run bench -- query-failover`).
 */
export const HEALTH_IN_MEMO = 'agent-health-memo';
/** Failed loop steps kept in `base.loopFailures.recent`; the agent is degraded this long after one. */
const LOOP_FAILURES_KEPT = 20;
const LOOP_FAILURE_DEGRADES_MS = 5 * 60_000;

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
  /**
   * This agent's vote on a consensus round's proposal: a pure function of its own view
   * (src/core/consensus/votes.ts). Absent: it accepts, having no view. The base sends the vote to
   * the round (the request's `replyTo`) from the loop.
   */
  vote?(request: ConsensusRequest): VoteDecision;
  /** Version of the state shape `initialState` makes (default 1); raise it when the shape changes. */
  stateVersion?: number;
  /** Turns carried state of an older version into the current shape (invariant 7). */
  migrate?(state: unknown, fromVersion: number): S;
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
  /**
   * False only in runs that started before invariant 6 (their histories hold the old order of
   * commands); the agents' legacy paths run then, nowhere else.
   */
  readonly loopActs: boolean;
  /** Work started `beside` the loop, by key: true when continue-as-new waits for it. */
  private readonly besideRunning = new Map<string, boolean>();
  /** False in runs that started before CAN_AT_NEXT_WAKE: they woke for the suggestion alone. */
  private readonly canAtNextWake: boolean;
  private readonly canWakeFresh: boolean;
  /** False in runs that started before HEALTH_IN_MEMO. */
  private readonly healthInMemo: boolean;
  /** The health last put in the memo in this run, as JSON (without its time). */
  private publishedHealth: string | undefined;
  /** A signal or an accepted update ran since the loop last woke: events a replay sees too. */
  private touched = false;
  /** False in runs that started before CAN_AFTER_SIGNALS. */
  private readonly canAfterSignals: boolean;
  /** Signals this run took (any name, any payload): what the server's per-run limit counts. */
  private signalsThisRun = 0;
  /** When the last signal came (workflow time): a roll-over by signals waits for a quiet moment. */
  private lastSignalAt = 0;
  /** Signals queued by handlers (and by the loop itself), sent by the loop in order of queuing. */
  private outbox: OutgoingSignal[] = [];

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
    const version = def.stateVersion ?? 1;
    if (carried) {
      this.base = { ...carried.base, runs: carried.base.runs + 1, runStartedAt: now, stateVersion: version };
      const from = carried.base.stateVersion;
      if (from > version)
        throw invalidInput(`${def.role} carried state`, `version ${from} is newer than this code's ${version}`);
      this.state = from < version && def.migrate ? def.migrate(carried.agent, from) : (carried.agent as S);
    } else {
      this.base = freshBase(def.role, this.clusterId, now, version);
      this.state = def.initialState(now);
    }
    this.loopActs = patched(LOOP_ACTS);
    this.canAtNextWake = patched(CAN_AT_NEXT_WAKE);
    this.canAfterSignals = patched(CAN_AFTER_SIGNALS);
    this.canWakeFresh = patched(CAN_WAKE_FRESH);
    this.healthInMemo = patched(HEALTH_IN_MEMO);
    // What the previous run handed over in the memo is published already.
    if (this.healthInMemo) {
      const carriedHealth = AgentHealth.safeParse(workflowInfo().memo?.[HEALTH_MEMO]);
      if (carriedHealth.success)
        this.publishedHealth = JSON.stringify([carriedHealth.data.status, carriedHealth.data.reasons]);
    }
    this.registerCommonHandlers();
  }

  /** The workflow id of another agent of this cluster. */
  workflowIdOf(role: string): string {
    return `${this.clusterId}/${role}`;
  }

  /**
   * Queues `signal` to the agent `role` of this cluster (`node/<id>` for a NodeAgent); the loop
   * sends it (invariant 6). With `orElse`, the message goes there instead when `role` does not run.
   * An agent that does not run is counted in `base.notified.absent`: it reads current state when it
   * starts.
   */
  notify<T>(role: string, signal: SignalDefinition<[T]>, payload: T, opts: { orElse?: string } = {}): void {
    this.outbox.push({ role, signal: signal.name, payload, ...(opts.orElse ? { orElse: opts.orElse } : {}) });
  }

  /** True while signals wait to be sent. */
  get hasOutgoing(): boolean {
    return this.outbox.length > 0;
  }

  /**
   * Sends every queued signal; only the loop calls this. Agents at once, and to each agent one
   * signal after another in order of queuing: the server delivers the signals of one workflow task
   * in no set order (each is its own transfer task), and a receiver that keeps the last word (the
   * LoadBalancer's health verdicts) must not get unhealthy → healthy as healthy → unhealthy.
   */
  async flush(): Promise<void> {
    while (this.outbox.length) {
      const byRole = new Map<string, OutgoingSignal[]>();
      for (const m of this.outbox.splice(0)) {
        const queue = byRole.get(m.role);
        if (queue) queue.push(m);
        else byRole.set(m.role, [m]);
      }
      await Promise.all(
        [...byRole.values()].map(async (queue) => {
          for (const m of queue)
            if (!(await this.sendNow(m.role, m.signal, m.payload)) && m.orElse)
              await this.sendNow(m.orElse, m.signal, m.payload);
        }),
      );
    }
  }

  /**
   * Signals another agent now; true when it got it. The loop's `flush` uses it, and the legacy
   * paths of runs that started before invariant 6 (nothing else may: a handler queues instead).
   */
  async sendNow<T>(role: string, signal: string | SignalDefinition<[T]>, payload: T): Promise<boolean> {
    const name = typeof signal === 'string' ? signal : signal.name;
    try {
      await getExternalWorkflowHandle(this.workflowIdOf(role)).signal(name, payload);
      this.base.notified.sent += 1;
      return true;
    } catch {
      this.base.notified.absent += 1;
      return false;
    }
  }

  /**
   * Starts `work` beside the loop, unless work under the same key still runs (then false): the
   * loop goes on at once, so an activity whose attempt went to a paused or dying host (up to its
   * timeout and retries) holds up no timer, signal or verdict of this agent. Only the loop calls it
   * (invariant 1: handlers queue). A throw is recorded like a failed loop step. Continue-as-new
   * waits for it to end (its result is evidence the next run would lack), unless `abandonable`:
   * work whose result the next run's timers learn again anyway (a membership read).
   */
  beside(key: string, work: () => Promise<void>, { abandonable = false } = {}): boolean {
    if (this.besideRunning.has(key)) return false;
    this.besideRunning.set(key, !abandonable);
    work()
      .catch((err: unknown) => {
        if (!isCancellation(err)) this.recordLoopFailure(`beside ${key}`, err);
      })
      .finally(() => this.besideRunning.delete(key))
      .catch(() => undefined);
    return true;
  }

  /** Work started beside the loop that continue-as-new waits for. */
  private besideMustFinish(): boolean {
    for (const mustFinish of this.besideRunning.values()) if (mustFinish) return true;
    return false;
  }

  /**
   * Legacy runs only (started before LOOP_ACTS): their handlers launched this work without waiting
   * for it, and their histories hold the commands in that order, so a replay must launch it the
   * same way. New runs cannot use it (it throws: they queue work for the loop). The one place where
   * workflow code launches and forgets; a failure is counted like a failed handler's.
   */
  legacyLaunch(what: string, work: () => Promise<unknown>): void {
    if (this.loopActs) throw new Error(`${what}: handlers queue work in this run; the loop acts`);
    // eslint-disable-next-line no-restricted-syntax -- legacy runs' recorded order (see above)
    void work().catch((err: unknown) => this.reject('signal', what, `legacy launch failed: ${errorMessage(err)}`));
  }

  /**
   * The members as NodeDiscovery knows them (an activity reads its queries): null when it does not
   * run, undefined when it could not be reached — keep what you have; the next sync retries.
   */
  async readMembers(): Promise<{ version: number; members: MemberSummary[] } | null | undefined> {
    const { readMembers } = proxyActivities<Activities>(ACTIVITY.clusterRead);
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
      this.touched = true;
      this.signalsThisRun += 1;
      this.lastSignalAt = Date.now();
      if (isUndecodable(raw)) {
        this.reject('signal', signal.name, `undecodable payload: ${raw.undecodablePayload}`);
        return;
      }
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

  /**
   * Registers an update validated synchronously (invariant 2); the handler gets the parsed payload.
   * `admit` may refuse a valid payload by throwing (e.g. too many long-polls wait already).
   */
  onUpdate<R, T>(
    update: UpdateDefinition<R, [T]>,
    schema: z.ZodType<T>,
    handler: (payload: T) => R | Promise<R>,
    admit?: (payload: T) => void,
  ): void {
    // Anything the handler throws fails the update (an ApplicationFailure), never the workflow task.
    const run = async (raw: unknown): Promise<R> => {
      this.touched = true;
      try {
        return await handler(schema.parse(raw ?? {}));
      } catch (err) {
        throw asUpdateFailure(update.name, err);
      }
    };
    setHandler(update, run, {
      validator: (raw: unknown) => {
        if (isUndecodable(raw))
          throw new Error(`invalid ${update.name} payload: undecodable: ${raw.undecodablePayload}`);
        const parsed = schema.safeParse(raw ?? {});
        if (!parsed.success) throw new Error(`invalid ${update.name} payload: ${describeZodError(parsed.error)}`);
        admit?.(parsed.data);
      },
    });
  }

  /**
   * Puts the agent's health in its memo when its status or reasons changed since the last time in
   * this run (the time a reason mentions is absolute there, so a memo does not change every tick).
   */
  private publishHealth(): void {
    if (!this.healthInMemo) return;
    const h = this.currentHealth(true);
    const json = JSON.stringify([h.status, h.reasons]);
    if (json === this.publishedHealth) return;
    this.publishedHealth = json;
    upsertMemo({ [HEALTH_MEMO]: h });
  }

  /** The agent's health now; `stable` words the loop's last failure with its time, not its age. */
  currentHealth(stable = false): AgentHealth {
    const now = Date.now();
    const own = this.def.health?.(this.state, this.config, now) ?? { status: 'healthy' as const, reasons: [] };
    const last = this.base.loopFailures.recent.at(-1);
    if (last && now - last.at < LOOP_FAILURE_DEGRADES_MS) {
      return {
        role: this.def.role,
        status: own.status === 'unhealthy' ? 'unhealthy' : 'degraded',
        reasons: [
          ...own.reasons,
          stable
            ? `loop step ${last.step} failed at ${new Date(last.at).toISOString()}: ${last.error}`
            : `loop step ${last.step} failed ${Math.round((now - last.at) / 1000)} s ago: ${last.error}`,
        ],
        checkedAt: now,
      };
    }
    return { role: this.def.role, status: own.status, reasons: own.reasons, checkedAt: now };
  }

  /**
   * Runs one step of the loop (queued work, a timer, a due time). A step that throws is recorded
   * and the loop goes on after a second (so a step that fails at once cannot spin); continue-as-new
   * and cancellation pass through. Runs before LOOP_SURVIVES rethrow, as they did.
   */
  private loopStep(name: string, fn: (() => unknown) | undefined): unknown {
    // Legacy runs (before LOOP_ACTS) await their hooks exactly as they did: an extra await would
    // shift their recorded order of commands.
    if (!this.loopActs) return fn?.();
    return fn ? this.step(name, fn) : undefined;
  }

  private recordLoopFailure(step: string, err: unknown): void {
    const error = failureChain(err).slice(0, 500);
    log.error('loop step failed', { role: this.def.role, step, error });
    this.base.loopFailures.count += 1;
    pushBounded(this.base.loopFailures.recent, { step, error, at: Date.now() }, LOOP_FAILURES_KEPT);
    this.base.health = this.currentHealth();
  }

  private async step(name: string, fn: () => unknown): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (err instanceof ContinueAsNew || isCancellation(err) || !patched(LOOP_SURVIVES)) throw err;
      this.recordLoopFailure(name, err);
      await sleep(1_000);
    }
  }

  /** The main loop: sleeps until the next timer or queued work, continues-as-new when suggested. */
  async run(hooks: RunHooks = {}): Promise<void> {
    const deferred = this.deferredHooks ?? [];
    this.deferredHooks = undefined;
    for (const h of deferred) this.hook(h.name, h.fn);
    this.base.timers = syncTimers(this.base.timers, this.intervals(), Date.now());
    for (;;) {
      this.publishHealth();
      if (hooks.done?.()) {
        if (this.hasOutgoing) await this.flush();
        return;
      }
      const wake = () => {
        const w =
          this.configChanged ||
          this.hasOutgoing ||
          !!hooks.hasWork?.() ||
          !!hooks.done?.() ||
          ((!this.canAtNextWake || this.touched) && this.continueAsNewDue()) ||
          // A signal past the count: the loop sets its wake at the quiet moment.
          (this.touched && this.rollOverAt() !== undefined);
        // Evaluated after each activation's handlers: a mark that did not wake the loop is spent.
        if (!w && this.canWakeFresh) this.touched = false;
        return w;
      };
      const rollOver = this.rollOverAt();
      const extra = rollOver !== undefined ? Math.min(rollOver, hooks.dueAt?.() ?? rollOver) : hooks.dueAt?.();
      const periodic = nextDue(this.base.timers) ?? Date.now() + 60_000;
      const wait = (extra !== undefined && extra < periodic ? extra : periodic) - Date.now();
      if (wait > 0 && !wake()) {
        const from = Date.now();
        const woke = await condition(wake, wait);
        // A timer fires no sooner than `wait` after the task that started it, and the task it wakes
        // starts later still: a clock that moved less is an older task's time (the sdk-core defect
        // where a cold worker that answered a query applies a pending task's events with the time it
        // replayed to). Deciding on it would send commands a replay decides otherwise; failing this
        // task makes the server run it again on a full replay, with the right time.
        if (!woke && Date.now() < from + wait) throw new StaleClockError(wait, Date.now() - from);
      }
      this.touched = false;
      if (this.configChanged) {
        this.configChanged = false;
        this.base.timers = syncTimers(this.base.timers, this.intervals(), Date.now());
      }
      if (hooks.hasWork?.() && hooks.doWork) await this.loopStep('work', hooks.doWork);
      // Only when there is something to send: an empty await would shift legacy runs' order.
      if (this.hasOutgoing) await this.flush();
      const due = hooks.dueAt?.();
      if (due !== undefined && due <= Date.now()) await this.loopStep('due', hooks.onDue);
      await this.fireDueTimers(hooks);
      if (this.hasOutgoing) await this.flush();
      if (this.continueAsNewDue()) await this.continueAsNew(hooks);
    }
  }

  /** The server suggests continue-as-new, or this run took its share of signals (CAN_AFTER_SIGNALS). */
  private continueAsNewDue(): boolean {
    if (workflowInfo().continueAsNewSuggested) return true;
    const at = this.rollOverAt();
    return at !== undefined && at <= Date.now();
  }

  /**
   * When this run rolls over by its signal count: CAN_QUIET_MS after the last signal, once it took
   * `continueAsNewAfterSignals`; now past CAN_SIGNALS_OVER more. Undefined below the count.
   */
  private rollOverAt(): number | undefined {
    const limit = this.config.continueAsNewAfterSignals;
    if (!this.canAfterSignals || this.signalsThisRun < limit) return undefined;
    if (this.signalsThisRun >= limit + CAN_SIGNALS_OVER) return Date.now();
    return this.lastSignalAt + CAN_QUIET_MS;
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
      else {
        const fire = hooks.timers?.[name];
        await this.loopStep(`timer ${name}`, fire);
      }
    }
  }

  /** Continues as new now, carrying the state (after handlers finished and queued work is done). */
  continueAsNewNow(hooks: RunHooks = {}): Promise<never> {
    return this.continueAsNew(hooks);
  }

  private async continueAsNew(hooks: RunHooks): Promise<never> {
    // Invariant 4: in-flight handlers finish first; their effects are in the carried state.
    this.draining = true;
    const hasWork = () => !!(hooks.hasWork?.() && hooks.doWork);
    if (this.loopActs) {
      // Handlers may wait for the loop (an update that asked for work): work and handlers finish
      // together. Work a handler queued while the loop was busy is done here, not dropped.
      for (;;) {
        if (hasWork()) await this.loopStep('work', hooks.doWork);
        else if (this.hasOutgoing) await this.flush();
        else if (allHandlersFinished() && !this.besideMustFinish()) break;
        else
          await condition(() => (allHandlersFinished() && !this.besideMustFinish()) || hasWork() || this.hasOutgoing);
      }
    } else {
      await condition(allHandlersFinished);
      while (hasWork()) {
        await hooks.doWork?.();
        await condition(allHandlersFinished);
      }
    }
    await hooks.beforeContinueAsNew?.();
    if (this.hasOutgoing) await this.flush();
    log.info('continuing as new', { role: this.def.role, runs: this.base.runs, history: workflowInfo().historyLength });
    const next = {
      clusterId: this.clusterId,
      config: this.config as Record<string, unknown>,
      carried: { base: this.base, agent: this.state },
    };
    // The next run starts with the memo as it is now, health included (HEALTH_IN_MEMO): it needs no
    // command to publish what has not changed. An upsert in each new run's first task is one more
    // command per rollover, and a flooded agent rolls over every few seconds.
    if (this.healthInMemo)
      return makeContinueAsNewFunc<(input: AgentInput) => Promise<void>>({
        memo: { ...(workflowInfo().memo ?? {}), [HEALTH_MEMO]: this.currentHealth(true) },
      })(next);
    return continueAsNew<(input: AgentInput) => Promise<void>>(next);
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

  /**
   * Queues this agent's vote to the round that asked (only rounds of this cluster: a reply-to
   * elsewhere is refused). It votes under its workflow id without the cluster (`failure-detector`,
   * `node/<id>`), which is how rounds name their participants.
   */
  private answerRound(p: ConsensusRequest, replyTo: string): void {
    const prefix = `${this.clusterId}/consensus/`;
    if (!replyTo.startsWith(prefix)) {
      this.reject('signal', 'consensusRequest', `replyTo: expected a round of this cluster (${prefix}<topic>/<seq>), got ${JSON.stringify(replyTo.slice(0, 100))}`);
      return;
    }
    let decision: VoteDecision;
    try {
      decision = this.def.vote?.(p) ?? { vote: 'accept', reason: `no objection: no view on ${p.topic}` };
    } catch (err) {
      decision = { vote: 'reject', reason: `could not decide: ${errorMessage(err)}` };
    }
    const participant = workflowInfo().workflowId.slice(this.clusterId.length + 1);
    this.notify(replyTo.slice(this.clusterId.length + 1), consensusVoteSignal, {
      proposalId: p.proposalId,
      participant,
      vote: decision.vote,
      reason: decision.reason.slice(0, 1_000),
    });
  }

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
      this.hook('consensusRequest', () => {
        this.def.onConsensusRequest?.(p);
        if (p.replyTo !== undefined) this.answerRound(p, p.replyTo);
      });
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
        const merged = this.def.configSchema.safeParse({ ...this.config, ...patch });
        if (!merged.success) throw asUpdateFailure('configure', new Error(describeZodError(merged.error, 'config')));
        this.config = merged.data;
        this.configChanged = true;
        return this.config as Record<string, unknown>;
      },
      {
        validator: (patch: unknown) => {
          if (isUndecodable(patch))
            throw new Error(`invalid configure payload: undecodable: ${patch.undecodablePayload}`);
          const asObject = ConfigurePayload.safeParse(patch);
          if (!asObject.success) throw new Error(`invalid configure payload: ${describeZodError(asObject.error)}`);
          const unknown = unknownFields(this.def.configSchema, asObject.data);
          if (unknown.length) throw new Error(`invalid configure payload: ${unknown.join('; ')}`);
          const merged = this.def.configSchema.safeParse({ ...this.config, ...asObject.data });
          if (!merged.success)
            throw new Error(`invalid configure payload: ${describeZodError(merged.error, 'config')}`);
        },
      },
    );
  }
}

/**
 * Thrown by the loop when a timer fired but the workflow clock moved less than its duration: the
 * workflow task fails (it is not a workflow failure) and is retried from a full replay.
 */
export class StaleClockError extends Error {
  constructor(waitMs: number, movedMs: number) {
    super(
      `stale workflow clock: a ${waitMs} ms timer fired but the clock moved ${movedMs} ms; this task is retried from a full replay`,
    );
    this.name = 'StaleClockError';
  }
}

function freshBase(role: string, clusterId: string, now: number, stateVersion: number): BaseState {
  return {
    stateVersion,
    notified: { sent: 0, absent: 0 },
    loopFailures: { count: 0, recent: [] },
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

function asUpdateFailure(name: string, err: unknown): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  return ApplicationFailure.create({
    type: 'UpdateFailed',
    message: `${name} failed: ${errorMessage(err)}`,
    nonRetryable: true,
  });
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** "Activity task failed: <what the activity said>": a failure with its causes, outermost first. */
function failureChain(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e !== undefined && parts.length < 4; e = (e as { cause?: unknown }).cause)
    parts.push(errorMessage(e));
  return parts.join(': ');
}
