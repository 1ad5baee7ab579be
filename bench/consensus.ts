/**
 * `npm run bench -- consensus`: rounds of the ConsensusCoordinator on a real dev server, with three
 * host worker processes running every agent; the five default participants (NodeDiscovery, the
 * FailureDetector, the HealthMonitor, the LoadBalancer, the orchestrator) vote on each proposal.
 *
 * Measured, one round at a time:
 *   propose → result      client `executeUpdate('propose')` → its result (what an operator or an
 *                         agent waits): the coordinator's task, the round's child workflow, five
 *                         signals out, five votes back, the result back to the coordinator.
 *   round (workflow time) the round's first task → the task that decided it (its `durationMs`).
 *   proposed → decided    the coordinator's clock: the update's task → the task that recorded it.
 */
import { Client, Connection } from '@temporalio/client';
import type { RoundRecord } from '../src/contracts/consensus';
import { spawnHostWorker, type HostProcess } from '../scripts/lib/processes';
import { startAgent, waitUntil } from './control';
import { summary } from './stats';

export interface ConsensusOptions {
  address: string;
  env: NodeJS.ProcessEnv;
  rounds: number;
}

export interface ConsensusResult {
  client: number[];
  round: number[];
  coordinator: number[];
  results: Record<string, number>;
  participants: number;
}

const HOSTS = 3;
const WARM_UP = 10;

export async function benchConsensus(opts: ConsensusOptions): Promise<ConsensusResult> {
  const clusterId = opts.env.CLUSTER_ID ?? 'bench-consensus';
  const hosts: HostProcess[] = [];
  const connection = await Connection.connect({ address: opts.address });
  try {
    for (let i = 1; i <= HOSTS; i++)
      hosts.push(spawnHostWorker({ nodeId: `k${i}`, args: ['--health-port', '0'], env: opts.env }));
    await Promise.all(hosts.map((h) => h.waitFor(/ ready /, 120_000)));
    const client = new Client({ connection });
    for (const role of ['node-discovery', 'failure-detector', 'health-monitor', 'load-balancer', 'orchestrator'])
      await startAgent(client, clusterId, role);
    const coordinator = await startAgent(client, clusterId, 'consensus-coordinator');
    await waitUntil(
      `${HOSTS} members`,
      () => client.workflow.getHandle(`${clusterId}/node-discovery`).query<unknown[]>('nodes'),
      (m) => m.length === HOSTS,
      60_000,
    );
    const r: ConsensusResult = { client: [], round: [], coordinator: [], results: {}, participants: 0 };
    for (let i = 0; i < WARM_UP + opts.rounds; i++) {
      const t0 = performance.now();
      const rec = await coordinator.executeUpdate<RoundRecord, [unknown]>('propose', {
        args: [{ topic: 'bench', value: { round: i }, from: 'bench' }],
      });
      const ms = performance.now() - t0;
      if (i < WARM_UP) continue;
      r.client.push(ms);
      r.round.push(rec.durationMs);
      r.coordinator.push(rec.decidedAt - rec.proposedAt);
      r.results[rec.result] = (r.results[rec.result] ?? 0) + 1;
      r.participants = rec.participants.length;
      if (rec.result !== 'accepted') console.log(`round ${rec.proposalId}: ${rec.summary}`);
      process.stderr.write('.');
    }
    process.stderr.write('\n');
    return r;
  } finally {
    await Promise.all(hosts.map((h) => h.stop('SIGTERM')));
    await connection.close();
  }
}

export function consensusRows(r: ConsensusResult): (string | number)[][] {
  return [
    [`propose → result (client), ${r.participants} participants`, r.client, 'p50 ≤ 150'],
    ['  round: first task → decided (workflow time)', r.round, ''],
    ['  coordinator: proposed → result recorded (workflow time)', r.coordinator, ''],
  ].map(([name, values, target]) => {
    const s = summary(values as number[]);
    return [name as string, s.n, s.p50, s.p99, s.min, s.max, target as string];
  });
}
