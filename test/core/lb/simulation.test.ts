/**
 * How load spreads, simulated in virtual time with the real table builder, picker, breakers and
 * state functions (no server): skewed capacities, a slow target, a failing target.
 */
import { LoadBalancerConfig, type LbStrategy } from '../../../src/contracts/load-balancer';
import { Picker } from '../../../src/core/lb/picker';
import { applyCapacity, applyOutcomes, emptyLbState, syncTargets, tick } from '../../../src/core/lb/state';
import { buildRoutingTable } from '../../../src/core/lb/table';
import { seeded } from './fixtures';

const member = (nodeId: string, zone = 'a') => ({
  nodeId,
  status: 'alive' as const,
  health: 'healthy' as const,
  address: '10.0.0.1',
  healthPort: 80,
  zone,
  incarnation: 1,
});

function cluster(strategy: LbStrategy, capacities: number[], cfgPatch: Record<string, unknown> = {}) {
  const cfg = LoadBalancerConfig.parse({ strategy, ...cfgPatch });
  const s = emptyLbState();
  syncTargets(
    s,
    capacities.map((_, i) => member(`n${i}`)),
    0,
  );
  capacities.forEach((c, i) =>
    applyCapacity(s, { nodeId: `n${i}`, capacity: { cpu: c, memory: c, network: c, maxConnections: 100 * c } }, 0),
  );
  let version = 0;
  const build = (now: number) =>
    buildRoutingTable({
      clusterId: 'sim',
      version: ++version,
      now,
      strategy: cfg.strategy,
      thresholds: cfg.thresholds,
      config: cfg,
      targets: s.targets,
      breakers: s.breakers,
    });
  return { cfg, s, build };
}

/** max/mean of requests per unit of capacity. */
const imbalance = (perTarget: number[], capacities: number[]) => {
  const util = perTarget.map((r, i) => r / (capacities[i] as number));
  return Math.max(...util) / (util.reduce((a, b) => a + b, 0) / util.length);
};

describe('simulations', () => {
  it('skewed capacities (4:2:1:1): weighted strategies follow capacity, round robin does not', () => {
    const capacities = [4, 2, 1, 1];
    const result: Record<string, number> = {};
    for (const strategy of [
      'round_robin',
      'weighted_round_robin',
      'least_connections',
      'capacity_aware',
    ] as LbStrategy[]) {
      const { build } = cluster(strategy, capacities);
      const picker = new Picker(build(0), { random: seeded(11) });
      // Requests hold a connection for a time inversely proportional to capacity (service rate).
      const active: { i: number; until: number }[] = [];
      const served = new Array<number>(capacities.length).fill(0);
      for (let t = 0; t < 8_000; t++) {
        for (let k = active.length - 1; k >= 0; k--) {
          const a = active[k] as { i: number; until: number };
          if (a.until <= t) {
            picker.end(a.i, 1);
            active.splice(k, 1);
          }
        }
        const i = picker.pick();
        picker.begin(i);
        served[i] = (served[i] ?? 0) + 1;
        active.push({ i, until: t + Math.ceil(40 / (capacities[i] as number)) });
      }
      result[strategy] = imbalance(served, capacities);
    }
    expect(result.round_robin).toBeGreaterThan(1.4); // equal requests: 2000 per unit on a small host, 500 on the big one // the small hosts get as much as the big one
    expect(result.weighted_round_robin).toBeLessThan(1.05);
    expect(result.least_connections).toBeLessThan(1.35);
    // capacity_aware without load reports only sees static headroom (equal here): it spreads by in-flight share.
    expect(result.capacity_aware).toBeLessThan(result.round_robin as number);
  });

  it('a slow target: latency_aware sends it little; round robin a third', () => {
    const latencies = [10, 12, 200];
    const share: Record<string, number> = {};
    for (const strategy of ['round_robin', 'latency_aware', 'adaptive'] as LbStrategy[]) {
      const { build } = cluster(strategy, [1, 1, 1]);
      const picker = new Picker(build(0), { random: seeded(12) });
      let slow = 0;
      for (let n = 0; n < 3_000; n++) {
        const i = picker.pick();
        picker.begin(i);
        picker.end(i, latencies[i] as number);
        if (i === 2) slow++;
      }
      share[strategy] = slow / 3_000;
    }
    expect(share.round_robin).toBeCloseTo(1 / 3, 2);
    expect(share.latency_aware).toBeLessThan(0.05);
    expect(share.adaptive).toBeLessThan(0.05);
  });

  it('a failing target: its breaker opens, traffic moves away, and it returns once it recovers', () => {
    const { cfg, s, build } = cluster('round_robin', [1, 1, 1, 1, 1, 1, 1, 1, 1, 1], {
      breaker: { baseEjectionMs: 2_000, halfOpenSuccesses: 3 },
    });
    let table = build(0);
    let picker = new Picker(table);
    let failed = 0;
    const sentToBad: number[] = [];
    let batch: { targetId: string; ok: boolean; latencyMs: number; count: number }[] = [];
    // 1 request per ms for 20 s; n3 fails every request until t = 10 s; routers report every 50 ms.
    for (let now = 0; now < 20_000; now++) {
      const i = picker.pick();
      const t = picker.target(i);
      if (!t) throw new Error('nothing routable');
      const ok = !(t.nodeId === 'n3' && now < 10_000);
      if (!ok) failed++;
      if (t.nodeId === 'n3') sentToBad.push(now);
      batch.push({ targetId: t.id, ok, latencyMs: 5, count: 1 });
      if (now % 50 === 49) {
        const changed = applyOutcomes(s, { router: 'sim', outcomes: batch }, cfg, now) || tick(s, now);
        batch = [];
        if (changed) {
          table = build(now);
          picker = new Picker(table);
        }
      }
    }
    // Before the first report (50 ms) n3 gets its round-robin share; afterwards only half-open probes.
    expect(failed).toBeLessThan(40);
    expect(s.breakers['n3/host']).toMatchObject({ state: 'closed' });
    expect(s.breakers['n3/host']?.ejections).toBeGreaterThanOrEqual(2); // re-opened by a failed half-open probe
    expect(sentToBad.filter((t) => t >= 15_000).length).toBeGreaterThan(400); // back in rotation (~1/10 of 5000)
  });
});
