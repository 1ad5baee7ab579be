/**
 * The suite's order (scripts/test.sh; one file at a time): by path, with
 * test/workflows/node-discovery-ordering.test.ts pinned first. Not jest's own (failed first, then
 * slowest first by its cache, else the biggest files): a clean clone has no cache, so CI ran the
 * files in another order than a checkout did, and files are slower in some places of the order than
 * in others (that file took 29 s first and 80 s in the middle of the suite, twice; the cause is not
 * found yet, see the session 11 note). A fixed order makes a checkout's run CI's run.
 */
/* global require, module */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- jest loads this file as CommonJS
const Sequencer = require('@jest/test-sequencer').default;

const FIRST = [/node-discovery-ordering\.test\.ts$/];

class SuiteSequencer extends Sequencer {
  async sort(tests) {
    const sorted = [...tests].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const first = FIRST.flatMap((re) => sorted.filter((t) => re.test(t.path)));
    return [...first, ...sorted.filter((t) => !first.includes(t))];
  }
}

module.exports = SuiteSequencer;
