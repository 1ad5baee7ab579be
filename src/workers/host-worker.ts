/**
 * The host worker (`npm run worker`): one per host. Polls the shared `cluster-agents` queue (agent
 * workflows and cluster-wide activities) and `host.<nodeId>` (activities that must run here),
 * serves GET /healthz, answers multicast discovery, announces itself to NodeDiscovery with
 * signal-with-start, and on SIGTERM announces that it leaves, stops polling and exits 0.
 */
import { PAYLOAD_CONVERTER_PATH } from '../converter/path';
import { randomUUID } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import {
  AGENT_FAILURE_ERROR_TYPES,
  AGENT_RETRY,
  AGENT_WORKFLOW_TASK_TIMEOUT,
  TASK_QUEUE,
  agentWorkflowId,
  hostTaskQueue,
} from '../contracts/agents';
import { announceSignal, leaveSignal, type Announcement } from '../contracts/node-discovery';
import { hostLeavingSignal, hostStartedSignal, nodeAgentWorkflowId } from '../contracts/node-agent';
import { ConfigError, connectionSettings } from '../client/connection';
import { startHealthServer } from './health-server';
import { probeSelf, reachableAddress } from './self-probe';

/** Longest wait for the host's own /healthz (ms): a loopback answer takes about a millisecond. */
const SELF_PROBE_TIMEOUT_MS = 1_000;
/** How often a host reads the membership to re-spread its peer watches (ms). */
const WATCH_REFRESH_MS = 2_000;
/** After a watch broke, the one reconnect that tells a crash (refused) from a broken connection (ms). */
const WATCH_RECONNECT_TIMEOUT_MS = 500;
import { startMulticastResponder } from './multicast-responder';
import { PeerWatcher } from './peer-watch';
import { ReachabilityMonitor, type HostFence } from './reachability';
import { recordingRetries } from './retry-record';
import { VitalsSampler } from './vitals';
import { parseWorkerConfig, type WorkerConfig } from './worker-config';

const log = (nodeId: string, msg: string) => console.log(`${new Date().toISOString().slice(11, 23)} [worker ${nodeId}] ${msg}`);

async function retry<T>(what: string, timeoutMs: number, nodeId: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let delay = 250;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() + delay > deadline) throw err;
      if (attempt === 1 || attempt % 10 === 0) log(nodeId, `${what} failed (${(err as Error).message}); retrying`);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 5_000);
    }
  }
}

const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const;
type LogLevel = (typeof LOG_LEVELS)[number];

/** The SDK's logger at LOG_LEVEL (default WARN), without the expected "no workflows on host.<id>" warning. */
function sdkLogger(raw: string | undefined): DefaultLogger {
  const level = (raw ?? 'WARN').toUpperCase();
  if (!LOG_LEVELS.includes(level as LogLevel)) {
    throw new ConfigError(`LOG_LEVEL: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(raw)}`);
  }
  const fallback = new DefaultLogger(level as LogLevel);
  return new DefaultLogger(level as LogLevel, (entry) => {
    if (entry.message.startsWith('No workflows registered')) return;
    fallback.log(entry.level, entry.message, entry.meta);
  });
}

export async function runHostWorker(cfg: WorkerConfig): Promise<void> {
  // Signals are ours to handle: leave first, then stop polling.
  Runtime.install({ logger: sdkLogger(process.env.LOG_LEVEL), shutdownSignals: [] });
  const settings = connectionSettings();
  const bootId = randomUUID();
  const startedAt = Date.now();
  const vitals = new VitalsSampler(1_000, cfg.cpuSource).start();
  const identity = {
    nodeId: cfg.nodeId,
    clusterId: cfg.clusterId,
    zone: cfg.zone,
    address: cfg.address,
    bootId,
    startedAt,
    services: cfg.services,
  };
  const health = await startHealthServer(
    identity,
    vitals,
    { host: cfg.address, port: cfg.healthPort },
    cfg.healthFile,
  ).catch((err: Error) => {
    throw new ConfigError(`--health-port: cannot listen on ${cfg.address}:${cfg.healthPort}: ${err.message}`);
  });
  log(cfg.nodeId, `health endpoint http://${cfg.address}:${health.port}/healthz`);

  const native = await retry('connecting to Temporal at ' + settings.address, cfg.connectTimeoutMs, cfg.nodeId, () =>
    NativeConnection.connect({ address: settings.address, tls: settings.tls, apiKey: settings.apiKey }),
  );
  // The default retries, remembering what they retried: a report that runs out of its deadline
  // names the error it kept meeting.
  const retries = recordingRetries();
  const connection = await Connection.connect({
    address: settings.address,
    tls: settings.tls,
    apiKey: settings.apiKey,
    interceptors: [retries.interceptor],
  });
  const client = new Client({ connection, namespace: settings.namespace });
  const leaving = new AbortController();
  /** A drain's stopHost: set once `stop` exists below. */
  const stopHook: { request?: (reason: string) => void } = {};
  /** Set on SIGTERM/SIGINT: the host is leaving. */
  let stopping = false;
  let fenced: HostFence | undefined;
  const activities = createActivities({
    nodeId: cfg.nodeId,
    client,
    host: {
      bootId,
      vitals: () => vitals.current(),
      lagPeakMs: (since: number) => vitals.lagPeakMs(since),
      stopping: leaving.signal,
      requestStop: (reason: string) => stopHook.request?.(reason),
      holdsIncarnation: (n: number) => health.setIncarnation(n),
      // While the host leaves, /healthz answers 503 "leaving": that is a goodbye, not a failure.
      probeSelf: async () => {
        const p = await probeSelf(reachableAddress(cfg.address), health.port, SELF_PROBE_TIMEOUT_MS);
        // Fenced is a decision, not a failure: the host's health does not change for it.
        return stopping || fenced ? undefined : p;
      },
    },
  });

  const workflowSource: Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> = cfg.workflowBundle
    ? { workflowBundle: { codePath: cfg.workflowBundle } }
    : { workflowsPath: require.resolve('../workflows') };
  const clusterWorker = await Worker.create({
    connection: native,
    namespace: settings.namespace,
    taskQueue: TASK_QUEUE,
    ...workflowSource,
    // Never throws on a payload it cannot decode: garbage from a client is rejected, not wedging.
    dataConverter: { payloadConverterPath: PAYLOAD_CONVERTER_PATH },
    activities,
    identity: `${cfg.nodeId}@cluster-agents`,
    // A host that dies must not hold its cached workflows for long: their next tasks go back to the
    // shared queue after 1 s. (500 ms was tried: a crash the watches report then waits less when the
    // FailureDetector ran its last task on the dead host, but a worker starved for half a second
    // hands its tasks to another, which replays them: the fault suite under load went flaky.)
    stickyQueueScheduleToStartTimeout: '1s',
    shutdownGraceTime: '3s',
    workflowFailureErrorTypes: AGENT_FAILURE_ERROR_TYPES,
    // A procedure's step beats each second against a 5 s heartbeat timeout (ACTIVITY.procedureStep):
    // the beats must reach the server that often (the default holds them back to 80 % of the timeout).
    maxHeartbeatThrottleInterval: '1s',
  });
  const hostWorker = await Worker.create({
    connection: native,
    namespace: settings.namespace,
    taskQueue: hostTaskQueue(cfg.nodeId),
    dataConverter: { payloadConverterPath: PAYLOAD_CONVERTER_PATH },
    activities,
    identity: `${cfg.nodeId}@host`,
    shutdownGraceTime: '3s',
    // The lease heartbeats on its own cadence: the SDK must not hold beats back (it would by
    // default coalesce them up to 80 % of the heartbeat timeout).
    maxHeartbeatThrottleInterval: '50ms',
  });
  const running = Promise.all([clusterWorker.run(), hostWorker.run()]);
  log(cfg.nodeId, `polling ${TASK_QUEUE} and ${hostTaskQueue(cfg.nodeId)} at=${Date.now()}`);
  running.catch((err: Error) => {
    console.error(`[worker ${cfg.nodeId}] worker failed: ${err.message}`);
    process.exit(1);
  });

  let multicast: { close(): void } | undefined;
  if (cfg.multicast) {
    const iface = isIPv4(cfg.address) ? cfg.address : '127.0.0.1';
    multicast = await startMulticastResponder({
      ...cfg.multicast,
      interface: iface,
      reply: {
        clusterId: cfg.clusterId,
        nodeId: cfg.nodeId,
        address: cfg.address,
        healthPort: health.port,
        zone: cfg.zone,
      },
    }).catch((err: Error) => {
      log(cfg.nodeId, `multicast discovery disabled: ${err.message}`);
      return undefined;
    });
  }

  const announcement: Announcement = {
    nodeId: cfg.nodeId,
    address: cfg.address,
    healthPort: health.port,
    zone: cfg.zone,
    bootId,
    startedAt,
    services: cfg.services,
  };
  const discoveryStart = {
    workflowId: agentWorkflowId(cfg.clusterId, 'node-discovery'),
    taskQueue: TASK_QUEUE,
    workflowTaskTimeout: AGENT_WORKFLOW_TASK_TIMEOUT,
    retry: AGENT_RETRY,
    args: [{ clusterId: cfg.clusterId, config: {} }],
  };
  await retry('announcing', cfg.connectTimeoutMs, cfg.nodeId, () =>
    client.workflow.signalWithStart('nodeDiscoveryWorkflow', {
      ...discoveryStart,
      signal: announceSignal,
      signalArgs: [announcement],
    }),
  );
  const nodeAgentStart = {
    workflowId: nodeAgentWorkflowId(cfg.clusterId, cfg.nodeId),
    taskQueue: TASK_QUEUE,
    workflowTaskTimeout: AGENT_WORKFLOW_TASK_TIMEOUT,
    retry: AGENT_RETRY,
    args: [{ clusterId: cfg.clusterId, config: { lease: cfg.lease } }],
  };
  await retry('starting the node agent', cfg.connectTimeoutMs, cfg.nodeId, () =>
    client.workflow.signalWithStart('nodeAgentWorkflow', {
      ...nodeAgentStart,
      signal: hostStartedSignal,
      signalArgs: [
        {
          nodeId: cfg.nodeId,
          bootId,
          address: cfg.address,
          healthPort: health.port,
          zone: cfg.zone,
          startedAt,
          lease: cfg.lease,
        },
      ],
    }),
  );
  // Peers' processes, watched: a crash among them is reported at once (the lease bounds the rest).
  const watcher = new PeerWatcher({
    nodeId: cfg.nodeId,
    clusterId: cfg.clusterId,
    client,
    k: cfg.watchPeers,
    refreshMs: WATCH_REFRESH_MS,
    reconnectTimeoutMs: WATCH_RECONNECT_TIMEOUT_MS,
    reach: reachableAddress,
    log: (msg) => log(cfg.nodeId, msg),
  }).start();
  vitals.watches = () => ({ ...watcher.current(), watchedBy: health.watchedBy() });
  // What this host reaches, for the partition handler; the fences it must obey (503 `fenced`).
  const reach =
    cfg.reachIntervalMs > 0
      ? new ReachabilityMonitor({
          nodeId: cfg.nodeId,
          clusterId: cfg.clusterId,
          client,
          localAddress: isIPv4(cfg.address) && cfg.address !== '0.0.0.0' ? cfg.address : undefined,
          intervalMs: cfg.reachIntervalMs,
          // Before the lease can lapse on the server: it lapses a lease timeout after the last
          // renewal, which may be a heartbeat older than the last contact; 400 ms for the ping's
          // cadence and deadline.
          selfFenceAfterMs: Math.max(300, cfg.lease.timeoutMs - cfg.lease.heartbeatMs - 400),
          onFence: (f) => {
            fenced = f;
            health.setFence(f);
          },
          log: (msg) => log(cfg.nodeId, msg),
          lastRetried: retries.lastRetried,
        }).start()
      : undefined;
  log(
    cfg.nodeId,
    `ready cluster=${cfg.clusterId} zone=${cfg.zone} health=${health.port} boot=${bootId} at=${Date.now()}`,
  );

  const stop = async (sig: string) => {
    if (stopping) {
      log(cfg.nodeId, `${sig} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    log(cfg.nodeId, `${sig}: leaving the cluster`);
    health.setStatus(503, 'leaving');
    // Goodbye on every watch first: the peers watching this process must not take its exit for a crash.
    health.leave(`worker stopped (${sig})`);
    watcher.stop();
    reach?.stop();
    try {
      await Promise.race([
        Promise.all([
          client.workflow.signalWithStart('nodeDiscoveryWorkflow', {
            ...discoveryStart,
            signal: leaveSignal,
            signalArgs: [{ nodeId: cfg.nodeId, bootId, reason: `worker stopped (${sig})` }],
          }),
          client.workflow
            .getHandle(nodeAgentStart.workflowId)
            .signal(hostLeavingSignal, { bootId, reason: `worker stopped (${sig})` }),
        ]),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timed out after 3 s')), 3_000)),
      ]);
    } catch (err) {
      log(cfg.nodeId, `could not announce leave: ${(err as Error).message}`);
    }
    leaving.abort();
    clusterWorker.shutdown();
    hostWorker.shutdown();
    await running.catch(() => undefined);
    multicast?.close();
    vitals.stop();
    await health.close();
    await connection.close();
    await native.close();
    log(cfg.nodeId, 'stopped');
    process.exit(0);
  };
  stopHook.request = (reason) => void stop(`stop requested: ${reason}`.slice(0, 200));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

if (require.main === module) {
  let cfg: WorkerConfig;
  try {
    cfg = parseWorkerConfig(process.argv.slice(2));
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    process.exit(2);
  }
  runHostWorker(cfg).catch((err: Error) => {
    console.error(`error: ${err.message}`);
    process.exit(err instanceof ConfigError ? 2 : 1);
  });
}
