/**
 * CPU accounting groups of our own under the cgroup v1 `cpuacct` hierarchy (root on this machine
 * kind), so that a host worker reports only its own processes' CPU (`--cpu-source cgroup`). Tests
 * that need one skip, and `npm run bench -- load` refuses, where none can be made (a cgroup
 * v2-only machine without delegation).
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const CPUACCT = '/sys/fs/cgroup/cpuacct';

export const canMakeCgroup: boolean = (() => {
  try {
    if (!existsSync(join(CPUACCT, 'cpuacct.usage'))) return false;
    const probe = join(CPUACCT, `probe-${process.pid}`);
    mkdirSync(probe);
    rmdirSync(probe);
    return true;
  } catch {
    return false;
  }
})();

export interface Cgroup {
  dir: string;
  /** Moves a process (and the threads and children it starts later) into the group. */
  add(pid: number | undefined): void;
  /** CPU time used by the group so far (ns). */
  usageNs(): number;
  /** Removes the group once its processes are gone (waits up to 2 s for them to leave). */
  remove(): Promise<void>;
}

export function makeCgroup(name: string): Cgroup {
  const dir = join(CPUACCT, name);
  mkdirSync(dir, { recursive: true });
  return {
    dir,
    add(pid) {
      if (pid === undefined) throw new Error(`cgroup ${name}: no pid to add`);
      writeFileSync(join(dir, 'cgroup.procs'), String(pid));
    },
    usageNs: () => Number(readFileSync(join(dir, 'cpuacct.usage'), 'utf8').trim()),
    async remove() {
      for (let i = 0; i < 20; i++) {
        try {
          rmdirSync(dir);
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      rmdirSync(dir);
    },
  };
}
