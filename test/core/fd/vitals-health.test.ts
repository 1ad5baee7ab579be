import { NodeAgentConfig, type VitalsSample } from '../../../src/contracts/node-agent';
import { hostHealth } from '../../../src/core/fd/vitals-health';

const c = NodeAgentConfig.parse({});
const v = (cpu: number, memory = 0.5, lagP99Ms = 1): VitalsSample => ({
  cpu,
  memory,
  load1: 1,
  lagP99Ms,
  rssBytes: 1,
  at: 0,
});

describe("a host's own health from its vitals", () => {
  it.each([
    [[v(0.2), v(0.3), v(0.4)], 'unknown', 'healthy'],
    [[v(0.95), v(0.95), v(0.95)], 'healthy', 'degraded'],
    [[v(0.2), v(0.2), v(0.99)], 'healthy', 'healthy'], // one spike: the mean of 3 is 46 %
    [[v(0.85), v(0.85), v(0.85)], 'degraded', 'degraded'], // hysteresis: recovers only below 80 %
    [[v(0.75), v(0.75), v(0.75)], 'degraded', 'healthy'],
    [[v(0.1, 0.98), v(0.1, 0.98), v(0.1, 0.98)], 'healthy', 'unhealthy'],
    [[v(0.1, 0.92), v(0.1, 0.92), v(0.1, 0.92)], 'unhealthy', 'unhealthy'],
    [[v(0.1, 0.5, 800), v(0.1, 0.5, 800), v(0.1, 0.5, 800)], 'healthy', 'degraded'],
    [[v(0.1, 0.5, 300), v(0.1, 0.5, 300), v(0.1, 0.5, 300)], 'degraded', 'degraded'],
  ] as const)('%j while %s → %s', (samples, current, expected) => {
    expect(hostHealth(samples, current, c).health).toBe(expected);
  });

  it('a host hovering at the limit does not flip on every sample', () => {
    let health = 'healthy' as 'healthy' | 'degraded' | 'unknown' | 'unhealthy';
    const samples: VitalsSample[] = [];
    let flips = 0;
    for (let i = 0; i < 40; i++) {
      samples.push(v(i % 2 ? 0.93 : 0.86));
      const next: typeof health = hostHealth(samples, health, c).health;
      if (next !== health) flips += 1;
      health = next;
    }
    expect(flips).toBeLessThanOrEqual(1);
  });

  it('names why', () => {
    expect(hostHealth([v(0.95, 0.93)], 'healthy', c).reasons).toEqual([
      'cpu 95 % ≥ 90 % (mean of 1)',
      'memory 93 % ≥ 90 %',
    ]);
  });
});
