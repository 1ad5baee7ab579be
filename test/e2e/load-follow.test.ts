/**
 * Weights follow real load, end to end: two host worker processes, each in a CPU accounting group
 * of its own and reporting that group's CPU (`--cpu-source cgroup`), `cluster start`, and a bounded
 * CPU burner moved into one host's group. The host's NodeAgent reports the change, the LoadBalancer
 * lowers the host's weight, routes move away from it, and come back when the burner ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { RoutingTable, Target } from '../../src/contracts/load-balancer';
import { spawnHostWorker, type HostProcess } from '../../scripts/lib/processes';
import { canMakeCgroup, makeCgroup, type Cgroup } from '../../scripts/lib/cgroups';
import { cli } from '../support/cli';
import { connect, eventually, uniqueId, type TestTemporal } from '../support/temporal';
import { describeHistoriesOfThisFile } from '../support/histories';

const fileStartedAt = new Date(Date.now() - 1_000);
const clusterId = uniqueId('e2e-load');
const env = { CLUSTER_ID: clusterId };
const hosts: HostProcess[] = [];
const groups: Cgroup[] = [];
let burner: ChildProcess | undefined;
let t: TestTemporal;

beforeAll(async () => {
  t = await connect();
});
afterAll(async () => {
  burner?.kill('SIGKILL');
  await Promise.all(hosts.map((h) => h.stop('SIGKILL')));
  for (const g of groups) await g.remove().catch(() => undefined);
  await t?.close();
});

const table = () => t.client.workflow.getHandle(`${clusterId}/load-balancer`).query<RoutingTable>('routingTable');
const weightOf = (x: RoutingTable, nodeId: string) => x.targets.find((r) => r.nodeId === nodeId)?.weight ?? 0;

(canMakeCgroup ? describe : describe.skip)('weights follow a host’s real load', () => {
  it('a CPU burner on one host lowers its weight within seconds; its end brings the weight back', async () => {
    for (const nodeId of ['ld-a', 'ld-b']) {
      const h = spawnHostWorker({ nodeId, args: ['--health-port', '0', '--cpu-source', 'cgroup'], env });
      hosts.push(h);
      const g = makeCgroup(`${clusterId}-${nodeId}`);
      groups.push(g);
      g.add(h.child.pid);
    }
    await Promise.all(hosts.map((h) => h.waitFor(/ ready /)));
    expect(await cli(['start'], env)).toMatchObject({ code: 0 });
    // Both targets routed, and each host's first load report in (it goes at the end of a term).
    const settled = await eventually(
      'both hosts routed with equal weights',
      table,
      (x) => x.targets.length === 2 && Math.abs(weightOf(x, 'ld-a') - weightOf(x, 'ld-b')) <= 5,
      40_000,
      250,
    );
    expect(settled.strategy).toBe('weighted_round_robin');
    await eventually(
      'a load report from each host',
      () => t.client.workflow.getHandle(`${clusterId}/load-balancer`).query<Target[]>('targets'),
      (ts) => ts.length === 2 && ts.every((x) => x.loadUpdatedAt !== undefined),
      40_000,
      250,
    );

    // One busy core in ld-a's group: half of this machine's cores (of 2), so its CPU weight halves.
    // Bounded: the burner stops by itself after 40 s.
    burner = spawn(process.execPath, ['-e', 'const end = Date.now() + 40_000; while (Date.now() < end) {}']);
    (groups[0] as Cgroup).add(burner.pid);
    const loadedAt = Date.now();
    const loaded = await eventually(
      'ld-a weighs less than ld-b',
      table,
      (x) => weightOf(x, 'ld-a') < weightOf(x, 'ld-b') * 0.9,
      20_000,
      100,
    );
    const movedMs = Date.now() - loadedAt;
    // The load report is at most an interval (5 s) plus five beats behind the change.
    expect(movedMs).toBeLessThan(15_000);
    expect(loaded.version).toBeGreaterThan(settled.version);
    console.log(`load → weights in the agent's table: ${movedMs} ms (ld-a ${weightOf(loaded, 'ld-a')}, ld-b ${weightOf(loaded, 'ld-b')})`);

    // Routes move away from it: weighted round robin over 100 picks of the agent's own table.
    const picks: Record<string, number> = {};
    for (let i = 0; i < 40; i++) {
      const r = await t.client.workflow
        .getHandle(`${clusterId}/load-balancer`)
        .executeUpdate<{ routeTo: { nodeId: string } | null }, [Record<string, unknown>]>('distributeLoad', {
          args: [{}],
        });
      const n = r.routeTo?.nodeId ?? 'none';
      picks[n] = (picks[n] ?? 0) + 1;
    }
    expect(picks['ld-b'] ?? 0).toBeGreaterThan(picks['ld-a'] ?? 0);

    burner.kill('SIGKILL');
    await eventually(
      'ld-a back to ld-b’s weight',
      table,
      (x) => Math.abs(weightOf(x, 'ld-a') - weightOf(x, 'ld-b')) <= 5,
      20_000,
      100,
    );
  }, 120_000);
});

describeHistoriesOfThisFile(() => t.client, fileStartedAt);
