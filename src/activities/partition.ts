/** Activities of the network_partition procedure: the partition as the handler holds it, and a consensus round. */
import { ApplicationFailure, type Client, WorkflowNotFoundError } from '@temporalio/client';
import { agentWorkflowId } from '../contracts/agents';
import type { ProposePayload, RoundRecord } from '../contracts/consensus';
import type { PartitionRecord } from '../contracts/partition-handler';
import { attemptFreeId } from './beating';

/** The partition `partitionId` as the partition handler holds it (null when it has dropped it). */
export async function readPartition(
  client: Client,
  input: { clusterId: string; partitionId: string },
): Promise<PartitionRecord | null> {
  try {
    const list = await client.workflow
      .getHandle(agentWorkflowId(input.clusterId, 'partition-handler'))
      .query<PartitionRecord[]>('partitions');
    return list.find((p) => p.id === input.partitionId) ?? null;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw ApplicationFailure.nonRetryable('the partition-handler agent does not run', 'NoPartitionHandler');
    throw err;
  }
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
