import type { ConnectivityResult, Candidate } from '../../src/contracts/node-discovery';
import {
  applyAnnounce,
  applyCheck,
  applyHealthChange,
  applyLeave,
  emptyMembership,
  knownCandidates,
  mergeCandidates,
  recordConnectivity,
  topologyOf,
  type MembershipPolicy,
} from '../../src/core/membership';

const policy: MembershipPolicy = {
  clusterId: 'c1',
  suspectAfterFailedChecks: 1,
  deadAfterFailedChecks: 3,
  historySize: 5,
};

const ok = (nodeId: string, extra: Partial<ConnectivityResult> = {}): ConnectivityResult => ({
  address: '127.0.0.1',
  healthPort: Number(nodeId.replace(/\D/g, '')) + 7000,
  ok: true,
  observer: 'obs',
  latencyMs: 1,
  httpStatus: 200,
  nodeId,
  clusterId: 'c1',
  zone: 'z',
  bootId: `${nodeId}-boot1`,
  ...extra,
});
const fail = (nodeId: string): ConnectivityResult => ({
  address: '127.0.0.1',
  healthPort: Number(nodeId.replace(/\D/g, '')) + 7000,
  ok: false,
  observer: 'obs',
  latencyMs: 1000,
  error: 'ECONNREFUSED',
});

describe('mergeCandidates', () => {
  const c = (address: string, healthPort: number, sources: Candidate['sources'], nodeId?: string): Candidate => ({
    address,
    healthPort,
    sources,
    ...(nodeId ? { nodeId } : {}),
  });
  it.each<[string, Candidate[][], Candidate[]]>([
    ['no strategies', [], []],
    ['one empty list', [[]], []],
    [
      'disjoint lists',
      [[c('10.0.0.2', 1, ['dns'])], [c('10.0.0.1', 1, ['static'])]],
      [c('10.0.0.1', 1, ['static']), c('10.0.0.2', 1, ['dns'])],
    ],
    [
      'same endpoint from two strategies: one candidate, union of sources',
      [[c('10.0.0.1', 1, ['dns'])], [c('10.0.0.1', 1, ['multicast'], 'n1')]],
      [c('10.0.0.1', 1, ['dns', 'multicast'], 'n1')],
    ],
    [
      'same address, other port: two candidates',
      [[c('10.0.0.1', 1, ['dns']), c('10.0.0.1', 2, ['dns'])]],
      [c('10.0.0.1', 1, ['dns']), c('10.0.0.1', 2, ['dns'])],
    ],
    ['duplicate source is kept once', [[c('a', 1, ['static'])], [c('a', 1, ['static'])]], [c('a', 1, ['static'])]],
    [
      'first node id wins',
      [[c('a', 1, ['registry'], 'n1')], [c('a', 1, ['multicast'], 'n2')]],
      [c('a', 1, ['registry', 'multicast'], 'n1')],
    ],
  ])('%s', (_name, lists, expected) => {
    expect(mergeCandidates(lists)).toEqual(expected);
  });

  it('does not alias its inputs', () => {
    const input = [c('a', 1, ['dns'])];
    const [out] = mergeCandidates([input, [c('a', 1, ['static'])]]);
    expect(input[0]?.sources).toEqual(['dns']);
    expect(out?.sources).toEqual(['dns', 'static']);
  });
});

describe('topology changes', () => {
  type Step =
    | ['check', ConnectivityResult]
    | ['leave', { nodeId: string; bootId?: string }]
    | [
        'health',
        {
          nodeId: string;
          status?: 'alive' | 'suspect' | 'dead' | 'left';
          health?: 'healthy' | 'degraded' | 'unhealthy' | 'unknown';
          observer?: string;
        },
      ];
  const cases: [string, Step[], { status?: string; health?: string; incarnation?: number; kinds: string[] }][] = [
    [
      'a successful check adds an alive member',
      [['check', ok('n1')]],
      { status: 'alive', incarnation: 1, kinds: ['joined'] },
    ],
    [
      'a repeated check changes nothing',
      [
        ['check', ok('n1')],
        ['check', ok('n1')],
      ],
      { status: 'alive', kinds: ['joined'] },
    ],
    [
      'one failed check makes it suspect',
      [
        ['check', ok('n1')],
        ['check', fail('n1')],
      ],
      { status: 'suspect', kinds: ['joined', 'suspect'] },
    ],
    [
      'three failed checks make it dead',
      [
        ['check', ok('n1')],
        ['check', fail('n1')],
        ['check', fail('n1')],
        ['check', fail('n1')],
      ],
      { status: 'dead', kinds: ['joined', 'suspect', 'dead'] },
    ],
    [
      'a suspect that answers recovers with a new incarnation',
      [
        ['check', ok('n1')],
        ['check', fail('n1')],
        ['check', ok('n1')],
      ],
      { status: 'alive', incarnation: 2, kinds: ['joined', 'suspect', 'recovered'] },
    ],
    [
      'a dead node that answers rejoins',
      [
        ['check', ok('n1')],
        ['check', fail('n1')],
        ['check', fail('n1')],
        ['check', fail('n1')],
        ['check', ok('n1')],
      ],
      { status: 'alive', incarnation: 2, kinds: ['joined', 'suspect', 'dead', 'rejoined'] },
    ],
    ['a failed check of an unknown endpoint is nothing', [['check', fail('n9')]], { kinds: [] }],
    [
      'leave',
      [
        ['check', ok('n1')],
        ['leave', { nodeId: 'n1', bootId: 'n1-boot1' }],
      ],
      { status: 'left', kinds: ['joined', 'left'] },
    ],
    [
      'leave of an older process is ignored',
      [
        ['check', ok('n1', { bootId: 'b2' })],
        ['leave', { nodeId: 'n1', bootId: 'b1' }],
      ],
      { status: 'alive', kinds: ['joined'] },
    ],
    [
      'a late check of the process that left does not revive it',
      [
        ['check', ok('n1')],
        ['leave', { nodeId: 'n1' }],
        ['check', ok('n1')],
      ],
      { status: 'left', kinds: ['joined', 'left'] },
    ],
    [
      'a new process after leave rejoins',
      [
        ['check', ok('n1')],
        ['leave', { nodeId: 'n1' }],
        ['check', ok('n1', { bootId: 'b2' })],
      ],
      { status: 'alive', incarnation: 2, kinds: ['joined', 'left', 'rejoined'] },
    ],
    [
      'a restart while alive bumps the incarnation',
      [
        ['check', ok('n1')],
        ['check', ok('n1', { bootId: 'b2' })],
      ],
      { status: 'alive', incarnation: 2, kinds: ['joined', 'restarted'] },
    ],
    [
      'HTTP 503 makes it unhealthy',
      [
        ['check', ok('n1')],
        ['check', ok('n1', { httpStatus: 503 })],
      ],
      { status: 'alive', health: 'unhealthy', kinds: ['joined', 'health'] },
    ],
    ['another cluster is ignored', [['check', ok('n1', { clusterId: 'other' })]], { kinds: [] }],
    [
      'a verdict from the failure detector',
      [
        ['check', ok('n1')],
        ['health', { nodeId: 'n1', status: 'dead' }],
      ],
      { status: 'dead', kinds: ['joined', 'dead'] },
    ],
    [
      'a health verdict only',
      [
        ['check', ok('n1')],
        ['health', { nodeId: 'n1', health: 'degraded' }],
      ],
      { status: 'alive', health: 'degraded', kinds: ['joined', 'health'] },
    ],
    ['a verdict about an unknown node is nothing', [['health', { nodeId: 'nx', status: 'dead' }]], { kinds: [] }],
  ];
  it.each(cases)('%s', (_name, steps, expected) => {
    const state = emptyMembership(0);
    steps.forEach(([kind, arg], i) => {
      const now = 1_000 * (i + 1);
      if (kind === 'check') applyCheck(state, policy, arg, ['registry'], now);
      else if (kind === 'leave') applyLeave(state, policy, arg, now);
      else applyHealthChange(state, policy, arg, now);
    });
    expect(state.history.map((c) => c.kind)).toEqual(expected.kinds);
    // Invariant 3: one version per change.
    expect(state.version).toBe(expected.kinds.length);
    expect(state.history.map((c) => c.version)).toEqual(expected.kinds.map((_, i) => i + 1));
    const m = Object.values(state.members)[0];
    if (expected.status) expect(m?.status).toBe(expected.status);
    if (expected.health) expect(m?.health).toBe(expected.health);
    if (expected.incarnation) expect(m?.incarnation).toBe(expected.incarnation);
  });

  // With a health authority (the HealthMonitor), its health verdict outranks this agent's own
  // health-endpoint check and other observers' reports, across incarnations, until its next one.
  // Without one (runs recorded before), the last check or report wins.
  const HM = { observer: 'health-monitor' };
  const authority: MembershipPolicy = { ...policy, historySize: 20, healthAuthority: 'health-monitor' };
  it.each<[string, MembershipPolicy, Step[], { health: string; incarnation: number; kinds: string[] }]>([
    [
      'quarantined (unhealthy): a passing check does not make it healthy',
      authority,
      [
        ['check', ok('n1')],
        ['health', { nodeId: 'n1', health: 'unhealthy', ...HM }],
        ['check', ok('n1')],
      ],
      { health: 'unhealthy', incarnation: 1, kinds: ['joined', 'health'] },
    ],
    [
      'quarantined across a refuted lease (suspect, alive as incarnation + 1) and a passing check',
      authority,
      [
        ['check', ok('n1')],
        ['health', { nodeId: 'n1', health: 'unhealthy', ...HM }],
        ['health', { nodeId: 'n1', status: 'suspect', observer: 'node/n1' }],
        ['health', { nodeId: 'n1', status: 'alive', observer: 'node/n1' }],
        ['check', ok('n1')],
      ],
      { health: 'unhealthy', incarnation: 2, kinds: ['joined', 'health', 'suspect', 'recovered'] },
    ],
    [
      "the host's self-report does not override the monitor's verdict",
      authority,
      [
        ['check', ok('n1')],
        ['health', { nodeId: 'n1', health: 'unhealthy', ...HM }],
        ['health', { nodeId: 'n1', health: 'healthy', observer: 'node/n1' }],
      ],
      { health: 'unhealthy', incarnation: 1, kinds: ['joined', 'health'] },
    ],
    [
      'released: the monitor says healthy, and a failing endpoint still waits for its verdict',
      authority,
      [
        ['check', ok('n1')],
        ['health', { nodeId: 'n1', health: 'unhealthy', ...HM }],
        ['health', { nodeId: 'n1', health: 'healthy', ...HM }],
        ['check', ok('n1', { httpStatus: 503 })],
      ],
      { health: 'healthy', incarnation: 1, kinds: ['joined', 'health', 'health'] },
    ],
    [
      'no verdict yet: the own check and self-reports set health',
      authority,
      [
        ['check', ok('n1')],
        ['check', ok('n1', { httpStatus: 503 })],
        ['health', { nodeId: 'n1', health: 'degraded', observer: 'node/n1' }],
      ],
      { health: 'degraded', incarnation: 1, kinds: ['joined', 'health', 'health'] },
    ],
    [
      'recorded runs (no authority): the last check wins',
      policy,
      [
        ['check', ok('n1')],
        ['health', { nodeId: 'n1', health: 'unhealthy', ...HM }],
        ['check', ok('n1')],
      ],
      { health: 'healthy', incarnation: 1, kinds: ['joined', 'health', 'health'] },
    ],
  ])('health authority: %s', (_name, pol, steps, expected) => {
    const state = emptyMembership(0);
    steps.forEach(([kind, arg], i) => {
      const now = 1_000 * (i + 1);
      if (kind === 'check') applyCheck(state, pol, arg, ['registry'], now);
      else if (kind === 'leave') applyLeave(state, pol, arg, now);
      else applyHealthChange(state, pol, arg, now);
    });
    expect(state.history.map((c) => c.kind)).toEqual(expected.kinds);
    expect(state.members['n1']).toMatchObject({ health: expected.health, incarnation: expected.incarnation });
  });

  it('keeps only the last historySize changes', () => {
    const state = emptyMembership(0);
    for (let i = 1; i <= 8; i++) applyCheck(state, policy, ok(`n${i}`), ['static'], i);
    expect(state.history.map((c) => c.nodeId)).toEqual(['n4', 'n5', 'n6', 'n7', 'n8']);
    expect(state.version).toBe(8);
  });

  it('registry: an announcement is a candidate, a leave removes it', () => {
    const state = emptyMembership(0);
    applyAnnounce(state, {
      nodeId: 'n1',
      address: '127.0.0.1',
      healthPort: 7001,
      zone: 'z',
      bootId: 'b1',
      startedAt: 0,
      services: {},
    });
    expect(knownCandidates(state)).toEqual([
      { address: '127.0.0.1', healthPort: 7001, sources: ['registry'], nodeId: 'n1' },
    ]);
    applyLeave(state, policy, { nodeId: 'n1', bootId: 'b1' }, 1);
    expect(knownCandidates(state)).toEqual([]);
  });

  it('topology counts statuses, lists alive nodes per zone and keeps the connectivity matrix', () => {
    const state = emptyMembership(0);
    applyCheck(state, policy, ok('n1', { zone: 'a' }), ['static'], 1);
    applyCheck(state, policy, ok('n2', { zone: 'b' }), ['static'], 1);
    applyCheck(state, policy, ok('n3', { zone: 'a' }), ['static'], 1);
    applyCheck(state, policy, fail('n2'), ['static'], 2);
    recordConnectivity(state, [ok('n1'), fail('n2')], 3);
    const t = topologyOf(state);
    expect(t.counts).toEqual({ alive: 2, suspect: 1, dead: 0, left: 0 });
    expect(t.zones).toEqual({ a: ['n1', 'n3'] });
    expect(t.connectivity.obs).toEqual({
      n1: { ok: true, latencyMs: 1, at: 3 },
      n2: { ok: false, latencyMs: 1000, at: 3 },
    });
  });
});
