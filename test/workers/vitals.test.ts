/**
 * Whose CPU a host reports: the cgroup reader against cgroup v1 and v2 layouts written to a temporary
 * directory, and the real machine's cgroup with a real CPU burner in it when this machine lets us
 * make one (cgroup v1 cpuacct, as root).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import os from 'node:os';
import { join } from 'node:path';
import { cgroupCpu } from '../../src/workers/vitals';
import { canMakeCgroup, makeCgroup } from '../../scripts/lib/cgroups';

function layout(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'cgroup-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('cgroupCpu', () => {
  it('v1: cpuacct.usage of the process cgroup, against every core without a quota', () => {
    const root = layout({
      'proc-cgroup': '4:memory:/x\n2:cpuacct:/hosts/a\n1:cpu:/hosts/a\n0::/\n',
      'cpuacct/hosts/a/cpuacct.usage': '123456789\n',
      'cpu/hosts/a/cpu.cfs_quota_us': '-1\n',
      'cpu/hosts/a/cpu.cfs_period_us': '100000\n',
    });
    const c = cgroupCpu(join(root, 'proc-cgroup'), root);
    expect(c?.busy).toBe(123456789);
    expect(c?.from).toBe(`${root}/cpuacct/hosts/a`);
    // total = wall ns × cores: two reads a moment apart differ by about elapsed × cores.
    const later = cgroupCpu(join(root, 'proc-cgroup'), root);
    expect((later?.total ?? 0) - (c?.total ?? 0)).toBeGreaterThanOrEqual(0);
    expect((c?.total ?? 0) / Number(process.hrtime.bigint())).toBeCloseTo(os.cpus().length, 1);
  });

  it('v1: a CFS quota of half a core counts half a core', () => {
    const root = layout({
      'proc-cgroup': '2:cpu,cpuacct:/c\n',
      'cpu,cpuacct/c/cpuacct.usage': '5\n',
      'cpu,cpuacct/c/cpu.cfs_quota_us': '50000\n',
      'cpu,cpuacct/c/cpu.cfs_period_us': '100000\n',
    });
    const c = cgroupCpu(join(root, 'proc-cgroup'), root);
    expect((c?.total ?? 0) / Number(process.hrtime.bigint())).toBeCloseTo(Math.min(os.cpus().length, 0.5), 1);
  });

  it('v2: usage_usec of cpu.stat (in ns) and cpu.max', () => {
    const root = layout({
      'proc-cgroup': '0::/svc/b\n',
      'svc/b/cpu.stat': 'usage_usec 2000\nuser_usec 1500\nsystem_usec 500\n',
      'svc/b/cpu.max': '100000 100000\n',
    });
    const c = cgroupCpu(join(root, 'proc-cgroup'), root);
    expect(c?.busy).toBe(2_000_000);
    expect((c?.total ?? 0) / Number(process.hrtime.bigint())).toBeCloseTo(Math.min(os.cpus().length, 1), 1);
  });

  it('none when there is no accounting to read', () => {
    const root = layout({ 'proc-cgroup': '4:memory:/x\n0::/nothing\n' });
    expect(cgroupCpu(join(root, 'proc-cgroup'), root)).toBeUndefined();
    expect(cgroupCpu(join(root, 'absent'), root)).toBeUndefined();
  });
});

(canMakeCgroup ? describe : describe.skip)('VitalsSampler with --cpu-source cgroup (a real cgroup)', () => {
  it("reports its own cgroup's CPU: a burner moved into the cgroup shows as about one core", async () => {
    const group = makeCgroup(`vitals-test-${process.pid}`);
    // A child process in the cgroup samples its own cgroup's CPU while a burner runs beside it.
    const script = `
      const { VitalsSampler } = require(${JSON.stringify(require.resolve('../../src/workers/vitals'))});
      const s = new VitalsSampler(200, 'cgroup').start();
      const out = [];
      const t = setInterval(() => out.push(s.current().cpu), 200);
      setTimeout(() => { clearInterval(t); s.stop(); console.log(JSON.stringify(out)); }, 2600);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const burner = spawn(process.execPath, ['-e', 'const end = Date.now() + 3000; while (Date.now() < end) {}']);
    try {
      for (const pid of [child.pid, burner.pid]) group.add(pid);
      let text = '';
      child.stdout.on('data', (d: Buffer) => (text += d.toString()));
      await new Promise((ok) => child.once('exit', ok));
      const samples = JSON.parse(text) as number[];
      // One busy core of all the machine's: about 1 / cores (the sampler itself adds a little).
      const busy = samples.slice(3);
      const mean = busy.reduce((a, b) => a + b, 0) / busy.length;
      expect(mean).toBeGreaterThan(0.6 / os.cpus().length);
      expect(group.usageNs()).toBeGreaterThan(0);
    } finally {
      burner.kill('SIGKILL');
      child.kill('SIGKILL');
      await group.remove();
    }
  });
});
