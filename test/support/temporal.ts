/** Connections to the suite's dev server (test/global-setup.ts) and in-process workers. */
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { AGENT_FAILURE_ERROR_TYPES } from '../../src/contracts/agents';
import { createActivities } from '../../src/activities';
import { PAYLOAD_CONVERTER_PATH } from '../../src/converter/path';
import { hostTaskQueue } from '../../src/contracts/agents';
import type { Vitals } from '../../src/workers/vitals';

// Quiet SDK and workflow logs unless asked for (TEST_LOG_LEVEL=INFO); once per process.
try {
  Runtime.install({ logger: new DefaultLogger((process.env.TEST_LOG_LEVEL as 'INFO' | undefined) ?? 'ERROR') });
} catch {
  // already installed by an earlier test file in this process
}

export function serverAddress(): string {
  const address = process.env.TEMPORAL_ADDRESS;
  if (!address) throw new Error('TEMPORAL_ADDRESS is not set: run the tests through jest (test/global-setup.ts)');
  return address;
}

export function workflowBundle(): string {
  const bundle = process.env.CLUSTER_WORKFLOW_BUNDLE;
  if (!bundle) throw new Error('CLUSTER_WORKFLOW_BUNDLE is not set: run the tests through jest (test/global-setup.ts)');
  return bundle;
}

export const uniqueId = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;

export interface TestTemporal {
  client: Client;
  connection: Connection;
  close(): Promise<void>;
}

export async function connect(): Promise<TestTemporal> {
  const connection = await Connection.connect({ address: serverAddress() });
  const client = new Client({ connection, namespace: 'default' });
  return { client, connection, close: () => connection.close() };
}

export interface TestWorker {
  worker: Worker;
  stop(): Promise<void>;
}

/** Runs a worker made with its own connection; `stop` shuts both down. */
async function run(options: Omit<WorkerOptions, 'connection' | 'namespace'>): Promise<TestWorker> {
  const connection = await NativeConnection.connect({ address: serverAddress() });
  const worker = await Worker.create({
    connection,
    namespace: 'default',
    dataConverter: { payloadConverterPath: PAYLOAD_CONVERTER_PATH },
    workflowFailureErrorTypes: AGENT_FAILURE_ERROR_TYPES,
    ...options,
  });
  const running = worker.run();
  return {
    worker,
    stop: async () => {
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
}

/** A worker in this process on `taskQueue`, with the same workflows and activities as a host worker. */
export function startWorker(
  client: Client,
  taskQueue: string,
  nodeId = 'test-host',
  /** Activities that behave otherwise here, e.g. one that fails as on a dying host. */
  overrides: Partial<ReturnType<typeof createActivities>> = {},
): Promise<TestWorker> {
  return run({
    taskQueue,
    workflowBundle: { codePath: workflowBundle() },
    activities: { ...createActivities({ nodeId, client }), ...overrides },
    stickyQueueScheduleToStartTimeout: '1s',
    shutdownGraceTime: '1s',
  });
}

/**
 * A host's own queue `host.<nodeId>` served in this process, as `npm run worker` serves it; with
 * `host` (boot id + vitals) it can hold a lease and sample resources.
 */
export function startHostQueue(
  client: Client,
  nodeId: string,
  host?: { bootId: string; vitals: () => Vitals },
): Promise<TestWorker> {
  return run({
    taskQueue: hostTaskQueue(nodeId),
    activities: createActivities({ nodeId, client, host }),
    maxHeartbeatThrottleInterval: '50ms',
    shutdownGraceTime: '100ms',
  });
}

/** Polls `read` until `done` holds; fails with the last value seen. */
export async function eventually<T>(
  what: string,
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 15_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await read();
      if (done(last)) return last;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const seen = lastError && last === undefined ? `error ${String(lastError)}` : JSON.stringify(last, null, 1);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${seen}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
