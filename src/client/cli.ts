/**
 * `npm run cluster -- <command>`: start, status, nodes, query, signal, update.
 * Exit codes: 0 done, 1 failed (server unreachable, agent not running, rejected update), 2 bad input.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ConfigError } from './connection';
import { ClusterClient, UsageError } from './cluster-client';
import { ago, table } from './format';

const USAGE = `usage: npm run cluster -- <command>
  start [--config FILE]             ensure every agent runs (idempotent); FILE is {"<role>": {config}}
  status [--json]                   agents, their health, cluster summary
  nodes [--json]                    members: status, health, address, zone, last seen, incarnation
  query AGENT QUERY [--json]        e.g. query node-discovery topology
  signal AGENT SIGNAL JSON          e.g. signal node-discovery discoverNodes '{}'
  update AGENT UPDATE JSON          e.g. update node-discovery discover '{"strategies":["dns"]}'
  route [--key K] [--zone Z] [--service S] [--json]   the target the load balancer picks
  targets [--json]                  load-balancing targets: node, service, address, health, load, breaker
  strategy NAME                     set the load-balancing strategy (round_robin, least_connections, ...)
env: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, CLUSTER_ID`;

function parseJson(what: string, text: string | undefined): unknown {
  if (text === undefined) throw new UsageError(`${what}: required (a JSON value, e.g. '{}')\n${USAGE}`);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${what}: expected JSON, got ${JSON.stringify(text)} (${(err as Error).message})`);
  }
}

function print(value: unknown, json: boolean, text: () => string): void {
  console.log(json ? JSON.stringify(value, null, 2) : text());
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: 'boolean', default: false },
        config: { type: 'string' },
        key: { type: 'string' },
        zone: { type: 'string' },
        service: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') {
    console.log(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  const arity: Record<string, number> = {
    start: 0,
    status: 0,
    nodes: 0,
    query: 2,
    signal: 3,
    update: 3,
    route: 0,
    targets: 0,
    strategy: 1,
  };
  const expected = arity[command];
  if (expected === undefined)
    throw new UsageError(
      `COMMAND: expected one of ${Object.keys(arity).join(', ')}, got ${JSON.stringify(command)}\n${USAGE}`,
    );
  if (rest.length > expected)
    throw new UsageError(`${command}: unexpected argument ${JSON.stringify(rest[expected])}\n${USAGE}`);
  const names =
    command === 'strategy'
      ? ['NAME']
      : ['AGENT', command === 'query' ? 'QUERY' : command === 'signal' ? 'SIGNAL' : 'UPDATE', 'JSON'];
  for (let i = 0; i < Math.min(expected, 2); i++) {
    if (rest[i] === undefined) throw new UsageError(`${command}: ${names[i]} is required\n${USAGE}`);
  }
  let configs: Record<string, Record<string, unknown>> | undefined;
  if (values.config !== undefined) {
    let text: string;
    try {
      text = readFileSync(values.config, 'utf8');
    } catch (err) {
      throw new UsageError(`--config: cannot read ${JSON.stringify(values.config)}: ${(err as Error).message}`);
    }
    const v = parseJson('--config', text);
    if (!v || typeof v !== 'object' || Array.isArray(v))
      throw new UsageError('--config: expected an object {"<role>": {config}}');
    configs = v as Record<string, Record<string, unknown>>;
  }
  const payload = expected === 3 ? parseJson('JSON', rest[2]) : undefined;

  const cluster = await ClusterClient.connect();
  try {
    const json = values.json ?? false;
    switch (command) {
      case 'start': {
        const agents = await cluster.start(configs);
        print(agents, json, () =>
          table(
            ['AGENT', 'WORKFLOW ID', 'STATUS'],
            agents.map((a) => [a.role, a.workflowId, a.status]),
          ),
        );
        return 0;
      }
      case 'status': {
        const s = await cluster.status();
        print(s, json, () => {
          const agents = table(
            ['AGENT', 'WORKFLOW ID', 'STATUS', 'HEALTH', 'HISTORY'],
            s.agents.map((a) => [a.role, a.workflowId, a.status, a.health?.status, a.historyLength]),
          );
          const t = s.topology;
          const summary = t
            ? `cluster ${s.clusterId}: ${t.counts.alive} alive, ${t.counts.suspect} suspect, ${t.counts.dead} dead, ${t.counts.left} left; zones ${Object.keys(t.zones).join(', ') || '-'}; topology v${t.version}`
            : `cluster ${s.clusterId}: ${s.unanswered ?? 'node-discovery is not running (start it with: npm run cluster -- start)'}`;
          return `${agents}\n\n${summary}`;
        });
        return 0;
      }
      case 'nodes': {
        const nodes = await cluster.nodes();
        print(nodes, json, () =>
          nodes.length
            ? table(
                ['NODE', 'STATUS', 'HEALTH', 'ADDRESS', 'ZONE', 'LAST SEEN', 'INCARNATION', 'SOURCES'],
                nodes.map((n) => [
                  n.nodeId,
                  n.status,
                  n.health,
                  `${n.address}:${n.healthPort}`,
                  n.zone,
                  ago(n.lastSeen),
                  n.incarnation,
                  n.sources.join(','),
                ]),
              )
            : 'no nodes yet: start a host with npm run worker -- --node-id ID',
        );
        return 0;
      }
      case 'query': {
        const result = await cluster.query(rest[0] as string, rest[1] as string);
        console.log(JSON.stringify(result, null, 2));
        return 0;
      }
      case 'signal': {
        await cluster.signal(rest[0] as string, rest[1] as string, payload);
        console.log(`sent ${rest[1]} to ${cluster.spec(rest[0] as string).role}`);
        return 0;
      }
      case 'route': {
        const d = await cluster.route({
          ...(values.key !== undefined ? { key: values.key } : {}),
          ...(values.zone !== undefined ? { clientZone: values.zone } : {}),
          ...(values.service !== undefined ? { service: values.service } : {}),
        });
        const r = d.routeTo;
        const out = r
          ? {
              nodeId: r.nodeId,
              address: r.address,
              port: r.port,
              service: r.service,
              zone: r.zone,
              targetId: r.targetId,
              ...d.metadata,
            }
          : { ...d.metadata };
        print(out, json, () =>
          r
            ? `${r.nodeId}  ${r.address}:${r.port}  (service ${r.service}, zone ${r.zone}; ${d.metadata.strategy}, table v${d.metadata.tableVersion}${d.metadata.panic ? ', PANIC' : ''})`
            : `no target: ${d.metadata.reason ?? 'none routable'}`,
        );
        return r ? 0 : 1;
      }
      case 'targets': {
        const targets = await cluster.targets();
        const breakers = targets.length
          ? await cluster.query<Record<string, { state: string }>>('load-balancer', 'breakers')
          : {};
        print(targets, json, () =>
          targets.length
            ? table(
                ['TARGET', 'STATUS', 'HEALTH', 'ADDRESS', 'ZONE', 'CPU', 'CONNS', 'EWMA MS', 'BREAKER'],
                targets.map((t) => [
                  t.id,
                  t.status,
                  t.health,
                  `${t.address}:${t.port}`,
                  t.zone,
                  t.load.cpu.toFixed(2),
                  t.load.connections,
                  t.ewmaMs === undefined ? undefined : t.ewmaMs.toFixed(1),
                  breakers[t.id]?.state,
                ]),
              )
            : 'no targets yet: hosts become targets once NodeDiscovery sees them (npm run cluster -- nodes)',
        );
        return 0;
      }
      case 'strategy': {
        const r = await cluster.setStrategy(rest[0] as string);
        print(r, json, () => `strategy ${r.strategy} (routing table v${r.tableVersion})`);
        return 0;
      }
      case 'update': {
        const result = await cluster.update(rest[0] as string, rest[1] as string, payload);
        console.log(JSON.stringify(result, null, 2));
        return 0;
      }
    }
    return 2;
  } finally {
    await cluster.close();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      if (err instanceof UsageError || err instanceof ConfigError) {
        console.error(`error: ${err.message}`);
        process.exit(2);
      }
      const detail = err instanceof WorkflowUpdateFailedError && err.cause ? `: ${err.cause.message}` : '';
      console.error(`error: ${err.message}${detail}`);
      process.exit(1);
    },
  );
}
