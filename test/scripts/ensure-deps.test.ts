/**
 * scripts/ensure-deps.sh run twice at once, in a scratch project (a copy of the script beside a
 * package.json whose one dependency is a local tarball, so npm needs no registry): exactly one
 * `npm ci` runs, both succeed, and with the dependencies in place no run waits for the lock. Once
 * with flock(1), once with the mkdir lock it falls back to (PATH without flock).
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const SCRIPT = resolve(__dirname, '..', '..', 'scripts', 'ensure-deps.sh');
const dirs: string[] = [];

interface Run {
  code: number | null;
  stderr: string;
  ms: number;
}

function run(project: string, env: NodeJS.ProcessEnv): Promise<Run> {
  const t0 = Date.now();
  return new Promise((ok) => {
    const child = spawn('bash', [join(project, 'scripts', 'ensure-deps.sh')], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.stdout.resume();
    child.once('exit', (code) => ok({ code, stderr, ms: Date.now() - t0 }));
  });
}

/** A project with one dependency, a tarball beside it, and its lock file; nothing installed yet. */
function scratchProject(): string {
  const root = mkdtempSync(join(tmpdir(), 'ensure-deps-'));
  dirs.push(root);
  const dep = join(root, 'dep');
  const project = join(root, 'project');
  mkdirSync(dep);
  mkdirSync(join(project, 'scripts'), { recursive: true });
  writeFileSync(join(dep, 'package.json'), JSON.stringify({ name: 'tiny-dep', version: '1.0.0', main: 'index.js' }));
  writeFileSync(join(dep, 'index.js'), 'module.exports = 42;\n');
  const npm = (args: string[], cwd: string) => {
    const r = spawnSync('npm', args, { cwd, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`npm ${args.join(' ')} in ${cwd}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const tarball = npm(['pack', '--silent', '--pack-destination', project], dep);
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({
      name: 'scratch',
      version: '0.0.0',
      private: true,
      dependencies: { 'tiny-dep': `file:${tarball}` },
    }),
  );
  npm(['install', '--package-lock-only', '--offline', '--no-audit', '--no-fund'], project);
  copyFileSync(SCRIPT, join(project, 'scripts', 'ensure-deps.sh'));
  return project;
}

/** A PATH with what the script and npm need, and no flock: the script must fall back to mkdir. */
function pathWithoutFlock(): string {
  const bin = mkdtempSync(join(tmpdir(), 'ensure-deps-bin-'));
  dirs.push(bin);
  for (const tool of ['bash', 'dirname', 'cat', 'mkdir', 'rm', 'sleep', 'node', 'npm', 'sh']) {
    const found = spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    if (!found) throw new Error(`${tool} not found on PATH`);
    symlinkSync(found, join(bin, tool));
  }
  return bin;
}

const installs = (runs: Run[]) => runs.filter((r) => /installing npm dependencies/.test(r.stderr)).length;

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('scripts/ensure-deps.sh', () => {
  it('finds flock on this machine (else only the fallback is tested)', () => {
    expect(spawnSync('bash', ['-c', 'command -v flock']).status).toBe(0);
  });

  it.each(['flock', 'mkdir'] as const)(
    'two at once (%s lock): one installs, the other waits and does not; then no lock is taken',
    async (mode) => {
      const project = scratchProject();
      const env = { ...process.env, ...(mode === 'mkdir' ? { PATH: pathWithoutFlock() } : {}) };
      expect(spawnSync('bash', ['-c', 'command -v flock'], { env }).status).toBe(mode === 'flock' ? 0 : 1);

      const both = await Promise.all([run(project, env), run(project, env)]);
      expect(both.map((r) => r.code)).toEqual([0, 0]);
      expect({ installs: installs(both), stderr: both.map((r) => r.stderr) }).toMatchObject({ installs: 1 });
      expect(existsSync(join(project, 'node_modules', 'tiny-dep', 'index.js'))).toBe(true);
      expect(existsSync(join(project, '.ensure-deps.lock.d'))).toBe(false);

      // Installed: a run returns at once even while someone holds the lock.
      const holder =
        mode === 'flock'
          ? spawn('flock', ['-o', join(project, '.ensure-deps.lock'), 'sleep', '60'], { stdio: 'ignore' })
          : spawn(
              'bash',
              [
                '-c',
                `mkdir ${join(project, '.ensure-deps.lock.d')} && echo $$ > ${join(project, '.ensure-deps.lock.d', 'pid')} && exec sleep 60`,
              ],
              { stdio: 'ignore' },
            );
      try {
        await new Promise((r) => setTimeout(r, 300));
        const quick = await run(project, env);
        expect(quick).toMatchObject({ code: 0, stderr: '' });
        expect(quick.ms).toBeLessThan(2_000);

        // Stale (package-lock.json newer than the stamp): it waits for the holder, then installs.
        const later = new Date(Date.now() + 5_000);
        utimesSync(join(project, 'package-lock.json'), later, later);
        const waiting = run(project, env);
        await new Promise((r) => setTimeout(r, 700));
        holder.kill('SIGKILL');
        const after = await waiting;
        expect(after.code).toBe(0);
        expect(after.stderr).toMatch(/another install is running; waiting for it[\s\S]*installing npm dependencies/);
      } finally {
        holder.kill('SIGKILL');
      }
    },
    60_000,
  );

  it('takes over a mkdir lock whose holder was killed', async () => {
    const project = scratchProject();
    const env = { ...process.env, PATH: pathWithoutFlock() };
    const dead = spawnSync('bash', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim();
    mkdirSync(join(project, '.ensure-deps.lock.d'));
    writeFileSync(join(project, '.ensure-deps.lock.d', 'pid'), `${dead}\n`);
    const r = await run(project, env);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/installing npm dependencies/);
    expect(existsSync(join(project, 'node_modules', 'tiny-dep', 'index.js'))).toBe(true);
  }, 30_000);
});
