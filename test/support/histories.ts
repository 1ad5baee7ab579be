/**
 * Replays a history recorded in this run and, with RECORD_HISTORIES=1, saves it as a fixture for
 * test/replay, in the API's binary protobuf encoding (the SDK's JSON helpers trip over two copies
 * of protobufjs in this dependency tree). `temporal workflow show` reads the same history as JSON.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from './temporal';
import { describeEvent, eventMs } from '../../scripts/lib/history-events';

export const HISTORIES_DIR = resolve(__dirname, '..', 'fixtures', 'histories');
/** fixture name → the workflow id it ran under (a NodeAgent reads its node id from its workflow id). */
export const WORKFLOW_IDS_FILE = resolve(HISTORIES_DIR, 'workflow-ids.json');

export function recordedWorkflowIds(): Record<string, string> {
  return existsSync(WORKFLOW_IDS_FILE)
    ? (JSON.parse(readFileSync(WORKFLOW_IDS_FILE, 'utf8')) as Record<string, string>)
    : {};
}

/**
 * Replays every workflow of `workflowType` this server holds (every run), started at or after
 * `since`: a history whose replay diverges means the code did something replay cannot — e.g. a
 * query that changed state. Returns how many were replayed; throws with the first failures.
 */
export async function replayAll(
  client: Client,
  /** One type, or several replayed by one replay worker (each worker loads the bundle again: ~1 s). */
  workflowType: string | readonly string[],
  since: Date,
  /** Only workflows whose id starts with this (a file's own clusters: runs another file left behind are not its to replay). */
  idPrefix?: string,
): Promise<number> {
  const types = typeof workflowType === 'string' ? [workflowType] : workflowType;
  const query = `WorkflowType IN (${types.map((x) => `'${x}'`).join(', ')}) AND StartTime >= '${since.toISOString()}'${idPrefix ? ` AND WorkflowId STARTS_WITH '${idPrefix}'` : ''}`;
  const failures: string[] = [];
  // The replay worker takes one history at a time: a result is the last one handed to it.
  let current: { runId: string; history: temporal.api.history.v1.IHistory } | undefined;
  let n = 0;
  // Replayed under their own workflow ids (a NodeAgent reads its node id from it), all by one
  // replay worker (one per history cost a second each: the bundle loaded again every time).
  async function* histories() {
    for await (const wf of client.workflow.list({ query })) {
      const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
      n += 1;
      for (const f of workflowTaskFailures(history)) failures.push(`${wf.workflowId} run ${wf.runId}: ${f}`);
      current = { runId: wf.runId, history };
      yield { workflowId: wf.workflowId, history };
    }
  }
  for await (const r of Worker.runReplayHistories({ workflowBundle: { codePath: workflowBundle() } }, histories())) {
    if (!r.error || !current) continue;
    const { runId, history } = current;
    // Keep the history that failed, to inspect it and to make it a replay fixture.
    const dir = mkdtempSync(join(tmpdir(), 'replay-failure-'));
    const file = join(dir, `${r.workflowId.replace(/[^A-Za-z0-9_.-]/g, '_')}@${runId}.binpb`);
    writeFileSync(file, temporal.api.history.v1.History.encode(history).finish());
    failures.push(`${r.workflowId} run ${runId} (history in ${file}): ${String(r.error).slice(0, 400)}`);
  }
  if (failures.length)
    throw new Error(`${failures.length} of ${n} ${workflowType} histories do not replay:\n${failures.join('\n')}`);
  return n;
}

/**
 * Every WorkflowTaskFailed of a history, as "CAUSE: message" — except those the server records on
 * its own while nothing is wrong with the workflow: UNHANDLED_COMMAND (a signal arrived while the
 * workflow completed or continued as new; the task is retried with it), FORCE_CLOSE_COMMAND (the
 * workflow was terminated while a task was in flight), RESET_STICKY_TASK_QUEUE / RESET_WORKFLOW /
 * FAILOVER_CLOSE_COMMAND. Anything else (nondeterminism, a throwing handler) wedges an agent until a
 * fix is deployed.
 */
const BENIGN = new Set<number>([
  temporal.api.enums.v1.WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND,
  temporal.api.enums.v1.WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND,
  temporal.api.enums.v1.WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_STICKY_TASK_QUEUE,
  temporal.api.enums.v1.WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW,
  temporal.api.enums.v1.WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_FAILOVER_CLOSE_COMMAND,
]);

export function workflowTaskFailures(history: temporal.api.history.v1.IHistory): string[] {
  const { EventType, WorkflowTaskFailedCause } = temporal.api.enums.v1;
  return (history.events ?? []).flatMap((e) => {
    if (e.eventType !== EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED) return [];
    const a = e.workflowTaskFailedEventAttributes;
    const cause = a?.cause ?? WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNSPECIFIED;
    if (BENIGN.has(cause)) return [];
    // The agent loop's own refusal to decide on a stale clock (StaleClockError): the task is retried
    // from a full replay and nothing is lost. It names an sdk-core defect, not ours.
    if (/^stale workflow clock/.test(String(a?.failure?.message ?? ''))) return [];
    return [
      `event ${String(e.eventId)} WorkflowTaskFailed ${WorkflowTaskFailedCause[cause]}: ${String(a?.failure?.message ?? '').slice(0, 300)}`,
    ];
  });
}

export async function replayAndRecord(handle: WorkflowHandle, fixtureName: string, minEvents = 20): Promise<number> {
  // The latest run may have just continued as new (a few events only): give it time to do some work,
  // so that the replay (and the fixture) covers the agent's loop, not just its start.
  let history = await handle.fetchHistory();
  for (let waited = 0; (history.events?.length ?? 0) < minEvents && waited < 30_000; waited += 500) {
    await new Promise((r) => setTimeout(r, 500));
    history = await handle.fetchHistory();
  }
  await Worker.runReplayHistory({ workflowBundle: { codePath: workflowBundle() } }, history, handle.workflowId);
  if (process.env.RECORD_HISTORIES === '1') {
    writeFileSync(
      resolve(HISTORIES_DIR, `${fixtureName}.binpb`),
      temporal.api.history.v1.History.encode(history).finish(),
    );
    const ids = { ...recordedWorkflowIds(), [fixtureName]: handle.workflowId };
    writeFileSync(WORKFLOW_IDS_FILE, JSON.stringify(ids, Object.keys(ids).sort(), 2) + '\n');
  }
  return history.events?.length ?? 0;
}

/** Every agent workflow type; e2e files replay all of them that they wrote. */
export const AGENT_WORKFLOW_TYPES = [
  'nodeDiscoveryWorkflow',
  'loadBalancerWorkflow',
  'failureDetectorWorkflow',
  'healthMonitorWorkflow',
  'nodeAgentWorkflow',
  'clusterOrchestratorWorkflow',
  'nodeFailureProcedure',
  'maintenanceProcedure',
  'scaleProcedure',
  'rebalanceProcedure',
  'consensusCoordinatorWorkflow',
  'consensusRoundWorkflow',
] as const;

/**
 * A describe block that replays every agent history a test file wrote since `since` (and finds no
 * workflow task failure in them); `client` is read when the tests run.
 */
export function describeHistoriesOfThisFile(client: () => Client, since: Date): void {
  describe('histories of this file', () => {
    // One replay worker for every type: one per type cost a bundle load each (~1 s, ten types a file).
    it(`every agent history written here replays (${AGENT_WORKFLOW_TYPES.join(', ')})`, async () => {
      expect(await replayAll(client(), AGENT_WORKFLOW_TYPES, since)).toBeGreaterThanOrEqual(0);
    });
  });
}

/**
 * A failing test's evidence of where an agent spent its time: the events of every run of
 * `workflowId` from `sinceMs` on, one line each ("+ms EventType identity/activity"), e.g. to see a
 * workflow task handed to a paused host.
 */
export async function eventTimeline(client: Client, workflowId: string, sinceMs: number, max = 200): Promise<string> {
  const lines: { at: number; line: string }[] = [];
  for await (const run of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    if (run.closeTime && run.closeTime.getTime() < sinceMs) continue;
    const history = await client.workflow.getHandle(workflowId, run.runId).fetchHistory();
    for (const e of history.events ?? []) {
      const at = eventMs(e);
      if (at < sinceMs) continue;
      lines.push({ at, line: `+${at - sinceMs} ${run.runId.slice(0, 8)} ${describeEvent(e)}` });
    }
  }
  return lines
    .sort((a, b) => a.at - b.at)
    .slice(-max)
    .map((x) => x.line)
    .join('\n');
}
