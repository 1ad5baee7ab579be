/** Host worker options: command-line flags first, then environment variables, then defaults. */
import { parseArgs } from 'node:util';
import { isIPv4 } from 'node:net';
import { ConfigError, clusterIdFrom } from '../client/connection';
import type { CpuSource } from './vitals';

export interface WorkerConfig {
  nodeId: string;
  zone: string;
  /** Address peers use to reach this host (default 127.0.0.1: set it on a real multi-host cluster). */
  address: string;
  /** Port of GET /healthz (default 7946; 0 picks a free one). */
  healthPort: number;
  clusterId: string;
  /** Prebuilt workflow bundle; without one the worker bundles src/workflows at start (seconds). */
  workflowBundle?: string;
  /** Multicast discovery group, or undefined when disabled ("off"). */
  multicast?: { group: string; port: number };
  /** Services this host serves, NAME → port. */
  services: Record<string, number>;
  /** How long to keep retrying the first connection to Temporal (ms, default 5 min). */
  connectTimeoutMs: number;
  /** The host's lease: heartbeat interval and timeout (ms; defaults 1 000 / 3 000, at least 200 / 600). */
  lease: { heartbeatMs: number; timeoutMs: number };
  /** While this file exists, GET /healthz answers with the status code it holds (maintenance / fault switch). */
  healthFile?: string;
  /** Whose CPU the host reports: the machine's (default) or its own cgroup's (a container, or one of several hosts on a machine). */
  cpuSource: CpuSource;
  /** Peers this host watches with a long-lived connection (default 3; 0 = none): a crash is known at once. */
  watchPeers: number;
  /** How often the host checks what it reaches, for the partition handler (ms, default 1000; 0 = off). */
  reachIntervalMs: number;
}

export const WORKER_USAGE = `usage: npm run worker -- --node-id ID [--zone Z] [--health-port P] [--address A]
         [--multicast GROUP:PORT|off] [--service NAME=PORT ...] [--workflow-bundle FILE]
         [--lease-heartbeat MS (default 1000)] [--lease-timeout MS (default 3000)] [--health-file PATH]
         [--cpu-source machine|cgroup (default machine)] [--watch-peers K (default 3, 0 = off)]
         [--reach-interval MS (default 1000, 0 = off)]
env: NODE_ID, NODE_ZONE, HEALTH_PORT, NODE_ADDRESS, CLUSTER_MULTICAST, CLUSTER_WORKFLOW_BUNDLE, CLUSTER_ID,
     LEASE_HEARTBEAT_MS, LEASE_TIMEOUT_MS, HEALTH_FILE, CLUSTER_CPU_SOURCE, WATCH_PEERS, REACH_INTERVAL_MS,
     TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE (and TEMPORAL_TLS_*, TEMPORAL_API_KEY)`;

const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

function port(name: string, raw: string, allowZero: boolean): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n > 65535 || (!allowZero && n === 0)) {
    throw new ConfigError(`${name}: expected a port number ${allowZero ? '0' : '1'}-65535, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function millis(name: string, raw: string, min: number): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > 600_000) {
    throw new ConfigError(`${name}: expected milliseconds ${min}-600000, got ${JSON.stringify(raw)}`);
  }
  return n;
}

export function parseWorkerConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        'node-id': { type: 'string' },
        zone: { type: 'string' },
        'health-port': { type: 'string' },
        address: { type: 'string' },
        multicast: { type: 'string' },
        service: { type: 'string', multiple: true },
        'workflow-bundle': { type: 'string' },
        'connect-timeout-ms': { type: 'string' },
        'lease-heartbeat': { type: 'string' },
        'lease-timeout': { type: 'string' },
        'health-file': { type: 'string' },
        'cpu-source': { type: 'string' },
        'watch-peers': { type: 'string' },
        'reach-interval': { type: 'string' },
      },
    }));
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}\n${WORKER_USAGE}`);
  }
  const nodeId = values['node-id'] ?? env.NODE_ID;
  if (nodeId === undefined || nodeId === '') {
    throw new ConfigError(`--node-id: required (or NODE_ID), e.g. --node-id node-1\n${WORKER_USAGE}`);
  }
  if (!NODE_ID.test(nodeId)) {
    throw new ConfigError(
      `--node-id: expected 1-63 letters, digits, "-", "_" or ".", starting with a letter or digit, got ${JSON.stringify(nodeId)}`,
    );
  }
  const zone = values.zone ?? env.NODE_ZONE ?? 'default';
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(zone)) {
    throw new ConfigError(`--zone: expected 1-64 letters, digits, "-", "_" or ".", got ${JSON.stringify(zone)}`);
  }
  const address = values.address ?? env.NODE_ADDRESS ?? '127.0.0.1';
  if (!/^[A-Za-z0-9.:-]{1,253}$/.test(address)) {
    throw new ConfigError(`--address: expected an IP address or host name, got ${JSON.stringify(address)}`);
  }
  const healthPort = port('--health-port', values['health-port'] ?? env.HEALTH_PORT ?? '7946', true);
  const multicastRaw = values.multicast ?? env.CLUSTER_MULTICAST ?? '239.255.77.77:17946';
  let multicast: WorkerConfig['multicast'];
  if (multicastRaw !== 'off') {
    const [group = '', p = ''] = multicastRaw.split(':');
    const first = Number(group.split('.')[0]);
    if (!isIPv4(group) || first < 224 || first > 239) {
      throw new ConfigError(
        `--multicast: expected GROUP:PORT with an IPv4 multicast group or "off", got ${JSON.stringify(multicastRaw)}`,
      );
    }
    multicast = { group, port: port('--multicast port', p, false) };
  }
  const services: Record<string, number> = {};
  for (const s of values.service ?? []) {
    const m = /^([A-Za-z0-9_.-]{1,64})=(\d+)$/.exec(s);
    if (!m) throw new ConfigError(`--service: expected NAME=PORT, got ${JSON.stringify(s)}`);
    services[m[1] as string] = port(`--service ${m[1]}`, m[2] as string, false);
  }
  const timeoutRaw = values['connect-timeout-ms'] ?? '300000';
  if (!/^\d+$/.test(timeoutRaw))
    throw new ConfigError(`--connect-timeout-ms: expected milliseconds, got ${JSON.stringify(timeoutRaw)}`);
  const heartbeatMs = millis('--lease-heartbeat', values['lease-heartbeat'] ?? env.LEASE_HEARTBEAT_MS ?? '1000', 200);
  const leaseTimeoutMs = millis('--lease-timeout', values['lease-timeout'] ?? env.LEASE_TIMEOUT_MS ?? '3000', 600);
  if (leaseTimeoutMs < 2 * heartbeatMs) {
    throw new ConfigError(
      `--lease-timeout: expected at least twice --lease-heartbeat (${2 * heartbeatMs} ms), got ${leaseTimeoutMs}`,
    );
  }
  const cpuSource = values['cpu-source'] ?? (env.CLUSTER_CPU_SOURCE || 'machine');
  if (cpuSource !== 'machine' && cpuSource !== 'cgroup')
    throw new ConfigError(`--cpu-source: expected machine or cgroup, got ${JSON.stringify(cpuSource)}`);
  const watchRaw = values['watch-peers'] ?? (env.WATCH_PEERS || '3');
  if (!/^\d+$/.test(watchRaw) || Number(watchRaw) > 16)
    throw new ConfigError(`--watch-peers: expected a number of peers 0-16, got ${JSON.stringify(watchRaw)}`);
  const reachRaw = values['reach-interval'] ?? (env.REACH_INTERVAL_MS || '1000');
  const reachIntervalMs = reachRaw === '0' ? 0 : millis('--reach-interval', reachRaw, 100);
  return {
    nodeId,
    zone,
    address,
    healthPort,
    clusterId: clusterIdFrom(env),
    workflowBundle: values['workflow-bundle'] ?? (env.CLUSTER_WORKFLOW_BUNDLE || undefined),
    multicast,
    services,
    connectTimeoutMs: Number(timeoutRaw),
    lease: { heartbeatMs, timeoutMs: leaseTimeoutMs },
    healthFile: values['health-file'] ?? (env.HEALTH_FILE || undefined),
    cpuSource,
    watchPeers: Number(watchRaw),
    reachIntervalMs,
  };
}
