import { watchTargets, watchersOf, type WatchCandidate } from '../../../src/core/fd/watch-ring';

const m = (nodeId: string, status: WatchCandidate['status'] = 'alive'): WatchCandidate => ({
  nodeId,
  status,
  address: '127.0.0.1',
  healthPort: 7000,
});
const ids = (xs: WatchCandidate[]) => xs.map((x) => x.nodeId);

describe('who watches whom', () => {
  const five = ['n1', 'n2', 'n3', 'n4', 'n5'].map((id) => m(id));

  it.each([
    ['n1', ['n2', 'n3', 'n4']],
    ['n3', ['n4', 'n5', 'n1']],
    ['n5', ['n1', 'n2', 'n3']],
    // not (yet) a member: the hosts that would follow it
    ['n0', ['n1', 'n2', 'n3']],
    ['n35', ['n4', 'n5', 'n1']],
    ['z9', ['n1', 'n2', 'n3']],
  ])('%s watches the next three of the ring: %j', (self, expected) => {
    expect(ids(watchTargets(five, self, 3))).toEqual(expected);
  });

  it('every host is watched by exactly k others when the ring is larger than k', () => {
    for (const k of [1, 2, 3, 4]) for (const x of five) expect(watchersOf(five, x.nodeId, k)).toHaveLength(k);
  });

  it('the order members come in does not matter', () => {
    expect(ids(watchTargets([...five].reverse(), 'n2', 3))).toEqual(ids(watchTargets(five, 'n2', 3)));
  });

  it('a ring of k or fewer others: every other host', () => {
    expect(ids(watchTargets(five.slice(0, 3), 'n2', 3))).toEqual(['n1', 'n3']);
    expect(ids(watchTargets([m('n1')], 'n1', 3))).toEqual([]);
  });

  it('dead and left hosts are out of the ring, suspects stay (a watch may confirm them)', () => {
    const members = [m('n1'), m('n2', 'dead'), m('n3', 'suspect'), m('n4', 'left'), m('n5'), m('n6')];
    expect(ids(watchTargets(members, 'n1', 3))).toEqual(['n3', 'n5', 'n6']);
    expect(watchersOf(members, 'n2', 3)).toEqual([]);
  });

  it('k = 0 turns watching off', () => {
    expect(watchTargets(five, 'n1', 0)).toEqual([]);
  });
});
