/**
 * A consensus round among the instances of one role (more than one HealthMonitor or LoadBalancer),
 * proposed by one of them through the ConsensusCoordinator (the proposeConsensus activity), majority,
 * emergency-short. Never throws: a round that could not run comes back `failed`, with why.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { instanceNames } from '../../contracts/agents';
import { roundText } from '../../core/consensus/tally';
import { ACTIVITY } from '../activity-options';
import { failureText } from '../health-monitor-activities';

export interface InstancesRound {
  result: 'accepted' | 'rejected' | 'timed_out' | 'failed';
  /** The tally with every vote and its reason, or why no round ran. */
  summary: string;
  proposalId?: string;
}

export async function roundAmongInstances(p: {
  clusterId: string;
  role: string;
  instances: number;
  topic: string;
  value: Record<string, unknown>;
  timeoutMs: number;
  /** What the activity says in the Web UI. */
  what: string;
}): Promise<InstancesRound> {
  const participants = instanceNames(p.role, p.instances);
  const { proposeConsensus } = proxyActivities<Activities>({
    ...ACTIVITY.procedureStep(p.timeoutMs + 5_000),
    summary: `consensus round ${p.what} among ${participants.join(', ')}`,
  });
  try {
    const round = await proposeConsensus({
      clusterId: p.clusterId,
      proposal: { topic: p.topic, value: p.value, participants, rule: 'majority', timeoutMs: p.timeoutMs, from: p.role },
    });
    return { result: round.result, summary: roundText(round), proposalId: round.proposalId };
  } catch (err) {
    return { result: 'failed', summary: `no round: ${failureText(err)}` };
  }
}
