/**
 * Load balancing end to end, with real processes: three host worker processes (one announces two
 * services with `--service`), `cluster start` for the agents, and the CLI as an operator runs it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Member } from '../../src/contracts/node-discovery';
import type { Target } from '../../src/contracts/load-balancer';
import { freePort } from '../../scripts/lib/dev-server';
import { spawnHostWorker, type HostProcess } from '../../scripts/lib/processes';
import { cli, cliJson, expectOk } from '../support/cli';
import { connect, eventually, uniqueId, type TestTemporal } from '../support/temporal';
import { Router } from '../../src/router/router';
import { describeHistoriesOfThisFile, replayAndRecord } from '../support/histories';

const fileStartedAt = new Date(Date.now() - 1_000);
const dir = mkdtempSync(join(tmpdir(), 'lb-e2e-'));
/** While it exists, lb-1's /healthz answers the status on its first line. */
const faultFile = join(dir, 'lb-1.status');

const clusterId = uniqueId('e2e-lb');
const env = { CLUSTER_ID: clusterId };
const hosts: HostProcess[] = [];

interface Route {
  nodeId: string;
  address: string;
  port: number;
  service: string;
  targetId: string;
  strategy: string;
  tableVersion: number;
}

const route = (args: string[] = []) => cliJson<Route>(['route', ...args], env);
const targets = () => cliJson<Target[]>(['targets'], env);

afterAll(async () => {
  await Promise.all(hosts.map((h) => h.stop('SIGKILL')));
  rmSync(dir, { recursive: true, force: true });
});

describe('load balancing across host worker processes', () => {
  let web = 0;
  let api = 0;

  it('`cluster start` runs the load balancer; every host is a target, and so is each service a host announces', async () => {
    [web, api] = [await freePort(), await freePort()];
    const spawn = (nodeId: string, zone: string, extra: string[] = []) => {
      const h = spawnHostWorker({ nodeId, args: ['--zone', zone, '--health-port', '0', ...extra], env });
      hosts.push(h);
      return h;
    };
    spawn('lb-1', 'zone-a', ['--health-file', faultFile]);
    spawn('lb-2', 'zone-b');
    spawn('lb-3', 'zone-a', ['--service', `web=${web}`, '--service', `api=${api}`]);
    await Promise.all(hosts.map((h) => h.waitFor(/ ready /)));

    const started = await cli(['start'], env);
    expect(started).toMatchObject({ code: 0 });
    expect(started.stdout).toMatch(/load-balancer/);

    const members = await eventually(
      '3 alive',
      () => cliJson<Member[]>(['nodes'], env),
      (n) => n.filter((m) => m.status === 'alive').length === 3,
      20_000,
      200,
    );
    const list = await eventually('4 targets', targets, (t) => t.length === 4, 20_000, 200);
    expect(list.map((t) => t.id).sort()).toEqual(['lb-1/host', 'lb-2/host', 'lb-3/api', 'lb-3/web']);
    const healthPort = (nodeId: string) => members.find((m) => m.nodeId === nodeId)?.healthPort;
    const byId = Object.fromEntries(list.map((t) => [t.id, t]));
    // A host that announces no service is routed to on its health endpoint.
    expect(byId['lb-1/host']).toMatchObject({ nodeId: 'lb-1', port: healthPort('lb-1'), zone: 'zone-a' });
    expect(byId['lb-2/host']).toMatchObject({ nodeId: 'lb-2', port: healthPort('lb-2'), zone: 'zone-b' });
    expect(byId['lb-3/web']).toMatchObject({ nodeId: 'lb-3', service: 'web', port: web, address: '127.0.0.1' });
    expect(byId['lb-3/api']).toMatchObject({ nodeId: 'lb-3', service: 'api', port: api });
    for (const t of list) expect(t).toMatchObject({ status: 'alive', health: 'healthy' });

    const text = await cli(['targets'], env);
    expectOk(text);
    expect(text.stdout.split('\n')[0]).toMatch(/^TARGET\s+STATUS\s+HEALTH\s+ADDRESS\s+ZONE/);
    expect(text.stdout).toMatch(new RegExp(`lb-3/web\\s+alive\\s+healthy\\s+127\\.0\\.0\\.1:${web}`));
  });

  it('`cluster route` names node, address and port; a key always gets the same target; a service only its own', async () => {
    const first = await route();
    expect(first).toMatchObject({ address: '127.0.0.1', strategy: 'weighted_round_robin' });
    expect(['lb-1', 'lb-2', 'lb-3']).toContain(first.nodeId);
    expect(first.port).toBeGreaterThan(0);
    const more = await Promise.all(Array.from({ length: 7 }, () => route()));
    expect(new Set([first, ...more].map((r) => r.targetId)).size).toBe(4); // weighted round robin over the 4 targets (equal load: equal weights)

    const sticky = await route(['--key', 'user-42']);
    expect(sticky.strategy).toBe('consistent_hash');
    for (let i = 0; i < 3; i++) expect((await route(['--key', 'user-42'])).targetId).toBe(sticky.targetId);
    const others = await Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((k) => route(['--key', `user-${k}`])));
    expect(new Set(others.map((r) => r.targetId)).size).toBeGreaterThan(1); // keys spread

    expect(await route(['--service', 'web'])).toMatchObject({ nodeId: 'lb-3', port: web, service: 'web' });
    const none = await cli(['route', '--service', 'cache'], env);
    expect(none.code).toBe(1);
    expect(none.stdout).toMatch(/no target: no target of service cache/);
    const text = await cli(['route'], env);
    expect(text.stdout).toMatch(
      /^lb-\d\s+127\.0\.0\.1:\d+\s+\(service \w+, zone zone-[ab]; weighted_round_robin, table v\d+\)/,
    );
  });

  it('`cluster strategy` switches the strategy; a bad name exits 2 naming the field', async () => {
    const set = await cli(['strategy', 'least_connections'], env);
    expectOk(set);
    expect(set.stdout).toMatch(/^strategy least_connections \(routing table v\d+\)/);
    expect((await route()).strategy).toBe('least_connections');
    const table = await cliJson<{ strategy: string }>(['query', 'load-balancer', 'routingTable'], env);
    expect(table.strategy).toBe('least_connections'); // the table routers fetch says so too

    const bad = await cli(['strategy', 'fastest'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/STRATEGY: expected one of round_robin, weighted_round_robin, .*got "fastest"/);
    const missing = await cli(['strategy'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/strategy: NAME is required/);
    expect((await route()).strategy).toBe('least_connections'); // unchanged
  });

  it('a host whose endpoint answers 5xx leaves the routing table within seconds, and comes back when it answers again', async () => {
    // The HealthMonitor checks every 30 s (its default): only the host's own lease sees this fast.
    // Timed by a router in this process, as an application's would hold the table.
    const t = await connect();
    // Why lb-1 is out of each table too: a loaded machine can make it late (suspect) for a moment,
    // which is not what this test times.
    const seen: { at: number; routed: boolean; why?: string }[] = [];
    const router = await new Router({
      client: t.client,
      clusterId,
      name: 'e2e-5xx',
      onTable: (tb) =>
        seen.push({
          at: Date.now(),
          routed: tb.targets.some((x) => x.id === 'lb-1/host'),
          why: tb.excluded?.find((x) => x.id === 'lb-1/host')?.reason,
        }),
    }).start();
    try {
      const lb1 = () => targets().then((ts) => ts.find((x) => x.id === 'lb-1/host'));
      const routerSays = (routed: boolean, after: number) =>
        eventually(
          `router: lb-1 ${routed ? 'routed' : 'out as unhealthy'}`,
          async () => seen.find((x) => x.at >= after && x.routed === routed && (routed || x.why === 'unhealthy')),
          (x) => !!x,
          15_000,
          20,
        );
      // What every agent says of lb-1 when it is slow to leave or come back: in the failure's
      // message, the part of CI's log that is kept.
      const explain = async (since: number) =>
        JSON.stringify({
          seen: seen.filter((x) => x.at >= since).map((x) => ({ ...x, at: x.at - since })),
          target: await lb1().catch((err: Error) => err.message),
          procedures: (await cli(['procedures'], env)).stdout,
          health: (await cliJson<{ nodes: Record<string, unknown> }>(['health'], env).catch((err: Error) => ({ nodes: { 'lb-1': err.message } }))).nodes['lb-1'],
          member: (await cliJson<Member[]>(['nodes'], env).catch(() => [])).find((m) => m.nodeId === 'lb-1'),
          // The host's own transitions, as its NodeAgent records them (a query: only when failing).
          agent: await cliJson<{ transitions: unknown[]; selfCheck?: unknown }>(['query', 'node/lb-1', 'node'], env)
            .then((n) => ({ selfCheck: n.selfCheck, transitions: n.transitions.slice(-6) }))
            .catch((err: Error) => err.message),
        });
      const failedAt = Date.now();
      writeFileSync(faultFile, '500 maintenance\n');
      const out = (await routerSays(false, failedAt).catch(async (err: Error) => {
        throw new Error(`${err.message}; lb-1 not out as unhealthy: ${await explain(failedAt)}`);
      })) as { at: number };
      const outMs = out.at - failedAt;
      if (outMs >= 5_000) throw new Error(`lb-1 out of a router's table only after ${outMs} ms: ${await explain(failedAt)}`);
      const outHealth = (await lb1())?.health;
      if (outHealth !== 'unhealthy')
        throw new Error(`lb-1 left a router's table as unhealthy but the LoadBalancer now holds it ${outHealth}: ${await explain(failedAt)}`);
      const picks = await Promise.all(Array.from({ length: 6 }, () => route()));
      expect(picks.map((r) => r.nodeId)).not.toContain('lb-1');
      const why = await cliJson<{ nodes: Record<string, { reasons: string[] }> }>(['health'], env);
      expect(why.nodes['lb-1']?.reasons.join(' ')).toMatch(/HTTP 500 \(maintenance\)/);

      const fixedAt = Date.now();
      rmSync(faultFile);
      const back = (await routerSays(true, fixedAt).catch(async (err: Error) => {
        throw new Error(`${err.message}; lb-1 not routed again: ${await explain(fixedAt)}`);
      })) as { at: number };
      const backMs = back.at - fixedAt;
      if (backMs >= 10_000) throw new Error(`lb-1 back in a router's table only after ${backMs} ms: ${await explain(fixedAt)}`);
      expect(backMs).toBeLessThan(10_000);
      // Routed again: healthy, or degraded by what the host reports of itself (a loaded CI machine).
      expect(['healthy', 'degraded']).toContain((await lb1())?.health);
      console.log(`5xx → out of a router's table: ${outMs} ms; answering again → back in it: ${backMs} ms`);
    } finally {
      await router.close();
      await t.close();
    }
  });

  it('a host that leaves (SIGTERM) is no longer routed to', async () => {
    const leaving = hosts[1] as HostProcess; // lb-2
    expect(await leaving.stop('SIGTERM')).toBe(0);
    await eventually(
      'lb-2 out of the table',
      targets,
      (t) => t.find((x) => x.id === 'lb-2/host')?.status === 'left',
      20_000,
      200,
    );
    const picks = await Promise.all(Array.from({ length: 6 }, () => route()));
    expect(picks.map((r) => r.nodeId)).not.toContain('lb-2');
  });

  it("the LoadBalancer's history from this run replays cleanly", async () => {
    const handle = (replayConnection as TestTemporal).client.workflow.getHandle(`${clusterId}/load-balancer`);
    expect(await replayAndRecord(handle, 'load-balancer-e2e')).toBeGreaterThan(5);
  });
});

let replayConnection: TestTemporal | undefined;
beforeAll(async () => {
  replayConnection = await connect();
});
afterAll(async () => {
  await replayConnection?.close();
});
describeHistoriesOfThisFile(() => (replayConnection as TestTemporal).client, fileStartedAt);
