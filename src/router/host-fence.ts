/**
 * The fence of the host a service runs on, for its in-process Router (`fence: f.current`): reads the
 * host worker's own /healthz every `intervalMs` (default 250 ms) and holds the fence it shows.
 * `/healthz` answers 503 `fenced` with `{fence: {generation, reason}}` while the partition handler
 * fences the host or the host lost the Temporal server (src/workers/reachability.ts).
 */
import http from 'node:http';

export interface HostFenceWatch {
  current: () => { generation: number; reason: string } | undefined;
  close: () => void;
}

export function hostFence(o: { port: number; host?: string; intervalMs?: number }): HostFenceWatch {
  let fence: { generation: number; reason: string } | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const read = () => {
    const req = http.get({ host: o.host ?? '127.0.0.1', port: o.port, path: '/healthz', timeout: 1_000, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        try {
          const j = JSON.parse(body) as { status?: string; fence?: { generation: number; reason: string } };
          fence = j.status === 'fenced' && j.fence ? { generation: j.fence.generation, reason: j.fence.reason } : undefined;
        } catch {
          // not the host's health endpoint: keep what we had
        }
        schedule();
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => schedule());
  };
  const schedule = () => {
    if (!closed) timer = setTimeout(read, o.intervalMs ?? 250);
  };
  read();
  return {
    current: () => fence,
    close: () => {
      closed = true;
      if (timer) clearTimeout(timer);
    },
  };
}
