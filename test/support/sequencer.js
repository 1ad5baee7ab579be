/**
 * The suite's order (one file at a time): jest's own (failed first, then slowest first by its cache,
 * else the biggest files), with test/workflows/node-discovery-ordering.test.ts pinned first. That
 * file took 29 s at the start of the suite and 80 s in its middle (twice, in clean clones whose
 * order came from an earlier run's cache): the whole suite went from 14 to 15.5 minutes. The cause
 * is not found yet (see the session 11 note); pinned, the order no longer depends on a cache.
 */
/* global require, module */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- jest loads this file as CommonJS
const Sequencer = require('@jest/test-sequencer').default;

const FIRST = [/node-discovery-ordering\.test\.ts$/];

class SuiteSequencer extends Sequencer {
  async sort(tests) {
    const sorted = await super.sort(tests);
    const first = FIRST.flatMap((re) => sorted.filter((t) => re.test(t.path)));
    return [...first, ...sorted.filter((t) => !first.includes(t))];
  }
}

module.exports = SuiteSequencer;
