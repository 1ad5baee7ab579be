/**
 * A process that serves only the host's health endpoint (GET /healthz, GET /watch), for the peer
 * watch tests: `node --import tsx test/support/watch-target.ts NODE_ID [PORT [INCARNATION]]`. Prints
 * `listening PORT BOOT`; on SIGTERM says goodbye on its watches, as the host worker does, and exits.
 */
import { randomUUID } from 'node:crypto';
import { startHealthServer } from '../../src/workers/health-server';
import { VitalsSampler } from '../../src/workers/vitals';

async function main(): Promise<void> {
  const nodeId = process.argv[2] ?? 'target';
  const bootId = randomUUID();
  const vitals = new VitalsSampler(1_000);
  const health = await startHealthServer(
    { nodeId, clusterId: 'test', zone: 'z', address: '127.0.0.1', bootId, startedAt: Date.now(), services: {} },
    vitals,
    { host: '127.0.0.1', port: Number(process.argv[3] ?? 0) },
  );
  // As the lease does once it holds the host's incarnation: a moment after the endpoint is up.
  if (process.argv[4]) setTimeout(() => health.setIncarnation(Number(process.argv[4])), 50);
  console.log(`listening ${health.port} ${bootId}`);
  setInterval(() => console.log(`watchedBy ${health.watchedBy()}`), 200);
  process.on('SIGTERM', () => {
    health.leave('SIGTERM');
    void health.close().then(() => process.exit(0));
  });
}
void main();
