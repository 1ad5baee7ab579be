/**
 * Replays a history recorded in this run and, with RECORD_HISTORIES=1, saves it as a fixture for
 * test/replay, in the API's binary protobuf encoding (the SDK's JSON helpers trip over two copies
 * of protobufjs in this dependency tree). `temporal workflow show` reads the same history as JSON.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from './temporal';

export const HISTORIES_DIR = resolve(__dirname, '..', 'fixtures', 'histories');
/** fixture name → the workflow id it ran under (a NodeAgent reads its node id from its workflow id). */
export const WORKFLOW_IDS_FILE = resolve(HISTORIES_DIR, 'workflow-ids.json');

export function recordedWorkflowIds(): Record<string, string> {
  return existsSync(WORKFLOW_IDS_FILE)
    ? (JSON.parse(readFileSync(WORKFLOW_IDS_FILE, 'utf8')) as Record<string, string>)
    : {};
}

export async function replayAndRecord(handle: WorkflowHandle, fixtureName: string): Promise<number> {
  const history = await handle.fetchHistory();
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
