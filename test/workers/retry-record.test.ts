/**
 * The host client's retries remember what they retried: a real gRPC call to a loopback port where
 * nothing listens is refused (UNAVAILABLE), retried until its deadline, and fails with
 * DEADLINE_EXCEEDED; the retried status is what a failed report's log names.
 */
import { Client, Connection } from '@temporalio/client';
import { freePort } from '../../scripts/lib/dev-server';
import { recordingRetries, retryDelayMs } from '../../src/workers/retry-record';

it('names the status the retries met when a call runs out of its deadline', async () => {
  const retries = recordingRetries();
  const connection = Connection.lazy({ address: `127.0.0.1:${await freePort()}`, interceptors: [retries.interceptor] });
  const client = new Client({ connection });
  const before = Date.now();
  expect(retries.lastRetried(before)).toBeUndefined();
  const err = await connection
    .withDeadline(Date.now() + 800, () => client.workflow.getHandle('nobody').signal('report'))
    .then(() => undefined, (e: Error & { cause?: { message?: string } }) => e);
  expect(String(err?.cause?.message ?? err?.message)).toMatch(/DEADLINE_EXCEEDED|Deadline exceeded/);
  expect(retries.lastRetried(before)).toMatchObject({ code: 'UNAVAILABLE' });
  // Only what was retried since the instant asked for.
  expect(retries.lastRetried(Date.now() + 1)).toBeUndefined();
  await connection.close();
});

it('retries a signal the server refused while the run closes within the report deadline, and backs off a rate limit as before', () => {
  const closing = { code: 8, details: 'workflow operation can not be applied because workflow is closing' };
  const delays = [1, 2, 3, 4, 5].map((a) => retryDelayMs(a, closing));
  // 100, 150, 225, 338, 400 ms (± 10 %): four tries fit in a report's 800 ms.
  expect(delays[0]).toBeGreaterThanOrEqual(90);
  expect(delays[0]).toBeLessThanOrEqual(110);
  expect(delays[2]).toBeGreaterThanOrEqual(202);
  expect(delays[2]).toBeLessThanOrEqual(248);
  expect(Math.max(...delays)).toBeLessThanOrEqual(440);
  // Any other RESOURCE_EXHAUSTED (a namespace's rate limit) keeps the default: 1 s × 1.7 per try.
  const limited = retryDelayMs(1, { code: 8, details: 'namespace rate limit exceeded' });
  expect(limited).toBeGreaterThanOrEqual(1_700 * 0.8);
  // UNAVAILABLE keeps the default too: 100 ms × 1.7.
  expect(retryDelayMs(1, { code: 14, details: 'connection refused' })).toBeLessThanOrEqual(170 * 1.2);
});
