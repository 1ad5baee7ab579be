/**
 * Real discovery sources on loopback: host health endpoints (the worker's own HTTP server),
 * multicast responders, and a DNS server (dns2) answering A and SRV records.
 */
import { randomUUID } from 'node:crypto';
import dgram from 'node:dgram';
import dns2 from 'dns2';
import { startHealthServer, type HealthServer } from '../../src/workers/health-server';
import { startMulticastResponder } from '../../src/workers/multicast-responder';
import { VitalsSampler } from '../../src/workers/vitals';

export interface TestHost {
  nodeId: string;
  bootId: string;
  port: number;
  zone: string;
  health: HealthServer;
  announcement(): {
    nodeId: string;
    address: string;
    healthPort: number;
    zone: string;
    bootId: string;
    startedAt: number;
  };
  close(): Promise<void>;
}

/** A host's health endpoint, as the host worker serves it, on a free loopback port. */
export async function startHost(
  nodeId: string,
  clusterId: string,
  zone = 'zone-a',
  services: Record<string, number> = {},
): Promise<TestHost> {
  const vitals = new VitalsSampler().start();
  const bootId = randomUUID();
  const startedAt = Date.now();
  const health = await startHealthServer(
    { nodeId, clusterId, zone, address: '127.0.0.1', bootId, startedAt, services },
    vitals,
    { host: '127.0.0.1', port: 0 },
  );
  return {
    nodeId,
    bootId,
    port: health.port,
    zone,
    health,
    announcement: () => ({ nodeId, address: '127.0.0.1', healthPort: health.port, zone, bootId, startedAt, services }),
    close: async () => {
      vitals.stop();
      await health.close();
    },
  };
}

export async function startResponder(host: TestHost, clusterId: string, port: number): Promise<{ close(): void }> {
  return startMulticastResponder({
    group: '239.255.77.77',
    port,
    interface: '127.0.0.1',
    reply: { clusterId, nodeId: host.nodeId, address: '127.0.0.1', healthPort: host.port, zone: host.zone },
  });
}

export interface DnsRecords {
  a: Record<string, string[]>;
  srv: Record<string, { target: string; port: number }[]>;
}

/** A real DNS server on 127.0.0.1 (UDP) answering the given A and SRV records, NXDOMAIN otherwise. */
export async function startDnsServer(records: DnsRecords): Promise<{ server: string; close(): Promise<void> }> {
  const { Packet } = dns2;
  // The typings want Resource instances; the encoder reads plain records.
  const rr = (r: Omit<dns2.Packet.Resource, 'toBuffer'>) => r as dns2.Packet.Resource;
  const server = dns2.createUDPServer((request, send) => {
    const response = Packet.createResponseFromRequest(request);
    for (const q of request.questions) {
      const name = q.name.toLowerCase();
      if (q.type === Packet.TYPE.A) {
        for (const address of records.a[name] ?? []) {
          response.answers.push(rr({ name: q.name, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl: 5, address }));
        }
      } else if (q.type === Packet.TYPE.SRV) {
        for (const r of records.srv[name] ?? []) {
          response.answers.push(
            rr({
              name: q.name,
              type: Packet.TYPE.SRV,
              class: Packet.CLASS.IN,
              ttl: 5,
              priority: 10,
              weight: 10,
              port: r.port,
              target: r.target,
            }),
          );
        }
      }
    }
    if (!response.answers.length) response.header.rcode = 3; // NXDOMAIN
    void send(response);
  });
  await server.listen(0, '127.0.0.1');
  const { port } = server.address();
  return { server: `127.0.0.1:${port}`, close: () => new Promise<void>((ok) => server.close(() => ok())) };
}

/** A UDP "resolver" that never answers: a strategy that hangs until its timeout. */
export async function startBlackHole(): Promise<{ server: string; close(): Promise<void> }> {
  const socket = dgram.createSocket('udp4');
  socket.on('message', () => undefined);
  await new Promise<void>((ok) => socket.bind(0, '127.0.0.1', ok));
  return {
    server: `127.0.0.1:${socket.address().port}`,
    close: () => new Promise<void>((ok) => socket.close(() => ok())),
  };
}
