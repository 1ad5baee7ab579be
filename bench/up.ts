/**
 * `npm run up` on a warm machine (dependencies and the server binary present): spawn → "ready"
 * line, on free ports and a fresh data folder for the first run, the same folder afterwards
 * (a restart over existing state). Each run is stopped with SIGINT (Ctrl-C) and must exit 0
 * leaving its ports free.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort, portInUse } from '../scripts/lib/dev-server';

export interface UpRun {
  run: number;
  data: 'fresh' | 'existing';
  readyMs: number;
  reportedMs: number;
  stopMs: number;
}

/** Resolves when no process of the group is left (npm may exit before up.ts has finished stopping). */
async function waitForProcessGroup(pgid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      process.kill(-pgid, 0);
    } catch {
      return;
    }
    if (Date.now() > deadline) throw new Error(`process group ${pgid} still running ${timeoutMs} ms after SIGINT`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function benchUp(runs: number): Promise<UpRun[]> {
  const data = mkdtempSync(join(tmpdir(), 'cluster-agents-up-'));
  const out: UpRun[] = [];
  try {
    for (let i = 1; i <= runs; i++) {
      const [port, uiPort, healthBase] = [
        await freePort(),
        await freePort(),
        20_000 + Math.floor(Math.random() * 20_000),
      ];
      const t0 = Date.now();
      const child = spawn(
        'npm',
        [
          'run',
          '-s',
          'up',
          '--',
          '--port',
          String(port),
          '--ui-port',
          String(uiPort),
          '--health-port-base',
          String(healthBase),
          '--data',
          data,
        ],
        // Its own process group, like a terminal's foreground job.
        { cwd: resolve(__dirname, '..'), stdio: ['ignore', 'pipe', 'pipe'], detached: true },
      );
      const lines: string[] = [];
      const ready = await new Promise<string>((ok, fail) => {
        const timer = setTimeout(() => fail(new Error(`up not ready in 180 s:\n${lines.join('\n')}`)), 180_000);
        const onLine = (l: string) => {
          lines.push(l);
          if (/^up: ready at=/.test(l)) {
            clearTimeout(timer);
            ok(l);
          }
        };
        createInterface({ input: child.stdout }).on('line', onLine);
        createInterface({ input: child.stderr }).on('line', onLine);
        child.once('exit', (code) => fail(new Error(`up exited ${code}:\n${lines.join('\n')}`)));
      });
      const readyMs = Date.now() - t0;
      const reportedMs = Number(/elapsed_ms=(\d+)/.exec(ready)?.[1]);
      const s0 = Date.now();
      // Ctrl-C in a terminal signals the whole foreground process group (npm, bash, up.ts).
      process.kill(-(child.pid as number), 'SIGINT');
      const upExited = waitForProcessGroup(child.pid as number, 30_000);
      await upExited;
      const stopMs = Date.now() - s0;
      if (!lines.includes('up: stopped'))
        throw new Error(`up did not report a clean stop after SIGINT:\n${lines.join('\n')}`);
      for (const p of [port, uiPort, healthBase, healthBase + 1, healthBase + 2]) {
        if (await portInUse(p)) throw new Error(`port ${p} still in use after up stopped: a process was left behind`);
      }
      out.push({ run: i, data: i === 1 ? 'fresh' : 'existing', readyMs, reportedMs, stopMs });
      process.stderr.write('.');
    }
  } finally {
    rmSync(data, { recursive: true, force: true });
    process.stderr.write('\n');
  }
  return out;
}
