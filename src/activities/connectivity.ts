/** Connectivity validation: a fresh TCP connection to a node's health endpoint and GET /healthz. */
import http from 'node:http';
import type { ConnectivityResult } from '../contracts/node-discovery';

export interface ConnectivityTarget {
  address: string;
  healthPort: number;
  nodeId?: string;
}

export interface CheckConnectivityInput {
  targets: ConnectivityTarget[];
  /** Connect + response timeout per target (ms). */
  timeoutMs: number;
}

export interface HealthzBody {
  nodeId?: string;
  clusterId?: string;
  zone?: string;
  bootId?: string;
  startedAt?: number;
  services?: Record<string, number>;
}

/** Checks one endpoint. Never throws: a failure is a result with `ok: false` and the reason. */
export function checkEndpoint(
  target: ConnectivityTarget,
  timeoutMs: number,
  observer: string,
): Promise<ConnectivityResult> {
  const started = performance.now();
  const base = { address: target.address, healthPort: target.healthPort, observer, nodeId: target.nodeId };
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: Omit<ConnectivityResult, 'latencyMs' | 'address' | 'healthPort' | 'observer'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...base, ...r, latencyMs: Math.round((performance.now() - started) * 100) / 100 });
    };
    const req = http.get(
      {
        host: target.address,
        port: target.healthPort,
        path: '/healthz',
        agent: false,
        headers: { accept: 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = parseBody(Buffer.concat(chunks).toString('utf8'));
          done({
            ok: true,
            httpStatus: res.statusCode,
            nodeId: body.nodeId ?? target.nodeId,
            clusterId: body.clusterId,
            zone: body.zone,
            bootId: body.bootId,
            startedAt: body.startedAt,
            services: body.services,
          });
        });
        res.on('error', (err) =>
          done({ ok: false, nodeId: target.nodeId, error: err.message, errorCode: codeOf(err) }),
        );
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      done({ ok: false, nodeId: target.nodeId, error: `no answer within ${timeoutMs} ms`, errorCode: 'TIMEOUT' });
    }, timeoutMs);
    req.on('error', (err) => done({ ok: false, nodeId: target.nodeId, error: err.message, errorCode: codeOf(err) }));
  });
}

function codeOf(err: Error): string {
  return (err as NodeJS.ErrnoException).code ?? 'ERROR';
}

function parseBody(text: string): HealthzBody {
  try {
    const v: unknown = JSON.parse(text);
    if (!v || typeof v !== 'object') return {};
    const o = v as Record<string, unknown>;
    return {
      nodeId: typeof o.nodeId === 'string' ? o.nodeId : undefined,
      clusterId: typeof o.clusterId === 'string' ? o.clusterId : undefined,
      zone: typeof o.zone === 'string' ? o.zone : undefined,
      bootId: typeof o.bootId === 'string' ? o.bootId : undefined,
      startedAt: typeof o.startedAt === 'number' ? o.startedAt : undefined,
      services: o.services && typeof o.services === 'object' ? (o.services as Record<string, number>) : undefined,
    };
  } catch {
    return {};
  }
}
