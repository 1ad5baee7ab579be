import { ConfigError } from '../../src/client/connection';
import { parseWorkerConfig } from '../../src/workers/worker-config';

describe('host worker options', () => {
  it('defaults', () => {
    expect(parseWorkerConfig(['--node-id', 'n1'], {})).toEqual({
      nodeId: 'n1',
      zone: 'default',
      address: '127.0.0.1',
      healthPort: 7946,
      clusterId: 'default',
      workflowBundle: undefined,
      multicast: { group: '239.255.77.77', port: 17946 },
      services: {},
      connectTimeoutMs: 300000,
      lease: { heartbeatMs: 1000, timeoutMs: 3000 },
      healthFile: undefined,
      cpuSource: 'machine',
      watchPeers: 3,
      reachIntervalMs: 1000,
    });
  });

  it('takes the peers to watch from --watch-peers or WATCH_PEERS; rejects anything but 0-16', () => {
    expect(parseWorkerConfig(['--node-id', 'n', '--watch-peers', '0'], {}).watchPeers).toBe(0);
    expect(parseWorkerConfig(['--node-id', 'n'], { WATCH_PEERS: '5' }).watchPeers).toBe(5);
    for (const bad of ['-1', '17', 'x', '2.5'])
      expect(() => parseWorkerConfig(['--node-id', 'n', `--watch-peers=${bad}`], {})).toThrow(
        /--watch-peers: expected a number of peers 0-16/,
      );
  });

  it('takes the CPU source from the flag or CLUSTER_CPU_SOURCE', () => {
    expect(parseWorkerConfig(['--node-id', 'n', '--cpu-source', 'cgroup'], {}).cpuSource).toBe('cgroup');
    expect(parseWorkerConfig(['--node-id', 'n'], { CLUSTER_CPU_SOURCE: 'cgroup' }).cpuSource).toBe('cgroup');
  });

  it('takes the lease settings from flags or the environment', () => {
    expect(
      parseWorkerConfig(['--node-id', 'n', '--lease-heartbeat', '500', '--lease-timeout', '1500'], {}).lease,
    ).toEqual({ heartbeatMs: 500, timeoutMs: 1500 });
    expect(parseWorkerConfig(['--node-id', 'n'], { LEASE_HEARTBEAT_MS: '200', LEASE_TIMEOUT_MS: '600' }).lease).toEqual(
      {
        heartbeatMs: 200,
        timeoutMs: 600,
      },
    );
  });

  it('flags win over the environment', () => {
    const cfg = parseWorkerConfig(
      ['--node-id', 'flag', '--zone', 'z1', '--service', 'api=8080', '--service', 'db=5432'],
      {
        NODE_ID: 'env',
        NODE_ZONE: 'z2',
        HEALTH_PORT: '0',
        CLUSTER_MULTICAST: 'off',
        CLUSTER_ID: 'prod',
      },
    );
    expect(cfg).toMatchObject({
      nodeId: 'flag',
      zone: 'z1',
      healthPort: 0,
      multicast: undefined,
      clusterId: 'prod',
      services: { api: 8080, db: 5432 },
    });
  });

  it.each([
    [[], {}, /--node-id: required/],
    [['--node-id', ''], {}, /--node-id: required/],
    [['--node-id=-x'], {}, /--node-id: expected 1-63 letters/],
    [['--node-id', 'a'.repeat(64)], {}, /--node-id: expected/],
    [['--node-id', 'n', '--health-port', 'http'], {}, /--health-port: expected a port number 0-65535, got "http"/],
    [['--node-id', 'n'], { HEALTH_PORT: '65536' }, /--health-port: expected a port number/],
    [['--node-id', 'n', '--zone', 'a b'], {}, /--zone: expected/],
    [['--node-id', 'n', '--multicast', '10.0.0.1:5'], {}, /--multicast: expected GROUP:PORT/],
    [['--node-id', 'n', '--multicast', '239.1.1.1:0'], {}, /--multicast port: expected a port number 1-65535/],
    [['--node-id', 'n', '--service', 'api'], {}, /--service: expected NAME=PORT, got "api"/],
    [['--node-id', 'n', '--bogus'], {}, /Unknown option '--bogus'/],
    [['--node-id', 'n', '--connect-timeout-ms', 'soon'], {}, /--connect-timeout-ms: expected milliseconds/],
    [['--node-id', 'n'], { CLUSTER_ID: 'a/b' }, /CLUSTER_ID: expected/],
    [
      ['--node-id', 'n', '--lease-heartbeat', '100'],
      {},
      /--lease-heartbeat: expected milliseconds 200-600000, got "100"/,
    ],
    [['--node-id', 'n'], { LEASE_TIMEOUT_MS: '1s' }, /--lease-timeout: expected milliseconds 600-600000, got "1s"/],
    [
      ['--node-id', 'n', '--lease-heartbeat', '1000', '--lease-timeout', '1500'],
      {},
      /--lease-timeout: expected at least twice/,
    ],
    [['--node-id', 'n', '--cpu-source', 'host'], {}, /--cpu-source: expected machine or cgroup, got "host"/],
  ])('rejects %j %j', (argv, env, message) => {
    expect(() => parseWorkerConfig(argv, env)).toThrow(ConfigError);
    expect(() => parseWorkerConfig(argv, env)).toThrow(message);
  });
});
