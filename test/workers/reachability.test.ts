/**
 * The host's reachability loop against real health endpoints on loopback: one peer that answers,
 * one whose port is closed. The server calls (members, fences, reports) are the options' functions.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MemberSummary } from '../../src/contracts/common';
import type { FencesMemo, ReachabilityReport } from '../../src/contracts/partition-handler';
import { ReachabilityMonitor } from '../../src/workers/reachability';
import { memberSummary } from '../support/members';

let up: http.Server;
let upPort: number;
let closedPort: number;

beforeAll(async () => {
  up = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  upPort = (up.address() as AddressInfo).port;
  // A port that was just free: nothing listens on it, so a probe is refused.
  const gone = http.createServer();
  await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
  closedPort = (gone.address() as AddressInfo).port;
  await new Promise<void>((r) => gone.close(() => r()));
});
afterAll(() => new Promise<void>((r) => up.close(() => r())));

/**
 * Runs the loop for `ms` with peers `a` (answers) and `b` (closed, with status `bStatus`), this
 * host's own status in NodeDiscovery `selfStatus`; the reports it sent.
 */
async function run(bStatus: MemberSummary['status'], ms: number, selfStatus: MemberSummary['status'] = 'dead'): Promise<ReachabilityReport[]> {
  const members = [
    memberSummary('self', { status: selfStatus }),
    { ...memberSummary('a'), address: '127.0.0.1', healthPort: upPort },
    { ...memberSummary('b'), address: '127.0.0.1', healthPort: closedPort, status: bStatus },
  ];
  const reports: ReachabilityReport[] = [];
  const seen: Record<string, number> = {};
  const m = new ReachabilityMonitor({
    nodeId: 'self',
    clusterId: 'c',
    intervalMs: 100,
    timeoutMs: 100,
    reportAgainEveryMs: 300,
    contactEveryMs: 0,
    fencesEveryMs: 0,
    members: async () => members,
    // The handler holds every report sent: nothing is sent again for want of it.
    fences: async (): Promise<FencesMemo> => ({ generation: 0, fenced: {}, seen: { ...seen } }),
    report: async (r) => {
      reports.push(r);
      seen.self = r.at;
    },
  }).start();
  await new Promise((r) => setTimeout(r, ms));
  m.stop();
  return reports;
}

/** The reports after the first are sent again unchanged, every 300 ms over ~1.5 s: 3 to 5 of them. */
function expectRepeated(reports: ReachabilityReport[]): void {
  expect(reports[0]).toMatchObject({ nodeId: 'self', reachable: ['a'], unreachable: ['b'] });
  expect(reports[0]!.unchanged).toBeUndefined();
  const again = reports.slice(1);
  expect(again.length).toBeGreaterThanOrEqual(3);
  expect(again.length).toBeLessThanOrEqual(5);
  for (const r of again) expect(r).toMatchObject({ reachable: ['a'], unreachable: ['b'], unchanged: true });
  for (let i = 1; i < reports.length; i++) expect(reports[i]!.at - reports[i - 1]!.at).toBeGreaterThanOrEqual(300);
}

describe('ReachabilityMonitor', () => {
  it('sends its report again while NodeDiscovery doubts it and a peer NodeDiscovery holds alive is out of reach', async () => {
    expectRepeated(await run('alive', 1_600));
  });

  it('sends its report again while NodeDiscovery holds it alive and a live peer is out of reach (NodeDiscovery may call it dead at any moment)', async () => {
    expectRepeated(await run('alive', 1_600, 'alive'));
  });

  it('sends its report again while NodeDiscovery calls it dead and the only peer out of reach is dead too (its checks ran from both sides)', async () => {
    expectRepeated(await run('dead', 1_600, 'dead'));
  });

  it('reports once while NodeDiscovery holds it alive and the only peer out of reach is dead (a killed host costs no traffic)', async () => {
    const reports = await run('dead', 1_200, 'alive');
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ reachable: ['a'], unreachable: ['b'] });
  });
});

describe('ReachabilityMonitor during a cut', () => {
  it('rounds come every cutIntervalMs while a peer lost recently is missed (a heal is seen at once), and members are read once per interval', async () => {
    let closed = true;
    const healer = http.createServer((_req, res) => res.end('ok'));
    const members = () => [
      memberSummary('self'),
      { ...memberSummary('a'), address: '127.0.0.1', healthPort: upPort },
      { ...memberSummary('b'), address: '127.0.0.1', healthPort: closedPort },
    ];
    let reads = 0;
    const reports: ReachabilityReport[] = [];
    const m = new ReachabilityMonitor({
      nodeId: 'self',
      clusterId: 'c',
      intervalMs: 1_000,
      cutIntervalMs: 100,
      fastForMs: 1_500,
      timeoutMs: 100,
      contactEveryMs: 0,
      fencesEveryMs: 0,
      members: async () => {
        reads += 1;
        return members();
      },
      fences: async (): Promise<FencesMemo> => ({ generation: 0, fenced: {}, seen: {} }),
      report: async (r) => {
        reports.push(r);
      },
    }).start();
    try {
      await new Promise((r) => setTimeout(r, 1_000));
      // b is missed and was lost within fastForMs: rounds every ~100 ms (a refused probe is quick).
      expect(m.stats.rounds).toBeGreaterThanOrEqual(6);
      expect(reads).toBeLessThanOrEqual(2);
      // b comes back on its port: the next fast round sees it.
      closed = false;
      await new Promise<void>((r) => healer.listen(closedPort, '127.0.0.1', r));
      const back = Date.now();
      for (let i = 0; i < 30 && !reports.some((r) => r.reachable.includes('b')); i++) await new Promise((r) => setTimeout(r, 20));
      expect(reports.at(-1)).toMatchObject({ reachable: ['a', 'b'], unreachable: [] });
      expect(Date.now() - back).toBeLessThan(400);
    } finally {
      m.stop();
      if (!closed) await new Promise<void>((r) => healer.close(() => r()));
    }
  });

  it('a peer missed for longer than fastForMs (a killed host kept as dead) no longer speeds the rounds', async () => {
    const m = new ReachabilityMonitor({
      nodeId: 'self',
      clusterId: 'c',
      intervalMs: 500,
      cutIntervalMs: 50,
      fastForMs: 300,
      timeoutMs: 100,
      contactEveryMs: 0,
      fencesEveryMs: 0,
      members: async () => [memberSummary('self'), { ...memberSummary('b'), address: '127.0.0.1', healthPort: closedPort, status: 'dead' }],
      fences: async (): Promise<FencesMemo> => ({ generation: 0, fenced: {}, seen: {} }),
      report: async () => undefined,
    }).start();
    await new Promise((r) => setTimeout(r, 500));
    const early = m.stats.rounds;
    await new Promise((r) => setTimeout(r, 1_500));
    m.stop();
    // Fast for the first 300 ms (~6 rounds), then one every 500 ms (3 more in 1.5 s).
    expect(early).toBeGreaterThanOrEqual(4);
    expect(m.stats.rounds - early).toBeLessThanOrEqual(4);
  });
});
