/**
 * network_partition: a child workflow of the orchestrator, id
 * `<clusterId>/procedure/network_partition/<partitionId>`, started by the partition handler's
 * incident once it fenced a side.
 *
 * Steps:
 * 1. detect_partition_scope — the partition as the handler holds it (its memo, read with
 *    `describe`: no worker answers it): sides, indirectly connected hosts, the side kept, the hosts
 *    fenced, the fence generation.
 * 2. maintain_quorum — the kept side is a quorum (or the strategy's chosen side); no side kept
 *    (every host fenced) cannot be fixed here: it escalates at once.
 * 3. route_around_partition — the LoadBalancer's table routes none of the fenced hosts (as routers
 *    see it, by its long-poll): the fences in force at each step. A host still routed after the
 *    step's retries is noted (failed) and the procedure goes on to await_recovery. A later decision of the handler on
 *    this partition (`partitionDecided`: a crash on the kept side, a change of the cut) replaces the
 *    list; waiting on the first decision's list once held a procedure in this step after a flip
 *    until the handler's 30 s fallback lifted the fences. A later decision that leaves no side
 *    serving escalates (from await_recovery).
 *    Steps 1 to 3 end as soon as the handler says the graph is whole again (their read, round or
 *    wait is cancelled): a heal never waits on a step of the cut.
 * 4. await_recovery — until the handler says the graph is whole and stable again; then a consensus
 *    round (`partition-healed`, the coordinator's default participants, majority, emergency
 *    timeout) must accept before the procedure tells the handler to lift the fences. A round that
 *    does not accept, or could not be held, is tried again every 5 s.
 * An escalation timer runs beside the steps (10 min by default): manual intervention — current
 * details, `cluster procedures`, the webhook; `cluster ack ID` hands it over.
 */
import {
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import { roundText } from '../../core/consensus/tally';
import type { Activities } from '../../activities';
import { AckPayload, acknowledgeSignal, type ProcedureReport } from '../../contracts/orchestrator';
import {
  PartitionDecidedPayload,
  PartitionHealedPayload,
  partitionDecidedSignal,
  partitionHealedSignal,
  unfenceSignal,
  type PartitionSummary,
} from '../../contracts/partition-handler';
import { ACTIVITY } from '../activity-options';
import { detailsText, errorText, escalator, failed, finish, reporter } from './report';

export interface NetworkPartitionInput {
  clusterId: string;
  parentId: string;
  partitionId: string;
  reason: string;
  source: string;
  escalateAfterMs: number;
  webhookUrl?: string;
}

const ROUND_RETRY_MS = 5_000;

export async function networkPartitionProcedure(input: NetworkPartitionInput): Promise<ProcedureReport> {
  const id = workflowInfo().workflowId;
  const report: ProcedureReport = {
    id,
    kind: 'network_partition',
    subject: input.partitionId,
    status: 'running',
    startedAt: Date.now(),
    timeline: [],
  };
  let acked = false;
  let healed: number | undefined;
  let scope: PartitionSummary | null = null;
  setHandler(acknowledgeSignal, (raw: unknown) => {
    const p = AckPayload.safeParse(raw ?? {});
    if (!p.success || acked || report.status !== 'escalated') return;
    acked = true;
    report.ack = { at: Date.now(), by: p.data.by };
  });
  setHandler(partitionHealedSignal, (raw: unknown) => {
    const p = PartitionHealedPayload.safeParse(raw);
    if (p.success && p.data.partitionId === input.partitionId) healed ??= p.data.at;
  });
  // A later decision of the handler on this partition (a crash on the kept side, a change of the
  // cut): the fences to route around are the latest; one that leaves no side serving escalates.
  let latest: PartitionDecidedPayload | undefined;
  const decisions: PartitionDecidedPayload[] = [];
  setHandler(partitionDecidedSignal, (raw: unknown) => {
    const p = PartitionDecidedPayload.safeParse(raw);
    if (!p.success || p.data.partitionId !== input.partitionId) return;
    if (latest && latest.generation >= p.data.generation) return;
    latest = p.data;
    decisions.push(p.data);
  });
  const fencedNow = () => latest?.fenced ?? scope?.fenced ?? [];
  const { note } = reporter(input.parentId, report, () =>
    detailsText(report, `**network_partition** \`${input.partitionId}\``, [
      `- ${input.source}: ${input.reason}`,
      scope ? `- sides ${scope.sides.map((s) => `[${s.join(', ')}]`).join(' ')}; kept ${scope.keep?.join(', ') ?? 'none'}; fenced ${scope.fenced?.join(', ') ?? 'none'} (generation ${scope.generation ?? '-'})` : '',
    ]),
  );
  const { readPartition } = proxyActivities<Activities>({
    ...ACTIVITY.clusterRead,
    summary: `detect_partition_scope: ${input.partitionId} as the partition handler holds it`,
  });
  const { awaitUnrouted } = proxyActivities<Activities>({
    ...ACTIVITY.procedureStep(15_000),
    summary: 'route_around_partition: no routing table routes a fenced host',
  });
  const { proposeConsensus } = proxyActivities<Activities>({
    ...ACTIVITY.procedureStep(20_000),
    summary: `await_recovery: consensus round partition-healed (${input.partitionId})`,
  });
  const { proposeConsensus: proposeQuorum } = proxyActivities<Activities>({
    ...ACTIVITY.procedureStep(20_000),
    summary: `maintain_quorum: consensus round partition (${input.partitionId})`,
  });
  const { notifyWebhook } = proxyActivities<Activities>({ ...ACTIVITY.webhook, summary: 'escalation to the webhook' });

  const escalate = escalator(report, note, { url: input.webhookUrl, notify: notifyWebhook });
  /** One emergency consensus round of `topic` through `propose`; one that could not be held gives its error. */
  const holdRound = async (propose: typeof proposeConsensus, topic: string, value: Record<string, unknown>) => {
    try {
      return { round: await propose({ clusterId: input.clusterId, proposal: { topic, value, emergency: true, from: id } }) };
    } catch (err) {
      return { round: undefined, error: errorText(err) };
    }
  };
  /**
   * Runs a step of the cut unless the handler says the graph is whole again first: then the step
   * is cancelled (its activity too) and the procedure goes on to await_recovery. A step that waits
   * on an agent whose worker was cut off or killed must not hold the heal (nemesis runs: 9.5 s and
   * 58 s in route_around_partition after a crash during a cut, the heal already known).
   */
  const unlessHealed = async <T>(step: () => Promise<T>): Promise<{ value: T } | undefined> => {
    if (healed !== undefined) return undefined;
    const scope = new CancellationScope();
    let ended = false;
    // Never rejects (a rejection nobody awaits yet would fail the workflow task): the outcome is kept.
    const work = scope.run(async (): Promise<{ value: T } | { error: unknown }> => {
      try {
        return { value: await step() };
      } catch (error) {
        return { error };
      } finally {
        ended = true;
      }
    });
    await condition(() => ended || healed !== undefined);
    if (ended) {
      const outcome = await work;
      if ('error' in outcome) throw outcome.error;
      return outcome;
    }
    scope.cancel();
    await work;
    return undefined;
  };
  const healedNote = () => `connectivity restored (${new Date(healed ?? Date.now()).toISOString().slice(11, 23)}) before it ended: on to await_recovery`;
  /** maintain_quorum and route_around_partition: the steps of the cut, each cut short by a heal. */
  const cutSteps = async (scope: PartitionSummary): Promise<void> => {
    await note('maintain_quorum', 'started');
    const total = scope.sides.flat().length + scope.indirect.length;
    const kept = `${scope.keep?.length ?? 0} of ${total} hosts keep serving: ${scope.reason ?? ''}`;
    if (!scope.keep?.length) {
      await note('maintain_quorum', 'failed', `no side keeps serving: ${scope.reason ?? ''}`);
      await escalate(`no side of ${input.partitionId} keeps serving (${scope.reason ?? 'every host fenced'}): an operator must choose`);
    } else {
      // The decision is in force already (fencing waits for no round: it is what stops a split
      // brain); the agents now say whether they agree with it. NodeDiscovery rejects a side it
      // sees no live host on. Not agreed: an operator must look.
      const held = await unlessHealed(() =>
        holdRound(proposeQuorum, 'partition', {
          partitionId: input.partitionId,
          fence: scope.fenced ?? [],
          keep: scope.keep,
        }),
      );
      const { round, error } = held?.value ?? {};
      if (!held) await note('maintain_quorum', 'done', `${kept}; ${healedNote()}`);
      if (error) await note('maintain_quorum', 'done', `${kept}; no consensus round: ${error}`);
      if (round?.result === 'accepted')
        await note('maintain_quorum', 'done', `${kept}; consensus ${round.proposalId}: ${round.summary}`);
      else if (round) {
        await note('maintain_quorum', 'failed', `${kept}; consensus ${round.proposalId}: ${roundText(round)}`);
        await escalate(`the agents do not agree with the decision on ${input.partitionId}: ${round.summary}`);
      }
    }

    await note('route_around_partition', 'started');
    // The fences in force at each step: a host a later decision no longer fences is not waited for.
    const routedAround: string[] = [];
    // A host still routed after the activity's retries is said, and the procedure goes on: the
    // fences are in force whatever the tables say, and only await_recovery lifts them (a throw here
    // ended the procedure, and the handler's heal found nobody to tell until its 30 s fallback).
    const stillRouted: string[] = [];
    for (let next = fencedNow().find((n) => !routedAround.includes(n)); next; next = fencedNow().find((n) => !routedAround.includes(n))) {
      const host = next;
      const step = await unlessHealed(async () => {
        try {
          await awaitUnrouted({ clusterId: input.clusterId, nodeId: host, timeoutMs: 15_000 });
        } catch (err) {
          stillRouted.push(`${host} (${errorText(err)})`);
        }
      });
      if (!step) break;
      routedAround.push(host);
    }
    if (healed !== undefined && fencedNow().some((n) => !routedAround.includes(n)))
      await note('route_around_partition', 'done', healedNote());
    else if (stillRouted.length) await note('route_around_partition', 'failed', `still routed: ${stillRouted.join('; ')}`);
    else await note('route_around_partition', 'done', `no routing table routes ${fencedNow().join(', ') || 'a fenced host'}`);
  };

  let recovered = false;
  const escalation = (async () => {
    const due = report.startedAt + input.escalateAfterMs;
    const done = await condition(() => recovered || report.status !== 'running', Math.max(1, due - Date.now()));
    if (!done) await escalate(`connectivity not restored ${Math.round(input.escalateAfterMs / 1000)} s after it began`);
  })();

  await note('incident', 'info', `${input.source}: ${input.reason}`);
  try {
    await note('detect_partition_scope', 'started');
    // A heal before the read (a task or an activity on a host that just died) goes straight to
    // await_recovery: the scope only serves the steps of the cut.
    const read = await unlessHealed(() => readPartition({ clusterId: input.clusterId, partitionId: input.partitionId }));
    if (read) {
      scope = read.value;
      if (!scope) throw new Error(`the partition handler holds no partition ${input.partitionId}`);
      // Whole again before this procedure ran: the handler's signal found nobody to tell.
      if (scope.healedAt !== undefined && scope.unfencedAt === undefined) healed ??= scope.healedAt;
      // Decided again before this procedure ran (its record holds the decision in force).
      if (scope.escalated && !latest && scope.generation !== undefined)
        decisions.push({
          partitionId: input.partitionId,
          generation: scope.generation,
          keep: scope.keep ?? [],
          fenced: scope.fenced ?? [],
          reason: scope.reason ?? '',
          escalate: scope.escalated,
        });
      await note(
        'detect_partition_scope',
        'done',
        `sides ${scope.sides.map((s) => `[${s.join(' ')}]`).join(' ')}${scope.indirect.length ? `; indirectly connected ${scope.indirect.join(' ')}` : ''}; fenced ${scope.fenced?.join(' ') || 'none'}`,
      );
    } else await note('detect_partition_scope', 'done', healedNote());

    if (scope) await cutSteps(scope);

    await note('await_recovery', 'started', 'until the partition handler sees the graph whole and stable');
    for (;;) {
      await condition(() => healed !== undefined || acked || decisions.length > 0);
      const d = decisions.shift();
      if (d) {
        await note(
          'await_recovery',
          d.escalate ? 'failed' : 'info',
          `decided again (generation ${d.generation}): ${d.keep.length ? `${d.keep.join(', ')} keep serving` : 'no side serves'}; fenced ${d.fenced.join(', ') || 'none'}: ${d.reason}`,
        );
        if (d.escalate) await escalate(d.escalate);
        continue;
      }
      if (acked && healed === undefined) {
        report.outcome = `acknowledged by ${report.ack?.by ?? 'an operator'} before connectivity was restored`;
        break;
      }
      // A round that could not be held (the activity failed after its retries) is one that did not
      // accept: tried again, as the procedure must still lift the fences.
      const { round, error } = await holdRound(proposeConsensus, 'partition-healed', {
        partitionId: input.partitionId,
        fenced: scope?.fenced ?? fencedNow(),
      });
      if (error) await note('await_recovery', 'failed', `no consensus round: ${error}`);
      if (round) await note('await_recovery', round.result === 'accepted' ? 'info' : 'failed', `consensus ${round.proposalId}: ${round.summary}`);
      if (round?.result === 'accepted') {
        await getExternalWorkflowHandle(`${input.clusterId}/partition-handler`).signal(unfenceSignal, {
          partitionId: input.partitionId,
          by: id,
          reason: `connectivity restored; consensus ${round.proposalId} ${round.summary}`,
        });
        recovered = true;
        report.status = 'completed';
        report.outcome = `connectivity restored and the agents agreed (${round.proposalId}): the fences are lifted`;
        break;
      }
      await sleep(ROUND_RETRY_MS);
    }
    await note('await_recovery', 'done', report.outcome ?? '');
  } catch (err) {
    failed(report, report.step ?? 'network_partition', err);
    await note(report.step ?? 'network_partition', 'failed', errorText(err));
  }
  recovered = true;
  await escalation;
  return finish(report, note);
}
