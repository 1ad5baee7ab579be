/** The HTTP health endpoint peers probe: GET /healthz → node id, uptime, vitals. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { VitalsSampler } from './vitals';

export interface HealthIdentity {
  nodeId: string;
  clusterId: string;
  zone: string;
  address: string;
  bootId: string;
  startedAt: number;
  services: Record<string, number>;
}

export interface HealthServer {
  port: number;
  close(): Promise<void>;
  /** Sets the status code /healthz answers with (200 unless the host is being drained or failed). */
  setStatus(code: number, reason?: string): void;
}

export async function startHealthServer(
  identity: HealthIdentity,
  vitals: VitalsSampler,
  bind: { host: string; port: number },
): Promise<HealthServer> {
  let status = 200;
  let reason: string | undefined;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || (path !== '/healthz' && path !== '/')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `no route ${req.method} ${path}; try GET /healthz` }));
      return;
    }
    const body = {
      ...identity,
      status: status < 300 ? 'ok' : 'failing',
      reason,
      uptimeMs: Date.now() - identity.startedAt,
      vitals: vitals.current(),
    };
    res.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
    res.end(JSON.stringify(body));
  });
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(bind.port, bind.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    setStatus(code, why) {
      status = code;
      reason = why;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
