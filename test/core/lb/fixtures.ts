import type { RouteTarget, RoutingTable, Target } from '../../../src/contracts/load-balancer';

export { seeded } from '../../../src/core/lb/simulation';

export function routeTarget(id: string, extra: Partial<RouteTarget> = {}): RouteTarget {
  return {
    id,
    nodeId: id.split('/')[0] as string,
    service: id.split('/')[1] ?? 'host',
    address: '10.0.0.1',
    port: 80,
    zone: 'a',
    weight: 1,
    headroom: 1,
    ewmaMs: 10,
    connections: 0,
    maxConnections: 1000,
    trend: 0,
    overloaded: false,
    breaker: 'closed',
    ...extra,
  };
}

export function table(targets: RouteTarget[], extra: Partial<RoutingTable> = {}): RoutingTable {
  const zones: RoutingTable['zones'] = {};
  for (const t of targets) {
    const z = (zones[t.zone] ??= { live: 0, routed: 0 });
    z.live += 1;
    z.routed += 1;
  }
  return {
    version: 1,
    clusterId: 'c',
    builtAt: 0,
    strategy: 'round_robin',
    panic: false,
    healthyShare: 1,
    zonePenaltyMs: 20,
    spilloverThreshold: 0.5,
    maglevTableSize: 65_537,
    targets,
    excluded: [],
    zones,
    ...extra,
  };
}

export function target(id: string, extra: Partial<Target> = {}): Target {
  return {
    id,
    nodeId: id.split('/')[0] as string,
    service: id.split('/')[1] ?? 'host',
    address: '10.0.0.1',
    port: 80,
    zone: 'a',
    status: 'alive',
    health: 'healthy',
    incarnation: 1,
    capacity: { cpu: 1, memory: 1, network: 1, maxConnections: 1000 },
    load: { cpu: 0, memory: 0, network: 0, connections: 0 },
    requests: 0,
    failures: 0,
    ...extra,
  };
}

export function counts(picks: number[], n: number): number[] {
  const c = new Array<number>(n).fill(0);
  for (const p of picks) c[p] = (c[p] ?? 0) + 1;
  return c;
}
