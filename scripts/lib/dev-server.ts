/**
 * Starts the Temporal dev server (`temporal server start-dev`) as a child process and waits until
 * its frontend answers. Used by `npm run up`, `npm run server`, the test suite's global setup and
 * the benchmarks; the binary comes from scripts/temporal-bin.sh.
 *
 * The server we start is ours alone:
 * 1. It dies with the process that started it, even one killed by SIGKILL (setpriv's parent-death
 *    signal, see proc.ts), so it never holds the port and the SQLite file after us.
 * 2. With a database file, `<dbFile>.pid` names it and its owner; a start finds an orphan of an
 *    earlier run there (owner gone: a platform without setpriv, or a crash in between) and stops
 *    it, but only a process whose command line is `temporal server start-dev` on that very file.
 *    A server on that file whose owner still runs is another command's: the start fails instead.
 * 3. Its ports must be free before it is spawned, and once it answers it must be our child that
 *    listens, so another server on the port is never taken for ours.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { Connection } from '@temporalio/client';
import { dieWithParent, listenersOf, listensOn, processInfo, waitUntilGone } from './proc';

export interface DevServerOptions {
  /** Address to listen on (default 127.0.0.1; 0.0.0.0 lets other hosts connect). */
  ip?: string;
  /** Frontend gRPC port (0 picks a free one). */
  port: number;
  /** Web UI port; undefined runs headless. */
  uiPort?: number;
  /** SQLite file; undefined keeps everything in memory. */
  dbFile?: string;
  /** Dynamic config overrides, e.g. { 'limit.historyCount.suggestContinueAsNew': 200 }. */
  dynamicConfig?: Record<string, string | number | boolean>;
  /** Where the server's own output goes (default: discarded). */
  logFile?: string;
  /** Give up waiting for the frontend after this long (ms, default 60 s). */
  readyTimeoutMs?: number;
  /** The caller's flags for `port` and `uiPort`, named when a port is taken (default --port, --ui-port). */
  portFlags?: { port: string; uiPort: string };
  /** Notices such as an orphan stopped (default: stderr). */
  log?: (line: string) => void;
}

export interface DevServer {
  address: string;
  port: number;
  uiUrl?: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

const ROOT = resolve(__dirname, '..', '..');

/** The `temporal` binary: $TEMPORAL_BIN, else scripts/temporal-bin.sh (which may build it). */
export function temporalBinary(): string {
  const fromEnv = process.env.TEMPORAL_BIN;
  if (fromEnv) return fromEnv;
  return execFileSync('bash', [resolve(ROOT, 'scripts/temporal-bin.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? ok(addr.port) : fail(new Error('no port'))));
    });
  });
}

export function portInUse(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((ok) => {
    const srv = createServer();
    srv.once('error', () => ok(true));
    srv.listen(port, host, () => srv.close(() => ok(false)));
  });
}

/** Queries one run may hold while a workflow task is in flight (Temporal's default: 1). */
export const MAX_BUFFERED_QUERIES = 100;

/** Transfer- and timer-queue reads per second per history shard on the servers we start (default 20). */
export const PROCESSOR_MAX_POLL_RPS = 1_000;

/** Signals one workflow run may take on the servers we start (Temporal's default: 10,000). */
export const SIGNALS_PER_RUN_LIMIT = 1_200;

/**
 * Dynamic config every server we start gets. The history service shifts every new timer task to
 * at least now + `timerProcessorMaxTimeShift` (default 1 s), so a 140 ms timer or a 1.5 s
 * heartbeat timeout fired up to a second late: failure detection would be bounded by that shift,
 * not by the lease. 50 ms keeps timers within a few tens of ms (docker-compose.yml sets the same).
 */
/** History events after which the server suggests continue-as-new (default 4K). */
export const SUGGEST_CONTINUE_AS_NEW = 1_000;

export const CONTROL_PLANE_DYNAMIC_CONFIG: Record<string, string | number | boolean> = {
  'history.timerProcessorMaxTimeShift': '50ms',
  // A run that keeps receiving signals cannot continue as new (each attempt fails with
  // UNHANDLED_COMMAND and is retried with the new signals) until the server refuses signals past
  // this count; agents roll over at 1,000 (`continueAsNewAfterSignals`), so 1,200 (default 10,000)
  // bounds a flooded run to a few thousand events and its queries to seconds of delay.
  'history.maximumSignalsPerExecution': SIGNALS_PER_RUN_LIMIT,
  // Queries that reach a run while a workflow task is in flight wait for it in a buffer of this
  // size per run (default 1); the next one is refused (ResourceExhausted) and the client retries it
  // until its deadline. A busy agent (a signal flood, routers, the CLI and the Web UI at once) had
  // ~10 % of its queries time out that way; 100 lets them all wait their turn.
  'history.MaxBufferedQueryCount': MAX_BUFFERED_QUERIES,
  // Every task queue has 4 partitions by default; a task written to a partition whose pollers are
  // elsewhere waits to be forwarded to the root, a few to tens of ms per hop. Our queues are small
  // (one per host, and the agents' shared one): one partition each keeps a probe's dispatch and
  // an agent's next task on the direct path (issue 13's probe round trip).
  'matching.numTaskqueueWritePartitions': 1,
  'matching.numTaskqueueReadPartitions': 1,
  // The history service reads its transfer queue (a workflow task to dispatch, a signal to another
  // workflow, a child to start) and its timer queue at most this often per shard (default 20/s; the
  // dev server has one shard). Under steady traffic every hop then waited for the next 50 ms slot: a
  // consensus round (a child, five signals out, five back) took 200 ms of workflow time, 75 ms when
  // the limiter had tokens. Reads are still driven by new tasks; this only lifts the cap.
  'history.transferProcessorMaxPollRPS': PROCESSOR_MAX_POLL_RPS,
  'history.timerProcessorMaxPollRPS': PROCESSOR_MAX_POLL_RPS,
  // A host cut off from the server still has polls waiting at the server. The server hands tasks to
  // them, the answers go nowhere, and each such workflow task stalls its agent for the task timeout
  // (4 s). Until the server sees the connection is dead, and by default it pings a silent client
  // only after 1 min, every poll of the cut host takes a task this way. In a nemesis run the
  // partition handler lost 9 tasks like this after a server cut: 36 s without deciding, and one
  // split-brain moment. The server now pings a client that has been silent for 1 s and closes the
  // connection, cancelling its polls, when no answer comes within 2 s.
  'frontend.keepAliveTime': '1s',
  'frontend.keepAliveTimeout': '2s',
  // Agents continue as new when the server suggests it (default 4K events; 1,000 here). A task
  // on the shared queue (after an eviction, a raced roll-over, a killed host's sticky queue)
  // replays the whole run, about 0.9 ms per event on an idle 2-core host. Runs of ~4,100 events
  // replayed in 2.6–3.6 s idle, so on a loaded host every such task overran the 4 s task timeout,
  // again and again: 16 timeouts of the LoadBalancer in one nemesis run, one split-brain moment and
  // a heal of 16.5 s. At 1,000 the slowest replay was 1.6 s and no agent timed out twice in a row.
  'limit.historyCount.suggestContinueAsNew': SUGGEST_CONTINUE_AS_NEW,
};

/** `<dbFile>.pid`: the server on that file and the process that started it (see the header, 2). */
export function pidFileOf(dbFile: string): string {
  return `${dbFile}.pid`;
}

interface PidFile {
  pid: number;
  ownerPid: number;
  port: number;
  startedAt: number;
}

function readPidFile(file: string): PidFile | undefined {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as Partial<PidFile>;
    return Number.isInteger(v.pid) && Number.isInteger(v.ownerPid) ? (v as PidFile) : undefined;
  } catch {
    return undefined;
  }
}

/** `temporal server start-dev … --db-filename <dbFile> …`, and not merely a process that reused the pid. */
function servesDbFile(commandLine: string, dbFile: string): boolean {
  const argv = ` ${commandLine} `;
  return argv.includes(' server start-dev ') && argv.includes(` --db-filename ${dbFile} `);
}

/** Stops the server an earlier run left on `dbFile`; fails when a running command still owns it. */
async function stopOrphan(dbFile: string, log: (line: string) => void): Promise<void> {
  const file = pidFileOf(dbFile);
  const recorded = readPidFile(file);
  const info = recorded && processInfo(recorded.pid);
  if (recorded && info && !info.zombie && servesDbFile(info.commandLine, dbFile)) {
    // Its owner is alive exactly when it is still the parent: an orphan is re-parented at once.
    if (info.ppid === recorded.ownerPid) {
      throw new Error(
        `${dbFile} is in use by the Temporal server pid ${recorded.pid} of a command that still runs (pid ${recorded.ownerPid}: ${processInfo(recorded.ownerPid)?.commandLine.slice(0, 120) ?? '?'}); stop that command or use another data folder (--data)`,
      );
    }
    log(
      `stopping the Temporal server pid ${recorded.pid} that an earlier run left on ${dbFile} (its owner, pid ${recorded.ownerPid}, is gone)`,
    );
    process.kill(recorded.pid, 'SIGTERM');
    if (!(await waitUntilGone(recorded.pid, 5_000))) {
      process.kill(recorded.pid, 'SIGKILL');
      if (!(await waitUntilGone(recorded.pid, 5_000)))
        throw new Error(`the orphaned Temporal server pid ${recorded.pid} on ${dbFile} does not stop`);
    }
  }
  rmSync(file, { force: true });
}

/** " (pid N: command …)" for the processes listening on `port`, when the OS tells us. */
function heldBy(port: number): string {
  const who = listenersOf(port).map((p) => `pid ${p.pid}: ${p.commandLine.slice(0, 120)}`);
  return who.length ? ` (by ${who.join('; ')})` : '';
}

/** The server process ended before it answered (e.g. one of its ports was taken meanwhile). */
class ExitedEarly extends Error {}

/** Starts with fresh ports this many times when the server exits at once on ports we chose. */
const START_ATTEMPTS = 3;

/**
 * Starts a dev server and waits until it answers. Ports we choose are free when chosen, but another
 * process (often another dev server picking its internal ports) may bind one before the server does,
 * which then exits at once ("bind: address already in use"): then it starts again on new ports. A
 * port the caller named is never changed.
 */
export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const log = opts.log ?? ((line: string) => console.error(`dev-server: ${line}`));
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startOnce(opts, log);
    } catch (err) {
      const ours = !opts.port && opts.uiPort === undefined;
      if (!(err instanceof ExitedEarly) || !ours || attempt >= START_ATTEMPTS) throw err;
      log(`${err.message}; starting it again on other ports (attempt ${attempt + 1} of ${START_ATTEMPTS})`);
    }
  }
}

async function startOnce(opts: DevServerOptions, log: (line: string) => void): Promise<DevServer> {
  const flags = opts.portFlags ?? { port: '--port', uiPort: '--ui-port' };
  const ip = opts.ip ?? '127.0.0.1';
  const port = opts.port || (await freePort());
  if (opts.dbFile) {
    mkdirSync(dirname(opts.dbFile), { recursive: true });
    await stopOrphan(opts.dbFile, log);
  }
  const wanted: [number, string][] = [[port, flags.port]];
  if (opts.uiPort !== undefined) wanted.push([opts.uiPort, flags.uiPort]);
  for (const [p, flag] of wanted) {
    if (await portInUse(p, ip))
      throw new Error(
        `${flag}: port ${p} is in use${heldBy(p)}; stop that process or choose another port with ${flag}`,
      );
  }
  const args = ['server', 'start-dev', '--ip', ip, '--port', String(port), '--log-level', 'warn'];
  args.push('--http-port', String(await freePort()), '--metrics-port', String(await freePort()));
  if (opts.uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(opts.uiPort));
  if (opts.dbFile) args.push('--db-filename', opts.dbFile);
  for (const [k, v] of Object.entries({ ...CONTROL_PLANE_DYNAMIC_CONFIG, ...opts.dynamicConfig }))
    args.push('--dynamic-config-value', `${k}=${JSON.stringify(v)}`);
  let out: 'ignore' | number = 'ignore';
  if (opts.logFile) {
    mkdirSync(dirname(opts.logFile), { recursive: true });
    out = openSync(opts.logFile, 'a');
  }
  // Its own process group: a Ctrl-C in the terminal reaches our handler, which stops the workers
  // first; the parent-death signal still takes it down if we die without stopping it.
  const [command, argv] = dieWithParent(temporalBinary(), args);
  const child = spawn(command, argv, { stdio: ['ignore', out, out], detached: true });
  const address = `${ip === '0.0.0.0' ? '127.0.0.1' : ip}:${port}`;
  let exited: string | undefined;
  const exit = new Promise<void>((ok) =>
    child.once('exit', (code, signal) => {
      exited = `exited with ${signal ?? code}`;
      ok();
    }),
  );
  child.once('error', (err) => {
    exited = `could not start: ${err.message}`;
  });
  const pidFile = opts.dbFile && pidFileOf(opts.dbFile);
  if (pidFile && child.pid) {
    const record: PidFile = { pid: child.pid, ownerPid: process.pid, port, startedAt: Date.now() };
    writeFileSync(pidFile, JSON.stringify(record) + '\n');
    void exit.then(() => {
      if (readPidFile(pidFile)?.pid === child.pid) rmSync(pidFile, { force: true });
    });
  }
  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exit;
    clearTimeout(killTimer);
  };
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (exited)
      throw new ExitedEarly(
        `temporal server ${exited} before it was ready${opts.logFile ? ` (see ${opts.logFile})` : ''}`,
      );
    try {
      const connection = await Connection.connect({ address, connectTimeout: '1s' });
      try {
        await connection.workflowService.describeNamespace({ namespace: 'default' });
        break;
      } finally {
        await connection.close();
      }
    } catch (err) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(
          `temporal server at ${address} not ready after ${opts.readyTimeoutMs ?? 60_000} ms: ${(err as Error).message}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  // Whoever answered, it must be our child listening (another process may have taken the port
  // between our check and the spawn, and ours then failed to bind).
  if (exited || listensOn(child.pid as number, port) === false) {
    const who = heldBy(port);
    await stop();
    throw new Error(
      `the Temporal server answering on ${address} is not the one we started (pid ${child.pid}${exited ? `, ${exited}` : ''})${who}; choose another port with ${flags.port}`,
    );
  }
  return {
    address,
    port,
    uiUrl: opts.uiPort !== undefined ? `http://localhost:${opts.uiPort}` : undefined,
    process: child,
    stop,
  };
}
