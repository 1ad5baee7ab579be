/**
 * Failure prediction per node: a risk score from what the agents already know, with the factors
 * that make it and, when a resource runs out, when.
 *
 *   factor              from                                         weight
 *   health              the HealthMonitor's verdict                  unhealthy 0.6, degraded 0.25
 *   anomalies           active anomaly episodes                      0.15 each, at most 0.3
 *   exhaustion          predicted exhaustion (confidence ≥ 0.5)      ≤ 1 h 0.7, ≤ 24 h 0.4, ≤ 72 h 0.15
 *   suspicions          the host's lease lapsed (last hour)          1: 0.2, 2: 0.35, ≥ 3: 0.5
 *   heartbeat φ         its slowest recent beat, as φ against its    φ ≥ 3: 0.15, φ ≥ 8 (the FailureDetector's
 *                       own arrival history (late beats raise φ)     threshold): 0.3
 *
 * score = 1 − Π (1 − weight): independent evidence adds up without passing 1. Level: high ≥ 0.6,
 * medium ≥ 0.3, else low. Only a change of level is news (the HealthMonitor tells NodeDiscovery).
 */
import type { NodeHealth } from '../../contracts/common';
import type { Prediction } from '../../contracts/health-monitor';

import type { FailureRisk, RiskFactor } from '../../contracts/node-discovery';

export type { FailureRisk, RiskFactor };
export type RiskLevel = FailureRisk['level'];

export interface RiskInputs {
  health: NodeHealth;
  anomalies: string[];
  predictions?: Partial<Record<'cpu' | 'memory' | 'disk', Prediction>>;
  /** Times the host's lease lapsed into suspicion in the last hour. */
  suspicions?: number;
  /** φ of the slowest of the host's recent heartbeats against its own arrival history. */
  heartbeatPhi?: number;
}

const round2 = (x: number) => Math.round(x * 100) / 100;

export function failureRisk(i: RiskInputs, now: number): FailureRisk {
  const factors: RiskFactor[] = [];
  if (i.health === 'unhealthy') factors.push({ name: 'health', weight: 0.6, detail: 'unhealthy' });
  else if (i.health === 'degraded') factors.push({ name: 'health', weight: 0.25, detail: 'degraded' });
  if (i.anomalies.length)
    factors.push({
      name: 'anomalies',
      weight: Math.min(0.3, 0.15 * i.anomalies.length),
      detail: i.anomalies.join('; '),
    });
  let soonest: { resource: string; hours: number } | undefined;
  for (const [resource, p] of Object.entries(i.predictions ?? {})) {
    if (!p || p.hoursToExhaustion === null || p.confidence < 0.5) continue;
    if (!soonest || p.hoursToExhaustion < soonest.hours) soonest = { resource, hours: p.hoursToExhaustion };
  }
  if (soonest) {
    const w = soonest.hours <= 1 ? 0.7 : soonest.hours <= 24 ? 0.4 : soonest.hours <= 72 ? 0.15 : 0;
    if (w > 0)
      factors.push({
        name: 'exhaustion',
        weight: w,
        detail: `${soonest.resource} exhausted in ${soonest.hours.toFixed(1)} h`,
      });
  }
  const sus = i.suspicions ?? 0;
  if (sus > 0)
    factors.push({
      name: 'suspicions',
      weight: sus >= 3 ? 0.5 : sus === 2 ? 0.35 : 0.2,
      detail: `lease lapsed ${sus} time(s) in the last hour`,
    });
  const phi = i.heartbeatPhi ?? 0;
  if (phi >= 3)
    factors.push({
      name: 'heartbeat',
      weight: phi >= 8 ? 0.3 : 0.15,
      detail: `slowest recent heartbeat at φ ${phi.toFixed(1)}`,
    });
  const score = round2(1 - factors.reduce((p, f) => p * (1 - f.weight), 1));
  const level: RiskLevel = score >= 0.6 ? 'high' : score >= 0.3 ? 'medium' : 'low';
  const hours = soonest && soonest.hours <= 72 ? round2(soonest.hours) : null;
  return {
    score,
    level,
    predictedInHours: hours,
    predictedAt: hours === null ? null : Math.round(now + hours * 3_600_000),
    factors,
    at: now,
  };
}
