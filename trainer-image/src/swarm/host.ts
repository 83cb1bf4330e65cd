/**
 * The in-process libp2p host: TCP + noise + yamux, listening on the pod's IP
 * and announcing it. No pnet (see gater.ts) and no DHT or discovery: peers
 * learn each other's addresses from the membership bucket.
 */
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import type { ConnectionGater, Libp2p, PrivateKey } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';

export interface HostOptions {
  /** The pod IP: listened on and announced. */
  ip: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /**
   * Address to announce instead of `ip` (HostPort network mode: the node's
   * IP, with `port` mapped 1:1 as a host port). Requires a fixed port.
   */
  announceIp?: string;
  connectionGater: ConnectionGater;
  /** Fixed identity; a fresh Ed25519 key when omitted. */
  privateKey?: PrivateKey;
}

/** Multiaddr of a TCP address, ip4 or ip6. */
export function tcpMultiaddr(ip: string, port: number): string {
  return `/${ip.includes(':') ? 'ip6' : 'ip4'}/${ip}/tcp/${port}`;
}

export async function createHost(opts: HostOptions): Promise<Libp2p> {
  if (opts.announceIp !== undefined && opts.port === 0) throw new RangeError('announceIp needs a fixed port');
  const init = {
    addresses: {
      listen: [tcpMultiaddr(opts.ip, opts.port)],
      ...(opts.announceIp !== undefined ? { announce: [tcpMultiaddr(opts.announceIp, opts.port)] } : {}),
    },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: opts.connectionGater,
    ...(opts.privateKey ? { privateKey: opts.privateKey } : {}),
  };
  return createLibp2p(init);
}

/** The host's dialable addresses, with the /p2p/<id> suffix (strings, for membership records). */
export function hostMultiaddrs(host: Libp2p): string[] {
  return host.getMultiaddrs().map((a) => a.toString());
}

/** Adds a peer's addresses to the host's peer store, so that dials by peer id find them. */
export async function rememberPeer(host: Libp2p, peerId: string, addrs: readonly string[]): Promise<void> {
  if (peerId === host.peerId.toString() || addrs.length === 0) return;
  await host.peerStore.merge(peerIdFromString(peerId), { multiaddrs: addrs.map((a) => multiaddr(a)) });
}
