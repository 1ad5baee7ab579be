/**
 * A network lab for partition tests and benches: each host in a network namespace of its own,
 * joined by veth pairs to a bridge in the root namespace (which also reaches the Temporal server
 * there), and cuts made for real with nftables inside the namespaces: packets are dropped by the
 * kernel, nothing is simulated in application code. Every address lives on the bridge's private
 * /24 or on loopback; `destroy` removes every namespace, link and rule the lab made.
 *
 * Needs root, `ip` (iproute2) and `nft` (Debian's nftables; `ensureNft` installs it when apt-get
 * is there). `labSupport()` says why a lab cannot be made here, for tests to skip with the reason.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import net from 'node:net';

export interface LabHost {
  nodeId: string;
  ns: string;
  ip: string;
}

export interface Lab {
  /** The bridge's address in the root namespace: the hosts reach the server here. */
  bridgeIp: string;
  hosts: LabHost[];
  host(nodeId: string): LabHost;
  /** Drops every packet between the two groups, both ways. */
  split(a: string[], b: string[]): void;
  /** Drops packets from `from` to `to` only (one way). */
  cutOneWay(from: string, to: string): void;
  /** Drops `percent` of the packets on the link between a and b (both ways). */
  loss(a: string, b: string, percent: number): void;
  /** The hosts cannot reach the Temporal server (its port on the bridge address). */
  isolateServer(nodeIds: string[], serverPort: number): void;
  /** Removes every cut: the network is whole again. */
  heal(): void;
  /** The rules in force, one line per host (for a failing test's message). */
  describe(): string;
  destroy(): void;
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Why a lab cannot be made on this machine, or undefined when it can. */
export function labSupport(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  if (spawnSync('ip', ['netns', 'list']).status !== 0) return '`ip netns` is not available';
  const probe = `ca-probe-${process.pid}`;
  const made = spawnSync('ip', ['netns', 'add', probe]);
  if (made.status !== 0) return `this machine forbids network namespaces: ${made.stderr.toString().trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  if (!ensureNft()) return 'nft (Debian package nftables) is missing and could not be installed';
  return undefined;
}

/** True when `nft` runs; installs Debian's nftables first when it is missing and apt-get is there. */
export function ensureNft(): boolean {
  if (spawnSync('nft', ['--version']).status === 0) return true;
  if (spawnSync('apt-get', ['--version']).status !== 0) return false;
  spawnSync('apt-get', ['install', '-y', '-qq', 'nftables'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (spawnSync('nft', ['--version']).status === 0) return true;
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore' });
  spawnSync('apt-get', ['install', '-y', '-qq', 'nftables'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return spawnSync('nft', ['--version']).status === 0;
}

/**
 * Makes `nodeIds.length` namespaces `<tag>-<i>` on a bridge `<tag>` with 10.<net>.<sub>.0/24
 * (tag: at most 8 letters and digits, unique per lab). Namespaces and links left over from an
 * earlier lab of the same tag are removed first.
 */
export function createLab(tag: string, nodeIds: string[], subnet = 10 + (process.pid % 200)): Lab {
  if (!/^[a-z][a-z0-9]{0,7}$/.test(tag)) throw new Error(`lab tag: expected 1-8 lowercase letters and digits, got ${tag}`);
  const net = `10.213.${subnet}`;
  const bridge = `${tag}br`;
  const bridgeIp = `${net}.1`;
  const hosts: LabHost[] = nodeIds.map((nodeId, i) => ({ nodeId, ns: `${tag}-${i + 1}`, ip: `${net}.${11 + i}` }));
  const lab: Lab = {
    bridgeIp,
    hosts,
    host(nodeId) {
      const h = hosts.find((x) => x.nodeId === nodeId);
      if (!h) throw new Error(`no host ${nodeId} in the lab`);
      return h;
    },
    split(a, b) {
      for (const x of a) for (const y of b) {
        drop(lab.host(x), lab.host(y).ip);
        drop(lab.host(y), lab.host(x).ip);
      }
    },
    cutOneWay(from, to) {
      nft(lab.host(from), ['add', 'rule', 'inet', 'lab', 'out', 'ip', 'daddr', lab.host(to).ip, 'drop']);
      nft(lab.host(to), ['add', 'rule', 'inet', 'lab', 'in', 'ip', 'saddr', lab.host(from).ip, 'drop']);
    },
    loss(a, b, percent) {
      for (const [x, y] of [[a, b], [b, a]] as const)
        nft(lab.host(x), ['add', 'rule', 'inet', 'lab', 'out', 'ip', 'daddr', lab.host(y).ip, 'numgen', 'random', 'mod', '100', '<', String(percent), 'drop']);
    },
    isolateServer(ids, serverPort) {
      for (const id of ids)
        nft(lab.host(id), ['add', 'rule', 'inet', 'lab', 'out', 'ip', 'daddr', bridgeIp, 'tcp', 'dport', String(serverPort), 'drop']);
    },
    heal() {
      for (const h of hosts) {
        nft(h, ['flush', 'chain', 'inet', 'lab', 'out']);
        nft(h, ['flush', 'chain', 'inet', 'lab', 'in']);
      }
    },
    describe() {
      return hosts
        .map((h) => {
          const rules = run('ip', ['netns', 'exec', h.ns, 'nft', 'list', 'table', 'inet', 'lab'])
            .split('\n')
            .filter((l) => /drop/.test(l))
            .map((l) => l.trim());
          return `${h.nodeId} (${h.ip}): ${rules.join('; ') || 'no cuts'}`;
        })
        .join('\n');
    },
    destroy() {
      for (const h of hosts) spawnSync('ip', ['netns', 'del', h.ns]);
      spawnSync('ip', ['link', 'del', bridge]);
    },
  };
  lab.destroy();
  try {
    run('ip', ['link', 'add', bridge, 'type', 'bridge']);
    run('ip', ['addr', 'add', `${bridgeIp}/24`, 'dev', bridge]);
    run('ip', ['link', 'set', bridge, 'up']);
    hosts.forEach((h, i) => {
      const veth = `${tag}v${i + 1}`;
      run('ip', ['netns', 'add', h.ns]);
      run('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns]);
      run('ip', ['link', 'set', veth, 'master', bridge]);
      run('ip', ['link', 'set', veth, 'up']);
      run('ip', ['netns', 'exec', h.ns, 'ip', 'addr', 'add', `${h.ip}/24`, 'dev', 'eth0']);
      run('ip', ['netns', 'exec', h.ns, 'ip', 'link', 'set', 'eth0', 'up']);
      run('ip', ['netns', 'exec', h.ns, 'ip', 'link', 'set', 'lo', 'up']);
      run('ip', ['netns', 'exec', h.ns, 'ip', 'route', 'add', 'default', 'via', bridgeIp]);
    });
  } catch (err) {
    lab.destroy();
    throw err;
  }
  for (const h of hosts) {
    execFileSync('ip', ['netns', 'exec', h.ns, 'nft', '-f', '-'], {
      input: 'table inet lab {\n chain out { type filter hook output priority 0; }\n chain in { type filter hook input priority 0; }\n}\n',
      stdio: ['pipe', 'ignore', 'pipe'],
    });
  }
  return lab;

  function nft(h: LabHost, args: string[]): void {
    run('ip', ['netns', 'exec', h.ns, 'nft', ...args]);
  }
  function drop(h: LabHost, peerIp: string): void {
    nft(h, ['add', 'rule', 'inet', 'lab', 'out', 'ip', 'daddr', peerIp, 'drop']);
    nft(h, ['add', 'rule', 'inet', 'lab', 'in', 'ip', 'saddr', peerIp, 'drop']);
  }
}

/**
 * A TCP relay on the bridge address to a server on loopback (the Temporal dev server binds its
 * internal services to the address it listens on, and dials them on 127.0.0.1: it must stay on
 * loopback). Hosts in the namespaces reach the server through it; cutting its port cuts them off.
 */
export async function relay(listenIp: string, target: { host: string; port: number }): Promise<{ address: string; port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect(target.port, target.host);
    inbound.setNoDelay(true);
    outbound.setNoDelay(true);
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    inbound.pipe(outbound).on('error', () => undefined);
    outbound.pipe(inbound).on('error', () => undefined);
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, listenIp, () => ok());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    address: `${listenIp}:${port}`,
    port,
    close: () =>
      new Promise<void>((ok) => {
        for (const s of sockets) s.destroy();
        server.close(() => ok());
      }),
  };
}
