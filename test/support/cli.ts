/** Runs the CLI as a separate process, the way an operator or a script does. */
import { runCli, type CliResult } from '../../scripts/lib/processes';

export type { CliResult };

/**
 * Fails unless the command exited 0, with its code and the end of its stderr in the message: a bare
 * `expect(r.code).toBe(0)` says only "expected 0, received 1", which is all CI's log would keep.
 */
export function expectOk(r: CliResult): CliResult {
  if (r.code !== 0)
    throw new Error(
      `cluster ${r.args.join(' ')} exited ${r.code}; stderr: ${r.stderr.trim().slice(-1500) || '(empty)'}; stdout: ${r.stdout.trim().slice(-500) || '(empty)'}`,
    );
  return r;
}

/** The CLI as its own process (scripts/lib/processes.ts `runCli`). */
export const cli = runCli;

export async function cliJson<T>(args: string[], env: NodeJS.ProcessEnv = {}): Promise<T> {
  const r = await cli([...args, '--json'], env);
  if (r.code !== 0) throw new Error(`cluster ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
