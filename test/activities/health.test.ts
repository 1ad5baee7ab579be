/**
 * The HealthMonitor's actions as activities, in an activity context (MockActivityEnvironment), on
 * real processes and a real loopback HTTP server: a failure is thrown — retryable when another
 * attempt may succeed, non-retryable for input no attempt can fix — so the workflow's retry policy runs.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { notifyWebhook, runRecovery } from '../../src/activities/health';

const env = new MockActivityEnvironment();
/** path → status to answer; the requests seen, with their bodies. */
const answers: Record<string, number> = {};
const seen: { method?: string; url?: string; body: string }[] = [];
let server: http.Server;
let base: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, body });
      res.writeHead(answers[req.url?.split('?')[0] ?? ''] ?? 404).end('answer');
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  Object.assign(answers, { '/ok': 204, '/broken': 500, '/recover/n-1': 200 });
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((ok) => server.close(ok));
});
beforeEach(() => (seen.length = 0));

/** The failure the activity threw, checked to be an ApplicationFailure. */
async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

describe('runRecovery: a command on this host', () => {
  it('succeeds with what it printed; the node is in CLUSTER_NODE_ID', async () => {
    const r = await env.run(runRecovery, {
      nodeId: 'n-1',
      command: ['sh', '-c', 'echo "restarted $CLUSTER_NODE_ID"'],
      timeoutMs: 5_000,
    });
    expect(r).toEqual({ ok: true, detail: 'restarted n-1' });
  });

  it.each([
    ['exits non-zero', ['sh', '-c', 'echo wedged >&2; exit 3'], 5_000, /Command failed: .*wedged/s],
    ['outlives its timeout', ['sleep', '5'], 200, /Command failed: sleep 5/],
  ])('%s: a retryable RecoveryFailed', async (_, command, timeoutMs, message) => {
    const f = await failure(env.run(runRecovery, { nodeId: 'n-1', command, timeoutMs }));
    expect(f).toMatchObject({ type: 'RecoveryFailed', nonRetryable: false });
    expect(f.message).toMatch(message);
  });

  it.each([
    ['no command nor http', {}, /expected command or http/],
    ['an empty command', { command: [] }, /expected command or http/],
    ['an executable that is not there', { command: ['/nonexistent/recover-node'] }, /ENOENT/],
  ])('%s: non-retryable InvalidInput', async (_, input, message) => {
    const f = await failure(env.run(runRecovery, { nodeId: 'n-1', timeoutMs: 1_000, ...input }));
    expect(f).toMatchObject({ type: 'InvalidInput', nonRetryable: true });
    expect(f.message).toMatch(message);
  });
});

describe('runRecovery: an HTTP call', () => {
  it('2xx: ok, with {nodeId} in the URL and the node in the body', async () => {
    const r = await env.run(runRecovery, {
      nodeId: 'n-1',
      http: { url: `${base}/recover/{nodeId}`, method: 'POST' },
      timeoutMs: 2_000,
    });
    expect(r).toEqual({ ok: true, detail: `POST ${base}/recover/n-1 → HTTP 200` });
    expect(seen).toEqual([{ method: 'POST', url: '/recover/n-1', body: '{"nodeId":"n-1"}' }]);
  });

  it('HTTP 500: a retryable RecoveryFailed naming the status', async () => {
    const f = await failure(
      env.run(runRecovery, { nodeId: 'n-1', http: { url: `${base}/broken`, method: 'GET' }, timeoutMs: 2_000 }),
    );
    expect(f).toMatchObject({ type: 'RecoveryFailed', nonRetryable: false, message: `GET ${base}/broken → HTTP 500` });
  });

  it('nobody listening: a retryable RecoveryFailed with the socket error', async () => {
    const closed = http.createServer();
    await new Promise<void>((ok) => closed.listen(0, '127.0.0.1', ok));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((ok) => closed.close(ok));
    const f = await failure(
      env.run(runRecovery, {
        nodeId: 'n-1',
        http: { url: `http://127.0.0.1:${port}/`, method: 'POST' },
        timeoutMs: 2_000,
      }),
    );
    expect(f).toMatchObject({ type: 'RecoveryFailed', nonRetryable: false });
    expect(f.message).toMatch(/ECONNREFUSED/);
  });

  it('a URL that is not one: non-retryable InvalidInput', async () => {
    const f = await failure(
      env.run(runRecovery, { nodeId: 'n-1', http: { url: 'not a url', method: 'POST' }, timeoutMs: 2_000 }),
    );
    expect(f).toMatchObject({ type: 'InvalidInput', nonRetryable: true });
  });
});

describe('notifyWebhook', () => {
  it('2xx: ok, the body POSTed as JSON', async () => {
    const r = await env.run(notifyWebhook, {
      url: `${base}/ok`,
      body: { kind: 'manual_intervention' },
      timeoutMs: 2_000,
    });
    expect(r).toEqual({ ok: true, detail: 'HTTP 204' });
    expect(seen).toEqual([{ method: 'POST', url: '/ok', body: '{"kind":"manual_intervention"}' }]);
  });

  it('HTTP 500: a retryable WebhookFailed', async () => {
    const f = await failure(env.run(notifyWebhook, { url: `${base}/broken`, body: {}, timeoutMs: 2_000 }));
    expect(f).toMatchObject({ type: 'WebhookFailed', nonRetryable: false, message: `POST ${base}/broken → HTTP 500` });
  });

  it.each(['', 'nowhere'])('url %j: non-retryable InvalidInput', async (url) => {
    const f = await failure(env.run(notifyWebhook, { url, body: {}, timeoutMs: 2_000 }));
    expect(f).toMatchObject({ type: 'InvalidInput', nonRetryable: true });
  });
});
