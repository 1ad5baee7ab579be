/**
 * Discovery latency: a host worker process starts → it is in NodeDiscovery's `nodes` as alive.
 * One anchor host keeps the agent's workflow warm, as in a running cluster; each run spawns a new
 * worker process, measures, then stops it with SIGTERM (it leaves).
 *
 * Reported per run (all on this machine's clock):
 *   poll → alive       worker logs that it polls → the agent marks it alive (workflow time of the change)
 *   poll → visible     worker polls → a `nodes` query (every 10 ms) first shows it alive
 *   spawn → visible    process spawned → visible (includes Node start-up and loading the bundle)
 */
import type { Client } from '@temporalio/client';
import type { Member } from '../src/contracts/node-discovery';
import { loggedAt, spawnHostWorker } from '../scripts/lib/processes';
import { summary } from './stats';

export interface DiscoveryResult {
  pollToAlive: number[];
  pollToVisible: number[];
  spawnToVisible: number[];
}

export async function benchDiscovery(client: Client, env: NodeJS.ProcessEnv, runs: number): Promise<DiscoveryResult> {
  const clusterId = env.CLUSTER_ID ?? 'bench';
  const handle = client.workflow.getHandle(`${clusterId}/node-discovery`);
  const anchor = spawnHostWorker({ nodeId: 'anchor', args: ['--health-port', '0'], env });
  await anchor.waitFor(/ ready /, 120_000);
  const result: DiscoveryResult = { pollToAlive: [], pollToVisible: [], spawnToVisible: [] };
  try {
    for (let i = 1; i <= runs; i++) {
      const nodeId = `bench-${i}`;
      const h = spawnHostWorker({ nodeId, args: ['--health-port', '0'], env });
      const polling = loggedAt(await h.waitFor(/ polling .* at=\d+/, 120_000));
      let member: Member | undefined;
      const deadline = Date.now() + 30_000;
      while (!member) {
        const nodes = await handle.query<Member[]>('nodes');
        member = nodes.find((m) => m.nodeId === nodeId && m.status === 'alive');
        if (!member) {
          if (Date.now() > deadline) throw new Error(`${nodeId} not alive after 30 s`);
          await new Promise((r) => setTimeout(r, 10));
        }
      }
      const visible = Date.now();
      result.pollToAlive.push(member.statusChangedAt - polling);
      result.pollToVisible.push(visible - polling);
      result.spawnToVisible.push(visible - h.spawnedAt);
      const code = await h.stop('SIGTERM');
      if (code !== 0) throw new Error(`${nodeId} exited ${code} on SIGTERM`);
      process.stderr.write(`.`);
    }
  } finally {
    await anchor.stop('SIGTERM');
    process.stderr.write('\n');
  }
  return result;
}

export function discoveryRows(r: DiscoveryResult): (string | number)[][] {
  return [
    ['poll → alive (agent)', r.pollToAlive],
    ['poll → visible (query)', r.pollToVisible],
    ['spawn → visible', r.spawnToVisible],
  ].map(([name, values]) => {
    const s = summary(values as number[]);
    return [name as string, s.n, s.p50, s.p99, s.min, s.max];
  });
}
