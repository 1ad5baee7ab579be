/**
 * Random and malformed payloads for the fault suite's "garbage from a foreign client": what a
 * client that is not our CLI may send to any signal or update. Seeded, so a run can be repeated.
 *
 * Three shapes:
 *   value  a JavaScript value the Temporal client encodes as JSON (null, numbers, strings,
 *          arrays, objects with `__proto__` keys, huge strings, long arrays, nested junk, deep
 *          nesting that JSON.stringify still handles), or a valid payload with one part broken.
 *   none   the message with no argument at all.
 *   raw    bytes the client's converter would never produce, sent through the raw workflow
 *          service: JSON nested deeper than JSON.stringify can write (`deep`), and — a class of
 *          its own, sent last — invalid JSON under json/plain or an encoding no converter knows
 *          (`undecodable`).
 * Templates name ghost nodes (`ghost-…`) and incarnations no host has, so a mutated payload that
 * still parses acts on nobody real.
 */

import { seeded } from '../src/core/lb/simulation';

/** mulberry32, the project's seeded PRNG: small, fast, good enough to pick junk. */
export const rng: (seed: number) => () => number = seeded;

export type Garbage =
  | { shape: 'value'; label: string; value: unknown }
  | { shape: 'none'; label: string }
  | { shape: 'raw'; label: string; encoding: string; data: string };

const STRINGS = [
  '',
  ' ',
  'NaN',
  'Infinity',
  '-Infinity',
  '-0',
  '1e309',
  '0x1F',
  'null',
  'undefined',
  'true',
  '[]',
  '{}',
  '__proto__',
  'constructor',
  '\u0000',
  '\uffff',
  '\ud800',
  '💥'.repeat(40),
  "'; DROP TABLE nodes; --",
  '../../etc/passwd',
  '<script>alert(1)</script>',
  '%s%n%x%d',
  '${process.exit()}',
  'ghost-1',
];
// No small positive integers: a payload that parses must not name a real incarnation or port.
const NUMBERS = [
  0,
  -1,
  -0,
  0.5,
  -0.5,
  1e308,
  -1e308,
  2 ** 53 + 2,
  -(2 ** 53),
  1e-308,
  65_536,
  2 ** 32,
  Number.MAX_SAFE_INTEGER,
];
const KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'nodeId',
  'from',
  'version',
  'members',
  'status',
  'health',
  '',
  '💥',
  'a'.repeat(300),
];

/** A valid payload per message name: the starting point of "one part broken". */
export const TEMPLATES: Record<string, unknown> = {
  heartbeat: { from: 'garbage', at: 1, details: { note: 'template' } },
  topologyUpdate: { version: 0, at: 1, members: [], changes: [] },
  healthCheckRequest: { from: 'garbage', level: 'basic', nodeId: 'ghost-1' },
  consensusRequest: { proposalId: 'p-1', from: 'garbage', topic: 'garbage', value: 1 },
  announce: {
    nodeId: 'ghost-1',
    address: '127.0.0.1',
    healthPort: 9,
    zone: 'ghost',
    bootId: 'ghost-boot',
    startedAt: 1,
    services: {},
  },
  leave: { nodeId: 'ghost-1', bootId: 'ghost-boot', reason: 'garbage' },
  discoverNodes: { strategies: ['registry'], zones: ['ghost'] },
  discover: { strategies: ['registry'], zones: ['ghost'] },
  nodeHealthChange: { nodeId: 'ghost-1', status: 'alive', health: 'healthy', reason: 'garbage', observer: 'garbage' },
  networkPartitionDetected: { components: [['ghost-1'], ['ghost-2']], detectedBy: 'garbage', reason: 'garbage' },
  trafficSurgeDetected: { requestsPerSecond: 10, baselinePerSecond: 5, durationMs: 1_000, source: 'garbage' },
  nodeCapacityUpdate: { nodeId: 'ghost-1', capacity: { cpu: 2 }, load: { cpu: 0.5 } },
  reportOutcome: { router: 'garbage', outcomes: [{ targetId: 'ghost-1/host', ok: true, latencyMs: 1 }] },
  distributeLoad: { key: 'garbage' },
  setStrategy: { strategy: 'round_robin' },
  awaitRoutingTable: { knownVersion: 0, waitMs: 0 },
  cordon: { nodeId: 'ghost-1', reason: 'garbage', by: 'garbage' },
  uncordon: { nodeId: 'ghost-1' },
  maintenance: { nodeId: 'ghost-1', reason: 'garbage', deadlineMs: 1_000, stop: false },
  // Out of range on purpose (1-100): a valid target would really start or stop hosts.
  scale: { target: 65_536, reason: 'garbage' },
  configure: { rejectionHistorySize: 20 },
  nodeSuspect: {
    nodeId: 'ghost-1',
    incarnation: 99_999,
    bootId: 'ghost-boot',
    address: '127.0.0.1',
    healthPort: 9,
    since: 1,
    lastBeatAt: 1,
    arrivals: { count: 1, meanMs: 500, stdMs: 10 },
    heartbeatMs: 500,
  },
  nodeAlive: { nodeId: 'ghost-1', incarnation: 99_999, bootId: 'ghost-boot', reason: 'garbage' },
  nodeLeft: { nodeId: 'ghost-1', bootId: 'ghost-boot' },
  performHealthCheck: { nodeId: 'ghost-1', level: 'basic' },
  healthAlert: { nodeId: 'ghost-1', severity: 'info', kind: 'garbage', message: 'garbage', source: 'garbage' },
  quarantineNode: { nodeId: 'ghost-1', reason: 'garbage', durationMs: 60_000 },
  releaseNode: { nodeId: 'ghost-1', reason: 'garbage' },
  hostStarted: {
    nodeId: 'ghost-1',
    bootId: 'ghost-boot',
    address: '127.0.0.1',
    healthPort: 9,
    zone: 'ghost',
    startedAt: 1,
  },
  hostLeaving: { bootId: 'ghost-boot', reason: 'garbage' },
  declaredDead: { incarnation: 99_999, reason: 'garbage', by: 'garbage' },
};

/** `{"__proto__": …}` as an own key, the way JSON.parse builds it from a foreign client's bytes. */
function protoKeyed(inner: unknown): Record<string, unknown> {
  return JSON.parse(
    `{"__proto__": ${JSON.stringify(inner)}, "constructor": {"prototype": {"polluted": true}}}`,
  ) as Record<string, unknown>;
}

export class GarbageMaker {
  private readonly r: () => number;

  constructor(seed: number) {
    this.r = rng(seed);
  }

  private int(n: number): number {
    return Math.floor(this.r() * n);
  }
  private pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }

  /** One junk value; `depth` bounds the nesting of containers. */
  junk(depth = 3): unknown {
    const k = this.int(depth > 0 ? 12 : 6);
    switch (k) {
      case 0:
        return null;
      case 1:
        return this.r() < 0.5;
      case 2:
        return this.pick(NUMBERS);
      case 3:
        return this.r() < 0.5 ? Number.NaN : this.r() < 0.5 ? Infinity : -Infinity; // JSON turns them into null
      case 4:
        return this.pick(STRINGS);
      case 5:
        return this.r() < 0.15 ? 'x'.repeat(16_384 + this.int(200_000)) : 'ghost-' + this.int(1e6).toString(36);
      case 6:
      case 7:
        return Array.from({ length: this.int(6) }, () => this.junk(depth - 1));
      case 8:
      case 9: {
        const o: Record<string, unknown> = {};
        for (let i = this.int(5); i > 0; i--) o[this.pick(KEYS)] = this.junk(depth - 1);
        return this.r() < 0.3 ? { ...o, ...protoKeyed(this.junk(0)) } : o;
      }
      case 10:
        // Many problems at once: one issue per element when an array of objects is expected.
        return Array.from({ length: 1_000 + this.int(20_000) }, (_, i) => i % 7);
      default:
        return this.nested(50 + this.int(1_500));
    }
  }

  /** Objects and arrays nested `depth` deep (JSON.stringify writes ~3,000 levels at most). */
  nested(depth: number): unknown {
    let v: unknown = this.pick(STRINGS);
    for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { [this.pick(KEYS)]: v };
    return v;
  }

  /** A valid template with one part broken (or, now and then, still valid: it is then handled). */
  mutate(template: unknown): unknown {
    if (template === null || typeof template !== 'object' || Array.isArray(template)) return this.junk();
    const o = structuredClone(template) as Record<string, unknown>;
    const keys = Object.keys(o);
    const key = keys.length ? this.pick(keys) : 'x';
    switch (this.int(7)) {
      case 0:
        delete o[key];
        return o;
      case 1:
      case 2:
        o[key] = this.junk(2);
        return o;
      case 3: {
        const inner = o[key];
        if (inner && typeof inner === 'object') {
          const ik = Array.isArray(inner) ? 0 : (Object.keys(inner)[0] ?? 'x');
          (inner as Record<string | number, unknown>)[ik] = this.junk(1);
        } else o[key] = [inner, this.junk(1)];
        return o;
      }
      case 4:
        return { ...o, ...protoKeyed({ [key]: this.junk(1), polluted: true }) };
      case 5:
        return this.pick([[o], { payload: o }, JSON.stringify(o), Object.fromEntries(keys.map((k) => [k, null]))]);
      default:
        o[key] = this.pick(STRINGS);
        return o;
    }
  }

  /** The next garbage for message `name`. */
  next(name: string): Garbage {
    const roll = this.r();
    const template = TEMPLATES[name] ?? {};
    if (roll < 0.04) return { shape: 'none', label: 'no argument' };
    if (roll < 0.08) return this.deep(template);
    if (roll < 0.55) return { shape: 'value', label: 'one part broken', value: this.mutate(template) };
    return { shape: 'value', label: 'random junk', value: this.junk() };
  }

  /** Bytes our client's converter would not produce: JSON nested deeper than it can write. */
  deep(template: unknown): Garbage {
    const d = 5_000 + this.int(30_000);
    const nest = this.r() < 0.5 ? '['.repeat(d) + ']'.repeat(d) : '{"a":'.repeat(d) + '1' + '}'.repeat(d);
    if (template === null || typeof template !== 'object' || Array.isArray(template) || this.r() < 0.3)
      return { shape: 'raw', label: `JSON nested ${d} deep`, encoding: 'json/plain', data: nest };
    const keys = Object.keys(template);
    const key = keys.length ? this.pick(keys) : 'x';
    const text = JSON.stringify({ ...template, [key]: '@@DEEP@@' }).replace('"@@DEEP@@"', nest);
    return { shape: 'raw', label: `${key} nested ${d} deep`, encoding: 'json/plain', data: text };
  }

  /** Bytes no payload converter decodes: invalid JSON under json/plain, or an unknown encoding. */
  undecodable(): Garbage {
    if (this.r() < 0.5)
      return { shape: 'raw', label: 'unknown encoding', encoding: 'application/x-garbage', data: 'garbage' };
    return {
      shape: 'raw',
      label: 'invalid JSON',
      encoding: 'json/plain',
      data: this.pick(['NaN', '{"a":', "{'a':1}", '\u0000', '']),
    };
  }
}

/** What the payload looks like after the JSON round trip the converter makes (undefined for none/raw). */
export function asReceived(g: Garbage): unknown {
  if (g.shape === 'none') return undefined;
  if (g.shape === 'raw') {
    try {
      return g.encoding === 'json/plain' ? JSON.parse(g.data) : undefined;
    } catch {
      return undefined;
    }
  }
  return g.value === undefined ? undefined : JSON.parse(JSON.stringify(g.value) ?? 'null');
}
