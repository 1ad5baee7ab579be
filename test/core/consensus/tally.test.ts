import { castBallot, neededAccepts, parseRule, tally, type Ballot, type Rule } from '../../../src/core/consensus/tally';
import { failureDetectorVote, healthMonitorVote, loadBalancerVote, nodeDiscoveryVote } from '../../../src/core/consensus/votes';

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

  const now = 100_000;
  const qNodes = {
    n1: { health: 'healthy', lastCheckAt: now - 50 },
    n2: { health: 'degraded', lastCheckAt: now - 50 },
    n3: { health: 'unhealthy', lastCheckAt: now - 50 },
    n4: { health: 'healthy', lastCheckAt: now - 5_000 },
    n5: { health: 'healthy', lastCheckAt: now - 50 },
    n6: { health: 'healthy', lastCheckAt: now - 50 },
  };
  const qAlerts = [
    { nodeId: 'n5', at: now - 59_000, kind: 'disk.smart', severity: 'critical' },
    { nodeId: 'n6', at: now - 61_000, kind: 'disk.smart', severity: 'critical' },
  ];
  it.each([
    [{ nodeId: 'n1' }, 'reject', /passed its checks 50 ms ago \(healthy\) and raised no alert here/],
    [{ nodeId: 'n2' }, 'reject', /\(degraded\) and raised no alert here/],
    [{ nodeId: 'n3' }, 'accept', /n3 is unhealthy/],
    [{ nodeId: 'n4' }, 'accept', /last checked 5000 ms ago/],
    [{ nodeId: 'n5' }, 'accept', /critical disk.smart alert on n5 here 59000 ms ago/],
    // An alert older than a minute no longer counts.
    [{ nodeId: 'n6' }, 'reject', /passed its checks/],
    [{ nodeId: 'n7' }, 'accept', /no check of n7 here/],
    [{ node: 'n1' }, 'reject', /malformed quarantine proposal/],
  ])('HealthMonitor on quarantine %j → %s', (value, vote, reason) => {
    const d = healthMonitorVote('quarantine', value, qNodes, now, 1_200, qAlerts);
    expect(d.vote).toBe(vote);
    expect(d.reason).toMatch(reason);
  });

  const p = { factor: 2, minRequestsPerSecond: 100, baselineWindows: 2 };
  it.each([
    ['surge', undefined, 'accept', /no traffic baseline here/],
    ['surge', { rate: 500, baseline: 20, windows: 1 }, 'accept', /no traffic baseline here/],
    ['surge', { rate: 500, baseline: 20, windows: 3 }, 'accept', /rate here 500\/s past 100\/s/],
    ['surge', { rate: 90, baseline: 20, windows: 3 }, 'reject', /rate here 90\/s within 100\/s .*no surge seen/],
    ['surge', { rate: 300, baseline: 200, windows: 3 }, 'reject', /within 400\/s/],
    ['node-gone', { rate: 1, baseline: 1, windows: 3 }, 'accept', /no view on node-gone/],
  ])('LoadBalancer on %s with %j → %s', (topic, traffic, vote, reason) => {
    const d = loadBalancerVote(topic, traffic, p);
    expect(d.vote).toBe(vote);
    expect(d.reason).toMatch(reason);
  });
});
