/**
 * Peer watches against real processes on loopback: a SIGKILLed process is reported at once
 * (refused on reconnect), a SIGTERMed one says goodbye and is not reported, a SIGSTOPped one keeps
 * its watch open and is not reported, a restart on the same port is watched again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { MemberSummary } from '../../src/contracts/common';
import type { PeerLost } from '../../src/contracts/failure-detector';
import { PeerWatcher } from '../../src/workers/peer-watch';

const TARGET = resolve(__dirname, '../support/watch-target.ts');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Target {
  child: ChildProcess;
  port: number;
  bootId: string;
  watchedBy: number;
}
const children: ChildProcess[] = [];

function target(nodeId: string, port = 0, incarnation?: number): Promise<Target> {
  const args = [TARGET, nodeId, String(port), ...(incarnation !== undefined ? [String(incarnation)] : [])];
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((ok, fail) => {
    const t: Partial<Target> & { child: ChildProcess; watchedBy: number } = { child, watchedBy: 0 };
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^listening (\d+) (\S+)/.exec(line);
      if (m) ok(Object.assign(t, { port: Number(m[1]), bootId: m[2] as string }) as Target);
      const w = /^watchedBy (\d+)/.exec(line);
      if (w) t.watchedBy = Number(w[1]);
    });
    child.once('exit', (code) => fail(new Error(`target ${nodeId} exited (${code}) before listening`)));
  });
}

const member = (nodeId: string, port: number): MemberSummary => ({
  nodeId,
  status: 'alive',
  health: 'healthy',
  address: '127.0.0.1',
  healthPort: port,
  zone: 'z',
  incarnation: 1,
});

async function until(what: string, pred: () => boolean, timeoutMs = 5_000): Promise<number> {
  const from = Date.now();
  while (!pred()) {
    if (Date.now() - from > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
  return Date.now() - from;
}

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

describe('peer watches on real processes', () => {
  let members: MemberSummary[] = [];
  const reports: (PeerLost & { at: number })[] = [];
  let watcher: PeerWatcher;

  beforeAll(async () => {
    const [a, b, c] = await Promise.all([target('p-a', 0, 4), target('p-b'), target('p-c')]);
    members = [member('p-a', a.port), member('p-b', b.port), member('p-c', c.port)];
    Object.assign(globalThis, { targets: { a, b, c } });
    watcher = new PeerWatcher({
      nodeId: 'p-0',
      clusterId: 'test',
      k: 3,
      refreshMs: 100,
      reconnectTimeoutMs: 500,
      members: async () => members,
      report: async (lost) => void reports.push({ ...lost, at: Date.now() }),
    }).start();
    await until('three watches open', () => watcher.current().watching === 3);
  }, 30_000);
  afterAll(() => watcher.stop());
  const targets = () => (globalThis as unknown as { targets: Record<string, Target> }).targets;

  it('the watched processes count their watchers', async () => {
    await until('p-a counts one watcher', () => targets().a!.watchedBy === 1);
  });

  it('SIGSTOP: the watch stays open, nothing is reported', async () => {
    const b = targets().b!;
    b.child.kill('SIGSTOP');
    await sleep(1_500);
    b.child.kill('SIGCONT');
    expect(reports).toEqual([]);
    expect(watcher.current()).toMatchObject({ watching: 3, reported: 0 });
  });

  it('SIGTERM: the process says goodbye; it is not reported', async () => {
    const c = targets().c!;
    c.child.kill('SIGTERM');
    await new Promise((r) => c.child.once('exit', r));
    await sleep(500);
    expect(reports).toEqual([]);
    expect(watcher.current().watching).toBe(2);
  });

  it('SIGKILL: reported within milliseconds as refused on reconnect, once', async () => {
    const a = targets().a!;
    const killedAt = Date.now();
    a.child.kill('SIGKILL');
    await until('a report', () => reports.length > 0);
    await sleep(1_000); // the watcher keeps trying to reconnect: still one report
    expect(reports).toHaveLength(1);
    const r = reports[0]!;
    // with the incarnation its endpoint said after the hello (its lease's)
    expect(r).toMatchObject({ nodeId: 'p-a', bootId: a.bootId, incarnation: 4, observer: 'p-0', evidence: 'refused' });
    expect(r.detail).toMatch(/then connection refused on reconnect/);
    expect(r.at - killedAt).toBeLessThan(100);
    expect(watcher.current().reported).toBe(1);
  });

  it('a process restarted on the same port is watched again, its new boot reported if it crashes', async () => {
    const a = targets().a!;
    const again = await target('p-a', a.port, 5);
    await until('p-a watched again', () => again.watchedBy === 1, 10_000);
    again.child.kill('SIGKILL');
    await until('a second report', () => reports.length === 2);
    expect(reports[1]).toMatchObject({ nodeId: 'p-a', bootId: again.bootId, incarnation: 5 });
  });

  it('a peer out of the ring is no longer watched', async () => {
    members = members.filter((m) => m.nodeId !== 'p-b');
    await until('p-b unwatched', () => targets().b!.watchedBy === 0, 5_000);
    expect(watcher.current().watching).toBe(0);
  });
});
