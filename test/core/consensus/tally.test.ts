import { castBallot, neededAccepts, parseRule, tally, type Ballot, type Rule } from '../../../src/core/consensus/tally';
import { failureDetectorVote, healthMonitorVote, nodeDiscoveryVote } from '../../../src/core/consensus/votes';

const P5 = ['a', 'b', 'c', 'd', 'e'];
const b = (participant: string, vote: Ballot['vote']): Ballot => ({ participant, vote, reason: '', at: 0 });

describe('tally', () => {
  it.each<[Rule, string[], Ballot[], string | undefined, number]>([
    // rule, participants, ballots, result, pending
    ['majority', P5, [], undefined, 5],
    ['majority', P5, [b('a', 'accept'), b('b', 'accept')], undefined, 3],
    ['majority', P5, [b('a', 'accept'), b('b', 'accept'), b('c', 'accept')], 'accepted', 2],
    ['majority', P5, [b('a', 'reject'), b('b', 'reject')], undefined, 3],
    ['majority', P5, [b('a', 'reject'), b('b', 'reject'), b('c', 'reject')], 'rejected', 2],
    // absent participants count against: 3 absent leave 2 that could accept, 3 are needed
    ['majority', P5, [b('a', 'absent'), b('b', 'absent'), b('c', 'absent')], 'rejected', 2],
    ['majority', ['a', 'b', 'c', 'd'], [b('a', 'accept'), b('b', 'accept')], undefined, 2],
    ['majority', ['a', 'b', 'c', 'd'], [b('a', 'accept'), b('b', 'accept'), b('c', 'reject'), b('d', 'reject')], 'rejected', 0],
    ['unanimous', P5, [b('a', 'accept'), b('b', 'accept'), b('c', 'accept'), b('d', 'accept')], undefined, 1],
    ['unanimous', P5, P5.map((p) => b(p, 'accept')), 'accepted', 0],
    ['unanimous', P5, [b('a', 'reject')], 'rejected', 4],
    ['quorum:2', P5, [b('a', 'accept'), b('b', 'accept')], 'accepted', 3],
    ['quorum:4', P5, [b('a', 'reject'), b('b', 'reject')], 'rejected', 3],
    ['quorum:4', P5, [b('a', 'reject')], undefined, 4],
    // ballots of non-participants and second ballots do not count
    ['majority', P5, [b('x', 'accept'), b('y', 'accept'), b('z', 'accept')], undefined, 5],
    ['majority', P5, [b('a', 'accept'), b('a', 'accept'), b('a', 'accept')], undefined, 4],
  ])('%s of %j with %j → %s', (rule, participants, ballots, result, pending) => {
    const t = tally(rule, participants, ballots);
    expect(t.result).toBe(result);
    expect(t.pending).toBe(pending);
  });

  it('needs more than half for a majority', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => neededAccepts('majority', n))).toEqual([1, 2, 2, 3, 3, 4]);
  });
});

describe('parseRule', () => {
  it.each([
    ['majority', 5, true],
    ['unanimous', 1, true],
    ['quorum:3', 5, true],
    ['quorum:6', 5, false],
    ['quorum:0', 5, false],
    ['most', 5, false],
    ['quorum:', 5, false],
  ])('%s of %i → %s', (raw, n, ok) => {
    const r = parseRule(raw, n);
    expect('rule' in r).toBe(ok);
    if (!ok) expect((r as { error: string }).error).toMatch(/quorum|expected/);
  });
});

describe('castBallot', () => {
  it('counts the first ballot of a participant before the decision, and says why the others do not count', () => {
    const ballots: Ballot[] = [];
    expect(castBallot(ballots, P5, false, b('a', 'accept'))).toEqual({ counted: true });
    expect(castBallot(ballots, P5, false, b('a', 'reject'))).toEqual({ counted: false, why: 'duplicate' });
    expect(castBallot(ballots, P5, false, b('q', 'accept'))).toEqual({ counted: false, why: 'not a participant' });
    expect(castBallot(ballots, P5, true, b('b', 'accept'))).toEqual({ counted: false, why: 'late' });
    expect(ballots).toEqual([b('a', 'accept')]);
  });
});

describe('votes', () => {
  const fd = { suspects: { n2: { since: 1, source: 'watch' } }, dead: { n3: { at: 1, reason: 'refused' } } };
  it.each([
    ['node-gone', { nodeId: 'n2' }, 'accept', /watch/],
    ['node-gone', { nodeId: 'n3' }, 'accept', /declared dead: refused/],
    ['node-gone', { nodeId: 'n1' }, 'reject', /neither suspected nor declared dead/],
    ['node-gone', { node: 'n1' }, 'reject', /malformed/],
    ['upgrade', { to: 2 }, 'accept', /no objection/],
  ])('FailureDetector on %s %j → %s', (topic, value, vote, reason) => {
    const d = failureDetectorVote(topic, value, fd);
    expect(d.vote).toBe(vote);
    expect(d.reason).toMatch(reason);
  });

  const members = { n1: { status: 'alive', lastSeen: 900 }, n2: { status: 'dead', lastSeen: 100 } };
  it.each([
    ['node-gone', { nodeId: 'n1' }, 'reject', /alive in the membership, last seen 100 ms ago/],
    ['node-gone', { nodeId: 'n2' }, 'accept', /n2 is dead/],
    ['node-gone', { nodeId: 'n9' }, 'accept', /not a member/],
    ['partition', { fence: ['n1'], keep: ['n2'] }, 'reject', /no host kept serving is alive/],
    ['partition', { fence: ['n2'], keep: ['n1'] }, 'accept', /1 kept host/],
    ['partition', { fence: 'n2' }, 'reject', /malformed/],
  ])('NodeDiscovery on %s %j → %s', (topic, value, vote, reason) => {
    const d = nodeDiscoveryVote(topic, value, members, 1_000);
    expect(d.vote).toBe(vote);
    expect(d.reason).toMatch(reason);
  });

  const nodes = { n1: { health: 'healthy', lastCheckAt: 950 }, n2: { health: 'healthy', lastCheckAt: 100 }, n3: { health: 'unhealthy', lastCheckAt: 990 } };
  it.each([
    [{ nodeId: 'n1' }, 'reject', /passed its checks 50 ms ago/],
    [{ nodeId: 'n2' }, 'accept', /healthy, last checked 900 ms ago/],
    [{ nodeId: 'n3' }, 'accept', /unhealthy/],
    [{ nodeId: 'n4' }, 'accept', /no check/],
  ])('HealthMonitor on node-gone %j → %s', (value, vote, reason) => {
    const d = healthMonitorVote('node-gone', value, nodes, 1_000, 300);
    expect(d.vote).toBe(vote);
    expect(d.reason).toMatch(reason);
  });
});
