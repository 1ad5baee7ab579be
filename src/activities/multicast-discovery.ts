/**
 * UDP multicast discovery. The querier sends one datagram to the group; every host worker of the
 * same cluster that listens on it answers by unicast with where its health endpoint is.
 */
import dgram from 'node:dgram';
import { randomUUID } from 'node:crypto';
import type { Candidate } from '../contracts/node-discovery';
import type { StrategyResult } from './dns-discovery';

export const MULTICAST_QUERY = 'cluster-agents.discover';
export const MULTICAST_REPLY = 'cluster-agents.here';

export interface MulticastQuery {
  type: typeof MULTICAST_QUERY;
  clusterId: string;
  nonce: string;
}

export interface MulticastReply {
  type: typeof MULTICAST_REPLY;
  clusterId: string;
  nonce: string;
  nodeId: string;
  address: string;
  healthPort: number;
  zone: string;
}

export interface MulticastDiscoveryInput {
  clusterId: string;
  group: string;
  port: number;
  interface: string;
  windowMs: number;
  ttl: number;
}

export async function multicastDiscover(input: MulticastDiscoveryInput): Promise<StrategyResult> {
  const socket = dgram.createSocket({ type: 'udp4' });
  const nonce = randomUUID();
  const found: Record<string, Candidate> = {};
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, input.interface, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.setMulticastInterface(input.interface);
    socket.setMulticastTTL(input.ttl);
    socket.setMulticastLoopback(true);
    socket.on('message', (msg) => {
      const reply = parseReply(msg);
      if (!reply || reply.nonce !== nonce || reply.clusterId !== input.clusterId) return;
      found[`${reply.address}:${reply.healthPort}`] = {
        address: reply.address,
        healthPort: reply.healthPort,
        nodeId: reply.nodeId,
        sources: ['multicast'],
      };
    });
    const query: MulticastQuery = { type: MULTICAST_QUERY, clusterId: input.clusterId, nonce };
    await new Promise<void>((resolve, reject) =>
      socket.send(JSON.stringify(query), input.port, input.group, (err) => (err ? reject(err) : resolve())),
    );
    await new Promise((resolve) => setTimeout(resolve, input.windowMs));
  } finally {
    socket.close();
  }
  return { candidates: Object.values(found), errors: [] };
}

export function parseReply(msg: Buffer): MulticastReply | undefined {
  try {
    const v = JSON.parse(msg.toString('utf8')) as Partial<MulticastReply>;
    if (
      v.type === MULTICAST_REPLY &&
      typeof v.nonce === 'string' &&
      typeof v.clusterId === 'string' &&
      typeof v.nodeId === 'string' &&
      typeof v.address === 'string' &&
      typeof v.healthPort === 'number' &&
      typeof v.zone === 'string'
    ) {
      return v as MulticastReply;
    }
  } catch {
    // not one of ours
  }
  return undefined;
}
