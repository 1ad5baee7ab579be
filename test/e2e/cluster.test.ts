/**
 * End to end, with real processes: host workers as separate `node` processes, the CLI as another,
 * the suite's dev server. Also records NodeDiscovery's history from this run and replays it.
 */
import { execFile } from 'node:child_process';
import type { Member } from '../../src/contracts/node-discovery';
import type { ClusterStatus } from '../../src/client/cluster-client';
import { spawnHostWorker, WORKER_ENTRY, type HostProcess } from '../../scripts/lib/processes';
import { cli, cliJson, expectOk } from '../support/cli';
import { describeHistoriesOfThisFile, replayAndRecord } from '../support/histories';
import { connect, eventually, uniqueId, type TestTemporal } from '../support/temporal';

const fileStartedAt = new Date(Date.now() - 1_000);

const clusterId = uniqueId('e2e');
const env = { CLUSTER_ID: clusterId };
const hosts: HostProcess[] = [];
let t: TestTemporal;

function worker(nodeId: string, zone: string): HostProcess {
  const h = spawnHostWorker({ nodeId, args: ['--zone', zone, '--health-port', '0'], env });
  hosts.push(h);
  return h;
}

const nodes = () => cliJson<Member[]>(['nodes'], env);
const byId = (list: Member[]) => Object.fromEntries(list.map((m) => [m.nodeId, m]));

beforeAll(async () => {
  t = await connect();
});
afterAll(async () => {
  await Promise.all(hosts.map((h) => h.stop('SIGKILL')));
  await t?.close();
});

describe('a cluster of host worker processes', () => {
  it('refuses a missing or malformed node id with a clear message and a non-zero exit', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number; stderr: string }>((ok) =>
        execFile(
          process.execPath,
          ['--import', 'tsx', WORKER_ENTRY, ...args],
          { env: { ...process.env, NODE_ID: '' } },
          (err, _o, stderr) => ok({ code: err && typeof err.code === 'number' ? err.code : 0, stderr }),
        ),
      );
    const missing = await run([]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--node-id: required/);
    const malformed = await run(['--node-id', 'no spaces!']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/--node-id: expected 1-63 letters.*"no spaces!"/);
    const badPort = await run(['--node-id', 'n1', '--health-port', '70000']);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toMatch(/--health-port: expected a port number/);
  });

  it('three workers appear in `cluster nodes --json`; SIGTERM one and it is left; a fourth appears', async () => {
    const three = [worker('e2e-1', 'zone-a'), worker('e2e-2', 'zone-b'), worker('e2e-3', 'zone-c')];
    await Promise.all(three.map((h) => h.waitFor(/ ready /)));
    const all = await eventually(
      '3 alive',
      nodes,
      (n) => n.filter((m) => m.status === 'alive').length === 3,
      20_000,
      200,
    );
    const m = byId(all);
    expect(Object.keys(m).sort()).toEqual(['e2e-1', 'e2e-2', 'e2e-3']);
    expect(m['e2e-2']).toMatchObject({
      status: 'alive',
      health: 'healthy',
      zone: 'zone-b',
      address: '127.0.0.1',
      incarnation: 1,
    });
    expect(m['e2e-2']?.sources).toContain('registry');
    for (const node of all) expect(node.lastSeen).toBeGreaterThan(Date.now() - 60_000);

    const stopped = three[1] as HostProcess;
    expect(await stopped.stop('SIGTERM')).toBe(0);
    expect(stopped.lines.join('\n')).toMatch(/SIGTERM: leaving the cluster[\s\S]*stopped/);
    const afterStop = byId(
      await eventually('e2e-2 left', nodes, (n) => byId(n)['e2e-2']?.status === 'left', 20_000, 200),
    );
    expect(afterStop['e2e-1']?.status).toBe('alive');
    expect(afterStop['e2e-3']?.status).toBe('alive');

    const fourth = worker('e2e-4', 'zone-a');
    await fourth.waitFor(/ ready /);
    const withFourth = byId(
      await eventually('e2e-4 alive', nodes, (n) => byId(n)['e2e-4']?.status === 'alive', 20_000, 200),
    );
    expect(withFourth['e2e-2']?.status).toBe('left');

    const status = await cliJson<ClusterStatus>(['status'], env);
    expect(status.agents.find((a) => a.role === 'node-discovery')).toMatchObject({ running: true, status: 'RUNNING' });
    expect(status.topology?.counts).toEqual({ alive: 3, suspect: 0, dead: 0, left: 1 });
    expect(status.topology?.zones).toEqual({ 'zone-a': ['e2e-1', 'e2e-4'], 'zone-c': ['e2e-3'] });

    const table = await cli(['nodes'], env);
    expectOk(table);
    expect(table.stdout.split('\n')[0]).toMatch(/^NODE\s+STATUS\s+HEALTH\s+ADDRESS\s+ZONE\s+LAST SEEN\s+INCARNATION/);
    expect(table.stdout).toMatch(/e2e-2\s+left/);
  });

  it('the CLI names the field on bad input, exits non-zero, and the agent keeps its state', async () => {
    // Membership is what must survive (a periodic round may refresh lastSeen meanwhile).
    const summary = (list: Member[]) => list.map((m) => [m.nodeId, m.status, m.incarnation, m.bootId]);
    const before = summary(await nodes());
    const cases: [string[], number, RegExp][] = [
      [['frobnicate'], 2, /COMMAND: expected one of start, status/],
      [['query', 'nobody', 'state'], 2, /AGENT: expected one of node-discovery/],
      [['query', 'node-discovery', 'secrets'], 2, /QUERY: expected one of state, health, nodes/],
      [['signal', 'node-discovery', 'announce', '{"nodeId":"x"}'], 2, /invalid announce payload: address: /],
      [['signal', 'node-discovery', 'leave', 'not json'], 2, /JSON: expected JSON/],
      [['update', 'node-discovery', 'configure', '{"heartbeatIntervalMs":-1}'], 2, /heartbeatIntervalMs: /],
      [
        ['update', 'load-balancer', 'setStrategy', '{"strategy":"fastest"}'],
        2,
        /invalid setStrategy payload: strategy: /,
      ],
      [['nodes', '--colour'], 2, /Unknown option '--colour'/],
    ];
    for (const [args, code, message] of cases) {
      const r = await cli(args, env);
      expect({ args, code: r.code }).toEqual({ args, code });
      expect(r.stderr).toMatch(message);
    }
    const noServer = await cli(['nodes'], { ...env, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(noServer.code).toBe(1);
    expect(noServer.stderr).toMatch(/cannot reach Temporal at 127\.0\.0\.1:1 \(TEMPORAL_ADDRESS\)/);
    expect(summary(await nodes())).toEqual(before);
    const sent = await cli(['signal', 'node-discovery', 'discoverNodes', '{"strategies":["registry"]}'], env);
    expect(sent).toMatchObject({ code: 0, stdout: expect.stringMatching(/sent discoverNodes to node-discovery/) });
  });

  it("NodeDiscovery's history from this run replays cleanly", async () => {
    const handle = t.client.workflow.getHandle(`${clusterId}/node-discovery`);
    expect(await replayAndRecord(handle, 'node-discovery-e2e')).toBeGreaterThan(10);
  });
});

describeHistoriesOfThisFile(() => t.client, fileStartedAt);
