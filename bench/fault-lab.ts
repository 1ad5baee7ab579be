/**
 * The fault suite's laboratory: a Temporal dev server on a SQLite file (so it can be SIGKILLed and
 * started again on the same data), real host worker processes, the raw Temporal client, the CLI as
 * a process, and readers of what the server recorded (histories, task failures, replays).
 *
 * Invariants:
 * 1. Every process the lab starts is stopped by `close()`, and by a synchronous SIGKILL when this
 *    process exits in any other way (an exception, Ctrl-C in the bench).
 * 2. Every life of a host process is recorded (spawned, ready, ended and how), so a verdict can be
 *    judged against what the process was doing at the time.
 * 3. All traffic is on loopback: the server listens on 127.0.0.1, hosts advertise 127.0.0.1.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { writeWorkflowBundle } from '../scripts/lib/bundle';
import { freePort, startDevServer, type DevServer } from '../scripts/lib/dev-server';
import { runCli, spawnHostWorker, type CliResult, type HostProcess } from '../scripts/lib/processes';
import { describeEvent, eventMs, taskFailedCause } from '../scripts/lib/history-events';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface LabOptions {
  /** Prefix of the temporary folder (database, bundle, server log). */
  name: string;
  /** History length at which the server suggests continue-as-new (the agents roll over at it). */
  suggestContinueAsNew: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Install SIGINT/SIGTERM handlers that stop every process first (the bench; not under jest). */
  handleSignals?: boolean;
  /** Keep the folder (database, server log) after `close()`, to inspect what happened. */
  keepData?: boolean;
}

/** One life of a host worker process. */
export interface Life {
  nodeId: string;
  clusterId: string;
  proc: HostProcess;
  spawnedAt: number;
  readyAt?: number;
  /** When we sent the signal that ended it (or saw it exit by itself). */
  endedAt?: number;
  end?: 'SIGKILL' | 'SIGTERM' | 'exited';
}

export class Lab {
  readonly dir: string;
  readonly dbFile: string;
  server!: DevServer;
  port = 0;
  bundle = '';
  connection!: Connection;
  client!: Client;
  readonly lives: Life[] = [];
  /** Server kills and restarts: [killedAt, readyAt]. */
  readonly serverDowntimes: [number, number][] = [];
  private readonly killAll = () => this.killEverythingSync();
  private readonly onSignal = (sig: NodeJS.Signals) => {
    this.killEverythingSync();
    process.stderr.write(`\nfaults: ${sig}: stopped every process\n`);
    process.exit(130);
  };

  private constructor(readonly opts: LabOptions) {
    this.dir = mkdtempSync(join(tmpdir(), `${opts.name}-`));
    this.dbFile = join(this.dir, 'temporal.sqlite');
  }

  static async start(opts: LabOptions): Promise<Lab> {
    const lab = new Lab(opts);
    process.once('exit', lab.killAll);
    if (opts.handleSignals) {
      process.once('SIGINT', lab.onSignal);
      process.once('SIGTERM', lab.onSignal);
    }
    try {
      lab.port = await freePort();
      const [, bundle] = await Promise.all([
        lab.startServer(),
        writeWorkflowBundle(join(lab.dir, 'workflow-bundle.js')),
      ]);
      lab.bundle = bundle;
      lab.connection = await Connection.connect({ address: lab.address });
      lab.client = new Client({ connection: lab.connection, namespace: 'default' });
    } catch (err) {
      await lab.close();
      throw err;
    }
    return lab;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  log(line: string): void {
    this.opts.log?.(line);
  }

  /** The environment of a host worker or CLI of `clusterId`. */
  env(clusterId: string): NodeJS.ProcessEnv {
    return {
      TEMPORAL_ADDRESS: this.address,
      TEMPORAL_NAMESPACE: 'default',
      CLUSTER_WORKFLOW_BUNDLE: this.bundle,
      CLUSTER_ID: clusterId,
      CLUSTER_MULTICAST: 'off',
    };
  }

  private async startServer(): Promise<void> {
    this.server = await startDevServer({
      port: this.port,
      dbFile: this.dbFile,
      logFile: join(this.dir, 'temporal.log'),
      dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': this.opts.suggestContinueAsNew },
      readyTimeoutMs: 90_000,
    });
  }

  /** SIGKILL of the Temporal server process (no shutdown of any kind). */
  async killServer(): Promise<number> {
    const at = Date.now();
    this.server.process.kill('SIGKILL');
    await this.server.stop(); // resolves once it exited
    this.serverDowntimes.push([at, Number.NaN]);
    return at;
  }

  /** Starts the server again on the same port and database file; returns when it answers. */
  async restartServer(): Promise<number> {
    await this.startServer();
    const at = Date.now();
    const last = this.serverDowntimes.at(-1);
    if (last) last[1] = at;
    return at;
  }

  /** Spawns a host worker (lease 0.5 s / 1.5 s unless `args` say otherwise) and waits for "ready". */
  async spawnHost(clusterId: string, nodeId: string, args: string[] = []): Promise<Life> {
    const proc = spawnHostWorker({
      nodeId,
      args: [
        '--health-port',
        '0',
        '--address',
        '127.0.0.1',
        '--lease-heartbeat',
        '500',
        '--lease-timeout',
        '1500',
        ...args,
      ],
      env: this.env(clusterId),
    });
    const life: Life = { nodeId, clusterId, proc, spawnedAt: Date.now() };
    this.lives.push(life);
    void proc.exited.then(() => {
      if (life.endedAt === undefined) {
        life.endedAt = Date.now();
        life.end = 'exited';
      }
    });
    await proc.waitFor(/ ready /, 120_000);
    life.readyAt = Date.now();
    return life;
  }

  /** The running life of `nodeId`, if any. */
  current(nodeId: string): Life | undefined {
    return this.lives.find((l) => l.nodeId === nodeId && l.endedAt === undefined);
  }

  running(clusterId: string): Life[] {
    return this.lives.filter((l) => l.clusterId === clusterId && l.endedAt === undefined);
  }

  /** Ends the running life of `nodeId` with `signal` and waits until the process is gone. */
  async endHost(nodeId: string, signal: 'SIGKILL' | 'SIGTERM'): Promise<Life | undefined> {
    const life = this.current(nodeId);
    if (!life) return undefined;
    life.endedAt = Date.now();
    life.end = signal;
    await life.proc.stop(signal, 15_000);
    return life;
  }

  /** The CLI as an operator runs it (`npm run cluster -- …`), as its own process. */
  cli(clusterId: string, args: string[]): Promise<CliResult> {
    return runCli(args, this.env(clusterId));
  }

  /** A query bounded by a deadline (a query to a workflow no worker serves would wait long). */
  async query<T>(workflowId: string, name: string, timeoutMs = 10_000): Promise<T> {
    const handle = this.client.workflow.getHandle(workflowId);
    return this.connection.withDeadline(Date.now() + timeoutMs, () => handle.query<T>(name));
  }

  handle(workflowId: string): WorkflowHandle {
    return this.client.workflow.getHandle(workflowId);
  }

  async close(): Promise<void> {
    process.removeListener('exit', this.killAll);
    process.removeListener('SIGINT', this.onSignal);
    process.removeListener('SIGTERM', this.onSignal);
    await Promise.all(
      this.lives
        .filter((l) => l.endedAt === undefined)
        .map((l) => {
          l.endedAt = Date.now();
          l.end = 'SIGKILL';
          return l.proc.stop('SIGKILL', 5_000);
        }),
    );
    await this.connection?.close().catch(() => undefined);
    await this.server?.stop();
    if (this.opts.keepData)
      this.log(`data kept in ${this.dir} (temporal server start-dev --db-filename ${this.dbFile})`);
    else rmSync(this.dir, { recursive: true, force: true });
  }

  private killEverythingSync(): void {
    for (const l of this.lives) if (l.proc.child.exitCode === null) l.proc.child.kill('SIGKILL');
    if (this.server?.process.exitCode === null) this.server.process.kill('SIGKILL');
  }
}

// ---------------------------------------------------------------------------------------------
// What the server recorded

export { eventMs };

/**
 * The last `n` events of a workflow's latest run, one short line each ("-ms TYPE who/what", ages
 * before now): where a stuck agent spent its time (a task handed to a dead host, an awaited activity).
 */
export async function recentEvents(client: Client, workflowId: string, n = 12): Promise<string> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const now = Date.now();
  return (history.events ?? [])
    .slice(-n)
    .map((e) => `-${now - eventMs(e)}ms ${describeEvent(e)}`)
    .join(', ');
}

export interface RunRef {
  workflowId: string;
  runId: string;
  type: string;
  startMs: number;
}

/** Every run (every continue-as-new) of the cluster's workflows: ids start with `<clusterId>/`. */
export async function clusterRuns(client: Client, clusterId: string): Promise<RunRef[]> {
  const out: RunRef[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowId STARTS_WITH '${clusterId}/'` })) {
    out.push({ workflowId: wf.workflowId, runId: wf.runId, type: wf.type, startMs: wf.startTime.getTime() });
  }
  return out;
}

export interface TaskFailure {
  workflowId: string;
  runId: string;
  eventId: number;
  at: number;
  cause: string;
  message: string;
}

export interface HistoryScan {
  runs: number;
  events: number;
  /** Longest run (events) per workflow id. */
  longest: Record<string, number>;
  failed: TaskFailure[];
  timedOut: number;
  /** WorkflowTaskFailed events whose cause or message says nondeterminism. */
  nondeterminism: number;
  /** Runs that ended other than by continue-as-new or completion: failed, timed out, terminated. */
  closed: { workflowId: string; runId: string; at: number; how: string; message: string }[];
}

export function isNondeterminism(f: TaskFailure): boolean {
  return /NON_DETERMINISTIC|nondetermin|TMPRL1100/i.test(`${f.cause} ${f.message}`);
}

/**
 * Reads every history of the cluster and counts workflow task failures and timeouts whose event
 * time lies in [from, to).
 */
export async function scanHistories(client: Client, clusterId: string, from = 0, to = Infinity): Promise<HistoryScan> {
  const scan: HistoryScan = { runs: 0, events: 0, longest: {}, failed: [], timedOut: 0, nondeterminism: 0, closed: [] };
  for (const run of await clusterRuns(client, clusterId)) {
    const events = (await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory()).events ?? [];
    scan.runs += 1;
    scan.events += events.length;
    scan.longest[run.workflowId] = Math.max(scan.longest[run.workflowId] ?? 0, events.length);
    for (const e of events) {
      const t = eventMs(e);
      if (t < from || t >= to) continue;
      if (e.workflowTaskTimedOutEventAttributes) scan.timedOut += 1;
      const end = e.workflowExecutionFailedEventAttributes
        ? { how: 'failed', message: e.workflowExecutionFailedEventAttributes.failure?.message ?? '' }
        : e.workflowExecutionTerminatedEventAttributes
          ? { how: 'terminated', message: e.workflowExecutionTerminatedEventAttributes.reason ?? '' }
          : e.workflowExecutionTimedOutEventAttributes
            ? { how: 'timed out', message: '' }
            : undefined;
      if (end)
        scan.closed.push({
          workflowId: run.workflowId,
          runId: run.runId,
          at: t,
          ...end,
          message: end.message.slice(0, 400),
        });
      const a = e.workflowTaskFailedEventAttributes;
      if (!a) continue;
      const f: TaskFailure = {
        workflowId: run.workflowId,
        runId: run.runId,
        eventId: Number(e.eventId),
        at: t,
        cause: taskFailedCause(a),
        message: (a.failure?.message ?? '').slice(0, 600),
      };
      scan.failed.push(f);
      if (isNondeterminism(f)) scan.nondeterminism += 1;
    }
  }
  return scan;
}

export interface ReplayOutcome {
  replayed: number;
  failures: string[];
}

/**
 * Replays every run of the cluster's workflows with the workflow code of this checkout. A history
 * that does not replay is kept in a temporary folder (binary protobuf, as test/support/histories.ts
 * keeps its failures) to inspect and to make a replay fixture of.
 */
export async function replayCluster(client: Client, clusterId: string, bundle: string): Promise<ReplayOutcome> {
  const runs = await clusterRuns(client, clusterId);
  // Results come back in the order the histories went in.
  const histories: temporal.api.history.v1.IHistory[] = [];
  async function* all() {
    for (const r of runs) {
      const history = await client.workflow.getHandle(r.workflowId, r.runId).fetchHistory();
      histories.push(history);
      yield { workflowId: r.workflowId, history };
    }
  }
  const out: ReplayOutcome = { replayed: 0, failures: [] };
  for await (const r of Worker.runReplayHistories({ workflowBundle: { codePath: bundle } }, all())) {
    out.replayed += 1;
    const history = histories.shift();
    if (!r.error) continue;
    let kept = '';
    if (history) {
      const dir = mkdtempSync(join(tmpdir(), 'replay-failure-'));
      kept = join(dir, `${r.workflowId.replace(/[^A-Za-z0-9_.-]/g, '_')}@${r.runId}.binpb`);
      writeFileSync(kept, temporal.api.history.v1.History.encode(history).finish());
    }
    out.failures.push(
      `${r.workflowId} run ${r.runId}${kept ? ` (history in ${kept})` : ''}: ${String(r.error).slice(0, 400)}`,
    );
  }
  return out;
}

/** The node whose worker completed the workflow's latest task: it holds the workflow in its sticky cache. */
/**
 * Epoch ms of the latest completed workflow task in the workflow's current run's history, or 0:
 * after a host was killed, a task completed after the kill means the agent runs on a live worker
 * again (its sticky queue is a live one).
 */
export async function lastTaskCompletedAt(client: Client, workflowId: string): Promise<number> {
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    if (!e?.workflowTaskCompletedEventAttributes) continue;
    const t = e.eventTime;
    return Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);
  }
  return 0;
}

export async function stickyHolder(client: Client, workflowId: string): Promise<string | undefined> {
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  for (let i = events.length - 1; i >= 0; i--) {
    const identity = events[i]?.workflowTaskCompletedEventAttributes?.identity;
    if (identity) return identity.split('@')[0];
  }
  return undefined;
}
