/** The HTTP health endpoint peers probe: GET /healthz → node id, uptime, vitals. */
import { readFileSync } from 'node:fs';
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
  /**
   * While this file exists, /healthz answers with the status code on its first line ("500 disk
   * full"; a file without one means 503): an operator's (or a fault test's) switch to fail a host.
   */
  statusFile?: string,
): Promise<HealthServer> {
  let status = 200;
  let reason: string | undefined;
  const fromFile = (): { code: number; why: string } | undefined => {
    if (!statusFile) return undefined;
    let text: string;
    try {
      text = readFileSync(statusFile, 'utf8').trim();
    } catch {
      return undefined;
    }
    const m = /^(\d{3})\b\s*(.*)$/s.exec(text);
    const code = m ? Number(m[1]) : 503;
    return { code: code >= 200 && code <= 599 ? code : 503, why: (m ? m[2] : text) || `status file ${statusFile}` };
  };
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || (path !== '/healthz' && path !== '/')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `no route ${req.method} ${path}; try GET /healthz` }));
      return;
    }
    const forced = fromFile();
    const code = forced && status < 300 ? forced.code : status;
    const body = {
      ...identity,
      status: code < 300 ? 'ok' : 'failing',
      reason: forced && status < 300 ? forced.why : reason,
      uptimeMs: Date.now() - identity.startedAt,
      vitals: vitals.current(),
    };
    res.writeHead(code, { 'content-type': 'application/json', connection: 'close' });
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
