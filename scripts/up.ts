/**
 * `npm run up`: the Temporal dev server (SQLite in .data/, Web UI on :8233), three local host
 * workers (node-1..3, zones a..c, health ports 7101..7103), every agent; waits until the three
 * hosts are alive, prints what to type next, and on Ctrl-C stops everything it started.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ClusterClient } from '../src/client/cluster-client';
import { writeWorkflowBundle } from './lib/bundle';
import { portInUse, startDevServer, type DevServer } from './lib/dev-server';
import { spawnHostWorker, type HostProcess } from './lib/processes';

const USAGE = `usage: npm run up -- [--hosts N] [--port P] [--ui-port P] [--health-port-base P] [--data DIR]
  defaults: 3 hosts, Temporal on 7233, Web UI on 8233, health ports 7101.., data in .data/`;

function intFlag(name: string, raw: string | undefined, def: number, min: number, max: number): number {
  if (raw === undefined) return def;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max)
    throw new Error(`--${name}: expected an integer ${min}-${max}, got ${JSON.stringify(raw)}`);
  return n;
}

async function main(): Promise<void> {
  const t0 = Date.now();
  let opts;
  try {
    const { values } = parseArgs({
      args: process.argv.slice(2),
      strict: true,
      options: {
        hosts: { type: 'string' },
        port: { type: 'string' },
        'ui-port': { type: 'string' },
        'health-port-base': { type: 'string' },
        data: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return;
    }
    opts = {
      hosts: intFlag('hosts', values.hosts, 3, 1, 26),
      port: intFlag('port', values.port, 7233, 1, 65535),
      uiPort: intFlag('ui-port', values['ui-port'], 8233, 1, 65535),
      healthBase: intFlag('health-port-base', values['health-port-base'], 7101, 1, 65500),
      data: resolve(values.data ?? '.data'),
    };
  } catch (err) {
    console.error(`error: ${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  for (const [what, port] of [
    ['--port (Temporal)', opts.port],
    ['--ui-port (Web UI)', opts.uiPort],
    ...Array.from({ length: opts.hosts }, (_, i) => [`health port of node-${i + 1}`, opts.healthBase + i] as const),
  ] as const) {
    if (await portInUse(port)) {
      console.error(
        `error: ${what}: port ${port} is in use (is another \`npm run up\` running?); choose another with the flag`,
      );
      process.exit(1);
    }
  }

  let server: DevServer | undefined;
  const hosts: HostProcess[] = [];
  let stopping: Promise<void> | undefined;
  const stopAll = (why: string) =>
    (stopping ??= (async () => {
      console.log(`\nup: ${why}: stopping ${hosts.length} host(s), then the Temporal server...`);
      // Hosts first, while the server can still record that they leave.
      await Promise.all(hosts.map((h) => h.stop('SIGTERM', 10_000)));
      await server?.stop();
      console.log('up: stopped');
    })());
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => void stopAll(sig).then(() => process.exit(0)));
  }
  // Last resort if we die anyway: no orphans.
  process.on('exit', () => {
    for (const h of hosts) h.child.kill('SIGKILL');
    server?.process.kill('SIGKILL');
  });

  try {
    console.log(`up: starting the Temporal dev server on 127.0.0.1:${opts.port} (state in ${opts.data}/temporal.db)`);
    const [srv, bundle] = await Promise.all([
      startDevServer({
        port: opts.port,
        uiPort: opts.uiPort,
        dbFile: resolve(opts.data, 'temporal.db'),
        logFile: resolve(opts.data, 'temporal.log'),
      }),
      writeWorkflowBundle(resolve(opts.data, 'workflow-bundle.js')),
    ]);
    server = srv;
    console.log(`up: Temporal ready after ${Date.now() - t0} ms; starting ${opts.hosts} hosts`);
    const env = { TEMPORAL_ADDRESS: server.address, CLUSTER_WORKFLOW_BUNDLE: bundle };
    process.env.TEMPORAL_ADDRESS = server.address;
    const zones = 'abcdefghijklmnopqrstuvwxyz';
    for (let i = 0; i < opts.hosts; i++) {
      const nodeId = `node-${i + 1}`;
      hosts.push(
        spawnHostWorker({
          nodeId,
          args: ['--zone', `zone-${zones[i]}`, '--health-port', String(opts.healthBase + i)],
          env,
          detached: true,
          onLine: (l) => console.log(l),
        }),
      );
    }
    for (const h of hosts) {
      void h.exited.then(({ code, signal }) => {
        if (!stopping) {
          console.error(`up: ${h.nodeId} exited unexpectedly (${signal ?? code})`);
          void stopAll(`${h.nodeId} exited`).then(() => process.exit(1));
        }
      });
    }
    await Promise.all(hosts.map((h) => h.waitFor(/ ready /, 120_000)));
    console.log(`up: hosts ready after ${Date.now() - t0} ms; starting the agents`);
    const cluster = await ClusterClient.connect({ ...process.env, ...env });
    try {
      await cluster.start();
      const ids = new Set(hosts.map((h) => h.nodeId));
      const deadline = Date.now() + 60_000;
      for (;;) {
        const alive = (await cluster.nodes()).filter((n) => ids.has(n.nodeId) && n.status === 'alive');
        if (alive.length === ids.size) break;
        if (Date.now() > deadline) throw new Error(`only ${alive.length} of ${ids.size} hosts alive after 60 s`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await cluster.close();
    }
    const addr = opts.port === 7233 ? '' : `TEMPORAL_ADDRESS=${server.address} `;
    console.log(`
up: ready in ${((Date.now() - t0) / 1000).toFixed(1)} s — ${opts.hosts} hosts alive
  Web UI          ${server.uiUrl}/namespaces/default/workflows
  Temporal        ${server.address} (default namespace)
Next, in another terminal:
  ${addr}npm run -s cluster -- status
  ${addr}npm run -s cluster -- nodes
  ${addr}npm run -s cluster -- health
  ${addr}npm run -s cluster -- route
  ${addr}npm run -s cluster -- query failure-detector verdicts
  ${addr}npm run worker -- --node-id node-${opts.hosts + 1} --zone zone-x --health-port ${opts.healthBase + opts.hosts}
Ctrl-C here stops everything.`);
    console.log(`up: ready at=${Date.now()} elapsed_ms=${Date.now() - t0}`);
  } catch (err) {
    console.error(`up: ${(err as Error).message}`);
    await stopAll('start failed');
    process.exit(1);
  }
}

void main();
