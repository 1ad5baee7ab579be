/** A host's own health from its latest vitals sample (the NodeAgent's view; HealthMonitor goes deeper). */
import type { NodeHealth } from '../../contracts/common';
import type { NodeAgentConfig, VitalsSample } from '../../contracts/node-agent';

type Limits = Pick<NodeAgentConfig, 'degradedCpu' | 'degradedMemory' | 'unhealthyMemory' | 'degradedLagMs'>;

export function hostHealth(v: VitalsSample, c: Limits): { health: NodeHealth; reasons: string[] } {
  const pct = (x: number) => `${Math.round(x * 100)} %`;
  if (v.memory >= c.unhealthyMemory)
    return { health: 'unhealthy', reasons: [`memory ${pct(v.memory)} ≥ ${pct(c.unhealthyMemory)}`] };
  const reasons: string[] = [];
  if (v.cpu >= c.degradedCpu) reasons.push(`cpu ${pct(v.cpu)} ≥ ${pct(c.degradedCpu)}`);
  if (v.memory >= c.degradedMemory) reasons.push(`memory ${pct(v.memory)} ≥ ${pct(c.degradedMemory)}`);
  if (v.lagP99Ms >= c.degradedLagMs) reasons.push(`event-loop lag p99 ${v.lagP99Ms} ms ≥ ${c.degradedLagMs} ms`);
  return { health: reasons.length ? 'degraded' : 'healthy', reasons };
}
