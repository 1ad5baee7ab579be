/**
 * Procedures an operator can trust at 3 a.m.: the node_failure procedure under the faults that hit
 * it in real life, with real processes on its own Temporal dev server (a SQLite file, so the server
 * can be SIGKILLed and started again on the same data), five host workers and a replacement
 * launcher on loopback that answers slowly (a cloud API takes seconds) and, like `npm run up`'s,
 * starts one host per request id.
 * - The host running the procedure's current step (the hook call) is SIGKILLed: the step is retried
 *   on another host, the launcher sees the same request id again, one replacement starts, the
 *   procedure completes.
 * - The Temporal server is SIGKILLed mid-procedure and started again: the procedure completes.
 * - Three of five hosts are SIGKILLed at once: no replacement storm, the procedure escalates.
 * Every history the cluster wrote replays.
 */
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ProcedureReport } from '../../src/contracts/orchestrator';
import { PROCEDURE_MEMO } from '../../src/contracts/orchestrator';
import { Lab, replayCluster, scanHistories, sleep } from '../../bench/fault-lab';
import { expectOk } from '../support/cli';
import { eventually, uniqueId } from '../support/temporal';

const clusterId = uniqueId('pf');
let lab: Lab;
let launcher: http.Server;
/** Requests the launcher answered: each request id, and whether it started a host. */
const requests: { requestId: string; replaces: string; started?: string }[] = [];
const startedFor = new Map<string, string>();
let launcherDelayMs = 0;
let next = 6;

const report = async (node: string): Promise<ProcedureReport | undefined> => {
  const d = await lab.handle(`${clusterId}/procedure/node_failure/${node}`).describe();
  return d.memo?.[PROCEDURE_MEMO] as ProcedureReport | undefined;
};
const alive = async () =>
  (
    await lab
      .cli(clusterId, ['nodes', '--json'])
      .then((r) => JSON.parse(r.stdout) as { nodeId: string; status: string }[])
  )
    .filter((m) => m.status === 'alive')
    .map((m) => m.nodeId)
    .sort();
/** The host whose worker runs the procedure's pending activity (the step in progress). */
const stepHost = async (node: string): Promise<string | undefined> => {
  const d = await lab.handle(`${clusterId}/procedure/node_failure/${node}`).describe();
  const pending = d.raw.pendingActivities?.find((a) => a.activityType?.name === 'runHook');
  return pending?.lastWorkerIdentity?.split('@')[0] || undefined;
};

beforeAll(async () => {
  lab = await Lab.start({ name: 'procedure-faults', suggestContinueAsNew: 400 });
  launcher = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const ctx = JSON.parse(body || '{}') as { requestId?: string; nodeId?: string };
      const requestId = ctx.requestId ?? '';
      const seen = startedFor.get(requestId);
      const r: (typeof requests)[number] = { requestId, replaces: String(ctx.nodeId) };
      requests.push(r);
      if (seen) return void res.writeHead(200).end(JSON.stringify({ nodeId: seen }));
      const nodeId = `p-${next++}`;
      r.started = nodeId;
      startedFor.set(requestId, nodeId);
      void lab.spawnHost(clusterId, nodeId, ['--zone', 'zone-r']).catch(() => undefined);
      // Answers once the "cloud" took its time: the step is in flight meanwhile.
      setTimeout(() => res.writeHead(201).end(JSON.stringify({ nodeId })), launcherDelayMs);
    });
  });
  await new Promise<void>((ok) => launcher.listen(0, '127.0.0.1', ok));
  const hookUrl = `http://127.0.0.1:${(launcher.address() as AddressInfo).port}/hosts`;
  await Promise.all(
    // p-5, the first victim, alone in its zone: with whichever host runs its step killed too, no
    // zone loses two hosts (the zone guard would rightly escalate that one instead of replacing it).
    ['a', 'b', 'c', 'a', 'e'].map((z, i) => lab.spawnHost(clusterId, `p-${i + 1}`, ['--zone', `zone-${z}`])),
  );
  const config = {
    orchestrator: {
      replacementHook: { http: { url: hookUrl }, timeoutMs: 4_000 },
      replacementEveryMs: 1_000,
      escalateAfterMs: { node_failure: 120_000 },
      massFailure: { windowMs: 6_000 },
      rebalance: { auto: false },
    },
  };
  writeFileSync(`${lab.dir}/agents.json`, JSON.stringify(config));
  expectOk(await lab.cli(clusterId, ['start', '--config', `${lab.dir}/agents.json`]));
  await eventually('five alive', alive, (a) => a.length === 5, 60_000, 500);
}, 240_000);

afterAll(async () => {
  launcher?.close();
  await lab?.close();
});

describe('node_failure under faults (real processes, its own server)', () => {
  it('SIGKILL the host running the procedure’s current step (the hook call): it runs again elsewhere, one replacement starts, the procedure completes', async () => {
    launcherDelayMs = 3_000;
    await lab.endHost('p-5', 'SIGKILL');
    // The call reached the launcher, which holds its answer back: the step is in flight on `runner`.
    const runner = await eventually(
      'the hook call in flight',
      async () => (requests.some((r) => r.replaces === 'p-5') ? stepHost('p-5') : undefined),
      (h) => !!h,
      30_000,
      100,
    );
    await lab.endHost(runner as string, 'SIGKILL');
    launcherDelayMs = 0;
    const done = await eventually(
      'p-5 recovered',
      () => report('p-5'),
      (p) => p?.endedAt !== undefined,
      90_000,
      500,
    );
    expect(done).toMatchObject({ status: 'completed', outcome: expect.stringMatching(/^replacement alive: p-\d+/) });
    const forP5 = requests.filter((r) => r.replaces === 'p-5');
    expect(forP5.length).toBeGreaterThanOrEqual(2); // the first attempt died with its host
    expect(new Set(forP5.map((r) => r.requestId)).size).toBe(1);
    expect(forP5.filter((r) => r.started)).toHaveLength(1); // one host for one request
    // The host that ran the step is a failure of its own, healed the same way.
    await eventually(
      `${runner} recovered`,
      () => report(runner as string),
      (p) => p?.status === 'completed',
      90_000,
      500,
    );
    await eventually('five alive again', alive, (a) => a.length === 5, 60_000, 500);
  }, 240_000);

  it('the Temporal server SIGKILLed mid-procedure and started again: the procedure completes', async () => {
    await sleep(7_000); // the last kills leave the mass-failure window (6 s)
    launcherDelayMs = 2_000;
    const victim = (await alive()).find((n) => n !== 'p-1') as string;
    await lab.endHost(victim, 'SIGKILL');
    await eventually(
      'the hook call in flight',
      () => stepHost(victim),
      (h) => !!h,
      30_000,
      100,
    );
    await lab.killServer();
    await sleep(2_000);
    await lab.restartServer();
    launcherDelayMs = 0;
    const done = await eventually(
      `${victim} recovered`,
      () => report(victim),
      (p) => p?.endedAt !== undefined,
      120_000,
      500,
    );
    expect(done).toMatchObject({ status: 'completed', outcome: expect.stringMatching(/^replacement alive: p-\d+/) });
    const mine = requests.filter((r) => r.replaces === victim);
    expect(mine.filter((r) => r.started)).toHaveLength(1);
    await eventually('five alive again', alive, (a) => a.length === 5, 90_000, 500);
  }, 240_000);

  it('three of five SIGKILLed at once: no replacement storm, escalation to an operator', async () => {
    await sleep(7_000);
    const before = requests.filter((r) => r.started).length;
    const victims = (await alive()).slice(0, 3);
    await Promise.all(victims.map((v) => lab.endHost(v, 'SIGKILL')));
    const reports = await eventually(
      'all three procedures past their first steps',
      () => Promise.all(victims.map((v) => report(v).catch(() => undefined))),
      (rs) =>
        rs.every((p) => p?.timeline.some((x) => x.step === 'start_replacement')) &&
        rs.some((p) => p?.status === 'escalated'),
      90_000,
      500,
    );
    const escalated = reports.filter((p) => p?.status === 'escalated');
    expect(escalated.length).toBeGreaterThanOrEqual(1);
    expect(escalated[0]?.escalation?.why).toMatch(
      /hosts (of zone [a-z-]+ )?failed within 6 s: no replacement is started blindly/,
    );
    await sleep(3_000); // room for a storm to show
    const started = requests.filter((r) => r.started).length - before;
    expect(started).toBeLessThan(victims.length);
    const procedures = await lab.cli(clusterId, ['procedures']);
    expect(procedures.stdout).toMatch(/ESCALATED/);
  }, 240_000);

  it('every history the cluster wrote replays, and no workflow task failed for nondeterminism', async () => {
    const scan = await scanHistories(lab.client, clusterId);
    expect(scan.nondeterminism).toBe(0);
    const replay = await replayCluster(lab.client, clusterId, lab.bundle);
    expect(replay.failures).toEqual([]);
    expect(replay.replayed).toBeGreaterThan(10);
  }, 240_000);
});
