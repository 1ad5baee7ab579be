import type { Prediction } from '../../../src/contracts/health-monitor';
import { failureRisk, type RiskInputs } from '../../../src/core/health/risk';

const pred = (hours: number | null, confidence = 0.9): Prediction => ({
  ratePerHour: 0.1,
  hoursToExhaustion: hours,
  confidence,
  models: [],
  samples: 20,
});
const base: RiskInputs = { health: 'healthy', anomalies: [] };

describe('failureRisk', () => {
  it.each<[string, Partial<RiskInputs>, number, string, number | null, string[]]>([
    ['a healthy, quiet node', {}, 0, 'low', null, []],
    ['degraded', { health: 'degraded' }, 0.25, 'low', null, ['health']],
    ['unhealthy', { health: 'unhealthy' }, 0.6, 'high', null, ['health']],
    ['one suspicion', { suspicions: 1 }, 0.2, 'low', null, ['suspicions']],
    ['three suspicions and late beats', { suspicions: 3, heartbeatPhi: 9 }, 0.65, 'high', null, ['suspicions', 'heartbeat']],
    ['memory out in 10 h', { predictions: { memory: pred(10) } }, 0.4, 'medium', 10, ['exhaustion']],
    ['disk out in 30 min, cpu in 5 h: the soonest', { predictions: { cpu: pred(5), disk: pred(0.5) } }, 0.7, 'high', 0.5, ['exhaustion']],
    ['a prediction without confidence is no evidence', { predictions: { memory: pred(0.5, 0.3) } }, 0, 'low', null, []],
    ['exhaustion in a month is no risk', { predictions: { disk: pred(700) } }, 0, 'low', null, []],
    ['two anomalies and degraded', { health: 'degraded', anomalies: ['cpu …', 'memory …'] }, 0.48, 'medium', null, ['health', 'anomalies']],
    ['a φ under 3 is noise', { heartbeatPhi: 2.9 }, 0, 'low', null, []],
  ])('%s', (_name, extra, score, level, hours, names) => {
    const r = failureRisk({ ...base, ...extra }, 1_000);
    expect(r.score).toBe(score);
    expect(r.level).toBe(level);
    expect(r.predictedInHours).toBe(hours);
    expect(r.predictedAt).toBe(hours === null ? null : 1_000 + hours * 3_600_000);
    expect(r.factors.map((f) => f.name)).toEqual(names);
  });
});
