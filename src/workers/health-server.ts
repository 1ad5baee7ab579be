/**
 * The HTTP health endpoint peers probe: GET /healthz → node id, uptime, vitals.
 *
 * GET /watch is a peer's long-lived watch on this process (src/workers/peer-watch.ts): one line
 * `{"hello":{nodeId,bootId,incarnation}}`, then `{"incarnation":N}` when the host's lease is held
 * under a new incarnation, and nothing else until the host leaves gracefully and says
 * `{"leaving":REASON}` before it closes. A watch that closes without that line closed because the
 * process died: its kernel closed the socket.
 */
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
  /** Says goodbye on every watch and ends it; new watches get the goodbye at once. */
  leave(reason: string): void;
  /** Peers watching this process now. */
  watchedBy(): number;
  /** The incarnation the host's lease is held under (the watch hello carries it). */
  setIncarnation(incarnation: number): void;
  /** While fenced, /healthz answers 503 `fenced` with the fence (generation, reason). */
  setFence(fence: { generation: number; reason: string; by: string } | undefined): void;
}

/** Watches one process holds at most: each is an idle socket, but a flood of them must not exhaust it. */
export const MAX_WATCHES = 256;

/** One line of the watch protocol. */
export type WatchLine =
  { hello: { nodeId: string; bootId: string; incarnation?: number } } | { incarnation: number } | { leaving: string };

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
  const watches = new Set<http.ServerResponse>();
  let leaving: string | undefined;
  let incarnation: number | undefined;
  let fence: { generation: number; reason: string; by: string } | undefined;
  const line = (x: WatchLine) => `${JSON.stringify(x)}\n`;
  const watch = (res: http.ServerResponse) => {
    if (leaving === undefined && watches.size >= MAX_WATCHES) {
      res.writeHead(503, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ error: `watches: at most ${MAX_WATCHES} at once` }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    res.socket?.setNoDelay(true);
    res.write(
      line({
        hello: {
          nodeId: identity.nodeId,
          bootId: identity.bootId,
          ...(incarnation !== undefined ? { incarnation } : {}),
        },
      }),
    );
    if (leaving !== undefined) {
      res.end(line({ leaving }));
      return;
    }
    watches.add(res);
    res.on('close', () => watches.delete(res));
  };
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/watch') return watch(res);
    if (req.method !== 'GET' || (path !== '/healthz' && path !== '/')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `no route ${req.method} ${path}; try GET /healthz or GET /watch` }));
      return;
    }
    const forced = fromFile();
    const code = fence ? 503 : forced && status < 300 ? forced.code : status;
    const body = {
      ...identity,
      status: fence ? 'fenced' : code < 300 ? 'ok' : 'failing',
      reason: fence ? `fenced (generation ${fence.generation}, ${fence.by}): ${fence.reason}` : forced && status < 300 ? forced.why : reason,
      ...(fence ? { fence } : {}),
      uptimeMs: Date.now() - identity.startedAt,
      vitals: vitals.current(),
    };
    res.writeHead(code, { 'content-type': 'application/json', connection: 'close' });
    res.end(JSON.stringify(body));
  });
  server.keepAliveTimeout = 1_000;
  // A watch is idle by design: no request or header timeout may cut it.
  server.requestTimeout = 0;
  server.headersTimeout = 10_000;
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
    leave(reason) {
      leaving ??= reason;
      for (const res of watches) res.end(line({ leaving }));
      watches.clear();
    },
    watchedBy: () => watches.size,
    setFence(f) {
      fence = f ? { generation: f.generation, reason: f.reason, by: f.by } : undefined;
    },
    setIncarnation(n) {
      if (n === incarnation) return;
      incarnation = n;
      for (const res of watches) res.write(line({ incarnation: n }));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
