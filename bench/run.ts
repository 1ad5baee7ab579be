/**
 * `npm run bench -- [discovery|up|router|all] [--runs N] [--up-runs N]`: benchmarks that print tables.
 * Each starts its own Temporal dev server on free ports; nothing touches a running `npm run up`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { writeWorkflowBundle } from '../scripts/lib/bundle';
import { startDevServer } from '../scripts/lib/dev-server';
import { benchDiscovery, discoveryRows } from './discovery';
import { printTable } from './stats';
import { benchMaglev, benchRouter } from './router';
import { benchUp } from './up';

const USAGE = 'usage: npm run bench -- [discovery|up|router|all] [--runs N (default 20)] [--up-runs N (default 3)]';

function count(name: string, raw: string | undefined, def: number): number {
  if (raw === undefined) return def;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 1000)
    throw new Error(`--${name}: expected an integer 1-1000, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: { runs: { type: 'string' }, 'up-runs': { type: 'string' } },
  });
  const which = positionals[0] ?? 'all';
  if (!['discovery', 'up', 'router', 'all'].includes(which))
    throw new Error(`BENCH: expected discovery, up, router or all, got ${JSON.stringify(which)}\n${USAGE}`);
  const runs = count('runs', values.runs, 20);
  const upRuns = count('up-runs', values['up-runs'], 3);
  console.log(
    `bench: node ${process.version}, ${(await import('node:os')).cpus().length} cpus, ${new Date().toISOString()}`,
  );

  if (which === 'router' || which === 'all') {
    printTable(
      'router decision cost (one core, batches of 1000; target RR and P2C at 100: p99 ≤ 10 µs, ≥ 1 M/s)',
      ['strategy', 'targets', 'ns p50', 'ns p99', 'decisions/s'],
      benchRouter(),
    );
    printTable(
      'Maglev at 1,000 targets',
      ['targets', 'table size', 'build ms', 'keys moved % (one leaves)', 'ideal %'],
      benchMaglev(),
    );
  }
  if (which === 'discovery' || which === 'all') {
    const dir = mkdtempSync(join(tmpdir(), 'cluster-agents-bench-'));
    const [server, bundle] = await Promise.all([
      startDevServer({ port: 0 }),
      writeWorkflowBundle(join(dir, 'bundle.js')),
    ]);
    const connection = await Connection.connect({ address: server.address });
    try {
      const env = {
        TEMPORAL_ADDRESS: server.address,
        CLUSTER_WORKFLOW_BUNDLE: bundle,
        CLUSTER_ID: 'bench',
        CLUSTER_MULTICAST: 'off',
      };
      const r = await benchDiscovery(new Client({ connection }), env, runs);
      printTable(
        `discovery latency, ms (${runs} worker starts; target: poll → alive p50 ≤ 300 ms)`,
        ['measure', 'n', 'p50', 'p99', 'min', 'max'],
        discoveryRows(r),
      );
    } finally {
      await connection.close();
      await server.stop();
    }
  }
  if (which === 'up' || which === 'all') {
    const r = await benchUp(upRuns);
    printTable(
      'npm run up on a warm machine, ms (spawn → "ready"; stop = SIGINT → exit 0 with no process left)',
      ['run', 'data folder', 'spawn → ready', 'up.ts own clock', 'stop'],
      r.map((x) => [x.run, x.data, x.readyMs, x.reportedMs, x.stopMs]),
    );
  }
}

main().catch((err: Error) => {
  console.error(`bench: ${err.message}`);
  process.exit(1);
});
