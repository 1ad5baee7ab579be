/**
 * The CLI (src/client/cli.ts) bundled into one CommonJS file with esbuild, for processes that run it
 * many times: the test suite builds it once (test/global-setup.ts) and its `cli()` calls run
 * `node <bundle>` (scripts/lib/processes.ts `cliArgv`). Nothing native is in the CLI's graph.
 */
import { build } from 'esbuild';
import { CLI_ENTRY } from './processes';

export async function writeCliBundle(outfile: string): Promise<string> {
  await build({
    entryPoints: [CLI_ENTRY],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'warning',
  });
  return outfile;
}
