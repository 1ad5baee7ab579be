/**
 * Activities, created per host so that each knows where it runs (`observer`). Every host worker
 * registers the same set on `cluster-agents` and on `host.<nodeId>`; the queue an agent picks
 * decides where an activity runs.
 */
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { AGENT_ROLES, agentWorkflowId } from '../contracts/agents';
import {
  consensusRequestSignal,
  topologyUpdateSignal,
  type ConsensusRequestPayload,
  type MemberSummary,
  type TopologyUpdatePayload,
} from '../contracts/common';
import {
  MEMBERS_MEMO,
  MembersMemo,
  nodesQuery,
  topologyQuery,
  type ConnectivityResult,
} from '../contracts/node-discovery';
import { VITALS_MEMO, VitalsMemo, nodeAgentWorkflowId, type VitalsSample } from '../contracts/node-agent';
import { summaryOf } from '../core/membership';
import { checkEndpoint, type CheckConnectivityInput } from './connectivity';
import { dnsDiscover } from './dns-discovery';
import { holdLease, type HoldLeaseInput, type LeaseHost } from './lease';
import { probeNode, type ProbeInput } from './probe';
import {
  deepInspect,
  networkPerformance,
  notifyWebhook,
  runRecovery,
  sampleResources,
  serviceAvailability,
  tlsExpiry,
} from './health';
import { multicastDiscover } from './multicast-discovery';
import {
  awaitBalanced,
  awaitDrained,
  awaitUnrouted,
  describeAgents,
  readLbTraffic,
  rebalanceLb,
  restartAgent,
  runHook,
  setCordon,
} from './orchestrator';
import { beating } from './beating';
import { proposeConsensus, readPartition } from './partition';
import type { ProposePayload } from '../contracts/consensus';

export interface ActivityContext {
  /** The host this worker runs on. */
  nodeId: string;
  client: Client;
  /** Set on host workers: the process's boot id and vitals, which the lease carries. */
  host?: LeaseHost;
}

/** One node's vitals as its NodeAgent's memo holds them (readNodeVitals). */
export interface NodeVitalsRead {
  nodeId: string;
  incarnation: number;
  samples: VitalsSample[];
  lease?: { heartbeatMs: number; suspicions: number; heartbeatPhi: number };
}

export interface AskParticipantsInput {
  clusterId: string;
  /** Agent names within the cluster (`node-discovery`, `node/<id>` …). */
  participants: string[];
  request: ConsensusRequestPayload;
}

export interface BroadcastInput {
  clusterId: string;
  fromRole: string;
  update: TopologyUpdatePayload;
}

export function createActivities(ctx: ActivityContext) {
  return {
    async checkConnectivity(input: CheckConnectivityInput): Promise<ConnectivityResult[]> {
      return Promise.all(input.targets.map((t) => checkEndpoint(t, input.timeoutMs, ctx.nodeId)));
    },
    dnsDiscover,
    multicastDiscover,
    /** The host's lease (runs on `host.<nodeId>`). */
    holdLease: (input: HoldLeaseInput) => holdLease(ctx.host, input),
    /** An indirect probe of a suspect, from this host. */
    probeNode: (input: ProbeInput) => probeNode(ctx.nodeId, input),
    /** Health probes (src/activities/health.ts). */
    sampleResources: () => sampleResources(ctx.host),
    deepInspect: (input: { sampleMs: number }) => deepInspect(ctx.host, input),
    networkPerformance,
    serviceAvailability,
    tlsExpiry,
    runRecovery,
    notifyWebhook,
    /**
     * A consensus round asks its participants (local activity of the round): one
     * `consensusRequest` signal to each, all at once, straight to the server. Signals a workflow
     * sends itself are delivered one after another (each locks the sender), which spread the five
     * over ~20-80 ms. A participant whose workflow does not run is returned as absent; any other
     * failure throws (the activity is retried).
     */
    async askParticipants(input: AskParticipantsInput): Promise<{ absent: { participant: string; reason: string }[] }> {
      const absent: { participant: string; reason: string }[] = [];
      await Promise.all(
        input.participants.map(async (participant) => {
          try {
            await ctx.client.workflow
              .getHandle(`${input.clusterId}/${participant}`)
              .signal(consensusRequestSignal, input.request);
          } catch (err) {
            if (err instanceof WorkflowNotFoundError)
              absent.push({ participant, reason: `could not be asked: ${err.message}`.slice(0, 300) });
            else throw err;
          }
        }),
      );
      return { absent };
    },
    /**
     * Signals topologyUpdate to every other agent of the cluster that runs; absent ones are skipped.
     * Only NodeDiscovery runs that started before agents signalled each other from their loop
     * (`agent.notify`) still schedule it; kept registered until none of those runs remain.
     */
    async broadcastTopology(input: BroadcastInput): Promise<{ delivered: string[]; absent: string[] }> {
      const delivered: string[] = [];
      const absent: string[] = [];
      await Promise.all(
        AGENT_ROLES.filter((r) => r !== input.fromRole).map(async (role) => {
          try {
            await ctx.client.workflow
              .getHandle(agentWorkflowId(input.clusterId, role))
              .signal(topologyUpdateSignal, input.update);
            delivered.push(role);
          } catch (err) {
            if (err instanceof WorkflowNotFoundError) absent.push(role);
            else throw err;
          }
        }),
      );
      return { delivered: delivered.sort(), absent: absent.sort() };
    },
    /**
     * The latest vitals of each node that its NodeAgent published in its memo (VITALS_MEMO), newer
     * than `since` (ms, per node): `describe` of each agent, at most 16 at once, answered by the
     * server without a worker. A node whose agent is missing or has no memo yet is left out; the
     * activity fails only when not one describe answered (the server is away: the next round retries).
     */
    async readNodeVitals(input: {
      clusterId: string;
      nodes: { nodeId: string; since?: number }[];
    }): Promise<NodeVitalsRead[]> {
      const out: NodeVitalsRead[] = [];
      let answered = 0;
      let lastError: unknown;
      const queue = [...input.nodes];
      const worker = async () => {
        for (let n = queue.shift(); n; n = queue.shift()) {
          try {
            const d = await ctx.client.workflow.getHandle(nodeAgentWorkflowId(input.clusterId, n.nodeId)).describe();
            answered += 1;
            const memo = VitalsMemo.safeParse(d.memo?.[VITALS_MEMO]);
            if (!memo.success) continue;
            const samples = memo.data.samples.filter((v) => n.since === undefined || v.at > n.since);
            out.push({
              nodeId: n.nodeId,
              incarnation: memo.data.incarnation,
              samples,
              ...(memo.data.lease ? { lease: memo.data.lease } : {}),
            });
          } catch (err) {
            if (err instanceof WorkflowNotFoundError) answered += 1;
            else lastError = err;
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(16, input.nodes.length) }, worker));
      if (answered === 0 && lastError) throw lastError;
      return out.sort((a, b) => a.nodeId.localeCompare(b.nodeId));
    },
    /**
     * The current members as NodeDiscovery knows them, for an agent that starts after it (or
     * reconciles): null when NodeDiscovery does not run. Read from its memo with `describe`, which
     * the server answers without a worker; only runs that started before they published a memo
     * (patch nd-members-in-memo) are queried.
     */
    async readMembers(input: { clusterId: string }): Promise<{ version: number; members: MemberSummary[] } | null> {
      const handle = ctx.client.workflow.getHandle(agentWorkflowId(input.clusterId, 'node-discovery'));
      try {
        const described = await handle.describe();
        const memo = described.memo?.[MEMBERS_MEMO];
        if (memo !== undefined) {
          const parsed = MembersMemo.safeParse(memo);
          if (!parsed.success)
            throw ApplicationFailure.nonRetryable(
              `NodeDiscovery memo ${MEMBERS_MEMO}: expected {version, members[]}: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
              'InvalidMembersMemo',
            );
          return parsed.data;
        }
        const [nodes, topology] = await Promise.all([handle.query(nodesQuery), handle.query(topologyQuery)]);
        const members = nodes.map(summaryOf);
        return { version: topology.version, members };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return null;
        throw err;
      }
    },
    /** The orchestrator's supervision: every agent's status and published health (describe). */
    describeAgents: (input: { clusterId: string; roles: string[] }) => describeAgents(ctx.client, input),
    /** Starts an agent that is not running again with its last input. */
    restartAgent: (input: { clusterId: string; role: string }) => restartAgent(ctx.client, input),
    /** An operator hook (start a replacement), from config. */
    runHook: (...args: Parameters<typeof runHook>) => beating(() => runHook(...args)),
    /** Until the LoadBalancer's table routes nothing to the node. */
    awaitUnrouted: (input: { clusterId: string; nodeId: string; timeoutMs: number }) =>
      beating(() => awaitUnrouted(ctx.client, input)),
    setCordon: (input: { clusterId: string; nodeId: string; cordon: boolean; reason?: string; by?: string }) =>
      beating(() => setCordon(ctx.client, input)),
    readLbTraffic: (input: { clusterId: string }) => beating(() => readLbTraffic(ctx.client, input)),
    rebalanceLb: (input: { clusterId: string; strategy?: string; reason: string }) =>
      beating(() => rebalanceLb(ctx.client, input)),
    awaitBalanced: (input: { clusterId: string; tableVersion: number; threshold: number; settleMs: number }) =>
      awaitBalanced(ctx.client, input),
    /** The partition as the partition handler holds it (the network_partition procedure's scope). */
    readPartition: (input: { clusterId: string; partitionId: string }) => readPartition(ctx.client, input),
    /** A consensus round by the ConsensusCoordinator; the result with every vote. */
    proposeConsensus: (input: { clusterId: string; proposal: Partial<ProposePayload> & { topic: string } }) =>
      beating(() => proposeConsensus(ctx.client, input)),
    awaitDrained: (input: {
      clusterId: string;
      nodeId: string;
      deadlineMs: number;
      since?: number;
      settleMs?: number;
    }) => awaitDrained(ctx.client, input),
    /**
     * Stops this host gracefully (a drain with --stop), as SIGTERM does: it says goodbye and leaves.
     * Runs on the host's own queue; answers first, then the host stops.
     */
    async stopHost(input: { nodeId: string; reason: string }): Promise<{ stopping: boolean }> {
      if (!ctx.host?.requestStop || input.nodeId !== ctx.nodeId)
        throw ApplicationFailure.nonRetryable(
          `stopHost runs only on host ${input.nodeId}'s own worker (this is ${ctx.nodeId ?? 'no host'})`,
          'NotThisHost',
        );
      const stop = ctx.host.requestStop;
      setTimeout(() => stop(input.reason), 200).unref();
      return { stopping: true };
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
