/** Agent roles and workflow ids. Workflow ids are `<clusterId>/<role>`. */
import type { z } from 'zod';
import { BASE_QUERIES, BASE_SIGNALS, ConfigurePayload } from './common';
import {
  NODE_DISCOVERY_QUERIES,
  NODE_DISCOVERY_SIGNALS,
  NODE_DISCOVERY_UPDATES,
  NodeDiscoveryConfig,
  NodeHealthChangePayload,
} from './node-discovery';
import {
  LOAD_BALANCER_QUERIES,
  LOAD_BALANCER_SIGNALS,
  LOAD_BALANCER_UPDATES,
  LoadBalancerConfig,
} from './load-balancer';
import { HEALTH_MONITOR_QUERIES, HEALTH_MONITOR_SIGNALS, HealthMonitorConfig } from './health-monitor';
import { FAILURE_DETECTOR_QUERIES, FAILURE_DETECTOR_SIGNALS, FailureDetectorConfig } from './failure-detector';
import {
  HealthEscalationIn,
  ORCHESTRATOR_QUERIES,
  ORCHESTRATOR_SIGNALS,
  ORCHESTRATOR_UPDATES,
  OrchestratorConfig,
} from './orchestrator';
import { PARTITION_QUERIES, PARTITION_SIGNALS, PartitionHandlerConfig } from './partition-handler';
import { CONSENSUS_QUERIES, CONSENSUS_SIGNALS, CONSENSUS_UPDATES, ConsensusCoordinatorConfig } from './consensus';

/** Every cluster-level role of the design; topology changes go to those that run. */
export const AGENT_ROLES = [
  'node-discovery',
  'health-monitor',
  'failure-detector',
  'load-balancer',
  'consensus-coordinator',
  'partition-handler',
  'resource-manager',
  'topology-optimizer',
  'orchestrator',
] as const;
export type AgentRole = (typeof AGENT_ROLES)[number];

export const TASK_QUEUE = 'cluster-agents';
/**
 * Workflow task timeout of every agent (Temporal's default is 10 s). A host process that is
 * paused (SIGSTOP, a VM freeze) still has polls waiting at the server: a workflow task handed to it
 * stalls that agent until this timeout, then runs on another host. Agents' tasks take milliseconds
 * (their histories stay short: they continue as new), so 4 s leaves room for a loaded host and a
 * full replay while bounding the stall (a FailureDetector stalled 10 s per such task before).
 */
export const AGENT_WORKFLOW_TASK_TIMEOUT = '4s' as const;

/**
 * An agent's run that fails is started again (after 1 s, backing off to 30 s) from its input: the
 * state it carried when it began. Workers fail a run on a nondeterminism error instead of retrying
 * its task forever (AGENT_FAILURE_ERROR_TYPES): sdk-core can send a command that a replay decides
 * otherwise (a cold worker answering a query while a task is pending: bench/query-failover.ts), and
 * a wedged agent is the one failure the cluster cannot see. Bad input fails for good (non-retryable).
 */
export const AGENT_RETRY = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' } as const;
export const AGENT_FAILURE_ERROR_TYPES: Record<string, 'NondeterminismError'[]> = { '*': ['NondeterminismError'] };
export const hostTaskQueue = (nodeId: string): string => `host.${nodeId}`;

/**
 * How every agent is started (by `cluster start`, and again by the orchestrator's supervision):
 * one task queue, the task timeout and retry above, and the summary and details the Web UI shows.
 */
export function agentStartOptions(clusterId: string, spec: Pick<AgentSpec, 'role' | 'description'>, input: unknown) {
  return {
    workflowId: agentWorkflowId(clusterId, spec.role),
    taskQueue: TASK_QUEUE,
    workflowTaskTimeout: AGENT_WORKFLOW_TASK_TIMEOUT,
    retry: AGENT_RETRY,
    args: [input],
    staticSummary: `${spec.role} agent of cluster ${clusterId}`,
    staticDetails: `${spec.description}. Long-running: continues as new and carries its state; \`npm run cluster -- query ${spec.role} state\` shows it.`,
  };
}
export const agentWorkflowId = (clusterId: string, role: string): string => `${clusterId}/${role}`;

/**
 * Roles of which more than one may run (their config's `instances`): each instance checks or
 * routes on its own; the first acts, and what the specification coordinates among them (a
 * HealthMonitor's quarantine, a LoadBalancer's surge) is agreed in a consensus round among all.
 */
export const MULTI_INSTANCE_ROLES = ['health-monitor', 'load-balancer'] as const;
/** Most instances of one role. */
export const MAX_INSTANCES = 5;
/** An instance's name (its workflow id without the cluster): the first is the role, then `<role>-2` … */
export const instanceName = (role: string, instance: number): string => (instance <= 1 ? role : `${role}-${instance}`);
/** Every instance's name, for `instances` instances of `role`. */
export const instanceNames = (role: string, instances: number): string[] =>
  Array.from({ length: Math.max(1, instances) }, (_, i) => instanceName(role, i + 1));

export interface AgentSpec {
  role: AgentRole;
  workflowType: string;
  description: string;
  /** The agent's config schema: `cluster start --config` is checked against it before anything starts. */
  config: z.ZodType;
  signals: Record<string, z.ZodType>;
  queries: readonly string[];
  updates: Record<string, z.ZodType>;
}

/** The agents this build runs; `cluster start` ensures each of them. */
export const AGENTS: Record<string, AgentSpec> = {
  'node-discovery': {
    role: 'node-discovery',
    workflowType: 'nodeDiscoveryWorkflow',
    description: 'membership, topology, topology history, connectivity matrix',
    config: NodeDiscoveryConfig,
    signals: { ...BASE_SIGNALS, ...NODE_DISCOVERY_SIGNALS },
    queries: [...BASE_QUERIES, ...NODE_DISCOVERY_QUERIES],
    updates: { configure: ConfigurePayload, ...NODE_DISCOVERY_UPDATES },
  },
  'load-balancer': {
    role: 'load-balancer',
    workflowType: 'loadBalancerWorkflow',
    description: 'targets, capacities, loads, circuit breakers, versioned routing table',
    config: LoadBalancerConfig,
    signals: { ...BASE_SIGNALS, ...LOAD_BALANCER_SIGNALS },
    queries: [...BASE_QUERIES, ...LOAD_BALANCER_QUERIES],
    updates: { configure: ConfigurePayload, ...LOAD_BALANCER_UPDATES },
  },
  'health-monitor': {
    role: 'health-monitor',
    workflowType: 'healthMonitorWorkflow',
    description: 'health checks, baselines, anomalies, alerts, quarantine',
    config: HealthMonitorConfig,
    signals: { ...BASE_SIGNALS, ...HEALTH_MONITOR_SIGNALS, nodeHealthChange: NodeHealthChangePayload },
    queries: [...BASE_QUERIES, ...HEALTH_MONITOR_QUERIES],
    updates: { configure: ConfigurePayload },
  },
  'failure-detector': {
    role: 'failure-detector',
    workflowType: 'failureDetectorWorkflow',
    description: 'suspicions, indirect probes, phi accrual, dead verdicts',
    config: FailureDetectorConfig,
    signals: { ...BASE_SIGNALS, ...FAILURE_DETECTOR_SIGNALS },
    queries: [...BASE_QUERIES, ...FAILURE_DETECTOR_QUERIES],
    updates: { configure: ConfigurePayload },
  },
  'consensus-coordinator': {
    role: 'consensus-coordinator',
    workflowType: 'consensusCoordinatorWorkflow',
    description: 'consensus rounds: proposals voted on by the agents, one round at a time per topic',
    config: ConsensusCoordinatorConfig,
    signals: { ...BASE_SIGNALS, ...CONSENSUS_SIGNALS },
    queries: [...BASE_QUERIES, ...CONSENSUS_QUERIES],
    updates: { configure: ConfigurePayload, ...CONSENSUS_UPDATES },
  },
  'partition-handler': {
    role: 'partition-handler',
    workflowType: 'partitionHandlerWorkflow',
    description: 'reachability graph, partitions (last 10), the side that keeps serving, fences',
    config: PartitionHandlerConfig,
    signals: { ...BASE_SIGNALS, ...PARTITION_SIGNALS },
    queries: [...BASE_QUERIES, ...PARTITION_QUERIES],
    updates: { configure: ConfigurePayload },
  },
  orchestrator: {
    role: 'orchestrator',
    workflowType: 'clusterOrchestratorWorkflow',
    description: 'goals, supervision of the agents, incidents, procedures (child workflows)',
    config: OrchestratorConfig,
    signals: {
      ...BASE_SIGNALS,
      ...ORCHESTRATOR_SIGNALS,
      nodeHealthChange: NodeHealthChangePayload,
      healthEscalation: HealthEscalationIn,
    },
    queries: [...BASE_QUERIES, ...ORCHESTRATOR_QUERIES],
    updates: { configure: ConfigurePayload, ...ORCHESTRATOR_UPDATES },
  },
};
