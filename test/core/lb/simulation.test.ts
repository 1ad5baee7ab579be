/**
 * How load spreads, simulated in virtual time with the real table builder, picker, breakers and
 * state functions (no server): skewed capacities, a slow target, a failing target.
 */
import type { LbStrategy } from '../../../src/contracts/load-balancer';
import { Picker } from '../../../src/core/lb/picker';
import { simulateSpread, skewedCluster as cluster } from '../../../src/core/lb/simulation';
import { applyOutcomes, tick } from '../../../src/core/lb/state';
import { seeded } from './fixtures';

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
      // Requests hold a connection for a time inversely proportional to capacity (service rate).
      result[strategy] = simulateSpread({ strategy, capacities, requests: 8_000, seed: 11 }).imbalance;
    }
    expect(result.round_robin).toBeGreaterThan(1.4); // equal requests: 2000 per unit on a small host, 500 on the big one
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
