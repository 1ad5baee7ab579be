/** The host lease as an activity unit (MockActivityEnvironment): what a term's vitals samples carry. */
import { MockActivityEnvironment } from '@temporalio/testing';
import { holdLease } from '../../src/activities/lease';
import type { LeaseTerm } from '../../src/contracts/node-agent';
import type { Vitals } from '../../src/workers/vitals';

function vitalsWithLag(lagAt: (beat: number) => number) {
  let beat = 0;
  return (): Vitals => {
    const lag = lagAt(beat++);
    return {
      cpu: 0.1,
      cpuSource: 'machine',
      memory: 0.2,
      memoryUsedBytes: 1,
      memoryTotalBytes: 5,
      processRssBytes: 1,
      load: [0.1, 0.1, 0.1],
      cores: 2,
      eventLoopLagMs: { mean: lag / 2, p99: lag },
      sampledAt: Date.now(),
    };
  };
}

describe('holdLease vitals samples', () => {
  it("a sample carries the event loop's worst second since the previous sample (a stall between samples is not lost)", async () => {
    // 10 beats of 50 ms, 2 samples per term (one every 250 ms): the stall is on beat 2, between samples.
    const env = new MockActivityEnvironment();
    const term: LeaseTerm = await env.run(
      holdLease,
      { bootId: 'b', vitals: vitalsWithLag((b) => (b === 2 ? 900 : 3)) },
      {
        heartbeatMs: 50,
        termMs: 500,
        samplesPerTerm: 2,
      },
    );
    const lags = term.vitals.map((v) => v.lagP99Ms);
    expect(lags.length).toBeGreaterThanOrEqual(2);
    expect(lags).toContain(900);
    // and the next sample starts over: the stall is counted once
    expect(lags.filter((l) => l === 900)).toHaveLength(1);
  });
});
