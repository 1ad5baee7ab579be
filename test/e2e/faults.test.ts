/**
 * The fault suite's short form (`npm run bench -- faults` is the long one): its own Temporal dev
 * server on a SQLite file, three host worker processes, and four faults — the server SIGKILLed and
 * started again on the same file, the sticky host SIGKILLed twice while heartbeats stream in,
 * a flood of 300 signals (one in flight), and 1,000 garbage payloads from the raw client to every signal and
 * update of every agent (then bytes no converter decodes). The churn soak is left to the bench.
 * Each fault is one test; a failing check names what it saw and the workflow events behind it.
 */
import '../support/temporal'; // quiet SDK logs
import { DEFAULT_FAULT_OPTIONS, printFaults, runFaults, type FaultReport } from '../../bench/faults';

let reports: FaultReport[] = [];

beforeAll(async () => {
  reports = await runFaults({
    ...DEFAULT_FAULT_OPTIONS,
    kills: 2,
    // One signal in flight (≈20/s, the tens per second one workflow takes): every one counted, the
    // history handed over by continue-as-new. Faster floods are the bench's (see its table).
    flood: 300,
    floodConcurrency: 1,
    garbage: 1_000,
    soakMs: 0,
    replayAll: true,
  });
  printFaults(reports);
  // 600 s: alone this file takes ~130 s, but in the full suite its replay of every history (72)
  // took 273 s on 2026-12-07 (the in-suite replay slowdown of the session 13 note), past 300 s.
}, 600_000);

describe('faults with real processes and the real server', () => {
  it.each([
    'server restart',
    'host killed mid-work',
    'signal flood',
    'garbage (JSON values)',
    'garbage (undecodable bytes)',
    'histories (restart, kills, flood, garbage)',
  ])('%s: every check holds', (fault) => {
    const report = reports.find((r) => r.fault === fault);
    expect(report).toBeDefined();
    const failing = (report as FaultReport).checks
      .filter((c) => !c.ok)
      .map((c) => `${c.check}: expected ${c.expected}, observed ${c.observed}`);
    // Keys in the order jest prints them (by name): the failed checks first, then what was seen.
    expect({ failed: failing, seen: failing.length ? (report as FaultReport).details : [] }).toEqual({
      failed: [],
      seen: [],
    });
  });
});
