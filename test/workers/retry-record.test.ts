/**
 * The host client's retries remember what they retried: a real gRPC call to a loopback port where
 * nothing listens is refused (UNAVAILABLE), retried until its deadline, and fails with
 * DEADLINE_EXCEEDED; the retried status is what a failed report's log names.
 */
import { Client, Connection } from '@temporalio/client';
import { freePort } from '../../scripts/lib/dev-server';
import { recordingRetries } from '../../src/workers/retry-record';

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
