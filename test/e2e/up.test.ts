/**
 * `npm run up` as a user runs it (its own server, data folder and ports; short leases passed
 * through to its hosts): SIGKILL one of its own hosts and the rest stays up and declares that host
 * dead, and Ctrl-C then stops everything it started; the server's death stops it; its own death
 * by SIGKILL takes the server and the hosts with it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Member } from '../../src/contracts/node-discovery';
import { freePort, portInUse } from '../../scripts/lib/dev-server';
import { isRunning, listensOn, processInfo, waitUntilGone } from '../../scripts/lib/proc';
import { cliJson } from '../support/cli';
import { runCommand, type ScriptProcess } from '../support/scripts';
import { eventually, uniqueId } from '../support/temporal';

const root = mkdtempSync(join(tmpdir(), 'up-e2e-'));
const ups: ScriptProcess[] = [];
const launched: Up[] = [];
// Its own cluster id and no multicast: nothing else on this machine joins this cluster.
const env = { CLUSTER_ID: uniqueId('up'), CLUSTER_MULTICAST: 'off' };

/** `count` consecutive free ports, for --health-port-base. */
async function freeRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const taken = await Promise.all(Array.from({ length: count }, (_, i) => portInUse(base + i)));
    if (!taken.some(Boolean)) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

/** Waits until nothing is bound to the port; if something still is, says what (sockets and owners). */
async function portFreed(port: number, withinMs: number): Promise<{ port: number; inUse: boolean; holders?: string }> {
  const deadline = Date.now() + withinMs;
  while (await portInUse(port)) {
    if (Date.now() > deadline) {
      const ss = spawnSync('ss', ['-tanpH', `( sport = :${port} or dport = :${port} )`], { encoding: 'utf8' });
      return { port, inUse: true, holders: ss.stdout || ss.stderr || String(ss.error) };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { port, inUse: false };
}

/** Every process whose command line names this up's data folder or one of its health ports. */
function leftovers({ data, healthPorts }: Up): string[] {
  const out: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const info = processInfo(Number(entry));
    if (!info || info.zombie) continue;
    const ours =
      info.commandLine.includes(data) ||
      (info.commandLine.includes('host-worker.ts') &&
        healthPorts.some((p) => `${info.commandLine} `.includes(`--health-port ${p} `)));
    if (ours) out.push(`${info.pid}: ${info.commandLine}`);
  }
  return out;
}

interface Up {
  up: ScriptProcess;
  data: string;
  port: number;
  uiPort: number;
  healthPorts: number[];
  upPid: number;
  serverPid: number;
  hostPid: Record<string, number>;
}

/** `npm run up` with `hosts` hosts on free ports and our data folder, once it says it is ready. */
async function startUp(hosts: number): Promise<Up> {
  const [port, uiPort, healthBase] = [await freePort(), await freePort(), await freeRange(hosts)];
  const healthPorts = Array.from({ length: hosts }, (_, i) => healthBase + i);
  const data = mkdtempSync(join(root, 'data-'));
  const flags = { port, 'ui-port': uiPort, 'health-port-base': healthBase, hosts, data };
  const args = Object.entries(flags).flatMap(([k, v]) => [`--${k}`, String(v)]);
  const up = runCommand(
    'npm',
    ['run', '-s', 'up', '--', ...args, '--lease-heartbeat', '500', '--lease-timeout', '1500'],
    {
      env,
      detached: true,
    },
  );
  ups.push(up);
  await up.waitFor(/^up: ready at=/, 90_000);
  const serverPid = Number((await up.waitFor(/^up: Temporal ready after \d+ ms \(pid (\d+)\)/, 1))[1]);
  const hostPid: Record<string, number> = {};
  for (let i = 1; i <= hosts; i++)
    hostPid[`node-${i}`] = Number((await up.waitFor(new RegExp(`^up: node-${i} pid (\\d+) health port \\d+`), 1))[1]);
  // up.ts itself (under npm and bash) is the parent of what it started.
  const upPid = processInfo(serverPid)?.ppid as number;
  expect(processInfo(upPid)?.commandLine).toMatch(/scripts\/up\.ts/);
  for (const pid of Object.values(hostPid)) expect(processInfo(pid)?.ppid).toBe(upPid);
  const started = { up, data, port, uiPort, healthPorts, upPid, serverPid, hostPid };
  launched.push(started);
  return started;
}

afterAll(async () => {
  for (const up of ups) {
    try {
      process.kill(-(up.child.pid as number), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  // Whatever a failed test left: only processes that name a data folder or health port of ours.
  const left = launched.flatMap((u) => leftovers(u)).map((l) => Number(l.split(':')[0]));
  for (const pid of left) process.kill(pid, 'SIGKILL');
  await Promise.all(left.map((pid) => waitUntilGone(pid, 5_000)));
  rmSync(root, { recursive: true, force: true });
});

it('a host of `npm run up` killed with SIGKILL is declared dead while the rest keeps running; Ctrl-C stops everything', async () => {
  const started = await startUp(3);
  const { up, port, uiPort, healthPorts, upPid, serverPid, hostPid } = started;
  const victim = hostPid['node-2'] as number;
  // The pid up printed is its own node-2 worker, with the leases passed through.
  expect(processInfo(victim)?.commandLine).toMatch(
    new RegExp(
      `host-worker\\.ts --node-id node-2 .*--health-port ${healthPorts[1]} --lease-heartbeat 500 --lease-timeout 1500`,
    ),
  );

  const address = `127.0.0.1:${port}`;
  const nodes = async () =>
    Object.fromEntries(
      (await cliJson<Member[]>(['nodes'], { ...env, TEMPORAL_ADDRESS: address })).map((m) => [m.nodeId, m.status]),
    );
  expect(await nodes()).toEqual({ 'node-1': 'alive', 'node-2': 'alive', 'node-3': 'alive' });

  process.kill(victim, 'SIGKILL');
  await up.waitFor(
    new RegExp(`^up: node-2 \\(pid ${victim}\\) exited \\(SIGKILL\\); the server and 2 other host\\(s\\) keep running`),
    10_000,
  );
  expect(up.lines.join('\n')).toMatch(/watch the cluster declare it dead: .*npm run -s cluster -- nodes/);
  await eventually('node-2 dead', nodes, (n) => n['node-2'] === 'dead', 30_000, 250);
  // A while after the verdict, the launcher, its server and the other hosts are all still there.
  await new Promise((r) => setTimeout(r, 2_000));
  // …and the orchestrator's node_failure asked up for a replacement: node-4 joins.
  const after = await eventually('replacement node-4 alive', nodes, (n) => n['node-4'] === 'alive', 30_000, 250);
  expect(after).toEqual({ 'node-1': 'alive', 'node-2': 'dead', 'node-3': 'alive', 'node-4': 'alive' });
  expect(up.lines.join('\n')).toMatch(
    /up: the orchestrator asks for a replacement of node-2: starting node-4 in zone-b/,
  );
  expect(up.child.exitCode).toBeNull();
  for (const pid of [upPid, serverPid, hostPid['node-1'] as number, hostPid['node-3'] as number])
    expect({ pid, running: isRunning(pid) }).toEqual({ pid, running: true });
  expect(isRunning(victim)).toBe(false);
  expect(listensOn(serverPid, port)).toBe(true);
  expect(up.lines.join('\n')).not.toMatch(/stopping \d+ host/);

  // Ctrl-C in a terminal signals the whole foreground process group (npm, bash, up.ts).
  process.kill(-(up.child.pid as number), 'SIGINT');
  const exit = await up.exited;
  // The replacement the orchestrator asked for is one of up's hosts: stopped with the others.
  expect(up.lines.join('\n')).toMatch(
    /up: SIGINT: stopping 3 host\(s\), then the Temporal server[\s\S]*\nup: stopped$/,
  );
  // npm passes on how its script ended, and dies of the SIGINT it got itself, as in a terminal.
  expect([0, 'SIGINT']).toContain(exit.signal ?? exit.code);
  expect(up.lines.join('\n')).not.toMatch(/up: start failed|up: the Temporal server exited/);
  for (const pid of [upPid, serverPid, ...Object.values(hostPid)]) expect(await waitUntilGone(pid, 10_000)).toBe(true);
  expect(leftovers(started)).toEqual([]);
  for (const p of [port, uiPort, ...healthPorts]) expect(await portFreed(p, 5_000)).toEqual({ port: p, inUse: false });
}, 90_000);

describe('with one host', () => {
  // Two launches at once: each test ends its own.
  let one: Up;
  let other: Up;
  beforeAll(async () => {
    [one, other] = await Promise.all([startUp(1), startUp(1)]);
  }, 120_000);

  it('when its Temporal server dies, `npm run up` says so, stops its hosts and exits non-zero', async () => {
    const { up, serverPid, hostPid } = one;
    process.kill(serverPid, 'SIGKILL');
    const exit = await up.exited;
    expect(exit).toEqual({ code: 1, signal: null });
    expect(up.lines.join('\n')).toMatch(
      /up: the Temporal server exited \(SIGKILL; see .*temporal\.log\)[\s\S]*up: the Temporal server exited: stopping 1 host\(s\)\.\.\.[\s\S]*up: stopped/,
    );
    expect(await waitUntilGone(hostPid['node-1'] as number, 5_000)).toBe(true);
    expect(leftovers(one)).toEqual([]);
  });

  it('killed with SIGKILL, `npm run up` takes its server and hosts with it', async () => {
    const { up, port, upPid, serverPid, hostPid } = other;
    process.kill(upPid, 'SIGKILL');
    // npm notices its script died and exits too.
    expect((await up.exited).code).not.toBe(0);
    for (const pid of [serverPid, hostPid['node-1'] as number]) expect(await waitUntilGone(pid, 5_000)).toBe(true);
    expect(leftovers(other)).toEqual([]);
    // The server's process is gone; its port is free once the kernel has let go of its sockets
    // (CI once found it still taken right after the exit). Who holds it is printed if it stays taken.
    expect(await portFreed(port, 5_000)).toEqual({ port, inUse: false });
  });
});
