/**
 * `npm run bench -- balance`: how evenly each strategy spreads load over hosts of skewed capacity,
 * simulated in virtual time with the agent's own table builder and picker (src/core/lb/simulation.ts;
 * the simulation tests use the same code). Load = requests served per unit of capacity; max/mean
 * of it is 1.0 when the spread follows capacity exactly. Peak is the same ratio over each host's
 * highest number of concurrent connections. consistent_hash routes 10,000 distinct session keys.
 */
import { LB_STRATEGIES } from '../src/contracts/load-balancer';
import { simulateSpread } from '../src/core/lb/simulation';

export const SKEWS: { name: string; capacities: number[] }[] = [
  { name: '4:2:1:1', capacities: [4, 2, 1, 1] },
  { name: '10 hosts 16:8:4:4:2:2:1:1:1:1', capacities: [16, 8, 4, 4, 2, 2, 1, 1, 1, 1] },
];

export function benchBalance(requests = 50_000): (string | number)[][] {
  const rows: (string | number)[][] = [];
  for (const { name, capacities } of SKEWS) {
    for (const strategy of LB_STRATEGIES) {
      const r = simulateSpread({
        strategy,
        capacities,
        requests,
        seed: 7,
        ...(strategy === 'consistent_hash' ? { keys: 10_000 } : {}),
      });
      rows.push([name, strategy, r.imbalance.toFixed(2), r.peakImbalance.toFixed(2)]);
    }
  }
  return rows;
}
