import { HealthMonitorConfig } from '../../src/contracts/health-monitor';
import { LoadBalancerConfig } from '../../src/contracts/load-balancer';
import { unknownFields } from '../../src/core/validation';

describe('unknownFields', () => {
  it.each([
    [{ strategy: 'round_robin', thresholds: { cpu: 0.5 } }, []],
    [{ strategie: 'round_robin' }, [/^config\.strategie: unknown field \(expected one of .*strategy/]],
    [{ thresholds: { cpuu: 0.5 } }, [/^config\.thresholds\.cpuu: unknown field \(expected one of cpu, memory/]],
    [{ breaker: { windowMs: 1000, bogus: 1 } }, [/^config\.breaker\.bogus: unknown field/]],
    [{ consensusTimeoutMs: 45_000 }, [/^config\.consensusTimeoutMs: a setting of the consensus-coordinator only/]],
    [{ failureDetectionTimeoutMs: 1 }, [/^config\.failureDetectionTimeoutMs: no longer a setting/]],
    // Not an object: the schema itself names what was expected.
    ['x', []],
  ])('load balancer %j', (patch, expected) => {
    const got = unknownFields(LoadBalancerConfig, patch);
    expect(got).toHaveLength(expected.length);
    expected.forEach((re, i) => expect(got[i]).toMatch(re));
  });

  it('descends into optional, defaulted and refined objects, not into records', () => {
    expect(unknownFields(HealthMonitorConfig, { recovery: { comand: ['x'] } }, 'health-monitor')).toEqual([
      expect.stringMatching(/^health-monitor\.recovery\.comand: unknown field/),
    ]);
    expect(unknownFields(HealthMonitorConfig, { models: { cpu: { window: 5, threshold: 2, minSamples: 3, x: 1 } } })).toEqual([
      expect.stringMatching(/^config\.models\.cpu\.x: unknown field/),
    ]);
    expect(unknownFields(HealthMonitorConfig, { quarantineDurationsMs: { manual: 5_000 } })).toEqual([]);
  });
});
