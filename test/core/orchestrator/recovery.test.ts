import type { MemberSummary } from '../../../src/contracts/common';
import { recoveryOf, type RecoveryClaim } from '../../../src/workflows/procedures/node-failure';

const m = (nodeId: string, status = 'alive', incarnation = 1, health = 'healthy'): MemberSummary =>
  ({ nodeId, status, health, address: '127.0.0.1', healthPort: 1, zone: 'a', incarnation }) as MemberSummary;
const before = new Set(['n-1', 'n-2', 'n-3']);

describe('node_failure recovery criteria: whose recovery counts', () => {
  const cases: [string, MemberSummary[], RecoveryClaim, string | undefined][] = [
    ['nothing new: not recovered', [m('n-1'), m('n-2', 'dead')], { only: 'any' }, undefined],
    [
      'the node back as a new incarnation',
      [m('n-2', 'alive', 2)],
      { only: 'node' },
      'node back: n-2 alive as incarnation 2',
    ],
    ['the same incarnation alive is no recovery', [m('n-2', 'alive', 1)], { only: 'any' }, undefined],
    [
      'any new serving host (no hook named one)',
      [m('n-2', 'dead'), m('n-9')],
      { only: 'any' },
      'replacement alive: n-9 (healthy)',
    ],
    ['a new host that is unhealthy does not count', [m('n-9', 'alive', 1, 'unhealthy')], { only: 'any' }, undefined],
    [
      'the hook named n-9: another procedure’s n-8 is not ours',
      [m('n-8')],
      { only: 'named', nodeId: 'n-9' },
      undefined,
    ],
    [
      'the hook named n-9 and it is alive',
      [m('n-8'), m('n-9')],
      { only: 'named', nodeId: 'n-9' },
      'replacement alive: n-9 (healthy)',
    ],
    ['escalated (mass failure): only the node itself', [m('n-8'), m('n-9')], { only: 'node' }, undefined],
  ];
  it.each(cases)('%s', (_name, members, claim, expected) => {
    expect(recoveryOf(members, 'n-2', 1, before, claim)).toBe(expected);
  });
});
