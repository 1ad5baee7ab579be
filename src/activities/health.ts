/**
 * Health-check probes. Each is its own activity so that the HealthMonitor gives it its own timeout
 * and retry policy, and runs it on the queue of the host it must run from: resource samples and
 * recovery commands on the node's own `host.<id>`, network performance from a peer's, the rest
 * from whichever host takes it on the shared queue.
 *
 * Probes return what they found (a refused connection is a finding). Actions — the recovery
 * procedure, the webhook — throw when they fail, so that the retry policy the workflow set runs:
 * `ApplicationFailure` of type `RecoveryFailed` / `WebhookFailed` (retryable) when the command
 * failed or the endpoint did not answer 2xx, `InvalidInput` (non-retryable) when there is nothing
 * a retry could fix (no command or URL, an executable that is not there).
 */
import { execFile } from 'node:child_process';
import { statfs } from 'node:fs/promises';
import net from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import tls from 'node:tls';
import { ApplicationFailure } from '@temporalio/activity';
import type {
  ActionResult,
  DeepSample,
  NetworkPerformance,
  PortCheck,
  ResourceSample,
  TlsExpiry,
} from '../contracts/health-monitor';
import { requireHost, sampleOf, type LeaseHost } from './lease';

async function diskUse(path: string): Promise<{ share: number; free: number }> {
  const s = await statfs(path);
  const total = s.blocks * s.bsize;
  const free = s.bavail * s.bsize;
  return { share: total > 0 ? Math.round((1 - free / total) * 1000) / 1000 : 0, free };
}

/** The host's resource utilization (run on its own queue). */
export async function sampleResources(host: LeaseHost | undefined): Promise<ResourceSample> {
  const v = requireHost(host, 'sampleResources').vitals();
  const d = await diskUse(process.cwd());
  return { ...sampleOf(v), disk: d.share, diskFreeBytes: d.free, at: Date.now() };
}

/** Deep look at the host: resources plus a dedicated event-loop delay sample over `sampleMs`. */
export async function deepInspect(host: LeaseHost | undefined, input: { sampleMs: number }): Promise<DeepSample> {
  const base = await sampleResources(host);
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  await new Promise((r) => setTimeout(r, input.sampleMs));
  h.disable();
  const ms = (ns: number) => (Number.isFinite(ns) ? Math.max(0, Math.round(ns / 1e4) / 100 - 10) : 0);
  return {
    ...base,
    lagP99Ms: ms(h.percentile(99)),
    lagMaxMs: ms(h.max),
    rssBytes: process.memoryUsage.rss(),
    uptimeS: Math.round(process.uptime()),
  };
}

function tcpConnect(address: string, port: number, timeoutMs: number): Promise<PortCheck> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const sock = net.connect({ host: address, port });
    const done = (ok: boolean, error?: string) => {
      sock.destroy();
      clearTimeout(timer);
      resolve({ ok, ms: Math.round((performance.now() - t0) * 100) / 100, ...(error ? { error } : {}) });
    };
    const timer = setTimeout(() => done(false, `no connection within ${timeoutMs} ms`), timeoutMs);
    sock.once('connect', () => done(true));
    sock.once('error', (err) => done(false, err.message));
  });
}

/** Network performance from this host to a node: `probes` TCP connects, latency and loss. */
export async function networkPerformance(input: {
  address: string;
  port: number;
  probes: number;
  timeoutMs: number;
}): Promise<NetworkPerformance> {
  const latenciesMs: number[] = [];
  let lost = 0;
  for (let i = 0; i < input.probes; i++) {
    const r = await tcpConnect(input.address, input.port, input.timeoutMs);
    if (r.ok) latenciesMs.push(r.ms);
    else lost += 1;
  }
  const meanMs = latenciesMs.length ? latenciesMs.reduce((a, b) => a + b, 0) / latenciesMs.length : null;
  return { latenciesMs, meanMs: meanMs === null ? null : Math.round(meanMs * 100) / 100, loss: lost / input.probes };
}

/** Each service port of a node accepts a TCP connection. */
export async function serviceAvailability(input: {
  address: string;
  services: Record<string, number>;
  timeoutMs: number;
}): Promise<Record<string, PortCheck>> {
  const out: Record<string, PortCheck> = {};
  await Promise.all(
    Object.entries(input.services).map(async ([name, port]) => {
      out[name] = await tcpConnect(input.address, port, input.timeoutMs);
    }),
  );
  return out;
}

/** Days until the TLS certificate served at address:port expires (not verified: expiry is what is asked). */
export function tlsExpiry(input: {
  address: string;
  port: number;
  servername?: string;
  timeoutMs: number;
}): Promise<TlsExpiry> {
  return new Promise((resolve) => {
    const sock = tls.connect({
      host: input.address,
      port: input.port,
      servername: input.servername ?? (net.isIP(input.address) ? undefined : input.address),
      rejectUnauthorized: false,
    });
    const done = (r: TlsExpiry) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(
      () => done({ ok: false, error: `no TLS handshake within ${input.timeoutMs} ms` }),
      input.timeoutMs,
    );
    sock.once('secureConnect', () => {
      const cert = sock.getPeerCertificate();
      if (!cert || !cert.valid_to) return done({ ok: false, error: 'no certificate presented' });
      const daysLeft = Math.round(((Date.parse(cert.valid_to) - Date.now()) / 86_400_000) * 10) / 10;
      const cn = cert.subject?.CN;
      done({ ok: true, daysLeft, validTo: cert.valid_to, subject: Array.isArray(cn) ? cn.join(', ') : cn });
    });
    sock.once('error', (err) => done({ ok: false, error: err.message }));
  });
}

/** The operator's recovery procedure for a node: a command on this host, or an HTTP call. */
export async function runRecovery(input: {
  nodeId: string;
  command?: string[];
  http?: { url: string; method: string };
  timeoutMs: number;
}): Promise<ActionResult> {
  if (input.command?.length) return runCommand(input.command, input.nodeId, input.timeoutMs);
  if (input.http) {
    const url = input.http.url.replace('{nodeId}', encodeURIComponent(input.nodeId));
    if (!URL.canParse(url)) throw invalidInput(`runRecovery: http.url: expected a URL, got ${JSON.stringify(url)}`);
    const what = `${input.http.method} ${url}`;
    const status = await call('RecoveryFailed', what, url, {
      method: input.http.method,
      signal: AbortSignal.timeout(input.timeoutMs),
      ...(input.http.method === 'GET'
        ? {}
        : { body: JSON.stringify({ nodeId: input.nodeId }), headers: { 'content-type': 'application/json' } }),
    });
    return { ok: true, detail: `${what} → HTTP ${status}` };
  }
  throw invalidInput('runRecovery: expected command or http');
}

/** POSTs an escalation to the operator's webhook. */
export async function notifyWebhook(input: { url: string; body: unknown; timeoutMs: number }): Promise<ActionResult> {
  if (!input.url || !URL.canParse(input.url))
    throw invalidInput(`notifyWebhook: url: expected a URL, got ${JSON.stringify(input.url)}`);
  const status = await call('WebhookFailed', `POST ${input.url}`, input.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(input.body),
    signal: AbortSignal.timeout(input.timeoutMs),
  });
  return { ok: true, detail: `HTTP ${status}` };
}

/** Runs argv (no shell) with the node's id in CLUSTER_NODE_ID; a non-zero exit or a timeout throws (retryable). */
function runCommand(command: string[], nodeId: string, timeoutMs: number): Promise<ActionResult> {
  const [file, ...args] = command as [string, ...string[]];
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, env: { ...process.env, CLUSTER_NODE_ID: nodeId } }, (err, so, se) => {
      const out = `${so}${se}`.trim().slice(-500);
      if (!err) return resolve({ ok: true, detail: out || 'exit 0' });
      const code = (err as NodeJS.ErrnoException).code;
      // Not there or not executable on this host: another attempt finds the same.
      if (code === 'ENOENT' || code === 'EACCES') return reject(invalidInput(`runRecovery: ${err.message}`));
      reject(
        ApplicationFailure.create({
          type: 'RecoveryFailed',
          message: `${err.message.trim()}${out ? `: ${out}` : ''}`,
        }),
      );
    });
  });
}

/** One HTTP call: its status when 2xx; else throws a retryable failure of `type`. */
async function call(type: string, what: string, url: string, init: RequestInit): Promise<number> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (err) {
    throw ApplicationFailure.create({ type, message: `${what} failed: ${fetchError(err)}` });
  }
  await res.body?.cancel();
  if (!res.ok) throw ApplicationFailure.create({ type, message: `${what} → HTTP ${res.status}` });
  return res.status;
}

/** fetch says only "fetch failed": the socket's error is in its cause (or the cause's first error). */
function fetchError(err: unknown): string {
  const e = err as Error & { cause?: Error & { code?: string; errors?: Error[] } };
  const c = e.cause;
  const why = c ? c.message || c.code || c.errors?.[0]?.message : undefined;
  return why ? `${e.message} (${why})` : e.message;
}

function invalidInput(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: 'InvalidInput', message, nonRetryable: true });
}
