/**
 * The dev server we start is ours alone (scripts/lib/dev-server.ts): `npm run server`
 * (scripts/server.ts) as a real process with a real `temporal` child, killed with SIGKILL; an
 * orphan made for real by running it where setpriv is missing; second starts on a held port or
 * data folder.
 */
import { mkdtempSync, readFileSync, existsSync, rmSync, symlinkSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, pidFileOf, portInUse, temporalBinary } from '../../scripts/lib/dev-server';
import { isRunning, listensOn, processInfo, waitUntilGone } from '../../scripts/lib/proc';
import { runScript, type ScriptProcess } from '../support/scripts';

/** The port is free within `withinMs` (a killed server's sockets may hold it for a moment after its process is gone). */
async function portFreed(port: number, withinMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (await portInUse(port)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

const dirs: string[] = [];
const started: ScriptProcess[] = [];
const servers: number[] = [];
let env: NodeJS.ProcessEnv;

const READY = /^server: Temporal at 127\.0\.0\.1:(\d+) \(pid (\d+)\)/;

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

function server(args: string[], extraEnv: NodeJS.ProcessEnv = {}): ScriptProcess {
  const s = runScript('server.ts', args, { env: { ...env, ...extraEnv } });
  started.push(s);
  return s;
}

async function ready(s: ScriptProcess): Promise<number> {
  const m = await s.waitFor(READY, 60_000);
  const pid = Number(m[2]);
  servers.push(pid);
  return pid;
}

beforeAll(() => {
  env = { TEMPORAL_BIN: temporalBinary() };
});

afterAll(async () => {
  for (const s of started) s.child.kill('SIGKILL');
  // Only a server of ours that a failed test left, not a process that reused its pid.
  for (const pid of servers) if (processInfo(pid)?.commandLine.includes(' start-dev ')) process.kill(pid, 'SIGKILL');
  await Promise.all(servers.map((pid) => waitUntilGone(pid, 5_000)));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the Temporal dev server we start', () => {
  it('dies with `npm run server` when that is killed with SIGKILL', async () => {
    const data = tempDir('dev-server-');
    const [port, uiPort] = [await freePort(), await freePort()];
    const parent = server(['--port', String(port), '--ui-port', String(uiPort), '--data', data]);
    const pid = await ready(parent);
    const record = JSON.parse(readFileSync(pidFileOf(join(data, 'temporal.db')), 'utf8')) as Record<string, number>;
    expect(record).toMatchObject({ pid, ownerPid: parent.child.pid, port });
    expect(processInfo(pid)?.commandLine).toContain(`--db-filename ${join(data, 'temporal.db')}`);
    expect(listensOn(pid, port)).toBe(true);

    parent.child.kill('SIGKILL');
    await parent.exited;
    expect(await waitUntilGone(pid, 5_000)).toBe(true);
    expect(await portFreed(port)).toBe(true);
  });

  describe('an orphan, a held port, a data folder in use', () => {
    const data = tempDir('dev-server-');
    let port: number;
    let uiPort: number;
    let orphan: number;
    let second: ScriptProcess;
    let secondPid: number;

    it('an orphan (started where setpriv is missing, its parent killed) is stopped by the next start on that data folder', async () => {
      [port, uiPort] = [await freePort(), await freePort()];
      // Only node on PATH: no setpriv, so nothing kills the server when its parent dies.
      const bin = tempDir('dev-server-bin-');
      mkdirSync(join(bin, 'bin'));
      symlinkSync(process.execPath, join(bin, 'bin', 'node'));
      const first = server(['--port', String(port), '--ui-port', String(uiPort), '--data', data], {
        PATH: join(bin, 'bin'),
      });
      orphan = await ready(first);
      first.child.kill('SIGKILL');
      await first.exited;
      await new Promise((r) => setTimeout(r, 1_000));
      expect(isRunning(orphan)).toBe(true);
      expect(processInfo(orphan)?.ppid).not.toBe(first.child.pid);

      second = server(['--port', String(port), '--ui-port', String(uiPort), '--data', data]);
      secondPid = await ready(second);
      expect(second.lines.join('\n')).toMatch(
        new RegExp(`stopping the Temporal server pid ${orphan} that an earlier run left on ${data}/temporal\\.db`),
      );
      expect(secondPid).not.toBe(orphan);
      expect(isRunning(orphan)).toBe(false);
      expect(listensOn(secondPid, port)).toBe(true);
    });

    it('a start on a port that is held fails non-zero, naming the port and its flag; the holder keeps running', async () => {
      const other = tempDir('dev-server-');
      const onPort = server(['--port', String(port), '--ui-port', String(await freePort()), '--data', other]);
      expect((await onPort.exited).code).toBe(1);
      expect(onPort.lines.join('\n')).toMatch(
        new RegExp(
          `--port: port ${port} is in use \\(by pid ${secondPid}: .*temporal server start-dev.*choose another port with --port`,
        ),
      );
      expect(onPort.lines.join('\n')).not.toMatch(/server: Temporal at/);

      const holder: Server = createServer();
      const held = await freePort();
      await new Promise<void>((ok) => holder.listen(held, '127.0.0.1', ok));
      try {
        const onUi = server(['--port', String(await freePort()), '--ui-port', String(held), '--data', other]);
        expect((await onUi.exited).code).toBe(1);
        expect(onUi.lines.join('\n')).toMatch(
          new RegExp(`--ui-port: port ${held} is in use.*choose another port with --ui-port`),
        );
      } finally {
        await new Promise((ok) => holder.close(ok));
      }
      expect(isRunning(secondPid)).toBe(true);
      expect(listensOn(process.pid, port)).toBe(false);
    });

    it('a start on a data folder whose server still has its owner fails and leaves that server alone', async () => {
      const same = server(['--port', String(await freePort()), '--ui-port', String(await freePort()), '--data', data]);
      expect((await same.exited).code).toBe(1);
      expect(same.lines.join('\n')).toMatch(
        new RegExp(
          `temporal\\.db is in use by the Temporal server pid ${secondPid} of a command that still runs \\(pid ${second.child.pid}`,
        ),
      );
      expect(isRunning(secondPid)).toBe(true);
    });

    it('Ctrl-C stops it: exit 0, the server gone, the pid file removed', async () => {
      second.child.kill('SIGINT');
      expect(await second.exited).toEqual({ code: 0, signal: null });
      expect(isRunning(secondPid)).toBe(false);
      expect(existsSync(pidFileOf(join(data, 'temporal.db')))).toBe(false);
      expect(await portFreed(port)).toBe(true);
    });
  });
});
