/**
 * A procedure's step beats while it waits, so that a step whose host died is retried within its
 * heartbeat timeout; a retry of a consensus proposal reuses the first attempt's update id.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { attemptFreeId, beating } from '../../src/activities/beating';

const wait = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

it('beats at once and every interval while the step runs, and stops when it ends', async () => {
  const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 600 });
  const beats: number[] = [];
  env.on('heartbeat', () => beats.push(Date.now()));
  const started = Date.now();
  const result = await env.run(() => beating(async () => (await wait(700), 'done'), 1_000));
  expect(result).toBe('done');
  // At once, then every 200 ms (a third of the 600 ms timeout, below the 1 s asked): 4 or 5 beats.
  expect(beats.length).toBeGreaterThanOrEqual(4);
  expect(beats[0]! - started).toBeLessThan(50);
  const after = beats.length;
  await wait(450);
  expect(beats.length).toBe(after);
});

it('does not beat an activity without a heartbeat timeout, nor outside an activity', async () => {
  const env = new MockActivityEnvironment({ heartbeatTimeoutMs: undefined });
  let beats = 0;
  env.on('heartbeat', () => (beats += 1));
  await env.run(() => beating(async () => wait(300)));
  expect(beats).toBe(0);
  await expect(beating(async () => 7)).resolves.toBe(7);
});

it('passes a step failure through', async () => {
  const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 600 });
  await expect(env.run(() => beating(async () => Promise.reject(new Error('round refused'))))).rejects.toThrow('round refused');
});

it('names an update the same way on every attempt of one activity, and differently for another', async () => {
  const info = (activityId: string, attempt: number) => ({
    activityId,
    attempt,
    workflowExecution: { workflowId: 'c/procedure/network_partition/p-1', runId: 'r1' },
  });
  const first = await new MockActivityEnvironment(info('7', 1)).run(async () => attemptFreeId('propose'));
  const retry = await new MockActivityEnvironment(info('7', 2)).run(async () => attemptFreeId('propose'));
  const other = await new MockActivityEnvironment(info('9', 1)).run(async () => attemptFreeId('propose'));
  expect(first).toBe('propose/c/procedure/network_partition/p-1/r1/7');
  expect(retry).toBe(first);
  expect(other).not.toBe(first);
  expect(attemptFreeId('propose')).toBeUndefined();
});
