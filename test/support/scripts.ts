/** Runs a command (`npm run …`, one of scripts/*.ts) as its own process and keeps its output by line. */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';

export const ROOT = resolve(__dirname, '..', '..');

export interface ScriptProcess {
  child: ChildProcess;
  lines: string[];
  /** The first line (seen or to come) that matches; fails if the process exits first. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  /** Own process group, like a terminal's foreground job (signal it all with kill(-pid)). */
  detached?: boolean;
}

/** scripts/<script> under node with tsx, as the npm scripts run it. */
export function runScript(script: string, args: string[], opts: RunOptions = {}): ScriptProcess {
  return runCommand(process.execPath, ['--import', 'tsx', resolve(ROOT, 'scripts', script), ...args], opts);
}

export function runCommand(command: string, args: string[], opts: RunOptions = {}): ScriptProcess {
  const script = [command, ...args].join(' ').slice(0, 80);
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  });
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  const onLine = (l: string) => {
    lines.push(l);
    for (const f of [...listeners]) f();
  };
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', onLine);
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', onLine);
  // 'close', not 'exit': it comes once every process that holds our pipes (children of a
  // wrapper like npm) is gone and every line has been read.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) =>
    child.once('close', (code, signal) => ok({ code, signal })),
  );
  let done: string | undefined;
  void exited.then(({ code, signal }) => (done = `${script} exited (${signal ?? code})`));
  const waitFor = (re: RegExp, timeoutMs = 60_000) =>
    new Promise<RegExpExecArray>((ok, fail) => {
      const check = () => {
        for (const l of lines) {
          const m = re.exec(l);
          if (m) return finish(() => ok(m));
        }
        if (done) finish(() => fail(new Error(`${done} before ${re}; output:\n${lines.join('\n')}`)));
      };
      const timer = setTimeout(
        () =>
          finish(() => fail(new Error(`${script}: no line matching ${re} in ${timeoutMs} ms:\n${lines.join('\n')}`))),
        timeoutMs,
      );
      const finish = (f: () => void) => {
        clearTimeout(timer);
        listeners.delete(check);
        f();
      };
      listeners.add(check);
      // The exit may come after the last line: look again then.
      void exited.then(() => setImmediate(check));
      check();
    });
  return { child, lines, waitFor, exited };
}
