/**
 * Health-check probes. Each is its own activity so that the HealthMonitor gives it its own timeout
 * and retry policy, and runs it on the queue of the host it must run from: resource samples and
 * recovery commands on the node's own `host.<id>`, network performance from a peer's, the rest
 * from whichever host takes it on the shared queue.
 */
import { execFile } from 'node:child_process';
import { statfs } from 'node:fs/promises';
import net from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import tls from 'node:tls';
import { ApplicationFailure } from '@temporalio/activity';
import type { VitalsSample } from '../contracts/node-agent';
import { requireHost, sampleOf, type LeaseHost } from './lease';

/** A host's vitals sample (as the lease carries it) plus its disk. */
export interface ResourceSample extends VitalsSample {
  disk: number;
  diskFreeBytes: number;
  at: number;
}

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
export async function deepInspect(
  host: LeaseHost | undefined,
  input: { sampleMs: number },
): Promise<ResourceSample & { lagMaxMs: number; rssBytes: number; uptimeS: number }> {
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

function tcpConnect(
  address: string,
  port: number,
  timeoutMs: number,
): Promise<{ ok: boolean; ms: number; error?: string }> {
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
}): Promise<{ latenciesMs: number[]; meanMs: number | null; loss: number }> {
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
}): Promise<Record<string, { ok: boolean; ms: number; error?: string }>> {
  const out: Record<string, { ok: boolean; ms: number; error?: string }> = {};
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
}): Promise<{ ok: boolean; daysLeft?: number; validTo?: string; subject?: string; error?: string }> {
  return new Promise((resolve) => {
    const sock = tls.connect({
      host: input.address,
      port: input.port,
      servername: input.servername ?? (net.isIP(input.address) ? undefined : input.address),
      rejectUnauthorized: false,
    });
    const done = (r: { ok: boolean; daysLeft?: number; validTo?: string; subject?: string; error?: string }) => {
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
}): Promise<{ ok: boolean; detail: string }> {
  if (input.command) {
    const [file, ...args] = input.command as [string, ...string[]];
    return new Promise((resolve) => {
      execFile(
        file,
        args,
        { timeout: input.timeoutMs, env: { ...process.env, CLUSTER_NODE_ID: input.nodeId } },
        (err, stdout, stderr) => {
          const out = `${stdout}${stderr}`.trim().slice(-500);
          resolve(
            err
              ? { ok: false, detail: `${err.message}${out ? `: ${out}` : ''}` }
              : { ok: true, detail: out || 'exit 0' },
          );
        },
      );
    });
  }
  if (input.http) {
    const url = input.http.url.replace('{nodeId}', encodeURIComponent(input.nodeId));
    try {
      const res = await fetch(url, {
        method: input.http.method,
        signal: AbortSignal.timeout(input.timeoutMs),
        ...(input.http.method === 'GET'
          ? {}
          : { body: JSON.stringify({ nodeId: input.nodeId }), headers: { 'content-type': 'application/json' } }),
      });
      return { ok: res.ok, detail: `${input.http.method} ${url} → HTTP ${res.status}` };
    } catch (err) {
      return { ok: false, detail: `${input.http.method} ${url} failed: ${(err as Error).message}` };
    }
  }
  throw ApplicationFailure.create({
    type: 'InvalidInput',
    message: 'runRecovery: expected command or http',
    nonRetryable: true,
  });
}

/** POSTs an escalation to the operator's webhook. */
export async function notifyWebhook(input: {
  url: string;
  body: unknown;
  timeoutMs: number;
}): Promise<{ ok: boolean; detail: string }> {
  try {
    const res = await fetch(input.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(input.body),
      signal: AbortSignal.timeout(input.timeoutMs),
    });
    return { ok: res.ok, detail: `HTTP ${res.status}` };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  }
}
