/** Activities of the network_partition procedure: the partition as the handler holds it, and a consensus round. */
import { ApplicationFailure, type Client, WorkflowNotFoundError } from '@temporalio/client';
import { agentWorkflowId } from '../contracts/agents';
import type { ProposePayload, RoundRecord } from '../contracts/consensus';
import { PARTITIONS_MEMO, type PartitionSummary } from '../contracts/partition-handler';
import { attemptFreeId } from './beating';

/**
 * The partition `partitionId` as the partition handler holds it (null when it has dropped it), from
 * its memo: `describe` is answered by the server alone, where a query waited for a worker (10.3 s
 * in a nemesis run, while the handler's sticky worker was on a host that had just been cut off).
 */
export async function readPartition(
  client: Client,
  input: { clusterId: string; partitionId: string },
): Promise<PartitionSummary | null> {
  let memo: unknown;
  try {
    const d = await client.workflow.getHandle(agentWorkflowId(input.clusterId, 'partition-handler')).describe();
    if (d.status.name !== 'RUNNING')
      throw ApplicationFailure.nonRetryable(`the partition-handler agent is ${d.status.name.toLowerCase()}`, 'NoPartitionHandler');
    memo = d.memo?.[PARTITIONS_MEMO];
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw ApplicationFailure.nonRetryable('the partition-handler agent does not run', 'NoPartitionHandler');
    throw err;
  }
  // A run that has not written the memo yet (it writes it in its first task): retried.
  if (!Array.isArray(memo)) throw new Error(`the partition handler's memo has no ${PARTITIONS_MEMO} yet`);
  return (memo as PartitionSummary[]).find((p) => p.id === input.partitionId) ?? null;
}

/** A consensus round by the ConsensusCoordinator (its `propose` update); waits for the result. */
export async function proposeConsensus(
  client: Client,
  input: { clusterId: string; proposal: Partial<ProposePayload> & { topic: string } },
): Promise<RoundRecord> {
  const updateId = attemptFreeId('propose');
  try {
    return await client.workflow
      .getHandle(agentWorkflowId(input.clusterId, 'consensus-coordinator'))
      .executeUpdate<RoundRecord, [unknown]>('propose', {
        args: [input.proposal],
        // A retry (the host of the first attempt died) waits on the round the first attempt began.
        ...(updateId ? { updateId } : {}),
      });
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw ApplicationFailure.nonRetryable('the consensus-coordinator agent does not run', 'NoCoordinator');
    throw err;
  }
}
