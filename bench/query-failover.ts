/**
 * Reproduction: an agent whose sticky worker is SIGKILLed while queries keep coming. The query
 * that finds no workflow task in flight goes to the dead worker's sticky queue, times out there,
 * and is answered by another worker that replays the run cold — possibly while a timer of the run
 * has fired and its workflow task is still pending. Afterwards every run's history must replay.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { startDevServer } from '../scripts/lib/dev-server';
import { writeWorkflowBundle } from '../scripts/lib/bundle';
import { spawnHostWorker, type HostProcess } from '../scripts/lib/processes';
import { TASK_QUEUE, AGENT_RETRY, AGENT_WORKFLOW_TASK_TIMEOUT } from '../src/contracts/agents';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface QueryFailoverResult {
  rounds: number;
  queries: number;
  queryFailures: number;
  runs: number;
  ended: Record<string, number>;
  wftFailed: string[];
  ndeRuns: string[];
  replayFailed: number;
  answers: string;
}

/** `rounds` SIGKILLs of the FailureDetector's sticky worker, each with 4 s of queries (none with `withQueries` false). */
export async function benchQueryFailover(rounds: number, withQueries = true): Promise<QueryFailoverResult> {
  const dir = mkdtempSync(join(tmpdir(), 'qf-'));
  const bundle = await writeWorkflowBundle(join(dir, 'workflows.js'));
  const server = await startDevServer({ port: 0, logFile: join(dir, 'temporal.log') });
  const env = {
    TEMPORAL_ADDRESS: server.address,
    CLUSTER_ID: 'qf',
    CLUSTER_MULTICAST: 'off',
    CLUSTER_WORKFLOW_BUNDLE: bundle,
  };
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  let n = 0;
  const spawn = async (): Promise<HostProcess> => {
    n += 1;
    const h = spawnHostWorker({
      nodeId: `q-${n}`,
      args: ['--health-port', '0'],
      env,
    });
    await h.waitFor(/ ready /);
    return h;
  };
  let holder = await spawn();
  const wid = 'qf/failure-detector';
  const handle = await client.workflow.start('failureDetectorWorkflow', {
    workflowId: wid,
    taskQueue: TASK_QUEUE,
    workflowTaskTimeout: AGENT_WORKFLOW_TASK_TIMEOUT,
    retry: AGENT_RETRY,
    args: [{ clusterId: 'qf', config: { heartbeatIntervalMs: 1_000, topologySyncIntervalMs: 2_000 } }],
  });
  await sleep(3_000);
  let other = await spawn();
  let queries = 0;
  let queryFailures = 0;
  for (let r = 0; r < rounds; r++) {
    // The worker that completed the last workflow task holds the run in its cache (sticky).
    const h = await handle.fetchHistory();
    const last = [...(h.events ?? [])].reverse().find((e) => e.workflowTaskCompletedEventAttributes);
    const identity = last?.workflowTaskCompletedEventAttributes?.identity ?? '';
    const victim = identity.startsWith(holder.nodeId) ? holder : other;
    const survivor = victim === holder ? other : holder;
    // Kill it just after a timer started (mid-wait), then query every 25 ms for 4 s.
    process.kill(victim.child.pid as number, 'SIGKILL');
    const until = Date.now() + 4_000;
    const asked: Promise<void>[] = [];
    while (Date.now() < until) {
      if (!withQueries) {
        await sleep(25);
        continue;
      }
      queries += 1;
      asked.push(
        connection
          .withDeadline(Date.now() + 10_000, () => handle.query('state'))
          .then(
            () => undefined,
            () => void (queryFailures += 1),
          ),
      );
      await sleep(25);
    }
    await Promise.all(asked);
    holder = survivor;
    other = await spawn();
    await sleep(2_000);
    console.log(
      `query-failover: round ${r + 1}/${rounds}: killed ${victim.nodeId}, the run's sticky worker (${identity})`,
    );
  }
  // Every run of the agent: how it ended, whether it replays, and whether any task failed (a wedge).
  let runs = 0;
  let replayFailed = 0;
  const ended: Record<string, number> = {};
  const wftFailed: string[] = [];
  const ndeRuns: string[] = [];
  for await (const info of client.workflow.list({ query: `WorkflowId = '${wid}'` })) {
    runs += 1;
    ended[info.status.name] = (ended[info.status.name] ?? 0) + 1;
    const history = await client.workflow.getHandle(wid, info.runId).fetchHistory();
    for (const e of history.events ?? []) {
      if (e.workflowTaskFailedEventAttributes)
        wftFailed.push(`${info.runId} #${e.eventId}: ${e.workflowTaskFailedEventAttributes.failure?.message}`);
      const f = e.workflowExecutionFailedEventAttributes?.failure?.message;
      if (f) ndeRuns.push(`${info.runId}: failed: ${f.slice(0, 200)}`);
    }
    if (info.status.name === 'FAILED') continue; // its history is the one the bug made
    try {
      await Worker.runReplayHistory({ workflowBundle: { codePath: bundle } }, history, wid);
    } catch (err) {
      replayFailed += 1;
      console.log(`run ${info.runId}: ${String(err).slice(0, 300)}`);
    }
  }
  const answers = await handle.query('state').then(
    () => 'answers',
    (err: unknown) => `does not answer: ${String(err)}`,
  );
  await handle.terminate('done').catch(() => undefined);
  await Promise.all([holder.stop('SIGKILL'), other.stop('SIGKILL')]);
  await connection.close();
  await server.stop();
  return { rounds, queries, queryFailures, runs, ended, wftFailed, ndeRuns, replayFailed, answers };
}

export function queryFailoverRows(r: QueryFailoverResult): string[][] {
  return [
    [
      'sticky worker SIGKILLed, queries during failover',
      `${r.rounds} kills, ${r.queries} queries (${r.queryFailures} failed or timed out)`,
    ],
    ['WorkflowTaskFailed (an agent wedged)', `${r.wftFailed.length}`],
    ['runs ended by a nondeterminism error, restarted from their input', `${r.ndeRuns.length}`],
    ['runs', `${r.runs} ${JSON.stringify(r.ended)}`],
    ['runs not failed that do not replay', `${r.replayFailed}`],
    ['the agent at the end', r.answers],
  ];
}
