/**
 * `npm run server -- [--ip A] [--port P] [--ui-port P] [--data DIR]`: only the Temporal dev server
 * (SQLite in .data/, Web UI on :8233), for trying a cluster by hand across several hosts. The
 * server dies with this command and refuses ports that are taken (scripts/lib/dev-server.ts).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startDevServer } from './lib/dev-server';

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      strict: true,
      options: {
        ip: { type: 'string' },
        port: { type: 'string' },
        'ui-port': { type: 'string' },
        data: { type: 'string' },
      },
    }));
  } catch (err) {
    console.error(
      `error: ${(err as Error).message}\nusage: npm run server -- [--ip A] [--port P] [--ui-port P] [--data DIR]`,
    );
    process.exit(2);
  }
  const port = (name: string, raw: string | undefined, def: number) => {
    if (raw === undefined) return def;
    if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 65535) {
      console.error(`error: --${name}: expected a port number 1-65535, got ${JSON.stringify(raw)}`);
      process.exit(2);
    }
    return Number(raw);
  };
  const data = resolve(values.data ?? '.data');
  const server = await startDevServer({
    ip: values.ip ?? '127.0.0.1',
    port: port('port', values.port, 7233),
    uiPort: port('ui-port', values['ui-port'], 8233),
    dbFile: resolve(data, 'temporal.db'),
    logFile: resolve(data, 'temporal.log'),
    portFlags: { port: '--port', uiPort: '--ui-port' },
    log: (line) => console.error(`server: ${line}`),
  });
  console.log(
    `server: Temporal at ${values.ip ?? '127.0.0.1'}:${server.port} (pid ${server.process.pid}), Web UI ${server.uiUrl}, state in ${data}; Ctrl-C stops it`,
  );
  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      stopping = true;
      void server.stop().then(() => process.exit(0));
    });
  }
  server.process.once('exit', (code, signal) => {
    if (stopping) return;
    console.error(`server: the Temporal server exited (${signal ?? code}; see ${resolve(data, 'temporal.log')})`);
    process.exit(1);
  });
}

main().catch((err: Error) => {
  console.error(`server: ${err.message}`);
  process.exit(1);
});
