/**
 * HealthMonitor on the real dev server, without hosts: what it does with alerts and operator
 * signals when the work takes time. The recovery procedure is an HTTP call to a loopback server
 * whose answer (delay, status) each test sets.
 *
 * The first case is the cause of the flaky e2e "an external critical alert runs the recovery": the
 * alert handler launched the recovery without waiting for it (`void onAlerts(...)`), so a
 * continue-as-new in between — every few seconds in the e2e, whose server suggests it at 150
 * events — carried the alert without its action and the recovery's result went nowhere.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WorkflowHandle } from '@temporalio/client';
import type { AgentStateView } from '../../src/contracts/common';
import type { Alert, HealthMonitorState } from '../../src/contracts/health-monitor';
import { replayAll } from '../support/histories';
import { connect, eventually, startWorker, uniqueId, type TestTemporal, type TestWorker } from '../support/temporal';
import { memberSummary } from '../support/members';

const fileStartedAt = new Date(Date.now() - 1_000);

let t: TestTemporal;
let worker: TestWorker;
const taskQueue = uniqueId('hm-tq');
const handles: WorkflowHandle[] = [];

/** The recovery endpoint: answers `status` after `delayMs`; counts the calls per node. */
const recovery = { delayMs: 0, status: 200, calls: [] as string[] };
let recoveryServer: http.Server;
let recoveryUrl: string;
const webhooks: unknown[] = [];

beforeAll(async () => {
  t = await connect();
  worker = await startWorker(t.client, taskQueue, 'hm-observer');
  recoveryServer = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.url?.startsWith('/webhook')) {
        webhooks.push(JSON.parse(body));
        res.writeHead(204).end();
        return;
      }
      recovery.calls.push(req.url ?? '');
      setTimeout(() => res.writeHead(recovery.status).end(), recovery.delayMs);
    });
  });
  await new Promise<void>((ok) => recoveryServer.listen(0, '127.0.0.1', ok));
  recoveryUrl = `http://127.0.0.1:${(recoveryServer.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const h of handles) await h.terminate('test done').catch(() => undefined);
  await worker?.stop();
  recoveryServer?.closeAllConnections();
  await new Promise((ok) => recoveryServer?.close(ok));
  await t?.close();
});

beforeEach(() => {
  Object.assign(recovery, { delayMs: 0, status: 200, calls: [] });
  webhooks.length = 0;
});

/** A HealthMonitor whose checks do not run by themselves (their timers are an hour away). */
async function startMonitor(config: Record<string, unknown> = {}) {
  const clusterId = uniqueId('hm-wf');
  const handle = await t.client.workflow.start('healthMonitorWorkflow', {
    workflowId: `${clusterId}/health-monitor`,
    taskQueue,
    args: [
      {
        clusterId,
        config: {
          heartbeatIntervalMs: 3_600_000,
          healthCheckIntervalMs: 3_600_000,
          topologySyncIntervalMs: 3_600_000,
          basicIntervalMs: 3_600_000,
          comprehensiveIntervalMs: 3_600_000,
          deepIntervalMs: 3_600_000,
          predictiveIntervalMs: 3_600_000,
          recoveryCheckIntervalMs: 3_600_000,
          recovery: { http: { url: `${recoveryUrl}/recover/{nodeId}`, method: 'POST' }, timeoutMs: 5_000 },
          webhookUrl: `${recoveryUrl}/webhook`,
          ...config,
        },
      },
    ],
  });
  handles.push(handle);
  return handle;
}

const state = (h: WorkflowHandle) => h.query<AgentStateView<HealthMonitorState>>('state');
const alerts = (h: WorkflowHandle) => h.query<Alert[]>('alerts');
const critical = { nodeId: 'n-1', severity: 'critical', kind: 'disk.smart', message: 'SMART: reallocated sectors' };

describe('HealthMonitor: handlers decide, the loop acts', () => {
  it('an external critical alert gets its recovery even when the monitor continues as new while it runs', async () => {
    recovery.delayMs = 1_500;
    const h = await startMonitor();
    await h.signal('healthAlert', critical);
    await eventually(
      'recovery called',
      async () => recovery.calls.length,
      (n) => n === 1,
      10_000,
    );
    // While the recovery is in flight, grow the history past the server's continue-as-new
    // suggestion (150 events in tests).
    for (let i = 0; i < 10; i += 1)
      await Promise.all(Array.from({ length: 20 }, () => h.signal('heartbeat', { from: 'test' })));
    const list = await eventually(
      'alert acted on',
      () => alerts(h),
      (l) => l.some((a) => a.kind === 'disk.smart' && a.action !== undefined),
      15_000,
      100,
    );
    expect(list.find((a) => a.kind === 'disk.smart')).toMatchObject({
      source: 'external',
      action: { type: 'recovery', ok: true },
    });
    const s = await eventually(
      'continued as new',
      () => state(h),
      (v) => v.base.runs >= 1,
      15_000,
      100,
    );
    expect(s.base.heartbeats.received).toBe(200);
    expect(recovery.calls).toEqual(['/recover/n-1']);
  }, 40_000);

  it('a recovery that fails is retried by its policy, then escalated to the webhook', async () => {
    recovery.status = 500;
    const h = await startMonitor();
    await h.signal('healthAlert', critical);
    const list = await eventually(
      'alert acted on',
      () => alerts(h),
      (l) => l.some((a) => a.kind === 'disk.smart' && a.action !== undefined),
      20_000,
      100,
    );
    // maximumAttempts 2: the activity threw a retryable failure, so the server tried again.
    expect(recovery.calls).toEqual(['/recover/n-1', '/recover/n-1']);
    expect(list.find((a) => a.kind === 'disk.smart')?.action).toMatchObject({
      type: 'recovery',
      ok: false,
      detail: expect.stringMatching(/HTTP 500/),
    });
    await eventually(
      'webhook',
      async () => webhooks.length,
      (n) => n === 1,
      10_000,
    );
    expect(webhooks[0]).toMatchObject({ kind: 'manual_intervention', alert: { nodeId: 'n-1', kind: 'disk.smart' } });
    // recorded once the webhook activity returned, a moment after the server saw the POST
    const s = await eventually(
      'escalation recorded',
      () => state(h),
      (v) => v.agent.escalations.length > 0,
    );
    expect(s.agent.escalations).toEqual([
      expect.objectContaining({ nodeId: 'n-1', reason: expect.stringMatching(/recovery failed: .*HTTP 500/) }),
    ]);
    expect(s.agent.escalations[0]?.webhook).toMatchObject({ ok: true });
  }, 40_000);

  it('quarantine, release and a host’s own report change health at once and tell the other agents', async () => {
    const h = await startMonitor();
    const member = memberSummary('n-1');
    await h.signal('topologyUpdate', { version: 1, at: Date.now(), members: [member], changes: [] });
    await eventually(
      'member',
      () => state(h),
      (s) => s.agent.nodes['n-1'] !== undefined,
    );
    await h.signal('quarantineNode', { nodeId: 'n-1', reason: 'disk swap' });
    const q = await eventually(
      'quarantined',
      () => state(h),
      (s) => s.agent.nodes['n-1']?.health === 'unhealthy',
    );
    // NodeDiscovery and the LoadBalancer do not run here: both signals were tried, and counted absent.
    await eventually(
      'notified',
      () => state(h),
      (s) => s.base.notified.absent === 2,
    );
    expect(q.agent.quarantine['n-1']).toMatchObject({ reason: 'manual', detail: 'disk swap' });
    await h.signal('releaseNode', { nodeId: 'n-1' });
    await h.signal('nodeHealthChange', { nodeId: 'n-1', health: 'degraded', reason: 'cpu 95 %', observer: 'n-1' });
    const after = await eventually(
      'released',
      () => state(h),
      (s) => s.agent.quarantine['n-1'] === undefined,
    );
    expect(after.agent.released.map((r) => r.nodeId)).toEqual(['n-1']);
    // quarantined → unknown (never checked; not signalled) → degraded by its own report (signalled)
    const done = await eventually(
      'degraded',
      () => state(h),
      (s) => s.agent.nodes['n-1']?.health === 'degraded',
    );
    expect(done.agent.nodes['n-1']?.reasons).toEqual(['host reports degraded: cpu 95 %']);
    await eventually(
      'notified again',
      () => state(h),
      (s) => s.base.notified.absent === 4,
    );
    // A signal about a node that is not a member is counted and dropped, nothing else.
    await h.signal('quarantineNode', { nodeId: 'nobody', reason: 'x' });
    const r = await eventually(
      'rejected',
      () => state(h),
      (s) => s.base.rejected.count === 1,
    );
    expect(r.base.rejected.recent[0]?.error).toMatch(/nobody is not a member/);
    expect(Object.keys(r.agent.quarantine)).toEqual([]);
  }, 40_000);

  it('a host that was unhealthy and now reports itself degraded is checked at once: a failed check of ours does not hold it out for a round', async () => {
    // Its health endpoint, answering what the test says.
    const endpoint = { status: 500 };
    const server = http.createServer((_req, res) => res.writeHead(endpoint.status).end());
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    try {
      const port = (server.address() as AddressInfo).port;
      const h = await startMonitor();
      await h.signal('topologyUpdate', {
        version: 1,
        at: Date.now(),
        members: [memberSummary('n-1', { healthPort: port })],
        changes: [],
      });
      await eventually('member', () => state(h), (s) => s.agent.nodes['n-1'] !== undefined);
      await h.signal('nodeHealthChange', { nodeId: 'n-1', health: 'unhealthy', reason: 'health endpoint answers HTTP 500', observer: 'n-1' });
      await h.signal('performHealthCheck', { nodeId: 'n-1', level: 'basic' });
      await eventually('our check saw the 500', () => state(h), (s) => s.agent.nodes['n-1']?.lastCheck?.httpStatus === 500);
      // The endpoint answers again; the host, on a loaded machine, reports its vitals' degraded.
      endpoint.status = 200;
      await h.signal('nodeHealthChange', { nodeId: 'n-1', health: 'degraded', reason: 'cpu 95 %', observer: 'n-1' });
      // The monitor's own rounds are an hour away: only the confirming check can clear the 500.
      const done = await eventually(
        'checked again: degraded, not unhealthy',
        () => state(h),
        (s) => s.agent.nodes['n-1']?.lastCheck?.httpStatus === 200 && s.agent.nodes['n-1']?.health === 'degraded',
        15_000,
        100,
      );
      expect(done.agent.nodes['n-1']?.reasons).toEqual(['host reports degraded: cpu 95 %']);
    } finally {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    }
  }, 40_000);

  it('several transitions in one task reach the LoadBalancer in their order: it ends with the last word', async () => {
    // The server delivers the signals one workflow task sends in no set order (each is its own
    // transfer task). The LoadBalancer keeps the last verdict it got, and a router that got
    // unhealthy → degraded → unhealthy as unhealthy → unhealthy → degraded routed a host answering
    // 500 (CI, 2026-12-07). Reports sent while no worker polls reach the monitor in one task.
    const queue = uniqueId('hm-order-tq');
    let w: TestWorker | undefined = await startWorker(t.client, queue, 'hm-order');
    const clusterId = uniqueId('hm-order');
    const start = (type: string, role: string, config: Record<string, unknown>) =>
      t.client.workflow.start(type, { workflowId: `${clusterId}/${role}`, taskQueue: queue, args: [{ clusterId, config }] });
    const hour = 3_600_000;
    const quiet = { heartbeatIntervalMs: hour, healthCheckIntervalMs: hour, topologySyncIntervalMs: hour };
    const lb = await start('loadBalancerWorkflow', 'load-balancer', quiet);
    const h = await start('healthMonitorWorkflow', 'health-monitor', {
      ...quiet,
      basicIntervalMs: hour,
      comprehensiveIntervalMs: hour,
      deepIntervalMs: hour,
      predictiveIntervalMs: hour,
      recoveryCheckIntervalMs: hour,
    });
    handles.push(lb, h);
    try {
      await h.signal('topologyUpdate', { version: 1, at: Date.now(), members: [memberSummary('n-1')], changes: [] });
      await eventually('member', () => state(h), (s) => s.agent.nodes['n-1'] !== undefined);
      await w.stop();
      w = undefined;
      const said = Array.from({ length: 9 }, (_, i) => (i % 2 === 0 ? 'unhealthy' : 'degraded'));
      for (const health of said)
        await h.signal('nodeHealthChange', { nodeId: 'n-1', health, reason: `report ${health}`, observer: 'n-1' });
      w = await startWorker(t.client, queue, 'hm-order');
      const verdicts = async () => {
        const out: string[] = [];
        for (const e of (await lb.fetchHistory()).events ?? []) {
          const a = e.workflowExecutionSignaledEventAttributes;
          if (a?.signalName !== 'nodeHealthChange') continue;
          const payload = a.input?.payloads?.[0]?.data;
          if (payload) out.push((JSON.parse(Buffer.from(payload).toString()) as { health: string }).health);
        }
        return out;
      };
      const got = await eventually('every transition at the LoadBalancer', verdicts, (v) => v.length >= said.length, 20_000, 200);
      expect(got).toEqual(said);
      const lbState = await lb.query<AgentStateView<{ verdicts: Record<string, { health?: string }> }>>('state');
      expect(lbState.agent.verdicts['n-1']?.health).toBe('unhealthy');
    } finally {
      await w?.stop();
    }
  }, 60_000);

  it('every HealthMonitor history written here replays', async () => {
    for (const h of handles) await h.terminate('test done').catch(() => undefined);
    expect(await replayAll(t.client, 'healthMonitorWorkflow', fileStartedAt)).toBeGreaterThanOrEqual(3);
  }, 60_000);
});
