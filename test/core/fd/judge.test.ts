import {
  awarenessScaled,
  chooseProbers,
  judge,
  recordProbe,
  refutedByPeers,
  type JudgeParams,
  type Suspicion,
} from '../../../src/core/fd/judge';

const params: JudgeParams = {
  acceptablePauseMs: 3000,
  minStdDevMs: 100,
  phiThreshold: 8,
  suspicion: { minMs: 200, maxMs: 5000 },
  heartbeatIntervalMs: 500,
};

/** Suspect since t = 10 000; its last heartbeat reached the server at 8 500 (a 1.5 s lease). */
function suspect(asked = ['a', 'b', 'c']): Suspicion {
  return {
    nodeId: 'n',
    incarnation: 1,
    bootId: 'boot-1',
    address: '127.0.0.1',
    healthPort: 7000,
    since: 10_000,
    lastArrivalAt: 8_500,
    arrivals: { count: 20, meanMs: 500, stdMs: 20 },
    probes: {},
    asked,
    rounds: 1,
    completedRounds: 0,
  };
}

const probe = (s: Suspicion, observer: string, evidence: 'answered' | 'refused' | 'rebooted' | 'timeout', at: number) =>
  recordProbe(s, { observer, evidence, at, latencyMs: 5 });

describe('judging a suspect', () => {
  it('waits with no evidence, and says when φ will cross the threshold', () => {
    const j = judge(suspect(), 10_000, params);
    expect(j.verdict).toBe('wait');
    expect(j.timeoutMs).toBe(5000);
    // 8 500 + about 4 023 ms (mean 500 + pause 3 000 + 5.2 σ)
    expect(j.recheckAt).toBeGreaterThan(12_500);
    expect(j.recheckAt).toBeLessThan(12_540);
  });

  it('three refused connections confirm at the minimum timeout', () => {
    const s = suspect();
    for (const o of ['a', 'b', 'c']) probe(s, o, 'refused', 10_050);
    expect(judge(s, 10_100, params).verdict).toBe('wait');
    const j = judge(s, 10_200, params);
    expect(j).toMatchObject({ verdict: 'dead', confirmations: ['a', 'b', 'c'], timeoutMs: 200 });
    expect(j.reason).toMatch(/3 of 3 observers confirm \(refused\)/);
  });

  it('one confirmation of three waits longer (2.6 s)', () => {
    const s = suspect();
    const longPause = { ...params, acceptablePauseMs: 10_000 }; // keep φ out of it
    probe(s, 'a', 'refused', 10_050);
    probe(s, 'b', 'timeout', 10_500);
    expect(judge(s, 12_000, longPause).verdict).toBe('wait');
    expect(judge(s, 12_000, longPause).recheckAt).toBe(12_600);
    expect(judge(s, 12_600, longPause).verdict).toBe('dead');
    // with the usual 3 s pause, φ passes first (at about 12 523) and the refusal is the agreeing peer
    expect(judge(s, 12_530, params).verdict).toBe('dead');
  });

  it('another boot answering is as strong as a refused connection', () => {
    const s = suspect(['a']);
    probe(s, 'a', 'rebooted', 10_030);
    expect(judge(s, 10_200, params)).toMatchObject({ verdict: 'dead', confirmations: ['a'] });
  });

  it('one answer refutes: earlier confirmations no longer count and φ starts again', () => {
    const s = suspect();
    probe(s, 'a', 'refused', 10_050);
    probe(s, 'b', 'answered', 10_100);
    const j = judge(s, 13_000, params);
    expect(j.verdict).toBe('wait');
    expect(j.confirmations).toEqual([]);
    expect(j.phi).toBeLessThan(1);
  });

  it('timeouts alone never condemn before φ passes the threshold (a pause shorter than the acceptable one)', () => {
    const s = suspect();
    for (const o of ['a', 'b', 'c']) probe(s, o, 'timeout', 10_600);
    expect(judge(s, 12_000, params).verdict).toBe('wait');
    const j = judge(s, 12_600, params);
    expect(j.verdict).toBe('dead');
    expect(j.reason).toMatch(/φ .* ≥ 8 .* 3 observers agree/);
  });

  it('one peer timing out is not enough: silence needs two observers besides the lease', () => {
    const s = suspect();
    probe(s, 'a', 'timeout', 10_600);
    expect(judge(s, 13_000, params).verdict).toBe('wait'); // φ is past 8 here
    probe(s, 'b', 'timeout', 13_100);
    expect(judge(s, 13_100, params).verdict).toBe('dead');
  });

  it('awareness stretches every timeout by (score + 1)', () => {
    const scaled = awarenessScaled(params, 2);
    expect(scaled.acceptablePauseMs).toBe(9_000);
    expect(scaled.suspicion).toEqual({ minMs: 600, maxMs: 15_000 });
    const s = suspect();
    for (const o of ['a', 'b', 'c']) probe(s, o, 'timeout', 10_600);
    expect(judge(s, 12_600, params).verdict).toBe('dead');
    expect(judge(s, 12_600, scaled).verdict).toBe('wait');
    expect(judge(s, 19_000, scaled).verdict).toBe('dead');
  });

  it('the lease alone (no peer has reported) does not condemn while peers are being asked', () => {
    const s = suspect();
    expect(judge(s, 14_000, params).verdict).toBe('wait');
    expect(judge(s, 30_000, params).verdict).toBe('wait'); // a starved cluster stays suspicious
    // ...only after ten maximum suspicion timeouts with no answer at all does φ decide alone
    expect(judge(s, 59_999, params).verdict).toBe('wait');
    expect(judge(s, 60_000, params).verdict).toBe('dead');
  });

  it('with nobody to ask, φ alone decides', () => {
    const s = suspect([]);
    expect(judge(s, 12_000, params).verdict).toBe('wait');
    expect(judge(s, 12_600, params)).toMatchObject({ verdict: 'dead' });
  });

  it('evidence older than the suspicion does not count', () => {
    const s = suspect();
    probe(s, 'a', 'refused', 9_000);
    expect(judge(s, 10_500, params).confirmations).toEqual([]);
  });
});

describe('choosing probers', () => {
  const peers = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];
  it('picks k peers, never the suspect, deterministically', () => {
    const a = chooseProbers(peers, 'n3', 3, 1);
    expect(a).toHaveLength(3);
    expect(a).not.toContain('n3');
    expect(chooseProbers(peers, 'n3', 3, 1)).toEqual(a);
  });
  it('rotates across rounds so that every peer gets asked', () => {
    const seen = new Set<string>();
    for (let r = 0; r < 20; r++) for (const p of chooseProbers(peers, 'n3', 3, r)) seen.add(p);
    expect([...seen].sort()).toEqual(['n1', 'n2', 'n4', 'n5', 'n6']);
  });
  it('asks as many as there are when fewer than k', () => {
    expect(chooseProbers(['n1', 'n2'], 'n1', 3, 0)).toEqual(['n2']);
  });
});

describe("a suspicion raised by a peer's broken watch", () => {
  /** Raised at 10 000 by observer w's report (refused on reconnect); the lease still held. */
  function watched(asked = ['a', 'b', 'c']) {
    const s = {
      ...suspect(asked),
      lastArrivalAt: 10_000,
      arrivals: { count: 0, meanMs: 0, stdMs: 0 },
      source: 'watch' as const,
    };
    probe(s, 'w', 'refused', 10_000);
    return s;
  }

  it('the watcher alone condemns no one: one confirmation of three waits the long timeout', () => {
    const s = watched();
    const j = judge(s, 10_300, params);
    expect(j.verdict).toBe('wait');
    expect(j.timeoutMs).toBeGreaterThan(2_000);
  });

  it('three observers that find the port closed (the watch and two probers) decide at once', () => {
    const s = watched();
    probe(s, 'a', 'refused', 10_040);
    expect(refutedByPeers(s)).toBeUndefined();
    // the watch and one prober: a shortened wait, not none
    expect(judge(s, 10_041, params)).toMatchObject({ verdict: 'wait' });
    probe(s, 'b', 'refused', 10_045);
    expect(judge(s, 10_045, params)).toMatchObject({
      verdict: 'dead',
      reason: '3 of 3 observers confirm (refused) after 45 ms suspect',
    });
    probe(s, 'c', 'refused', 10_046);
    expect(judge(s, 10_046, params).reason).toBe(
      "4 observers confirm (refused) after 46 ms suspect: 3 asked and a peer's watch",
    );
    // a lease suspicion with the same evidence still gives the suspect the minimum time to refute
    expect(judge({ ...s, source: 'lease' } as Suspicion, 10_046, params).verdict).toBe('wait');
  });

  it.each([
    ['two of three answer from the same boot', ['answered', 'answered', undefined], '2 peers reached the same boot'],
    ['all three answer', ['answered', 'answered', 'answered'], '3 peers reached the same boot'],
    ['another boot answers: restarted', ['rebooted', undefined, undefined], 'another boot answers: the host restarted'],
    ['one answer is not enough', ['answered', 'timeout', undefined], undefined],
    ['a refusal after the answers stands', ['answered', 'answered', 'refused-late'], undefined],
  ] as const)('%s → %s', (_name, results, expected) => {
    const s = watched();
    results.forEach((r, i) => {
      if (r === undefined) return;
      const at = r === 'refused-late' ? 10_090 : 10_050 + i;
      probe(s, ['a', 'b', 'c'][i] as string, r === 'refused-late' ? 'refused' : r, at);
    });
    expect(refutedByPeers(s)).toBe(expected);
  });

  it('with one peer asked, its answer is enough; a lease suspicion is never refuted by probes', () => {
    const s = watched(['a']);
    probe(s, 'a', 'answered', 10_050);
    expect(refutedByPeers(s)).toBe('1 peers reached the same boot');
    expect(refutedByPeers({ ...s, source: 'lease' })).toBeUndefined();
    expect(refutedByPeers({ ...s, source: undefined })).toBeUndefined();
  });
});
