/** Free-form JSON in messages is bounded in depth and size, and checking it never blows the stack. */
import {
  ConsensusRequestPayload,
  FREE_JSON_MAX_CHARS,
  HeartbeatPayload,
  isBoundedJson,
} from '../../../src/contracts/common';

function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i += 1) v = { a: v };
  return v;
}

describe('isBoundedJson', () => {
  it.each([
    ['a number', 42, true],
    ['null', null, true],
    ['a small object', { leader: 'node-1', term: 3, votes: [1, 2, 3] }, true],
    ['32 deep', nested(31), true],
    ['33 deep', nested(33), false],
    ['40 000 deep (sent once by a foreign client)', nested(40_000), false],
    ['a string past the size bound', 'x'.repeat(FREE_JSON_MAX_CHARS), false],
    ['a wide array past the size bound', Array.from({ length: 5_000 }, () => 12345), false],
    ['NaN (not JSON)', Number.NaN, false],
    ['undefined (not JSON)', undefined, false],
  ])('%s → %s', (_what, value, ok) => {
    expect(isBoundedJson(value)).toBe(ok);
  });

  it('consensusRequest.value and heartbeat.details are bounded, with a message that says how', () => {
    const bad = ConsensusRequestPayload.safeParse({ proposalId: 'p', from: 'x', topic: 't', value: nested(100) });
    expect(bad.success).toBe(false);
    expect(JSON.stringify(bad.error?.issues)).toMatch(/at most 32 deep/);
    expect(HeartbeatPayload.safeParse({ from: 'x', details: { deep: nested(50) } }).success).toBe(false);
    expect(HeartbeatPayload.safeParse({ from: 'x', details: { cpu: 0.5 } }).success).toBe(true);
  });
});
