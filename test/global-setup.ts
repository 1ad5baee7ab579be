/**
 * One headless Temporal dev server for the whole suite, on a free port, with
 * `limit.historyCount.suggestContinueAsNew` lowered so that agents continue-as-new within a test.
 * The workflow bundle is built once here; every worker (in-process or spawned) loads it. So is the
 * CLI's (`CLUSTER_CLI_BUNDLE`): the tests run the CLI as an operator does, a process per command.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeWorkflowBundle } from '../scripts/lib/bundle';
import { writeCliBundle } from '../scripts/lib/cli-bundle';
import { startDevServer, type DevServer } from '../scripts/lib/dev-server';

/** History length at which the server suggests continue-as-new during tests (default in production: 4 Ki events). */
export const TEST_SUGGEST_CONTINUE_AS_NEW = 150;

declare global {
  var __TEMPORAL_DEV_SERVER__: DevServer | undefined;
}

export default async function globalSetup(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cluster-agents-test-'));
  const [server, bundle, cliBundle] = await Promise.all([
    startDevServer({
      port: 0,
      logFile: join(dir, 'temporal.log'),
      dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': TEST_SUGGEST_CONTINUE_AS_NEW },
    }),
    writeWorkflowBundle(join(dir, 'workflow-bundle.js')),
    writeCliBundle(join(dir, 'cli.js')),
  ]);
  globalThis.__TEMPORAL_DEV_SERVER__ = server;
  process.env.TEMPORAL_ADDRESS = server.address;
  process.env.TEMPORAL_NAMESPACE = 'default';
  process.env.CLUSTER_WORKFLOW_BUNDLE = bundle;
  process.env.CLUSTER_CLI_BUNDLE = cliBundle;
  process.env.CLUSTER_TEST_DIR = dir;
}
