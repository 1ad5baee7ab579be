/**
 * The NodeDiscovery replay divergence ("Activity machine does not handle this event … TimerStarted"):
 * the order of the commands a workflow emits must never depend on how long an activity took on the
 * wall clock. These runs make that timing as adverse as we can on purpose — a /healthz that answers
 * only after the workflow task's own timeout has passed (so the worker has to heartbeat the task
 * while the connectivity check runs), several announcements at once, leave and health signals
 * crossing them, and a topology-sync timer firing every 100 ms — then replay every history they
 * wrote. Before the fix, the announce handler ran the check as a local activity and broadcast from
 * the handler, beside the loop's timers and activities, and these histories did not replay.
 */
import http from 'node:http';
import type { WorkflowHandle } from '@temporalio/client';
import type { Member } from '../../src/contracts/node-discovery';
import { startHost, type TestHost } from '../support/hosts';
import { replayAll, workflowTaskFailures } from '../support/histories';
import { connect, eventually, startWorker, uniqueId, type TestTemporal, type TestWorker } from '../support/temporal';

const fileStartedAt = new Date(Date.now() - 1_000);

let t: TestTemporal;
let worker: TestWorker;
const taskQueue = uniqueId('nd-order-tq');
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  t = await connect();
  worker = await startWorker(t.client, taskQueue, 'observer-1');
});
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await worker?.stop();
  await t?.close();
});

/** A host endpoint that accepts at once and answers /healthz only after `delayMs`. */
async function slowHost(nodeId: string, clusterId: string, delayMs: number) {
  const bootId = `${nodeId}-boot`;
  const startedAt = Date.now();
  const server = http.createServer((_req, res) => {
    const timer = setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ nodeId, clusterId, zone: 'zone-s', bootId, startedAt, status: 'ok' }));
    }, delayMs);
    res.on('close', () => clearTimeout(timer));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as { port: number }).port;
  closers.push(() => new Promise((ok) => server.close(ok)));
  return { nodeId, address: '127.0.0.1', healthPort: port, zone: 'zone-s', bootId, startedAt };
}

async function fastHost(nodeId: string, clusterId: string): Promise<TestHost> {
  const h = await startHost(nodeId, clusterId);
  closers.push(() => h.close());
  return h;
}

const nodes = (h: WorkflowHandle) => h.query<Member[]>('nodes');

/** One NodeDiscovery fed announcements of 8 slow hosts at random moments for 12 s, with rounds between. */
async function stressOne(seed: number): Promise<{ handle: WorkflowHandle; failedUpdates: string[]; alive: number }> {
  const clusterId = uniqueId('nd-order');
  const handle = await t.client.workflow.start('nodeDiscoveryWorkflow', {
    workflowId: `${clusterId}/node-discovery`,
    taskQueue,
    args: [
      {
        clusterId,
        config: {
          heartbeatIntervalMs: 50,
          healthCheckIntervalMs: 70,
          topologySyncIntervalMs: 150,
          strategies: ['registry'],
          connectTimeoutMs: 1_000,
        },
      },
    ],
  });
  closers.push(() => handle.terminate('test done'));
  // A seeded generator: the same schedule every run.
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const hosts = await Promise.all(
    Array.from({ length: 8 }, (_, i) => slowHost(`h-${i}`, clusterId, Math.floor(rand() * 300))),
  );
  const deadline = Date.now() + 12_000;
  const updates: Promise<string | undefined>[] = [];
  for (let n = 0; Date.now() < deadline; n += 1) {
    const batch = hosts.filter(() => rand() < 0.4);
    await Promise.all(batch.map((h) => handle.signal('announce', { ...h, startedAt: h.startedAt + n })));
    if (rand() < 0.2)
      updates.push(
        handle.executeUpdate('discover', { args: [{}] }).then(
          () => undefined,
          (err: unknown) => String(err),
        ),
      );
    if (rand() < 0.2) await handle.signal('discoverNodes', {});
    await new Promise((r) => setTimeout(r, Math.floor(rand() * 120)));
  }
  const alive = await eventually(
    'every host alive',
    () => nodes(handle),
    (ns) => ns.filter((m) => m.status === 'alive').length === hosts.length,
    20_000,
  ).then(
    (ns) => ns.filter((m) => m.status === 'alive').length,
    () => -1,
  );
  const failedUpdates = (await Promise.all(updates)).filter((e) => e !== undefined);
  return { handle, failedUpdates, alive };
}

describe('NodeDiscovery command order does not depend on activity timing', () => {
  it('announcements at random moments against random /healthz delays, beside timers and discover rounds: every history replays', async () => {
    // Three agents at once, each fed its own seeded schedule: before the fix at least one of them
    // diverged in nearly every run (the order of local-activity completions decided which command
    // came next).
    const runs = await Promise.all([7, 11, 13].map((seed) => stressOne(seed)));
    for (const r of runs) await r.handle.terminate('test done');
    // A live nondeterminism error fails workflow tasks (and wedges the agent); none may be there.
    for (const r of runs) expect(workflowTaskFailures(await r.handle.fetchHistory())).toEqual([]);
    expect(await replayAll(t.client, 'nodeDiscoveryWorkflow', fileStartedAt)).toBeGreaterThanOrEqual(3);
    // Every discover update got its round; every host became a member.
    for (const r of runs) {
      expect(r.failedUpdates).toEqual([]);
      expect(r.alive).toBe(8);
    }
  }, 90_000);

  it('slow /healthz past the workflow task timeout, announcements crossing timers: every history replays', async () => {
    const clusterId = uniqueId('nd-order');
    // Runs of other agents are not there: broadcasts find no receivers, but are still commands.
    const handle = await t.client.workflow.start('nodeDiscoveryWorkflow', {
      workflowId: `${clusterId}/node-discovery`,
      taskQueue,
      // The shortest task timeout the server takes: a check that outlives it makes the worker
      // heartbeat the workflow task, and new events (timer fired, signals) arrive in between.
      workflowTaskTimeout: '1s',
      args: [
        {
          clusterId,
          config: {
            heartbeatIntervalMs: 100,
            healthCheckIntervalMs: 100,
            topologySyncIntervalMs: 100,
            strategies: ['registry'],
            connectTimeoutMs: 4_000,
          },
        },
      ],
    });
    closers.push(() => handle.terminate('test done'));
    const slow = await Promise.all([slowHost('slow-1', clusterId, 1_800), slowHost('slow-2', clusterId, 2_600)]);
    const fast = await Promise.all([fastHost('fast-1', clusterId), fastHost('fast-2', clusterId)]);
    for (let round = 0; round < 3; round += 1) {
      await Promise.all([
        ...slow.map((s) => handle.signal('announce', { ...s, startedAt: s.startedAt + round })),
        ...fast.map((f) => handle.signal('announce', f.announcement())),
      ]);
      await new Promise((r) => setTimeout(r, 300));
      await handle.signal('nodeHealthChange', {
        nodeId: 'fast-1',
        health: round % 2 ? 'healthy' : 'degraded',
        reason: 'test',
        observer: 'test',
      });
      await handle.signal('leave', { nodeId: 'fast-2', bootId: fast[1]!.bootId, reason: 'test' });
      await handle.signal('announce', fast[1]!.announcement());
      await new Promise((r) => setTimeout(r, 1_200));
    }
    // fast-2 left and came back with the same boot: it stays left; the others are members.
    await eventually(
      'slow-1, slow-2 and fast-1 alive',
      () => nodes(handle),
      (ns) => ['slow-1', 'slow-2', 'fast-1'].every((id) => ns.find((n) => n.nodeId === id)?.status === 'alive'),
      20_000,
    );
    await handle.terminate('test done');
    expect(await replayAll(t.client, 'nodeDiscoveryWorkflow', fileStartedAt)).toBeGreaterThanOrEqual(1);
  }, 90_000);
});
