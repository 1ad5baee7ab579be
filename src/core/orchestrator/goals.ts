import type { GoalStatus } from '../../contracts/orchestrator';

/**
 * The cluster measured against the orchestrator's goals, from what the agents already know: node
 * statuses over time (availability), the routers' reported outcomes (latency, throughput), the
 * hosts' load (resource efficiency) and the number of hosts (cost).
 */

export interface Goals {
  /** Share of host-time alive (0..1). */
  availability: number;
  /** Mean response time the routers see (ms); met when at most this. */
  latencyMs: number;
  /** Requests per second the cluster can take; met when the routed capacity reaches it. */
  throughputPerSec: number;
  /** Target CPU utilisation of the hosts (0..1); met when the mean is at most this. */
  resourceEfficiency: number;
  /** Cost per hour; met when hosts × costPerHostHour is at most this. */
  costPerHour: number;
}

/** Availability over time: per-minute buckets of host samples (bounded). */
export interface AvailabilityBucket {
  minute: number;
  up: number;
  total: number;
}

export const AVAILABILITY_BUCKETS = 60;

/** Adds one sample of the hosts' statuses (left hosts are not counted: they went away on purpose). */
export function sampleAvailability(
  buckets: AvailabilityBucket[],
  statuses: readonly string[],
  now: number,
): AvailabilityBucket[] {
  const counted = statuses.filter((s) => s !== 'left');
  if (!counted.length) return buckets;
  const minute = Math.floor(now / 60_000);
  const out = buckets.filter((b) => b.minute > minute - AVAILABILITY_BUCKETS);
  let b = out.find((x) => x.minute === minute);
  if (!b) {
    b = { minute, up: 0, total: 0 };
    out.push(b);
  }
  b.up += counted.filter((s) => s === 'alive').length;
  b.total += counted.length;
  return out;
}

export interface GoalInputs {
  availability: readonly AvailabilityBucket[];
  /** Routed targets' mean response time as the routers report it (ms), weighted by requests. */
  latencyMs?: number;
  /** Requests per second the routers reported over their last window. */
  requestRate?: number;
  /** Mean CPU share (0..1) of the alive hosts. */
  cpu?: number;
  hosts: number;
  costPerHostHour: number;
}

export type { GoalStatus };

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

export function measureGoals(goals: Goals, m: GoalInputs): GoalStatus[] {
  const up = m.availability.reduce((a, b) => a + b.up, 0);
  const total = m.availability.reduce((a, b) => a + b.total, 0);
  const availability = total ? up / total : null;
  const cost = m.hosts * m.costPerHostHour;
  return [
    {
      goal: 'availability',
      target: goals.availability,
      measured: availability === null ? null : round(availability, 5),
      met: availability === null ? null : availability >= goals.availability,
      unit: 'share of host-time alive, last hour',
    },
    {
      goal: 'latency',
      target: goals.latencyMs,
      measured: m.latencyMs === undefined ? null : round(m.latencyMs, 1),
      met: m.latencyMs === undefined ? null : m.latencyMs <= goals.latencyMs,
      unit: 'ms, routers’ mean response time',
      ...(m.latencyMs === undefined ? { note: 'no router has reported outcomes yet' } : {}),
    },
    {
      goal: 'throughput',
      target: goals.throughputPerSec,
      measured: m.requestRate === undefined ? null : round(m.requestRate, 1),
      met: m.requestRate === undefined ? null : m.requestRate >= goals.throughputPerSec,
      unit: 'requests/s the routers reported',
      ...(m.requestRate === undefined ? { note: 'no router has reported a rate yet' } : {}),
    },
    {
      goal: 'resource efficiency',
      target: goals.resourceEfficiency,
      measured: m.cpu === undefined ? null : round(m.cpu),
      met: m.cpu === undefined ? null : m.cpu <= goals.resourceEfficiency,
      unit: 'mean CPU share of alive hosts (met: at most the target)',
    },
    {
      goal: 'cost',
      target: goals.costPerHour,
      measured: round(cost, 2),
      met: cost <= goals.costPerHour,
      unit: `per hour (${m.hosts} hosts × ${m.costPerHostHour})`,
    },
  ];
}
