/** The connectivity activity and the health endpoint it probes, with real sockets on loopback. */
import http from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities';
import type { ConnectivityResult } from '../../src/contracts/node-discovery';
import { freePort } from '../../scripts/lib/dev-server';
import { startHost, type TestHost } from '../support/hosts';

let host: TestHost;
let hang: http.Server;
let hangPort: number;
const activities = createActivities({
  nodeId: 'observer-1',
  // Not called by checkConnectivity; a lazy client that never connects.
  client: new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) }),
});

beforeAll(async () => {
  host = await startHost('probe-1', 'c1', 'zone-q');
  hang = http.createServer(() => undefined); // accepts, never answers
  await new Promise<void>((ok) => hang.listen(0, '127.0.0.1', ok));
  hangPort = (hang.address() as { port: number }).port;
});
afterAll(async () => {
  await host.close();
  hang.closeAllConnections();
  await new Promise((ok) => hang.close(ok));
});

describe('checkConnectivity activity', () => {
  it('reports identity, HTTP status and latency of a live endpoint, and the reason of each failure', async () => {
    const env = new MockActivityEnvironment();
    const closed = await freePort();
    const results: ConnectivityResult[] = await env.run(activities.checkConnectivity, {
      targets: [
        { address: '127.0.0.1', healthPort: host.port },
        { address: '127.0.0.1', healthPort: closed, nodeId: 'gone' },
        { address: '127.0.0.1', healthPort: hangPort },
      ],
      timeoutMs: 300,
    });
    expect(results[0]).toMatchObject({
      ok: true,
      httpStatus: 200,
      nodeId: 'probe-1',
      clusterId: 'c1',
      zone: 'zone-q',
      bootId: host.bootId,
      observer: 'observer-1',
    });
    expect(results[0]?.latencyMs).toBeLessThan(300);
    expect(results[1]).toMatchObject({ ok: false, nodeId: 'gone', observer: 'observer-1' });
    expect(results[1]?.error).toMatch(/ECONNREFUSED/);
    expect(results[2]).toMatchObject({ ok: false });
    expect(results[2]?.error).toMatch(/no answer within 300 ms/);
    expect(results[2]?.latencyMs).toBeGreaterThanOrEqual(290);
  });

  it('a host that answers 503 (leaving) is reachable and its status is reported', async () => {
    host.health.setStatus(503, 'leaving');
    try {
      const [r]: ConnectivityResult[] = await new MockActivityEnvironment().run(activities.checkConnectivity, {
        targets: [{ address: '127.0.0.1', healthPort: host.port }],
        timeoutMs: 300,
      });
      expect(r).toMatchObject({ httpStatus: 503, nodeId: 'probe-1' });
    } finally {
      host.health.setStatus(200);
    }
  });
});

describe('GET /healthz', () => {
  it('answers node id, uptime and vitals; other paths are 404', async () => {
    const res = await fetch(`http://127.0.0.1:${host.port}/healthz`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown> & { vitals: Record<string, unknown> };
    expect(body).toMatchObject({ nodeId: 'probe-1', clusterId: 'c1', zone: 'zone-q', status: 'ok' });
    expect(body.uptimeMs).toEqual(expect.any(Number));
    expect(body.vitals).toMatchObject({
      cpu: expect.any(Number),
      memory: expect.any(Number),
      load: [expect.any(Number), expect.any(Number), expect.any(Number)],
      eventLoopLagMs: { mean: expect.any(Number), p99: expect.any(Number) },
    });
    expect(body.vitals.memory).toBeGreaterThan(0);
    expect(body.vitals.memory).toBeLessThanOrEqual(1);
    expect((await fetch(`http://127.0.0.1:${host.port}/admin`)).status).toBe(404);
  });
});
