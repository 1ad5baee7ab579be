import type { MemberSummary } from '../../../src/contracts/common';
import { hostsToStop } from '../../../src/core/orchestrator/scale';
import {
  massFailure,
  nextReplacementAt,
  playbook,
  procedureId,
  pruneFailures,
  type FailureRecord,
  type Incident,
  type RunningProcedure,
} from '../../../src/core/orchestrator/playbook';
import { imbalance, imbalanceSustained } from '../../../src/core/orchestrator/imbalance';
import { measureGoals, sampleAvailability, type Goals } from '../../../src/core/orchestrator/goals';

const NOW = 1_000_000;
const guard = { windowMs: 60_000, share: 0.5 };
const hosts = (spec: string) =>
  spec.split(' ').map((s) => {
    const [nodeId, zone] = s.split('@') as [string, string];
    return { nodeId, zone };
  });
const failed = (ids: string, zone = 'a', ago = 1_000): FailureRecord[] =>
  ids.split(' ').map((nodeId) => ({ nodeId, zone, at: NOW - ago }));

describe('playbook: incident → procedure, one per kind and subject', () => {
  const incident = (kind: Incident['kind'], subject: string): Incident => ({
    kind,
    subject,
    source: 'failure-detector',
    detail: 'dead',
    at: NOW,
  });
  const running = (id: string): Record<string, RunningProcedure> => ({
    [id]: { id, kind: 'node_failure', subject: 'n1', startedAt: NOW - 5_000, joined: 0 },
  });
  it.each([
    [
      'a node failure starts node_failure for that node',
      incident('node_failure', 'n1'),
      {},
      undefined,
      { action: 'start', id: 'c1/procedure/node_failure/n1', kind: 'node_failure', subject: 'n1' },
    ],
    [
      'a second trigger for the same node joins the running one',
      incident('node_failure', 'n1'),
      running('c1/procedure/node_failure/n1'),
      undefined,
      { action: 'join', id: 'c1/procedure/node_failure/n1' },
    ],
    [
      'another node gets its own procedure',
      incident('node_failure', 'n2'),
      running('c1/procedure/node_failure/n1'),
      undefined,
      { action: 'start', id: 'c1/procedure/node_failure/n2', kind: 'node_failure', subject: 'n2' },
    ],
    [
      'during a mass failure a node failure escalates at once',
      incident('node_failure', 'n3'),
      {},
      { why: '3 of 5 hosts failed within 60 s', failed: 3, of: 5 },
      {
        action: 'escalate',
        id: 'c1/procedure/node_failure/n3',
        kind: 'node_failure',
        subject: 'n3',
        why: '3 of 5 hosts failed within 60 s',
      },
    ],
    [
      'a mass failure does not hold back other kinds',
      incident('resource_exhaustion', 'n3'),
      {},
      { why: 'x', failed: 3, of: 5 },
      { action: 'start', id: 'c1/procedure/resource_exhaustion/n3', kind: 'resource_exhaustion', subject: 'n3' },
    ],
  ])('%s', (_name, inc, run, mass, expected) => {
    expect(playbook('c1', inc, run, mass)).toEqual(expected);
  });

  it('ids are business ids; odd characters are replaced', () => {
    expect(procedureId('c1', 'node_failure', 'n-1')).toBe('c1/procedure/node_failure/n-1');
    expect(procedureId('c1', 'node_failure', 'a/b c')).toBe('c1/procedure/node_failure/a_b_c');
  });
});

describe('mass-failure guard', () => {
  it.each([
    ['one of five', failed('n1'), hosts('n1@a n2@a n3@b n4@b n5@c'), undefined],
    ['two of five', failed('n1 n2'), hosts('n1@a n2@b n3@b n4@c n5@c'), undefined],
    ['three of five', failed('n1 n2 n3'), hosts('n1@a n2@b n3@c n4@a n5@b'), '3 of 5 hosts failed within 60 s'],
    [
      'a whole zone of two',
      failed('n1 n2'),
      hosts('n1@a n2@a n3@b n4@b n5@c n6@c'),
      '2 of 2 hosts of zone a failed within 60 s',
    ],
    ['half a zone is not more than half', failed('n1 n2'), hosts('n1@a n2@a n3@a n4@a n5@b n6@b n7@c n8@c'), undefined],
    ['a lone host that fails is not a mass failure', failed('n1'), hosts('n1@a'), undefined],
    ['old failures do not count', failed('n1 n2 n3', 'a', 120_000), hosts('n1@a n2@b n3@c n4@a n5@b'), undefined],
  ])('%s', (_name, failures, known, why) => {
    expect(massFailure(failures, known, guard, NOW)?.why).toBe(why);
  });

  it('the same node failing twice counts once; pruning forgets the old', () => {
    const f = [...failed('n1'), ...failed('n1', 'a', 500)];
    expect(massFailure(f, hosts('n1@a n2@b n3@c'), guard, NOW)).toBeUndefined();
    expect(pruneFailures([...failed('n1', 'a', 120_000), ...failed('n2')], 60_000, NOW).map((x) => x.nodeId)).toEqual([
      'n2',
    ]);
  });
});

describe('replacement rate limit', () => {
  it.each([
    ['first one at once', undefined, NOW],
    ['10 s after the last: at once', NOW - 10_000, NOW],
    ['4 s after the last: 6 s later', NOW - 4_000, NOW + 6_000],
  ])('%s', (_name, last, expected) => {
    expect(nextReplacementAt(last, 10_000, NOW)).toBe(expected);
  });
});

describe('imbalance trigger', () => {
  it.each([
    ['equal', [0.5, 0.5, 0.5], 1],
    ['one at twice the mean of three', [0.8, 0.2, 0.2], 2],
    ['nothing to compare', [0.9], 1],
    ['idle', [0, 0, 0], 1],
  ])('%s', (_name, loads, expected) => {
    expect(imbalance(loads.map((load, i) => ({ nodeId: `n${i}`, load, capacity: 1 })))).toBeCloseTo(expected, 5);
  });

  it('per unit of capacity', () => {
    expect(
      imbalance([
        { nodeId: 'big', load: 0.8, capacity: 2 },
        { nodeId: 'small', load: 0.4, capacity: 1 },
      ]),
    ).toBeCloseTo(1, 5);
  });

  const series = (values: number[], every = 10_000) =>
    values.map((value, i) => ({ at: NOW - (values.length - 1 - i) * every, value }));
  it.each([
    ['above for the whole window', series([1.5, 1.6, 1.4, 1.5, 1.7, 1.5, 1.6]), true],
    ['one dip below', series([1.5, 1.6, 1.1, 1.5, 1.7, 1.5, 1.6]), false],
    ['too short to span the window', series([1.5, 1.6]), false],
    ['a single sample', series([3]), false],
  ])('%s', (_name, samples, expected) => {
    expect(imbalanceSustained(samples, 1.25, 60_000, NOW)).toBe(expected);
  });
});

describe('goals', () => {
  const goals: Goals = {
    availability: 0.999,
    latencyMs: 100,
    throughputPerSec: 1000,
    resourceEfficiency: 0.8,
    costPerHour: 100,
  };
  it('availability counts host samples per minute, not left hosts', () => {
    let b = sampleAvailability([], ['alive', 'alive', 'left'], NOW);
    b = sampleAvailability(b, ['alive', 'dead'], NOW + 5_000);
    expect(b).toEqual([{ minute: Math.floor(NOW / 60_000), up: 3, total: 4 }]);
    const m = measureGoals(goals, { availability: b, hosts: 2, costPerHostHour: 1 });
    expect(m.find((g) => g.goal === 'availability')).toMatchObject({ measured: 0.75, met: false });
    expect(m.find((g) => g.goal === 'latency')).toMatchObject({ measured: null, met: null });
    expect(m.find((g) => g.goal === 'cost')).toMatchObject({ measured: 2, met: true });
  });
  it('buckets older than an hour are dropped', () => {
    let b = sampleAvailability([], ['dead'], NOW);
    b = sampleAvailability(b, ['alive'], NOW + 61 * 60_000);
    expect(b.map((x) => x.up)).toEqual([1]);
  });
  it('latency, throughput and efficiency against their targets', () => {
    const m = measureGoals(goals, {
      availability: [],
      latencyMs: 120,
      requestRate: 1500,
      cpu: 0.5,
      hosts: 200,
      costPerHostHour: 1,
    });
    expect(Object.fromEntries(m.map((g) => [g.goal, g.met]))).toEqual({
      availability: null,
      latency: false,
      throughput: true,
      'resource efficiency': true,
      cost: false,
    });
  });
});

describe('scale_cluster: hosts to stop', () => {
  const m = (nodeId: string, status: MemberSummary['status'] = 'alive') =>
    ({
      nodeId,
      status,
      health: 'healthy',
      address: '127.0.0.1',
      healthPort: 1,
      zone: 'z',
      incarnation: 1,
    }) as MemberSummary;
  it.each([
    ['the newest first, numbers as numbers', ['node-9', 'node-10', 'node-2'], 1, ['node-10', 'node-9']],
    ['nothing when at or below the target', ['node-1', 'node-2'], 2, []],
    ['nothing when the target is above', ['node-1'], 3, []],
  ])('%s', (_n, ids, target, stop) => {
    expect(
      hostsToStop(
        ids.map((id) => m(id)),
        target,
      ),
    ).toEqual(stop);
  });
  it('counts only alive hosts', () => {
    expect(hostsToStop([m('a-1'), m('a-2', 'dead'), m('a-3', 'left'), m('a-4')], 1)).toEqual(['a-4']);
  });
});
