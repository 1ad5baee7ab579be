/**
 * The escalation matrix (config `escalation`): level 0 when an alert is escalated, each next level
 * `afterMs` after that while the node has not recovered. Pure: the HealthMonitor's loop runs the
 * channels of what `dueEscalations` returns.
 */
import type {
  EscalationLevel,
  HealthMonitorConfig,
  HealthMonitorState,
  OpenEscalation,
} from '../../contracts/health-monitor';

/** Open escalations kept at most (the oldest is dropped past it). */
export const OPEN_ESCALATIONS_KEPT = 100;

/** Records that an escalation began at level 0; it stays open only if the matrix has more levels. */
export function openEscalation(
  s: HealthMonitorState,
  levels: readonly EscalationLevel[],
  e: { alertId: number; nodeId: string; reason: string },
  now: number,
): void {
  const next = levels[1];
  if (!next) return;
  const open = (s.openEscalations ??= {});
  const ids = Object.keys(open);
  if (ids.length >= OPEN_ESCALATIONS_KEPT) {
    const oldest = Object.values(open).sort((a, b) => a.since - b.since)[0];
    if (oldest) delete open[String(oldest.alertId)];
  }
  open[String(e.alertId)] = { ...e, since: now, level: 0, nextAt: now + next.afterMs };
}

/** The earliest time a next level is due, if any. */
export function nextEscalationDue(s: HealthMonitorState): number | undefined {
  const open = Object.values(s.openEscalations ?? {});
  return open.length ? Math.min(...open.map((o) => o.nextAt)) : undefined;
}

/**
 * Closes the escalations whose node recovered (`recovered(nodeId)`) and moves the due ones up a
 * level; returns those, with their new level, for the loop to send. An escalation that reached the
 * last level is closed (nothing more to send).
 */
export function dueEscalations(
  s: HealthMonitorState,
  c: Pick<HealthMonitorConfig, 'escalation'>,
  now: number,
  recovered: (nodeId: string) => boolean,
): { due: (OpenEscalation & { level: number })[]; closed: OpenEscalation[] } {
  const due: OpenEscalation[] = [];
  const closed: OpenEscalation[] = [];
  const open = s.openEscalations ?? {};
  for (const [id, e] of Object.entries(open)) {
    if (recovered(e.nodeId)) {
      closed.push(e);
      delete open[id];
      continue;
    }
    if (now < e.nextAt) continue;
    e.level += 1;
    due.push({ ...e });
    const next = c.escalation[e.level + 1];
    if (next) e.nextAt = e.since + next.afterMs;
    else delete open[id];
  }
  return { due, closed };
}
