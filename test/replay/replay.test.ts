/**
 * Histories recorded from real runs (RECORD_HISTORIES=1 npm test) must replay against the current
 * workflow code: a change that would break running agents fails here.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { HISTORIES_DIR, recordedWorkflowIds } from '../support/histories';
import { workflowBundle } from '../support/temporal';

const files = readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.binpb'));
const ids = recordedWorkflowIds();
/** The workflow id the history ran under, when it matters to the code (NodeAgent); else the file's name. */
const idOf = (f: string) => {
  const name = f.replace(/\.binpb$/, '');
  return ids[name] ?? name;
};

describe('replay of recorded histories', () => {
  it('has recorded histories to replay', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        // Runs of the current code (handlers queue, the loop acts: patch handlers-decide-loop-acts).
        'node-discovery-e2e.binpb',
        'node-discovery-continued.binpb',
        'failure-detector-e2e.binpb',
        'node-agent-e2e.binpb',
        'health-monitor-e2e.binpb',
        'load-balancer-e2e.binpb',
        // The ConsensusCoordinator after a continue-as-new, with a round awaited beside its loop.
        'consensus-coordinator.binpb',
        // Consensus rounds (one answered, one with an absent participant), asking through a local
        // activity, and from before (round-asks-by-local-activity).
        'consensus-round.binpb',
        'consensus-round-absent.binpb',
        'consensus-round-before-local-ask.binpb',
        'consensus-round-absent-before-local-ask.binpb',
        // The partition handler after a continue-as-new with a host fenced; a network_partition
        // procedure that lifted the fences after a consensus round (the partition e2e). A handler
        // that kept and then dropped a dead member, one through a bridge with hosts on both sides
        // called dead, one that kept a member called dead in the graph because hosts in it reached
        // it; a procedure that started after the heal and took it from the partition's record.
        'partition-handler.binpb',
        'network-partition-procedure.binpb',
        'partition-handler-dead-member.binpb',
        'partition-handler-bridge-dead.binpb',
        'partition-handler-dead-reached.binpb',
        'network-partition-healed-before-start.binpb',
        // A procedure told of a second decision (a crash on the kept side during the cut).
        'network-partition-decided-again.binpb',
        // Runs from before membership reads and checks went beside the loop (fd-members-beside-loop,
        // hm-checks-beside-loop).
        'failure-detector-before-members-beside.binpb',
        'health-monitor-before-checks-beside.binpb',
        // NodeDiscovery runs from before it published its members in the memo (nd-members-in-memo).
        'node-discovery-before-members-memo.binpb',
        'node-discovery-continued-before-members-memo.binpb',
        // NodeAgent runs from before hosts reported their load (node-reports-load).
        'node-agent-before-load-reports.binpb',
        // Runs from before the host's self-check and vitals memo (node-self-check, node-vitals-memo),
        // the monitor's lease vitals and evidence (hm-host-unhealthy, hm-lease-vitals), and the
        // balancer's observation of routers (lb-observes-routers).
        'node-agent-before-self-check.binpb',
        'health-monitor-before-lease-vitals.binpb',
        'load-balancer-before-observes.binpb',
        // Runs from before agents published their health in the memo (agent-health-memo).
        'load-balancer-before-health-memo.binpb',
        // The orchestrator and its node_failure procedure (a child workflow).
        'orchestrator-e2e.binpb',
        'node-failure-procedure-e2e.binpb',
        'maintenance-procedure-e2e.binpb',
        'scale-procedure-e2e.binpb',
        // The orchestrator from before it ignored verdicts on non-members (orchestrator-members-only)
        // and took drains.
        'orchestrator-before-members-only.binpb',
        // The balancer from before a host's load report kept the routers' connections
        // (lb-connections-from-routers).
        'load-balancer-before-connections-from-routers.binpb',
        // Runs from before the balancer published its traffic summary (lb-traffic-memo), the
        // orchestrator read it (orchestrator-traffic), and a drain's cordon left with its report
        // (maintenance-cordon-at-once).
        'load-balancer-before-traffic-memo.binpb',
        'orchestrator-before-traffic.binpb',
        'maintenance-procedure-before-cordon-at-once.binpb',
        'rebalance-procedure-e2e.binpb',
        // From before the guard counted only the hosts the cluster has (orchestrator-guard-live-hosts)
        // and a procedure's recovery was its own replacement (node-failure-own-replacement).
        'orchestrator-before-guard-live-hosts.binpb',
        'node-failure-procedure-before-own-replacement.binpb',
        // From before a drain's cordon ran as a local activity (maintenance-cordon-local) and
        // before peers' watches reported crashes to the detector (peerLost).
        'maintenance-procedure-before-cordon-local.binpb',
        'failure-detector-before-watch.binpb',
        'failure-detector-peer-lost.binpb',
        // Runs recorded before that patch: agents still running them must keep replaying.
        'node-discovery-legacy-e2e.binpb',
        'node-discovery-continued-legacy.binpb',
        'failure-detector-legacy-e2e.binpb',
        'node-agent-legacy-e2e.binpb',
        'health-monitor-legacy-e2e.binpb',
        'health-monitor-legacy-1.binpb',
        'health-monitor-legacy-2.binpb',
      ]),
    );
  });

  it('replays every one of them without nondeterminism', async () => {
    async function* histories() {
      for (const f of files) {
        const history = temporal.api.history.v1.History.decode(readFileSync(resolve(HISTORIES_DIR, f)));
        yield { workflowId: idOf(f), history };
      }
    }
    const results = [];
    for await (const r of Worker.runReplayHistories({ workflowBundle: { codePath: workflowBundle() } }, histories())) {
      results.push({ workflowId: r.workflowId, error: r.error ? String(r.error) : undefined });
    }
    expect(results).toEqual(files.map((f) => ({ workflowId: idOf(f), error: undefined })));
  });
});
