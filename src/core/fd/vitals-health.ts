/**
 * A host's own health from its recent vitals (the NodeAgent's view; HealthMonitor goes deeper).
 *
 * Judged on the mean of the last `samples` samples, with hysteresis: a host becomes degraded when
 * a mean crosses its limit and is healthy again only once it is `hysteresis` below it (lag: half
 * the limit). Without both, a host hovering at 90 % CPU would flip every lease term and every flip
 * is a signal to the cluster agents.
 */
import type { NodeHealth } from '../../contracts/common';
import type { NodeAgentConfig, VitalsSample } from '../../contracts/node-agent';

type Limits = Pick<NodeAgentConfig, 'degradedCpu' | 'degradedMemory' | 'unhealthyMemory' | 'degradedLagMs'>;

/** Samples averaged (default 3) and the share below a limit needed to recover (default 0.1). */
export const HEALTH_SAMPLES = 3;
export const HYSTERESIS = 0.1;

export function hostHealth(
  recent: readonly VitalsSample[],
  current: NodeHealth,
  c: Limits,
): { health: NodeHealth; reasons: string[] } {
  const w = recent.slice(-HEALTH_SAMPLES);
  if (!w.length) return { health: current, reasons: [] };
  const avg = (f: (v: VitalsSample) => number) => w.reduce((a, v) => a + f(v), 0) / w.length;
  const cpu = avg((v) => v.cpu);
  const memory = avg((v) => v.memory);
  const lag = avg((v) => v.lagP99Ms);
  const pct = (x: number) => `${Math.round(x * 100)} %`;
  // Already degraded or worse: limits are lower until the host is clearly back.
  const sticky = current === 'degraded' || current === 'unhealthy';
  const share = (limit: number) => (sticky ? limit - HYSTERESIS : limit);
  if (memory >= (current === 'unhealthy' ? c.unhealthyMemory - HYSTERESIS : c.unhealthyMemory))
    return { health: 'unhealthy', reasons: [`memory ${pct(memory)} ≥ ${pct(c.unhealthyMemory)}`] };
  const reasons: string[] = [];
  if (cpu >= share(c.degradedCpu)) reasons.push(`cpu ${pct(cpu)} ≥ ${pct(c.degradedCpu)} (mean of ${w.length})`);
  if (memory >= share(c.degradedMemory)) reasons.push(`memory ${pct(memory)} ≥ ${pct(c.degradedMemory)}`);
  if (lag >= (sticky ? c.degradedLagMs / 2 : c.degradedLagMs))
    reasons.push(`event-loop lag p99 ${Math.round(lag)} ms ≥ ${c.degradedLagMs} ms`);
  return { health: reasons.length ? 'degraded' : 'healthy', reasons };
}
