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
import type { Alert, HealthView, NodeHealthRecord } from '../contracts/health-monitor';

const USAGE = `usage: npm run cluster -- <command>
  start [--config FILE]             ensure every agent runs (idempotent); FILE is {"<role>": {config}}
  status [--json]                   agents, their health, cluster summary
  nodes [--json]                    members: status (with cordoned, fenced), health, address, zone,
                                    last seen, incarnation
  query AGENT QUERY [--json]        e.g. query node-discovery topology
  signal AGENT SIGNAL JSON          e.g. signal node-discovery discoverNodes '{}'
  update AGENT UPDATE JSON          e.g. update node-discovery discover '{"strategies":["dns"]}'
  route [--key K] [--zone Z] [--service S] [--json]   the target the load balancer picks
  targets [--json]                  load-balancing targets: node, service, address, health, load, breaker
  strategy NAME                     set the load-balancing strategy (round_robin, least_connections, ...)
  health [NODE] [--json]            health of every node (or one, with its checks, baselines and alerts)
  quarantine NODE --reason R [--duration MS]   take a node out of rotation until released
  release NODE                      release a quarantined node
  procedures [--json]               the orchestrator's procedures: status, current step, outcome
  procedure ID [--json]             one procedure: its steps, timeline and outcome
  ack ID [--by NAME]                acknowledge an escalated procedure (an operator takes over)
  emergency KIND --node N [--reason R]   start a procedure by hand (KIND: node_failure)
  drain NODE [--deadline D] [--reason R] [--stop]   cordon NODE (no new picks), wait for its requests
                                    in flight (D: 30s, 500ms, 2m; default 30s), then maintenance;
                                    --stop stops its worker gracefully once drained
  uncordon NODE                     return a cordoned (drained) node to rotation
  scale N [--reason R]              bring the alive hosts to N (up: the replacement hook; down: the
                                    newest hosts drained and stopped gracefully)
  rebalance [--strategy S] [--reason R]   a routing table from the latest loads now, then check the
                                    imbalance falls (a round_robin table, or S, switches strategy)
  consensus propose TOPIC JSON [--rule R] [--participants A,B] [--timeout MS] [--emergency]
                                    a consensus round: the participants (agent roles or node/ID;
                                    default: the coordinator's five) vote on JSON; R: majority
                                    (default), unanimous or quorum:N; prints the result and each vote
  consensus rounds [--json]         the latest rounds: result, votes, how long each took
  partitions [--json]               the last partitions: sides, indirectly connected hosts, the
                                    decision, the fenced hosts (and generation), when healed
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
        reason: { type: 'string' },
        duration: { type: 'string' },
        deadline: { type: 'string' },
        stop: { type: 'boolean' },
        node: { type: 'string' },
        by: { type: 'string' },
        strategy: { type: 'string' },
        rule: { type: 'string' },
        participants: { type: 'string' },
        timeout: { type: 'string' },
        emergency: { type: 'boolean' },
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
    health: 1,
    quarantine: 1,
    release: 1,
    procedures: 0,
    procedure: 1,
    ack: 1,
    emergency: 1,
    drain: 1,
    uncordon: 1,
    scale: 1,
    rebalance: 0,
    consensus: 3,
    partitions: 0,
  };
  const optional = new Set(['health', 'consensus']);
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
      : ['health', 'quarantine', 'release', 'drain', 'uncordon'].includes(command)
        ? ['NODE']
        : ['procedure', 'ack'].includes(command)
          ? ['ID']
          : command === 'emergency'
            ? ['KIND']
            : command === 'scale'
              ? ['N']
              : ['AGENT', command === 'query' ? 'QUERY' : command === 'signal' ? 'SIGNAL' : 'UPDATE', 'JSON'];
  for (let i = 0; i < Math.min(expected, 2) && !optional.has(command); i++) {
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
  const payload = expected === 3 && command !== 'consensus' ? parseJson('JSON', rest[2]) : undefined;

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
          const goals = s.goals?.goals.length
            ? table(
                ['GOAL', 'TARGET', 'MEASURED', 'MET', 'UNIT', 'NOTE'],
                s.goals.goals.map((g) => [
                  g.goal,
                  g.target,
                  g.measured === null ? 'not measured' : Math.round(g.measured * 1000) / 1000,
                  g.met === null ? '-' : g.met ? 'yes' : 'NO',
                  g.unit,
                  g.note,
                ]),
              )
            : undefined;
          return [agents, summary, ...(goals ? [`goals (measured ${ago(s.goals?.at ?? 0)}):\n${goals}`] : [])].join(
            '\n\n',
          );
        });
        return 0;
      }
      case 'nodes': {
        const nodes = await cluster.nodes();
        // Cordoned (drained) hosts as the LoadBalancer holds them; without an answer, nodes alone.
        const cordoned = await cluster
          .cordoned()
          .catch(() => ({}) as Record<string, { since: number; reason: string }>);
        // Fenced hosts (the losing side of a partition) from the partition handler's memo.
        const fenced = (await cluster.fences().catch(() => undefined))?.fenced ?? {};
        const view = nodes.map((n) => ({
          ...n,
          ...(cordoned[n.nodeId] ? { cordoned: cordoned[n.nodeId] } : {}),
          ...(fenced[n.nodeId] ? { fenced: fenced[n.nodeId] } : {}),
        }));
        const flags = (id: string) => `${cordoned[id] ? ',cordoned' : ''}${fenced[id] ? `,fenced(g${fenced[id].generation})` : ''}`;
        print(view, json, () =>
          nodes.length
            ? table(
                ['NODE', 'STATUS', 'HEALTH', 'ADDRESS', 'ZONE', 'LAST SEEN', 'INCARNATION', 'SOURCES'],
                nodes.map((n) => [
                  n.nodeId,
                  `${n.status}${flags(n.nodeId)}`,
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
      case 'health': {
        const view = await cluster.query<HealthView>('health-monitor', 'health');
        const node = rest[0];
        if (node === undefined) {
          print(view, json, () => {
            const rows = Object.entries(view.nodes).sort(([a], [b]) => a.localeCompare(b));
            return rows.length
              ? table(
                  ['NODE', 'HEALTH', 'QUARANTINED', 'LAST CHECK', 'FAILURES', 'REASONS'],
                  rows.map(([id, n]) => [
                    id,
                    n.health,
                    n.quarantined ? 'yes' : 'no',
                    n.lastCheck ? `${n.lastCheck.level} ${ago(n.lastCheck.at)}` : undefined,
                    n.consecutiveFailures,
                    n.reasons.join('; ') || undefined,
                  ]),
                )
              : 'no nodes checked yet';
          });
          return 0;
        }
        if (!view.nodes[node])
          throw new UsageError(
            `NODE: expected one of ${Object.keys(view.nodes).sort().join(', ') || '(no nodes yet)'}, got ${JSON.stringify(node)}`,
          );
        const [details, alerts, baselines] = await Promise.all([
          cluster.query<NodeHealthRecord[]>('health-monitor', 'nodeHealth'),
          cluster.query<Alert[]>('health-monitor', 'alerts'),
          cluster.query<Record<string, unknown>>('health-monitor', 'baselines'),
        ]);
        const detail = {
          ...details.find((d) => d.nodeId === node),
          quarantined: view.nodes[node]?.quarantined,
          baselines: baselines[node] ?? {},
          alerts: alerts.filter((a) => a.nodeId === node).slice(-10),
        };
        print(detail, json, () => {
          const lines = [
            `${node}: ${detail.health}${detail.quarantined ? ' (quarantined)' : ''}${detail.reasons?.length ? ` — ${detail.reasons.join('; ')}` : ''}`,
          ];
          if (detail.lastCheck)
            lines.push(
              `last check: ${detail.lastCheck.level} ${ago(detail.lastCheck.at)}, ${detail.lastCheck.ok ? 'ok' : 'failed'}${detail.lastCheck.httpStatus ? `, HTTP ${detail.lastCheck.httpStatus}` : ''}${detail.lastCheck.error ? `, ${detail.lastCheck.error}` : ''}`,
            );
          for (const check of [detail.lastComprehensive, detail.lastDeep]) {
            if (!check) continue;
            lines.push(`${check.level} check ${ago(check.at)}: ${check.ok ? 'ok' : 'FAILED'}`);
            for (const [part, r] of Object.entries(check.parts ?? {}))
              lines.push(`  ${part}: ${r.ok ? 'ok' : 'FAIL'} ${r.detail}`);
          }
          for (const a of detail.alerts)
            lines.push(`alert #${a.id} ${a.severity} ${a.kind} ${ago(a.at)}: ${a.message}`);
          return lines.join('\n');
        });
        return 0;
      }
      case 'quarantine':
      case 'release': {
        const node = rest[0] as string;
        const view = await cluster.query<HealthView>('health-monitor', 'health');
        const n = view.nodes[node];
        if (!n)
          throw new UsageError(
            `NODE: expected one of ${Object.keys(view.nodes).sort().join(', ') || '(no nodes yet)'}, got ${JSON.stringify(node)}`,
          );
        if (command === 'quarantine') {
          if (values.reason === undefined) throw new UsageError('--reason: required, e.g. --reason "disk replacement"');
          let durationMs: number | undefined;
          if (values.duration !== undefined) {
            if (!/^\d+$/.test(values.duration))
              throw new UsageError(`--duration: expected milliseconds, got ${JSON.stringify(values.duration)}`);
            durationMs = Number(values.duration);
          }
          if (n.quarantined) throw new UsageError(`NODE: ${node} is already quarantined`);
          await cluster.signal('health-monitor', 'quarantineNode', {
            nodeId: node,
            reason: values.reason,
            ...(durationMs !== undefined ? { durationMs } : {}),
          });
          console.log(`quarantined ${node}: ${values.reason}`);
        } else {
          if (!n.quarantined) throw new UsageError(`NODE: ${node} is not quarantined`);
          await cluster.signal('health-monitor', 'releaseNode', {
            nodeId: node,
            ...(values.reason !== undefined ? { reason: values.reason } : {}),
          });
          console.log(`released ${node}`);
        }
        return 0;
      }
      case 'procedures': {
        const list = await cluster.procedures();
        print(list, json, () =>
          list.length
            ? table(
                ['PROCEDURE', 'STATUS', 'STEP', 'STARTED', 'OUTCOME / ESCALATION'],
                list.map((p) => [
                  p.id,
                  p.status === 'escalated' ? 'ESCALATED' : p.status,
                  p.step,
                  ago(p.startedAt),
                  p.outcome ?? p.escalation?.why,
                ]),
              )
            : `no procedures in cluster ${cluster.clusterId}`,
        );
        return 0;
      }
      case 'procedure': {
        const p = await cluster.procedure(rest[0] as string);
        print(p, json, () =>
          [
            `${p.id}: ${p.status}${p.step ? ` (now: ${p.step})` : ''}, began ${ago(p.startedAt)}`,
            ...(p.escalation ? [`escalated ${ago(p.escalation.at)}: ${p.escalation.why}`] : []),
            ...(p.ack ? [`acknowledged by ${p.ack.by} ${ago(p.ack.at)}`] : []),
            ...(p.outcome ? [`outcome: ${p.outcome}`] : []),
            '',
            table(
              ['TIME', 'STEP', 'STATUS', 'DETAIL'],
              p.timeline.map((t) => [new Date(t.at).toISOString().slice(11, 23), t.step, t.status, t.detail]),
            ),
          ].join('\n'),
        );
        return 0;
      }
      case 'ack': {
        const p = await cluster.ack(rest[0] as string, values.by ?? process.env.USER ?? 'operator');
        console.log(`acknowledged ${p.id} (escalated: ${p.escalation?.why ?? ''})`);
        return 0;
      }
      case 'emergency': {
        if (values.node === undefined) throw new UsageError('--node: required, e.g. --node node-2');
        const r = await cluster.emergency(rest[0] as string, values.node, values.reason);
        console.log(`${r.decision} (see: npm run cluster -- procedure ${r.procedureId})`);
        return 0;
      }
      case 'drain': {
        let deadlineMs: number | undefined;
        if (values.deadline !== undefined) {
          const m = /^(\d+)(ms|s|m)?$/.exec(values.deadline);
          if (!m)
            throw new UsageError(
              `--deadline: expected a duration such as 30s, 500ms or 2m, got ${JSON.stringify(values.deadline)}`,
            );
          deadlineMs = Number(m[1]) * (m[2] === 'm' ? 60_000 : m[2] === 's' ? 1_000 : 1);
        }
        const r = await cluster.drain(rest[0] as string, {
          ...(deadlineMs !== undefined ? { deadlineMs } : {}),
          ...(values.reason !== undefined ? { reason: values.reason } : {}),
          by: values.by ?? process.env.USER ?? 'operator',
          stop: values.stop ?? false,
        });
        print(r, json, () => `draining ${rest[0]}: ${r.decision} (see: npm run cluster -- procedure ${r.procedureId})`);
        return 0;
      }
      case 'scale': {
        const r = await cluster.scale(rest[0] as string, {
          by: values.by ?? process.env.USER ?? 'operator',
          ...(values.reason !== undefined ? { reason: values.reason } : {}),
        });
        print(r, json, () => `${r.decision} (see: npm run cluster -- procedure ${r.procedureId})`);
        return 0;
      }
      case 'rebalance': {
        const r = await cluster.rebalance({
          by: values.by ?? process.env.USER ?? 'operator',
          ...(values.strategy !== undefined ? { strategy: values.strategy } : {}),
          ...(values.reason !== undefined ? { reason: values.reason } : {}),
        });
        print(r, json, () => `${r.decision} (see: npm run cluster -- procedure ${r.procedureId})`);
        return 0;
      }
      case 'uncordon': {
        const r = await cluster.uncordon(rest[0] as string, values.by ?? process.env.USER ?? 'operator');
        print(r, json, () =>
          r.via === 'procedure'
            ? `${rest[0]} is back in rotation: ${r.report.id} ${r.report.status}${r.report.outcome ? ` (${r.report.outcome})` : ''}`
            : `${rest[0]} is back in rotation (routing table v${r.tableVersion})`,
        );
        return r.via === 'procedure' && r.report.status !== 'completed' ? 1 : 0;
      }
      case 'consensus':
        return await consensusCommand(cluster, rest, values, json);
      case 'partitions': {
        const list = await cluster.partitions();
        print(list, json, () =>
          list.length
            ? table(
                ['PARTITION', 'STARTED', 'SIDES', 'INDIRECT', 'DECISION', 'FENCED', 'HEALED'],
                [...list].reverse().map((p) => [
                  p.id,
                  ago(p.startedAt),
                  p.sides.map((x) => `[${x.join(' ')}]`).join(' '),
                  p.indirect.join(' ') || '-',
                  p.reason ?? 'waiting for a stable graph',
                  p.fenced?.length ? `${p.fenced.join(' ')} (g${p.generation})` : '-',
                  p.healedAt ? ago(p.healedAt) : '-',
                ]),
              )
            : `no partitions seen in cluster ${cluster.clusterId}`,
        );
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

async function consensusCommand(
  cluster: ClusterClient,
  rest: string[],
  values: { rule?: string; participants?: string; timeout?: string; emergency?: boolean; by?: string },
  json: boolean,
): Promise<number> {
  const [sub, topic, value] = rest;
  if (sub === 'rounds') {
    if (topic !== undefined) throw new UsageError(`consensus rounds: unexpected argument ${JSON.stringify(topic)}`);
    const rounds = await cluster.rounds();
    print(rounds, json, () =>
      rounds.length
        ? table(
            ['ROUND', 'RESULT', 'VOTES', 'TOOK', 'DECIDED', 'FROM'],
            rounds
              .slice(-30)
              .reverse()
              .map((r) => [r.proposalId, r.result, r.summary.replace(/^\w+: /, ''), `${r.durationMs} ms`, ago(r.decidedAt), r.from]),
          )
        : `no consensus rounds in cluster ${cluster.clusterId}`,
    );
    return 0;
  }
  if (sub !== 'propose')
    throw new UsageError(`consensus: expected propose or rounds, got ${JSON.stringify(sub ?? '')}\n${USAGE}`);
  if (topic === undefined) throw new UsageError(`consensus propose: TOPIC is required\n${USAGE}`);
  const proposal: Record<string, unknown> = { topic, value: value === undefined ? null : parseJson('JSON', value) };
  if (values.rule !== undefined) proposal.rule = values.rule;
  if (values.participants !== undefined)
    proposal.participants = values.participants.split(',').map((x) => x.trim()).filter(Boolean);
  if (values.timeout !== undefined) {
    const m = /^(\d+)(ms|s)?$/.exec(values.timeout);
    if (!m) throw new UsageError(`--timeout: expected a duration such as 5000, 500ms or 15s, got ${JSON.stringify(values.timeout)}`);
    proposal.timeoutMs = Number(m[1]) * (m[2] === 's' ? 1_000 : 1);
  }
  if (values.emergency) proposal.emergency = true;
  proposal.from = values.by ?? process.env.USER ?? 'operator';
  const r = await cluster.propose(proposal);
  print(r, json, () =>
    [
      `${r.proposalId}: ${r.summary} in ${r.durationMs} ms (round ${r.roundId})`,
      table(
        ['PARTICIPANT', 'VOTE', 'REASON'],
        r.participants.map((p) => {
          const b = r.votes.find((v) => v.participant === p);
          return [p, b?.vote ?? 'no answer', b?.reason ?? ''];
        }),
      ),
    ].join('\n'),
  );
  return r.result === 'accepted' ? 0 : 1;
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
