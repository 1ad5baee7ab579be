/**
 * `npm run bench -- control`: the load balancer's control plane on a real dev server, with three
 * host worker processes (they run NodeDiscovery and the LoadBalancer and are its targets) and N
 * routers in this process, each on its own gRPC connection as separate services would be.
 *
 * Measured, on this machine's clock:
 *   capacity update → routers   `nodeCapacityUpdate` signal sent → the last of the N routers installed
 *                               the table it caused (its `onTable` callback); also the first router
 *                               and the signal call alone. The update alternates one host's capacity
 *                               between 4 and 1, which moves its weight 100 ↔ 25 (well past the 10 %
 *                               rebalance threshold), so every run publishes a new version.
 *   distributeLoad round trip   client `executeUpdate('distributeLoad')` → its result, one at a time.
 *   cordon → no new picks       `cordon` update of c1 sent (a drain's first step) → the last of the N
 *                               routers installed the table without c1 (from then on no router picks
 *                               it); uncordoned between runs.
 */
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { AGENTS, TASK_QUEUE, agentWorkflowId } from '../src/contracts/agents';
import type { RouteDecision, RoutingTable } from '../src/contracts/load-balancer';
import { Router } from '../src/router/router';
import { spawnHostWorker, type HostProcess } from '../scripts/lib/processes';
import { summary } from './stats';

export interface ControlOptions {
  /** Server address and the env host workers need (TEMPORAL_ADDRESS, CLUSTER_WORKFLOW_BUNDLE, ...). */
  address: string;
  env: NodeJS.ProcessEnv;
  routers: number;
  /** Capacity updates measured. */
  updates: number;
  /** distributeLoad calls measured. */
  calls: number;
}

export interface ControlResult {
  signalSent: number[];
  firstRouter: number[];
  allRouters: number[];
  distribute: number[];
  /** cordon update sent → the last router holds a table without the node. */
  cordon: number[];
}

const HOSTS = 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `read` every 50 ms until `done` holds (read errors count as not yet); throws after `ms`. */
export async function waitUntil<T>(
  what: string,
  read: () => Promise<T>,
  done: (v: T) => boolean,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read().catch(() => undefined);
    if (v !== undefined && done(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The cluster's LoadBalancer with its default config (the one already running, if any). */
export async function startLoadBalancer(client: Client, clusterId: string): Promise<WorkflowHandle> {
  return startAgent(client, clusterId, 'load-balancer');
}

/** Starts one agent of the cluster with its default config (or finds it running), as `cluster start` does. */
export async function startAgent(client: Client, clusterId: string, role: string): Promise<WorkflowHandle> {
  const spec = AGENTS[role];
  if (!spec) throw new Error(`no ${role} agent in this build`);
  return client.workflow.start(spec.workflowType, {
    workflowId: agentWorkflowId(clusterId, spec.role),
    taskQueue: TASK_QUEUE,
    args: [{ clusterId, config: {} }],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
}

export async function benchControl(opts: ControlOptions): Promise<ControlResult> {
  const clusterId = opts.env.CLUSTER_ID ?? 'bench-control';
  const hosts: HostProcess[] = [];
  const connections: Connection[] = [];
  const routers: Router[] = [];
  try {
    for (let i = 1; i <= HOSTS; i++)
      hosts.push(spawnHostWorker({ nodeId: `c${i}`, args: ['--health-port', '0'], env: opts.env }));
    await Promise.all(hosts.map((h) => h.waitFor(/ ready /, 120_000)));

    const connection = await Connection.connect({ address: opts.address });
    connections.push(connection);
    const client = new Client({ connection });
    const lb = await startLoadBalancer(client, clusterId);
    await waitUntil(
      `${HOSTS} targets in the routing table`,
      () => lb.query<RoutingTable>('routingTable'),
      (t) => t.targets.length === HOSTS,
    );

    // Each router reports the moment it installs a version; a run waits for all of them.
    let expected = Infinity;
    let sentAt = 0;
    let installs: number[] = [];
    let allIn: (() => void) | undefined;
    for (let r = 0; r < opts.routers; r++) {
      const c = await Connection.connect({ address: opts.address });
      connections.push(c);
      const router = new Router({
        client: new Client({ connection: c }),
        clusterId,
        name: `bench-router-${r}`,
        onTable: (t) => {
          if (t.version < expected) return;
          installs.push(performance.now() - sentAt);
          if (installs.length === opts.routers) allIn?.();
        },
      });
      routers.push(await router.start());
    }

    const result: ControlResult = { signalSent: [], firstRouter: [], allRouters: [], distribute: [], cordon: [] };
    const warmUp = 3;
    /** One change sent to the agent → every router installed the version it caused. */
    const measured = async (
      run: number,
      send: () => Promise<unknown>,
    ): Promise<{ sent: number; installs: number[] }> => {
      const version = (await lb.query<RoutingTable>('routingTable')).version;
      await waitUntil(
        'routers in step',
        async () => routers.every((r) => r.version === version),
        (x) => x,
      );
      await sleep(100); // routers are back in their long-polls, as between real capacity reports
      expected = version + 1;
      installs = [];
      const done = new Promise<void>((ok) => (allIn = ok));
      sentAt = performance.now();
      await send();
      const sent = performance.now() - sentAt;
      await Promise.race([
        done,
        sleep(30_000).then(() => {
          throw new Error(`run ${run}: ${installs.length}/${opts.routers} routers got v${expected} within 30 s`);
        }),
      ]);
      return { sent, installs };
    };
    for (let run = 0; run < warmUp + opts.updates; run++) {
      const cap = run % 2 === 0 ? 4 : 1;
      const m = await measured(run, () =>
        lb.signal('nodeCapacityUpdate', { nodeId: 'c1', capacity: { cpu: cap, memory: cap, network: cap } }),
      );
      if (run < warmUp) continue;
      result.signalSent.push(m.sent);
      result.firstRouter.push(Math.min(...m.installs));
      result.allRouters.push(Math.max(...m.installs));
      process.stderr.write('.');
    }
    // A drain's cordon, then uncordon (not measured) before the next.
    for (let run = 0; run < 2 * (warmUp + opts.updates); run++) {
      const cordon = run % 2 === 0;
      const m = await measured(run, () =>
        lb.executeUpdate(cordon ? 'cordon' : 'uncordon', { args: [{ nodeId: 'c1', reason: 'bench' }] }),
      );
      if (!cordon || run < 2 * warmUp) continue;
      const held = routers.filter((r) => r.table?.targets.some((t) => t.nodeId === 'c1'));
      if (held.length) throw new Error(`run ${run}: ${held.length} router(s) still route to c1 after its cordon`);
      result.cordon.push(Math.max(...m.installs));
      process.stderr.write('.');
    }
    expected = Infinity;

    for (let i = 0; i < 10 + opts.calls; i++) {
      const t0 = performance.now();
      const d = await lb.executeUpdate<RouteDecision, [Record<string, unknown>]>('distributeLoad', { args: [{}] });
      const ms = performance.now() - t0;
      if (!d.routeTo) throw new Error(`distributeLoad routed nowhere: ${d.metadata.reason}`);
      if (i >= 10) result.distribute.push(ms);
    }
    process.stderr.write('\n');
    return result;
  } finally {
    // Routers first: their long-polls end before the workers and the connections go away.
    await Promise.all(routers.map((r) => r.close()));
    await Promise.all(hosts.map((h) => h.stop('SIGTERM')));
    await Promise.all(connections.map((c) => c.close()));
  }
}

export function controlRows(r: ControlResult, routers: number): (string | number)[][] {
  return [
    ['capacity signal call returns', r.signalSent],
    ['capacity update → first router has the table', r.firstRouter],
    [`capacity update → all ${routers} routers have the table`, r.allRouters],
    ['distributeLoad update round trip', r.distribute],
    [`cordon (drain) → all ${routers} routers pick it no more`, r.cordon],
  ].map(([name, values]) => {
    const s = summary(values as number[]);
    return [name as string, s.n, s.p50, s.p99, s.min, s.max];
  });
}
