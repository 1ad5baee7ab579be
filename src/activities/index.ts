/**
 * Activities, created per host so that each knows where it runs (`observer`). Every host worker
 * registers the same set on `cluster-agents` and on `host.<nodeId>`; the queue an agent picks
 * decides where an activity runs.
 */
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { AGENT_ROLES, agentWorkflowId } from '../contracts/agents';
import { topologyUpdateSignal, type MemberSummary, type TopologyUpdatePayload } from '../contracts/common';
import { MEMBERS_MEMO, MembersMemo, nodesQuery, topologyQuery, type ConnectivityResult } from '../contracts/node-discovery';
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

export interface ActivityContext {
  /** The host this worker runs on. */
  nodeId: string;
  client: Client;
  /** Set on host workers: the process's boot id and vitals, which the lease carries. */
  host?: LeaseHost;
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
  };
}

export type Activities = ReturnType<typeof createActivities>;
