/** One GET of the host's own /healthz, over the network as its peers reach it (the lease's self-check). */
import http from 'node:http';
import type { SelfProbe } from '../core/fd/self-check';

/** The address to reach a server bound to `bind` from this machine (a wildcard bind answers on loopback). */
export function reachableAddress(bind: string): string {
  return bind === '0.0.0.0' ? '127.0.0.1' : bind === '::' ? '::1' : bind;
}

/** Never throws: no answer is a result (`error`). */
export function probeSelf(address: string, port: number, timeoutMs: number): Promise<SelfProbe> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (p: SelfProbe) => {
      if (settled) return;
      settled = true;
      resolve(p);
    };
    const req = http.get(
      {
        host: address,
        port,
        path: '/healthz',
        timeout: timeoutMs,
        agent: false,
        headers: { 'user-agent': 'self-check' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= 64 * 1024) chunks.push(c);
        });
        res.on('end', () => {
          let reason: string | undefined;
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { reason?: unknown };
            if (typeof body.reason === 'string' && body.reason) reason = body.reason.slice(0, 200);
          } catch {
            // not our JSON: the status code is the answer
          }
          done({ status: res.statusCode ?? 0, ...(reason ? { reason } : {}) });
        });
        res.on('error', (err) => done({ error: err.message }));
      },
    );
    req.on('timeout', () => {
      req.destroy(new Error(`timed out after ${timeoutMs} ms`));
    });
    req.on('error', (err) => done({ error: err.message }));
  });
}
