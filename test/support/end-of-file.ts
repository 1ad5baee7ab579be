/**
 * After each test file (jest `setupFilesAfterEnv`): every workflow still running on the suite's
 * server is terminated. The agents of a file's cluster would otherwise live on, and every later
 * file's host workers poll the same `cluster-agents` queue: they would run them all (discovery
 * rounds, checks, probes of hosts long gone), each file adding load to the next.
 */
import { Client, Connection } from '@temporalio/client';

afterAll(async () => {
  const address = process.env.TEMPORAL_ADDRESS;
  if (!address) return;
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
    const ids: { workflowId: string; runId: string }[] = [];
    for await (const wf of client.workflow.list({ query: 'ExecutionStatus = "Running"' })) ids.push(wf);
    await Promise.all(
      ids.map((w) => client.workflow.getHandle(w.workflowId, w.runId).terminate('test file done').catch(() => undefined)),
    );
  } finally {
    await connection.close();
  }
}, 60_000);
