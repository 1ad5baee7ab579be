/**
 * How the HealthMonitor shows itself: its own health verdict, the per-node view its `health` query
 * answers, and the text an operator reads on its workflow page in the Web UI ("Current details").
 */
import type { AgentHealthStatus } from '../../contracts/common';
import type { HealthMonitorState, HealthView } from '../../contracts/health-monitor';

/** Escalations shown in the details: the newest few, the rest are in the `state` query. */
const ESCALATIONS_SHOWN = 5;

/**
 * The monitor's own health: healthy while it runs its checks, whatever it finds (sick nodes are
 * reasons to read, not a fault of the monitor).
 */
export function monitorHealth(s: HealthMonitorState): { status: AgentHealthStatus; reasons: string[] } {
  const q = Object.keys(s.quarantine).length;
  const unhealthy = Object.values(s.nodes).filter((n) => n.health === 'unhealthy').length;
  const reasons = [
    ...(unhealthy ? [`${unhealthy} node(s) unhealthy`] : []),
    ...(q ? [`${q} node(s) quarantined`] : []),
  ];
  return { status: 'healthy', reasons };
}

/** Every node's health, reasons, last basic check and whether it is quarantined. */
export function healthView(s: HealthMonitorState): HealthView['nodes'] {
  const out: HealthView['nodes'] = {};
  for (const n of Object.values(s.nodes))
    out[n.nodeId] = {
      health: n.health,
      reasons: n.reasons,
      lastCheck: n.lastCheck,
      consecutiveFailures: n.consecutiveFailures,
      quarantined: !!s.quarantine[n.nodeId],
      ...(n.risk ? { risk: n.risk } : {}),
    };
  return out;
}

/** Markdown for the Web UI: what needs an operator first, then quarantines, then sick nodes. */
export function healthDetails(s: HealthMonitorState): string {
  const lines: string[] = [];
  const recent = s.escalations.slice(-ESCALATIONS_SHOWN);
  if (recent.length) {
    lines.push('**Manual intervention needed**');
    for (const e of recent)
      lines.push(`- ${iso(e.at)} ${e.nodeId}${e.level !== undefined ? ` (level ${e.level})` : ''}: ${e.reason}`);
  }
  const q = Object.values(s.quarantine);
  if (q.length) {
    lines.push('**Quarantined**');
    for (const x of q) lines.push(`- ${x.nodeId} (${x.reason}) until ${iso(x.until)}: ${x.detail}`);
  }
  const rounds = (s.quarantineRounds ?? []).slice(-3);
  if (rounds.length) {
    lines.push('**Quarantines put to the other monitors**');
    for (const r of rounds) lines.push(`- ${iso(r.at)} ${r.nodeId} (${r.reason}): ${r.summary}`);
  }
  const sick = Object.values(s.nodes).filter((n) => n.health === 'unhealthy' || n.health === 'degraded');
  if (sick.length) {
    lines.push('**Not healthy**');
    for (const n of sick) lines.push(`- ${n.nodeId}: ${n.health} — ${n.reasons.join('; ')}`);
  }
  const risky = Object.values(s.nodes).filter((n) => n.risk && n.risk.level !== 'low');
  if (risky.length) {
    lines.push('**Failure risk**');
    for (const n of risky) {
      const r = n.risk as NonNullable<typeof n.risk>;
      const when = r.predictedAt !== null ? `, predicted ${iso(r.predictedAt)}` : '';
      lines.push(`- ${n.nodeId}: ${r.level} (${r.score}${when}) — ${r.factors.map((f) => f.detail).join('; ')}`);
    }
  }
  return lines.length ? lines.join('\n') : 'All nodes healthy.';
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
