/**
 * `npm run up`: the Temporal dev server (SQLite in .data/, Web UI on :8233), three local host
 * workers (node-1..3, zones a..c, health ports 7101..7103), every agent; waits until the three
 * hosts are alive, prints what to type next, and on Ctrl-C stops everything it started.
 *
 * A host that dies once the cluster is up is the cluster's business, not ours: we say so and keep
 * the server and the other hosts running, so the agents can be watched declaring it dead. We stop
 * everything only on SIGINT / SIGTERM / SIGHUP or when the Temporal server itself exits. If we are
 * killed outright, the server and the hosts die with us (their parent-death signal).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ClusterClient } from '../src/client/cluster-client';
import { parseWorkerConfig } from '../src/workers/worker-config';
import { writeWorkflowBundle } from './lib/bundle';
import { portInUse, startDevServer, type DevServer } from './lib/dev-server';
import { spawnHostWorker, type HostProcess } from './lib/processes';

const USAGE = `usage: npm run up -- [--hosts N] [--port P] [--ui-port P] [--health-port-base P] [--data DIR]
                   [--lease-heartbeat MS] [--lease-timeout MS]
  defaults: 3 hosts, Temporal on 7233, Web UI on 8233, health ports 7101.., data in .data/,
  the hosts' lease as \`npm run worker\` has it (1000 / 3000 ms; at least 200 / 600, timeout >= 2 x heartbeat)`;

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
        'lease-heartbeat': { type: 'string' },
        'lease-timeout': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return;
    }
    // Checked here by the worker's own rules, so a bad value fails before anything starts.
    const leaseArgs = [
      ...(values['lease-heartbeat'] !== undefined ? ['--lease-heartbeat', values['lease-heartbeat']] : []),
      ...(values['lease-timeout'] !== undefined ? ['--lease-timeout', values['lease-timeout']] : []),
    ];
    parseWorkerConfig(['--node-id', 'node-1', ...leaseArgs], {});
    opts = {
      leaseArgs,
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
  // The server's own ports are checked by startDevServer, after it has stopped an orphan of ours.
  for (let i = 0; i < opts.hosts; i++) {
    const port = opts.healthBase + i;
    if (await portInUse(port)) {
      console.error(
        `error: --health-port-base: port ${port} (node-${i + 1}'s health port) is in use (is another \`npm run up\` running?); choose another base with --health-port-base`,
      );
      process.exit(1);
    }
  }

  let server: DevServer | undefined;
  const hosts: HostProcess[] = [];
  let stopping: Promise<void> | undefined;
  const running = new Set<HostProcess>();
  const stopAll = (why: string, serverGone = false) =>
    (stopping ??= (async () => {
      console.log(`\nup: ${why}: stopping ${running.size} host(s)${serverGone ? '' : ', then the Temporal server'}...`);
      // Hosts first, while the server can still record that they leave; without it, a leave can
      // only time out, so they are killed.
      await Promise.all(hosts.map((h) => (serverGone ? h.stop('SIGKILL') : h.stop('SIGTERM', 10_000))));
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
        portFlags: { port: '--port', uiPort: '--ui-port' },
        log: (line) => console.log(`up: ${line}`),
      }),
      writeWorkflowBundle(resolve(opts.data, 'workflow-bundle.js')),
    ]);
    server = srv;
    void new Promise((ok) => srv.process.once('exit', (code, signal) => ok(signal ?? code))).then((how) => {
      if (stopping) return;
      console.error(`up: the Temporal server exited (${String(how)}; see ${resolve(opts.data, 'temporal.log')})`);
      void stopAll('the Temporal server exited', true).then(() => process.exit(1));
    });
    console.log(
      `up: Temporal ready after ${Date.now() - t0} ms (pid ${srv.process.pid}); starting ${opts.hosts} hosts`,
    );
    const env = { TEMPORAL_ADDRESS: server.address, CLUSTER_WORKFLOW_BUNDLE: bundle };
    process.env.TEMPORAL_ADDRESS = server.address;
    const zones = 'abcdefghijklmnopqrstuvwxyz';
    const addr = opts.port === 7233 ? '' : `TEMPORAL_ADDRESS=${server.address} `;
    let ready = false;
    const reportExit = (h: HostProcess, how: string, args: string[]) =>
      console.error(
        `up: ${h.nodeId} (pid ${h.child.pid}) exited (${how}); the server and ${running.size} other host(s) keep running.\n` +
          `  watch the cluster declare it dead:  ${addr}npm run -s cluster -- nodes\n` +
          `  start it again (a new incarnation): ${addr}npm run worker -- --node-id ${h.nodeId} ${args.join(' ')} --workflow-bundle ${bundle}`,
      );
    const hostArgs = new Map<HostProcess, string[]>();
    const launch = (nodeId: string, zone: string, healthPort: number): HostProcess => {
      const args = ['--zone', zone, '--health-port', String(healthPort), ...opts.leaseArgs];
      const h = spawnHostWorker({ nodeId, args, env, detached: true, onLine: (l) => console.log(l) });
      hosts.push(h);
      running.add(h);
      hostArgs.set(h, args);
      console.log(`up: ${nodeId} pid ${h.child.pid} health port ${healthPort}`);
      void h.exited.then(({ code, signal }) => {
        running.delete(h);
        // Before the cluster is up, a host that dies is a failed start (the waits below say why).
        if (!stopping && ready) reportExit(h, signal ?? `code ${code}`, args);
      });
      return h;
    };
    for (let i = 0; i < opts.hosts; i++) launch(`node-${i + 1}`, `zone-${zones[i]}`, opts.healthBase + i);
    // The orchestrator's replacement hook (node_failure → start_replacement): a new local host with a
    // fresh node id, a child of this process like the others (Ctrl-C stops it too).
    let nextHost = opts.hosts + 1;
    /** requestId → the answer given: hooks are idempotent per request. */
    const startedFor = new Map<string, string>();
    const launcher = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.method !== 'POST' || req.url !== '/hosts') return res.writeHead(404).end('POST /hosts only\n');
        if (stopping) return res.writeHead(503).end('stopping\n');
        let replaces = '?';
        let action = 'start_replacement';
        let requestId = '';
        try {
          const ctx = JSON.parse(body || '{}') as { nodeId?: unknown; action?: unknown; requestId?: unknown };
          replaces = String(ctx.nodeId ?? '?');
          action = String(ctx.action ?? action);
          requestId = typeof ctx.requestId === 'string' ? ctx.requestId : '';
        } catch {
          return res.writeHead(400).end('expected JSON\n');
        }
        // A retry of the same request (its first attempt's host died mid-call) gets the host it started.
        const started = requestId ? startedFor.get(requestId) : undefined;
        if (started) return res.writeHead(200, { 'content-type': 'application/json' }).end(started);
        const n = nextHost++;
        const nodeId = `node-${n}`;
        const old = hosts.find((h) => h.nodeId === replaces);
        const zone = old ? (hostArgs.get(old)?.[1] ?? 'zone-x') : 'zone-x';
        console.log(
          action === 'scale_up'
            ? `up: the orchestrator scales the cluster up: starting ${nodeId} in ${zone}`
            : `up: the orchestrator asks for a replacement of ${replaces}: starting ${nodeId} in ${zone}`,
        );
        const h = launch(nodeId, zone, opts.healthBase + n - 1);
        const answer = JSON.stringify({ nodeId, pid: h.child.pid, zone });
        if (requestId) startedFor.set(requestId, answer);
        res.writeHead(201, { 'content-type': 'application/json' }).end(answer);
      });
    });
    await new Promise<void>((ok) => launcher.listen(0, '127.0.0.1', ok));
    launcher.unref();
    const hookUrl = `http://127.0.0.1:${(launcher.address() as AddressInfo).port}/hosts`;
    await Promise.all(hosts.map((h) => h.waitFor(/ ready /, 120_000)));
    console.log(`up: hosts ready after ${Date.now() - t0} ms; starting the agents`);
    const cluster = await ClusterClient.connect({ ...process.env, ...env });
    try {
      await cluster.start({ orchestrator: { replacementHook: { http: { url: hookUrl } } } });
      const ids = new Set(hosts.map((h) => h.nodeId));
      const deadline = Date.now() + 60_000;
      for (;;) {
        const gone = hosts.find((h) => !running.has(h));
        if (gone) throw new Error(`${gone.nodeId} exited before the cluster was up; its output is above`);
        const alive = (await cluster.nodes()).filter((n) => ids.has(n.nodeId) && n.status === 'alive');
        if (alive.length === ids.size) break;
        if (Date.now() > deadline) throw new Error(`only ${alive.length} of ${ids.size} hosts alive after 60 s`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await cluster.close();
    }
    ready = true;
    // One may have died between the last look above and now.
    for (const h of hosts.filter((x) => !running.has(x)))
      reportExit(h, String(h.child.signalCode ?? `code ${h.child.exitCode}`), hostArgs.get(h) ?? []);
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
  kill -9 ${hosts[hosts.length - 1]?.child.pid}   # a host dies (node-${opts.hosts}): declared dead, isolated, a replacement host starts
  ${addr}npm run -s cluster -- procedures
Ctrl-C here stops everything.`);
    console.log(`up: ready at=${Date.now()} elapsed_ms=${Date.now() - t0}`);
  } catch (err) {
    console.error(`up: ${(err as Error).message}`);
    await stopAll('start failed');
    process.exit(1);
  }
}

void main();
