/**
 * Host worker processes for `npm run up`, the end-to-end tests and the benchmarks: each is a real
 * `node src/workers/host-worker.ts` process; its output is kept line by line so callers can wait
 * for "ready" and read the timestamps it logs.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { dieWithParent } from './proc';

const ROOT = resolve(__dirname, '..', '..');
export const WORKER_ENTRY = resolve(ROOT, 'src/workers/host-worker.ts');
export const CLI_ENTRY = resolve(ROOT, 'src/client/cli.ts');

/**
 * How to run the CLI as its own process: `node <bundle>` when `CLUSTER_CLI_BUNDLE` names one (the
 * test suite builds it once, scripts/lib/cli-bundle.ts), else `node --import tsx src/client/cli.ts`.
 * The same code either way; tsx compiles and resolves it anew in every process (1.2 s of CPU per
 * call here, against 0.4 s for the bundle), and the end-to-end tests poll the CLI.
 */
export function cliArgv(args: string[]): string[] {
  const bundle = process.env.CLUSTER_CLI_BUNDLE;
  return bundle ? [bundle, ...args] : ['--import', 'tsx', CLI_ENTRY, ...args];
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** What was run (for the message of a failed check). */
  args: string[];
}

/** Runs the CLI once as its own process, as an operator or a script does (60 s at most). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((ok) => {
    execFile(process.execPath, cliArgv(args), { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
      ok({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr, args }),
    );
  });
}

export interface HostProcess {
  nodeId: string;
  child: ChildProcess;
  lines: string[];
  spawnedAt: number;
  /** Resolves with the first line (already seen or to come) that matches. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends the signal and resolves with the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface SpawnWorkerOptions {
  nodeId?: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Each output line, e.g. to echo it. */
  onLine?: (line: string) => void;
  /** Own process group (so a terminal's Ctrl-C reaches only the parent). */
  detached?: boolean;
  /** Run inside this network namespace (`ip netns exec`, which execs: the pid is the worker's). */
  netns?: string;
}

export function spawnHostWorker(opts: SpawnWorkerOptions): HostProcess {
  const args = [...(opts.nodeId ? ['--node-id', opts.nodeId] : []), ...(opts.args ?? [])];
  const spawnedAt = Date.now();
  // Dies with us even when we are killed by SIGKILL: an orphaned host would hold its health port.
  const [inner, innerArgv] = dieWithParent(process.execPath, ['--import', 'tsx', WORKER_ENTRY, ...args]);
  const [command, argv] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, inner, ...innerArgv]] : [inner, innerArgv];
  const child = spawn(command, argv, {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  });
  const lines: string[] = [];
  const waiters: { re: RegExp; ok: (l: string) => void }[] = [];
  const onLine = (line: string) => {
    lines.push(line);
    opts.onLine?.(line);
    for (const w of [...waiters]) {
      if (w.re.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.ok(line);
      }
    }
  };
  if (child.stdout) createInterface({ input: child.stdout }).on('line', onLine);
  if (child.stderr) createInterface({ input: child.stderr }).on('line', onLine);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) =>
    child.once('exit', (code, signal) => ok({ code, signal })),
  );
  let done = false;
  void exited.then(() => (done = true));
  const waitFor = (re: RegExp, timeoutMs = 60_000) => {
    const seen = lines.find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise<string>((ok, fail) => {
      const timer = setTimeout(
        () =>
          fail(
            new Error(
              `${opts.nodeId ?? 'worker'}: no line matching ${re} within ${timeoutMs} ms; output:\n${lines.join('\n')}`,
            ),
          ),
        timeoutMs,
      );
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        fail(
          new Error(`${opts.nodeId ?? 'worker'} exited (${signal ?? code}) before ${re}; output:\n${lines.join('\n')}`),
        );
      });
      waiters.push({
        re,
        ok: (l) => {
          clearTimeout(timer);
          ok(l);
        },
      });
    });
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000) => {
    if (!done) child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const { code } = await exited;
    clearTimeout(timer);
    return code;
  };
  return { nodeId: opts.nodeId ?? '', child, lines, spawnedAt, waitFor, stop, exited };
}

/** The epoch-ms `at=` a worker logs on a line. */
export function loggedAt(line: string): number {
  const m = / at=(\d+)/.exec(line);
  if (!m?.[1]) throw new Error(`no at= in ${JSON.stringify(line)}`);
  return Number(m[1]);
}
