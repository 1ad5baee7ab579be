/**
 * Times full replays of the histories a bench dumped (`npm run bench -- partition --dump-history F`):
 * `node --import tsx scripts/replay-time.ts F [N] [--bundle PATH]`. A full replay is what a workflow
 * task on the shared queue costs (after an eviction, an UnhandledCommand, a dead host's sticky
 * queue), and it must fit well inside the agents' 4 s task timeout on a loaded host. Prints the
 * events and milliseconds of the first N runs (default 8), replayed one after another in one worker.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const at = args.indexOf('--bundle');
  const bundle = at >= 0 ? args.splice(at, 2)[1] : undefined;
  const [file, count = '8'] = args;
  if (!file || !/^[1-9][0-9]*$/.test(count)) {
    process.stderr.write('usage: replay-time.ts DUMP.json [N] [--bundle PATH]\n');
    process.exit(2);
  }
  const runs = JSON.parse(readFileSync(file, 'utf8')) as { runId: string; history: object }[];
  const histories = runs.slice(0, Number(count)).map((r) => ({
    workflowId: r.runId,
    history: temporal.api.history.v1.History.fromObject(r.history),
  }));
  const options = bundle
    ? { workflowBundle: { codePath: bundle } }
    : { workflowsPath: path.resolve(__dirname, '../src/workflows/index.ts') };
  let events = 0;
  let failures = 0;
  const started = Date.now();
  for await (const r of Worker.runReplayHistories(options, histories)) {
    const h = histories.find((x) => x.workflowId === r.workflowId);
    events += h?.history.events.length ?? 0;
    if (r.error) {
      failures += 1;
      process.stdout.write(`${r.workflowId}: ${r.error.message}\n`);
    }
  }
  const ms = Date.now() - started;
  process.stdout.write(
    `${histories.length} runs, ${events} events replayed in ${ms} ms (${(ms / Math.max(1, events)).toFixed(2)} ms per event, worker start included); ${failures} failed\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
