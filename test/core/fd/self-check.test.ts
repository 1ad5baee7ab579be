import { judgeSelf, type SelfProbe } from '../../../src/core/fd/self-check';

const ok: SelfProbe = { status: 200 };
const e500: SelfProbe = { status: 500, reason: 'disk full' };
const busy: SelfProbe = { status: 429 };
const gone: SelfProbe = { error: 'connect ECONNREFUSED' };

describe('judgeSelf', () => {
  it.each<[string, SelfProbe[], boolean, boolean, RegExp]>([
    ['nothing probed keeps what was known', [], true, true, /not probed/],
    ['one 5xx fails at once', [ok, e500], true, false, /HTTP 500 \(disk full\)/],
    ['one 5xx fails at once, even as the first probe', [e500], true, false, /HTTP 500/],
    ['one missed answer is not a failure', [ok, gone], true, true, /does not answer/],
    ['two missed answers in a row fail', [gone, gone], true, false, /twice in a row/],
    ['a 5xx then no answer: still two failures', [e500, gone], true, false, /twice in a row/],
    ['429 is an answer: the endpoint works', [busy, busy], true, true, /HTTP 429/],
    ['a failing host needs two good answers', [e500, ok], false, false, /twice to recover/],
    ['two good answers recover it', [ok, ok], false, true, /HTTP 200/],
    ['a 4xx counts as an answer to recover', [busy, ok], false, true, /HTTP 200/],
    ['still failing', [ok, e500], false, false, /HTTP 500/],
    ['one good answer alone does not recover', [ok], false, false, /twice to recover/],
  ])('%s', (_name, recent, wasOk, expectOk, detail) => {
    const j = judgeSelf(recent, wasOk);
    expect(j.ok).toBe(expectOk);
    expect(j.detail).toMatch(detail);
  });
});
