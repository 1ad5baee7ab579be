/** Runs the CLI as a separate process, the way an operator or a script does. */
import { execFile } from 'node:child_process';
import { cliArgv } from '../../scripts/lib/processes';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** What was run (for the message of a failed `expectOk`). */
  args?: string[];
}

/**
 * Fails unless the command exited 0, with its code and the end of its stderr in the message: a bare
 * `expect(r.code).toBe(0)` says only "expected 0, received 1", which is all CI's log would keep.
 */
export function expectOk(r: CliResult): CliResult {
  if (r.code !== 0)
    throw new Error(
      `cluster ${(r.args ?? []).join(' ')} exited ${r.code}; stderr: ${r.stderr.trim().slice(-1500) || '(empty)'}; stdout: ${r.stdout.trim().slice(-500) || '(empty)'}`,
    );
  return r;
}

export function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((ok) => {
    execFile(
      process.execPath,
      cliArgv(args),
      { env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        ok({ code, stdout, stderr, args });
      },
    );
  });
}

export async function cliJson<T>(args: string[], env: NodeJS.ProcessEnv = {}): Promise<T> {
  const r = await cli([...args, '--json'], env);
  if (r.code !== 0) throw new Error(`cluster ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
