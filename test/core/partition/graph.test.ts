import { fallbackSide } from '../../../src/core/partition/decide';
import {
  chooseSide,
  parseStrategy,
  partitionOf,
  type HostView,
  type Strategy,
} from '../../../src/core/partition/graph';

const H5 = ['n1', 'n2', 'n3', 'n4', 'n5'];

/** Views where each host reaches the hosts of its own group(s). */
function views(hosts: string[], reach: (a: string, b: string) => boolean): Record<string, HostView> {
  const out: Record<string, HostView> = {};
  for (const a of hosts) out[a] = { reachable: hosts.filter((b) => b !== a && reach(a, b)), at: 0 };
  return out;
}
const sideOf = (groupsOf: string[][]) => (a: string, b: string) => groupsOf.some((g) => g.includes(a) && g.includes(b));

describe('partitionOf (Jepsen shapes)', () => {
  it.each<[string, (a: string, b: string) => boolean, string[][], string[]]>([
    ['whole', () => true, [H5], []],
    ['isolate one host', sideOf([['n1', 'n2', 'n3', 'n4'], ['n5']]), [['n1', 'n2', 'n3', 'n4'], ['n5']], []],
    ['halves', sideOf([['n1', 'n2'], ['n3', 'n4', 'n5']]), [['n3', 'n4', 'n5'], ['n1', 'n2']], []],
    // n3 sees both halves, which cannot see each other: it serves with one of them (the lower ids
    // stay when the halves are equal); the other half is reached through n3 only.
    ['bridge', sideOf([['n1', 'n2', 'n3'], ['n3', 'n4', 'n5']]), [['n1', 'n2', 'n3']], ['n4', 'n5']],
    // Majorities ring: each host sees only its two neighbours (n1: n5 and n2).
    [
      'majorities ring',
      (a, b) => {
        const i = H5.indexOf(a);
        const j = H5.indexOf(b);
        const d = Math.min((i - j + 5) % 5, (j - i + 5) % 5);
        return d === 1;
      },
      // Every host misses two links; removing the highest ids first leaves a connected pair.
      [['n1', 'n2']],
      ['n3', 'n4', 'n5'],
    ],
    // One-way: n5 does not reach n1 (n1 reaches n5): the link is not mutual.
    ['one-way link', (a, b) => !(a === 'n5' && b === 'n1'), [['n1', 'n2', 'n3', 'n4']], ['n5']],
  ])('%s', (_name, reach, sides, indirect) => {
    const p = partitionOf(H5, views(H5, reach));
    expect(p.sides).toEqual(sides);
    expect(p.indirect).toEqual(indirect);
    expect(p.whole).toBe(sides.length === 1 && sides[0]!.length === 5);
  });

  // Two ends that disagree about their link: the newer observation (the round that began later) says.
  it.each<[string, number, number, boolean]>([
    ['a heal seen from n2 first (n1 still says cut, from before)', 100, 200, true],
    ['a cut seen from n1 first (n2 still says reached, from before)', 200, 100, false],
    ['both at the same time: the mutual rule, not linked', 100, 100, false],
  ])('%s', (_name, atN1, atN2, whole) => {
    const v = views(['n1', 'n2', 'n3'], () => true);
    v.n1 = { reachable: ['n3'], at: atN1 };
    v.n2 = { reachable: ['n1', 'n3'], at: atN2 };
    expect(partitionOf(['n1', 'n2', 'n3'], v).whole).toBe(whole);
  });

  it('treats a host that did not report as reaching nobody', () => {
    const v = views(H5, () => true);
    delete v.n4;
    const p = partitionOf(H5, v);
    expect(p.sides).toEqual([['n1', 'n2', 'n3', 'n5'], ['n4']]);
  });
});

describe('chooseSide', () => {
  const halves = partitionOf(H5, views(H5, sideOf([['n1', 'n2'], ['n3', 'n4', 'n5']])));
  const four = ['n1', 'n2', 'n3', 'n4'];
  const tie = partitionOf(four, views(four, sideOf([['n1', 'n2'], ['n3', 'n4']])));
  const tieHigh = partitionOf(four, views(four, sideOf([['n1', 'n3'], ['n2', 'n4']])));
  const bridge = partitionOf(H5, views(H5, sideOf([['n1', 'n2', 'n3'], ['n3', 'n4', 'n5']])));
  const ring = partitionOf(
    H5,
    views(H5, (a, b) => [1, 4].includes((H5.indexOf(a) - H5.indexOf(b) + 5) % 5)),
  );
  it.each<[string, ReturnType<typeof partitionOf>, Strategy, string[] | undefined, string[]]>([
    ['majority keeps the 3', halves, 'keep-majority', ['n3', 'n4', 'n5'], ['n1', 'n2']],
    ['a tie keeps the side of the lowest id', tie, 'keep-majority', ['n1', 'n2'], ['n3', 'n4']],
    ['a tie keeps the side of the lowest id (mixed)', tieHigh, 'keep-majority', ['n1', 'n3'], ['n2', 'n4']],
    ['bridge: its side holds 3 of 5', bridge, 'keep-majority', ['n1', 'n2', 'n3'], ['n4', 'n5']],
    ['majorities ring: 2 of 5 is no majority', ring, 'keep-majority', undefined, []],
    ['static quorum met by one side', halves, 'static-quorum:3', ['n3', 'n4', 'n5'], ['n1', 'n2']],
    ['static quorum met by none', halves, 'static-quorum:4', undefined, []],
    ['static quorum met by two sides: no decision', halves, 'static-quorum:2', undefined, []],
    ['referee n1 keeps its side', halves, 'keep-referee:n1', ['n1', 'n2'], ['n3', 'n4', 'n5']],
    ['referee on no side (indirectly connected)', bridge, 'keep-referee:n4', undefined, []],
    ['keep-oldest', halves, 'keep-oldest', ['n1', 'n2'], ['n3', 'n4', 'n5']],
  ])('%s', (_name, p, strategy, keep, fence) => {
    const d = chooseSide(p, strategy, { n1: 10, n2: 20, n3: 30, n4: 40, n5: 50 });
    expect(d?.keep).toEqual(keep);
    if (keep) expect(d?.fence).toEqual(fence);
  });

  it('keep-oldest follows join times, not ids', () => {
    expect(chooseSide(halves, 'keep-oldest', { n1: 50, n2: 40, n3: 30, n4: 5, n5: 10 })?.keep).toEqual(['n3', 'n4', 'n5']);
  });

  it('falls back to the strict majority or to fencing everyone, never two sides', () => {
    expect(fallbackSide(halves)).toMatchObject({ keep: ['n3', 'n4', 'n5'], fence: ['n1', 'n2'] });
    expect(fallbackSide(ring)).toEqual({
      fence: H5,
      reason: expect.stringMatching(/no fully connected strict majority: every host is fenced/),
    });
    // A strict majority that holds none of the hosts that served does not take over.
    expect(fallbackSide(halves, 'keep-majority', ['n1'])).toMatchObject({ fence: H5, escalate: expect.any(String) });
  });
});

describe('parseStrategy', () => {
  it.each([
    ['keep-majority', true],
    ['static-quorum:3', true],
    ['keep-oldest', true],
    ['keep-referee:node-1', true],
    ['static-quorum:0', false],
    ['keep-referee:', false],
    ['majority', false],
  ])('%s → %s', (raw, ok) => {
    const r = parseStrategy(raw);
    expect('strategy' in r).toBe(ok);
  });
});
