/**
 * Partitions cut for real: five host worker processes, each in a network namespace of its own on a
 * bridge (scripts/lib/netlab.ts), packets dropped by nftables inside the namespaces. The suite's
 * Temporal server is reached through a relay on the bridge. Shapes (Jepsen's): one host isolated, halves, a
 * bridge, the server unreachable from a minority, 20 % loss on one link. Throughout, the hosts'
 * /healthz are sampled from the root namespace: after a decision, never two disjoint sides serve.
 */
import http from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { PartitionRecord } from '../../src/contracts/partition-handler';
import { FENCES_MEMO, FencesMemo } from '../../src/contracts/partition-handler';
import type { RoutingTable } from '../../src/contracts/load-balancer';
import { MEMBERS_MEMO, MembersMemo } from '../../src/contracts/node-discovery';
import { createLab, labSupport, relay, type Lab } from '../../scripts/lib/netlab';
import { spawnHostWorker, type HostProcess } from '../../scripts/lib/processes';
import { cli, expectOk } from '../support/cli';
import { replayAll, replayAndRecord } from '../support/histories';
import { eventually, uniqueId } from '../support/temporal';

const unsupported = labSupport();
const d = unsupported ? describe.skip : describe;
if (unsupported) console.warn(`partition e2e skipped: ${unsupported}`);

const fileStartedAt = new Date(Date.now() - 1_000);
const clusterId = uniqueId('part');
const IDS = ['p1', 'p2', 'p3', 'p4', 'p5'];
// Longer than the spread of the hosts' detections (a 1 s round and a 0.5 s probe timeout): one decision per cut.
const STABLE_MS = 2_000;
let lab: Lab;
let gateway: Awaited<ReturnType<typeof relay>>;
let connection: Connection;
let client: Client;
let env: Record<string, string>;
const hosts: Record<string, HostProcess> = {};
const ports: Record<string, number> = {};

/** GET /healthz of a host from the root namespace: status and body, or undefined. */
function healthz(id: string): Promise<{ code: number; status?: string; fence?: { generation: number } } | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: lab.host(id).ip, port: ports[id], path: '/healthz', timeout: 400, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        try {
          resolve({ code: res.statusCode ?? 0, ...(JSON.parse(body) as object) });
        } catch {
          resolve({ code: res.statusCode ?? 0 });
        }
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}
const fenced = async () => {
  const m = FencesMemo.parse((await client.workflow.getHandle(`${clusterId}/partition-handler`).describe()).memo?.[FENCES_MEMO]);
  return m;
};
const partitions = () => client.workflow.getHandle(`${clusterId}/partition-handler`).query<PartitionRecord[]>('partitions');
const table = () => client.workflow.getHandle(`${clusterId}/load-balancer`).query<RoutingTable>('routingTable');
const healthOfAll = async () => Object.fromEntries(await Promise.all(IDS.map(async (id) => [id, await healthz(id)] as const)));

/** Samples every host's /healthz: the fenced generation in force and who serves (200). */
const samples: { at: number; serving: string[]; generation: number }[] = [];
let sampling: NodeJS.Timeout | undefined;
async function sample() {
  const h = await healthOfAll();
  const f = await fenced().catch(() => undefined);
  samples.push({ at: Date.now(), serving: IDS.filter((id) => h[id]?.code === 200), generation: f?.generation ?? 0 });
}

/**
 * Once the fenced hosts know it (their /healthz says so) and until the heal, the hosts that serve
 * must all be on one side of the cut. (Between the decision and then, the routing tables already
 * leave the fenced hosts out.) Returns the violations.
 */
function splitBrain(sides: string[][], from: number, to: number): string[] {
  const out: string[] = [];
  for (const s of samples) {
    if (s.at < from || s.at > to) continue;
    const touched = sides.filter((side) => side.some((id) => s.serving.includes(id)));
    if (touched.length > 1) out.push(`${new Date(s.at).toISOString()}: serving ${s.serving.join(', ')} on ${touched.length} sides`);
  }
  return out;
}

d('network partitions, cut for real', () => {
  beforeAll(async () => {
    lab = createLab(`pt${process.pid % 1000}`, IDS);
    // The suite's server, on loopback; the hosts in the namespaces reach it through a relay on
    // the bridge (cutting the relay's port cuts a host off the server).
    const suiteAddress = process.env.TEMPORAL_ADDRESS ?? '';
    const port = Number(suiteAddress.split(':').at(-1));
    gateway = await relay(lab.bridgeIp, { host: '127.0.0.1', port });
    connection = await Connection.connect({ address: suiteAddress });
    client = new Client({ connection });
    env = {
      TEMPORAL_ADDRESS: gateway.address,
      CLUSTER_ID: clusterId,
      CLUSTER_MULTICAST: 'off',
    };
    for (const id of IDS) {
      hosts[id] = spawnHostWorker({
        nodeId: id,
        netns: lab.host(id).ns,
        args: ['--address', lab.host(id).ip, '--health-port', '7070', '--lease-heartbeat', '500', '--lease-timeout', '1500'],
        env,
      });
      ports[id] = 7070;
    }
    await Promise.all(IDS.map((id) => hosts[id]!.waitFor(/ ready /, 90_000)));
    const dir = mkdtempSync(join(tmpdir(), 'partition-e2e-'));
    const config = join(dir, 'agents.json');
    writeFileSync(
      config,
      JSON.stringify({
        'partition-handler': { stableAfterMs: STABLE_MS, stableAfterPerHostMs: 0, decisionMarginMs: 1_000, membersIntervalMs: 500 },
      }),
    );
    expectOk(await cli(['start', '--config', config], env));
    await eventually(
      '5 alive members',
      async () => MembersMemo.parse((await client.workflow.getHandle(`${clusterId}/node-discovery`).describe()).memo?.[MEMBERS_MEMO]),
      (m) => IDS.every((id) => m.members.some((x) => x.nodeId === id && x.status === 'alive')),
      60_000,
      200,
    );
    // Every host reported that it reaches the four others.
    await eventually(
      'a whole graph',
      () => client.workflow.getHandle(`${clusterId}/partition-handler`).query<Record<string, { reachable: string[] }>>('reachability'),
      (v) => IDS.every((id) => v[id]?.reachable.length === 4),
      30_000,
      200,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${IDS.map((id) => hosts[id]!.lines.slice(-8).join('\n')).join('\n')}`);
    });
    sampling = setInterval(() => void sample(), 200);
  }, 180_000);

  afterAll(async () => {
    if (sampling) clearInterval(sampling);
    await Promise.all(Object.values(hosts).map((h) => h.stop('SIGKILL')));
    await connection?.close();
    await gateway?.close();
    lab?.destroy();
  });

  afterEach(() => lab.heal());

  /** Cuts, waits for the fence on `expectFenced`, heals, waits for every host unfenced; returns timings. */
  async function cutAndHeal(name: string, cut: () => void, expectFenced: string[], sides: string[][]) {
    const before = (await fenced()).generation;
    const cutAt = Date.now();
    cut();
    const decided = await eventually(
      `${name}: ${expectFenced.join(', ')} fenced`,
      fenced,
      (f) => f.generation > before && Object.keys(f.fenced).sort().join() === [...expectFenced].sort().join(),
      STABLE_MS + 15_000,
      100,
    ).catch(async (err: Error) => {
      const st = await client.workflow
        .getHandle(`${clusterId}/partition-handler`)
        .query<{ base: { loopFailures: unknown }; agent: { current: unknown; views: unknown; members: unknown } }>('state')
        .catch(() => undefined);
      throw new Error(
        `${err.message}\nrules:\n${lab.describe()}\npartitions: ${JSON.stringify(await partitions().catch(() => []))}\nhandler: ${JSON.stringify({ failures: st?.base.loopFailures, current: st?.agent.current, views: st?.agent.views, members: st?.agent.members })}`,
      );
    });
    const fencedAt = Date.now();
    // Out of the routing table, and their /healthz says fenced.
    await eventually('the fenced hosts out of the routing table', table, (t) =>
      t.targets.every((x) => !expectFenced.includes(x.nodeId)),
    );
    await eventually('their /healthz answers 503 fenced', healthOfAll, (h) =>
      expectFenced.every((id) => h[id]?.code === 503 && h[id]?.status === 'fenced'),
      5_000,
      100,
    );
    const hostsFencedAt = Date.now();
    const healAt = Date.now();
    lab.heal();
    await eventually('every host unfenced', fenced, (f) => Object.keys(f.fenced).length === 0, STABLE_MS + 15_000, 100);
    const unfencedAt = Date.now();
    await eventually('every host serves again', healthOfAll, (h) => IDS.every((id) => h[id]?.code === 200), 5_000, 100);
    expect(decided.generation).toBeGreaterThan(before);
    expect(splitBrain(sides, hostsFencedAt, healAt)).toEqual([]);
    return { fenceMs: fencedAt - cutAt, hostsMs: hostsFencedAt - cutAt, healMs: unfencedAt - healAt };
  }

  it('isolates one host: it is fenced (keep-majority), then unfenced after the heal', async () => {
    const r = await cutAndHeal('isolate p5', () => lab.split(['p5'], ['p1', 'p2', 'p3', 'p4']), ['p5'], [['p5'], ['p1', 'p2', 'p3', 'p4']]);
    console.log(`isolate one: fenced ${r.fenceMs} ms after the cut (hosts 503: ${r.hostsMs}), unfenced ${r.healMs} ms after the heal`);
    expect(r.fenceMs).toBeLessThan(STABLE_MS + 10_000);
    const last = (await partitions()).at(-1)!;
    expect(last).toMatchObject({ keep: ['p1', 'p2', 'p3', 'p4'], fenced: ['p5'], reason: expect.stringMatching(/keep-majority: 4 of 5/) });
    expect(last.unfencedAt).toBeGreaterThan(last.decidedAt!);
    // Lifted by the network_partition procedure, after a consensus round accepted.
    expect(last.unfencedBy).toMatch(new RegExp(`^${clusterId}/procedure/network_partition/${last.id}: connectivity restored; consensus partition-healed/\\d+ accepted`));
    const procHandle = client.workflow.getHandle(`${clusterId}/procedure/network_partition/${last.id}`);
    const proc = await procHandle.result();
    expect(await replayAndRecord(procHandle, 'network-partition-procedure', 5)).toBeGreaterThan(5);
    expect(proc).toMatchObject({ status: 'completed', kind: 'network_partition' });
    const timeline = (proc as { timeline: { step: string; status: string; detail: string }[] }).timeline;
    expect(timeline.map((x) => x.step)).toEqual(
      expect.arrayContaining(['detect_partition_scope', 'maintain_quorum', 'route_around_partition', 'await_recovery']),
    );
    // The agents agreed with the decision in force (a round `partition`; NodeDiscovery sees the kept side alive).
    expect(timeline.find((x) => x.step === 'maintain_quorum' && x.status === 'done')?.detail).toMatch(
      /4 of 5 hosts keep serving: .*; consensus partition\/\d+: accepted/,
    );
  }, 60_000);

  it('splits into halves: the minority is fenced', async () => {
    await cutAndHeal('halves', () => lab.split(['p1', 'p2'], ['p3', 'p4', 'p5']), ['p1', 'p2'], [['p1', 'p2'], ['p3', 'p4', 'p5']]);
  }, 60_000);

  it('a bridge host serves with one half; the other half is fenced', async () => {
    await cutAndHeal('bridge', () => lab.split(['p1', 'p2'], ['p4', 'p5']), ['p4', 'p5'], [['p1', 'p2'], ['p4', 'p5']]);
    const last = (await partitions()).at(-1)!;
    expect(last.indirect).toEqual(['p4', 'p5']);
  }, 60_000);

  it('hosts that lose the Temporal server fence themselves before their lease lapses', async () => {
    const cutAt = Date.now();
    lab.isolateServer(['p5'], gateway.port);
    const h = await eventually('p5 fenced by itself', () => healthz('p5'), (x) => x?.status === 'fenced', 10_000, 50);
    const selfFencedMs = Date.now() - cutAt;
    console.log(`server cut: p5 fenced itself ${selfFencedMs} ms after the cut`);
    expect((h as { reason?: string }).reason).toMatch(/lost the Temporal server/);
    // Its lease lapses on the server 1.5 s after its last renewal, which was at most one 0.5 s
    // heartbeat before the cut: from 1 s after the cut on. It fenced itself before that.
    expect(selfFencedMs).toBeLessThan(1_500 - 500);
    lab.heal();
    await eventually('p5 serves again', () => healthz('p5'), (x) => x?.code === 200, 20_000, 100);
  }, 60_000);

  it('20 % loss on one link fences nobody for good', async () => {
    lab.loss('p1', 'p2', 20);
    await new Promise((r) => setTimeout(r, 5_000));
    lab.heal();
    await eventually('nobody fenced', fenced, (f) => Object.keys(f.fenced).length === 0, STABLE_MS + 10_000, 200);
  }, 60_000);

  it('every history replays', async () => {
    const types = [
      'partitionHandlerWorkflow',
      'loadBalancerWorkflow',
      'nodeAgentWorkflow',
      'nodeDiscoveryWorkflow',
      'clusterOrchestratorWorkflow',
      'networkPartitionProcedure',
      'consensusCoordinatorWorkflow',
      'consensusRoundWorkflow',
    ];
    // One replay worker for all of them; each type wrote at least one history here.
    expect(await replayAll(client, types, fileStartedAt)).toBeGreaterThanOrEqual(types.length);
  }, 120_000);
  // After the replay check above: a SIGKILLed host may hold agents' sticky workflow tasks, and a
  // cold worker that takes one over can meet the sdk-core stale-clock defect (test/fixtures/diverged,
  // partition-handler-crash-stale-time: seen once in six runs of this file). The live run raises no
  // error; its replay diverges. This test's own procedure history is replayed (and recorded) below.
  it('a crash on the kept side during a cut: no flip, never two sides, and the heal goes through the procedure', async () => {
    // Halves 2|3, the minority fenced; then the lowest id of the kept side is SIGKILLed, which
    // leaves two live hosts on each side. keep-majority's tie goes to the lowest id (p1, fenced):
    // the side that serves must keep serving all the same.
    const before = (await fenced()).generation;
    lab.split(['p1', 'p2'], ['p3', 'p4', 'p5']);
    await eventually('p1, p2 fenced', fenced, (f) => f.generation > before && Object.keys(f.fenced).sort().join() === 'p1,p2', STABLE_MS + 15_000, 100);
    await eventually('p1, p2 say fenced', healthOfAll, (h) => h.p1?.code === 503 && h.p2?.code === 503, 5_000, 100);
    const killAt = Date.now();
    await hosts.p3!.stop('SIGKILL');
    // The crash is decided again (p3 fenced too: a member out of the graph); the kept side stays.
    const after = await eventually('p3 fenced with p1, p2', fenced, (f) => Object.keys(f.fenced).sort().join() === 'p1,p2,p3', STABLE_MS + 15_000, 100);
    // Hold the cut a while longer: nothing flips back.
    await new Promise((r) => setTimeout(r, 2 * STABLE_MS + 2_000));
    const cutSamples = samples.filter((x) => x.at >= killAt && x.at <= Date.now());
    expect(cutSamples.length).toBeGreaterThan(10);
    // No flip: p1 and p2 never serve while the cut lasts; never two sides.
    expect(cutSamples.filter((x) => x.serving.includes('p1') || x.serving.includes('p2')).map((x) => `${new Date(x.at).toISOString()} ${x.serving.join(',')}`)).toEqual([]);
    expect(splitBrain([['p1', 'p2'], ['p3', 'p4', 'p5']], killAt, Date.now())).toEqual([]);
    expect((await healthOfAll()).p4?.code).toBe(200);
    const last = (await partitions()).at(-1)!;
    if (last.decisions?.length !== 2) console.log(JSON.stringify(last, null, 1));
    expect(last.decisions?.map((x) => x.keep)).toEqual([['p3', 'p4', 'p5'], ['p4', 'p5']]);
    expect(after.fenced.p1!.generation).toBe(after.generation);
    const healAt = Date.now();
    lab.heal();
    const live = ['p1', 'p2', 'p4', 'p5'];
    await eventually('the four live hosts serve', healthOfAll, (h) => live.every((id) => h[id]?.code === 200), STABLE_MS + 25_000, 100);
    const healMs = Date.now() - healAt;
    console.log(`crash during a cut: p3 fenced ${after.generation - before} decisions after the cut; heal → the four live hosts serve in ${healMs} ms`);
    // Lifted by the procedure after its consensus round, not by the handler's 30 s fallback.
    const healed = (await partitions()).find((x) => x.id === last.id)!;
    expect(healed.unfencedBy).toMatch(new RegExp(`^${clusterId}/procedure/network_partition/${last.id}: connectivity restored`));
    expect(healMs).toBeLessThan(STABLE_MS + 20_000);
    // The procedure heard of the second decision (partitionDecided) and completed: a fixture.
    const procHandle = client.workflow.getHandle(`${clusterId}/procedure/network_partition/${last.id}`);
    const proc = (await procHandle.result()) as { status: string; timeline: { step: string; detail: string }[] };
    expect(proc.status).toBe('completed');
    expect(proc.timeline.some((x) => x.step === 'await_recovery' && /decided again \(generation \d+\): p4, p5 keep serving/.test(x.detail))).toBe(true);
    expect(await replayAndRecord(procHandle, 'network-partition-decided-again', 5)).toBeGreaterThan(5);
  }, 120_000);

});
