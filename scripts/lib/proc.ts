/**
 * What the OS says about a process or a listening port: enough to tell the Temporal server we
 * started from an orphan of an earlier run or a stranger on the same port, and to make the
 * processes we spawn die with us. Linux answers from /proc; elsewhere `ps` answers the process
 * questions and the owner of a port stays unknown.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** Exited but not reaped yet: it holds no port and no file any more. */
  zombie: boolean;
  /** argv joined by spaces (empty for a zombie). */
  commandLine: string;
}

const HAS_PROC = existsSync('/proc/self/stat');

export function processInfo(pid: number): ProcessInfo | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  if (HAS_PROC) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
      const [state = '', ppid = ''] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      return { pid, ppid: Number(ppid), zombie: state === 'Z', commandLine: argv.join(' ') };
    } catch {
      return undefined;
    }
  }
  try {
    const out = execFileSync('ps', ['-ww', '-o', 'ppid=', '-o', 'stat=', '-o', 'args=', '-p', String(pid)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const m = /^\s*(\d+)\s+(\S+)\s*(.*)$/.exec(out.trim());
    if (!m) return undefined;
    return { pid, ppid: Number(m[1]), zombie: (m[2] ?? '').startsWith('Z'), commandLine: m[3] ?? '' };
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie. */
export function isRunning(pid: number): boolean {
  const info = processInfo(pid);
  return info !== undefined && !info.zombie;
}

export async function waitUntilGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isRunning(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** Socket inodes listening on TCP `port` (any address, IPv4 or IPv6); undefined without /proc. */
function listeningInodes(port: number): Set<string> | undefined {
  if (!HAS_PROC) return undefined;
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …; st 0A = LISTEN
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      if (!local || cols[3] !== '0A') continue;
      if (parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port && cols[9]) inodes.add(cols[9]);
    }
  }
  return inodes;
}

function holdsSocket(pid: number, inodes: Set<string>): boolean {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1] && inodes.has(m[1])) return true;
    } catch {
      // closed meanwhile
    }
  }
  return false;
}

/**
 * Whether `pid` holds a socket listening on `port`; undefined when the OS cannot tell us (no
 * /proc, or nothing listens at all).
 */
export function listensOn(pid: number, port: number): boolean | undefined {
  const inodes = listeningInodes(port);
  if (!inodes?.size) return undefined;
  return holdsSocket(pid, inodes);
}

/** The processes listening on `port` (those we may inspect), for an error message; [] when unknown. */
export function listenersOf(port: number): ProcessInfo[] {
  const inodes = listeningInodes(port);
  if (!inodes?.size) return [];
  const out: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (holdsSocket(pid, inodes)) {
      const info = processInfo(pid);
      if (info) out.push(info);
    }
  }
  return out;
}

let setprivUsable: boolean | undefined;

/**
 * The command line that runs `command` so that the kernel sends it `signal` when this process dies,
 * even by SIGKILL: setpriv(1) (util-linux) sets PR_SET_PDEATHSIG, which Node cannot, then execs the
 * command under the same pid. Where setpriv is missing the command runs as is, and callers keep
 * their own fallback (the dev server's pid file).
 */
export function dieWithParent(command: string, args: string[], signal: 'KILL' | 'TERM' = 'KILL'): [string, string[]] {
  setprivUsable ??=
    process.platform === 'linux' && spawnSync('setpriv', ['--pdeathsig', signal, '--', 'true']).status === 0;
  return setprivUsable ? ['setpriv', ['--pdeathsig', signal, '--', command, ...args]] : [command, args];
}
