/** Answers multicast discovery queries of this host's cluster with where its health endpoint is. */
import dgram from 'node:dgram';
import {
  MULTICAST_QUERY,
  MULTICAST_REPLY,
  type MulticastQuery,
  type MulticastReply,
} from '../activities/multicast-discovery';

export interface ResponderOptions {
  group: string;
  port: number;
  /** Interface to join the group on: the host's address. */
  interface: string;
  reply: Omit<MulticastReply, 'type' | 'nonce'>;
}

export async function startMulticastResponder(opts: ResponderOptions): Promise<{ close(): void }> {
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  socket.on('message', (msg, from) => {
    let q: Partial<MulticastQuery>;
    try {
      q = JSON.parse(msg.toString('utf8')) as Partial<MulticastQuery>;
    } catch {
      return;
    }
    if (q.type !== MULTICAST_QUERY || q.clusterId !== opts.reply.clusterId || typeof q.nonce !== 'string') return;
    const reply: MulticastReply = { type: MULTICAST_REPLY, nonce: q.nonce, ...opts.reply };
    socket.send(JSON.stringify(reply), from.port, from.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(opts.port, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.addMembership(opts.group, opts.interface);
  return { close: () => socket.close() };
}
