/**
 * The orchestrator's playbook, as pure functions over plain JSON: which incident starts which
 * procedure (or joins the one already running for the same subject), when a replacement may start
 * (a rate limit), and when failures are too many to act on blindly (the mass-failure guard:
 * Kubernetes' node controller stops evicting when a whole zone goes dark, for the same reason).
 */

export type IncidentKind = 'node_failure' | 'network_partition' | 'resource_exhaustion';

export interface Incident {
  kind: IncidentKind;
  /** What the incident is about: a node id, or `cluster` for cluster-wide incidents. */
  subject: string;
  /** Who raised it: `failure-detector`, `health-monitor`, `operator`, … */
  source: string;
  detail: string;
  at: number;
}

export interface RunningProcedure {
  id: string;
  kind: string;
  subject: string;
  startedAt: number;
  /** Incidents that joined it after it started (the first one started it). */
  joined: number;
}

/** A failure the guard counts: a node declared dead (or failed) at a time, in a zone. */
export interface FailureRecord {
  nodeId: string;
  zone: string;
  at: number;
}

export interface GuardConfig {
  /** Failures within this window count together (ms). */
  windowMs: number;
  /** More than this share of the hosts (or of one zone's) failing within the window is a mass failure. */
  share: number;
}

/**
 * Business id of a procedure: a second trigger for the same kind and subject finds the same id,
 * so it never starts a duplicate. Characters a workflow id would carry badly are replaced.
 */
export function procedureId(clusterId: string, kind: string, subject: string): string {
  return `${clusterId}/procedure/${kind}/${subject.replace(/[^A-Za-z0-9._:-]/g, '_')}`;
}

export type PlaybookDecision =
  | { action: 'start'; id: string; kind: IncidentKind; subject: string }
  | { action: 'join'; id: string }
  | { action: 'escalate'; id: string; kind: IncidentKind; subject: string; why: string };

/**
 * What an incident sets off. One procedure per kind and subject: joins the running one. A node
 * failure during a mass failure starts its procedure escalated (no replacement is started blindly).
 */
export function playbook(
  clusterId: string,
  incident: Incident,
  running: Readonly<Record<string, RunningProcedure>>,
  mass: MassFailure | undefined,
): PlaybookDecision {
  const id = procedureId(clusterId, incident.kind, incident.subject);
  if (running[id]) return { action: 'join', id };
  if (incident.kind === 'node_failure' && mass)
    return { action: 'escalate', id, kind: incident.kind, subject: incident.subject, why: mass.why };
  return { action: 'start', id, kind: incident.kind, subject: incident.subject };
}

export interface MassFailure {
  why: string;
  failed: number;
  of: number;
  zone?: string;
}

/**
 * More than `share` of the hosts — or of one zone's hosts — failed within the window. `hosts`
 * holds every host known (failed ones included) with its zone.
 */
export function massFailure(
  failures: readonly FailureRecord[],
  hosts: readonly { nodeId: string; zone: string }[],
  c: GuardConfig,
  now: number,
): MassFailure | undefined {
  const recent = new Map<string, FailureRecord>();
  for (const f of failures) if (now - f.at <= c.windowMs) recent.set(f.nodeId, f);
  const known = new Map(hosts.map((h) => [h.nodeId, h.zone]));
  for (const f of recent.values()) if (!known.has(f.nodeId)) known.set(f.nodeId, f.zone);
  const total = known.size;
  // Two hosts of two is "more than half"; one of one is a lone host, not a mass failure.
  if (total >= 2 && recent.size > total * c.share && recent.size >= 2)
    return {
      why: `${recent.size} of ${total} hosts failed within ${Math.round(c.windowMs / 1000)} s`,
      failed: recent.size,
      of: total,
    };
  const zones = new Map<string, { total: number; failed: number }>();
  for (const [nodeId, zone] of known) {
    const z = zones.get(zone) ?? { total: 0, failed: 0 };
    z.total += 1;
    if (recent.has(nodeId)) z.failed += 1;
    zones.set(zone, z);
  }
  for (const [zone, z] of [...zones].sort(([a], [b]) => a.localeCompare(b))) {
    if (z.total >= 2 && z.failed >= 2 && z.failed > z.total * c.share)
      return {
        why: `${z.failed} of ${z.total} hosts of zone ${zone} failed within ${Math.round(c.windowMs / 1000)} s`,
        failed: z.failed,
        of: z.total,
        zone,
      };
  }
  return undefined;
}

/** Failures older than the window are forgotten (the list stays bounded). */
export function pruneFailures(failures: FailureRecord[], windowMs: number, now: number, max = 1_000): FailureRecord[] {
  return failures.filter((f) => now - f.at <= windowMs).slice(-max);
}

/**
 * Replacements are rate-limited: one per `everyMs`. Returns when the next may start (now when it
 * may start at once).
 */
export function nextReplacementAt(lastStartedAt: number | undefined, everyMs: number, now: number): number {
  if (lastStartedAt === undefined) return now;
  return Math.max(now, lastStartedAt + everyMs);
}
