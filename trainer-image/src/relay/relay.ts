/**
 * A libp2p circuit relay (v2) for a swarm's peers behind NAT: TCP + noise +
 * yamux, `circuitRelayServer`, and a fixed identity (its peer id is in every
 * trainer's SPOTSWARM_RELAYS). Given a connection gater (the swarm's
 * membership gater, as the operator runs it), it admits only the swarm's
 * registered members: nobody else can hold a reservation, use up the
 * relay's slots, or relay traffic through it. The trainers' own gaters still
 * decide who may talk to whom; the relay only splices streams.
 *
 * Limits: circuit relay v2 by default limits each relayed connection to
 * 2 minutes and 128 KiB, meant for hole punching, not bulk data, and libp2p
 * marks such connections "limited" and opens no ordinary protocol streams
 * over them. This relay is run for one swarm's all-reduce traffic, so it
 * applies no limit (`applyDefaultLimit: false`): relayed connections are
 * unlimited, and the all-reduce runs over them as over any connection.
 * Capacity is bounded by `maxReservations` and the connection caps instead.
 */
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { circuitRelayServer, type CircuitRelayService } from '@libp2p/circuit-relay-v2';
import { identify, type Identify } from '@libp2p/identify';
import type { ConnectionGater, Libp2p, PrivateKey } from '@libp2p/interface';
import { tcp } from '@libp2p/tcp';
import { createLibp2p } from 'libp2p';
import { Gauge, type Registry } from 'prom-client';
import { type SwarmLogger, tcpMultiaddr } from '../swarm/index.ts';

/** HOP and STOP streams open at once: one of each per relayed connection. */
export const MAX_RELAY_STREAMS = 4096;
/** How often the relay logs changes of its reservations. */
const RESERVATION_LOG_MS = 1000;
/** Connections the relay holds: one per peer with a reservation, one per peer dialing through it. */
export const MAX_RELAY_CONNECTIONS = 8192;

export interface RelayNodeOptions {
  privateKey: PrivateKey;
  ip: string;
  port: number;
  /** Multiaddrs (no /p2p/) to announce; empty = the listen address. */
  announce: readonly string[];
  maxReservations: number;
  log: SwarmLogger;
  /** Registry for the relay's metrics; none when omitted. */
  registry?: Registry;
  /** Who may connect; everyone when omitted. */
  connectionGater?: ConnectionGater;
}

export interface RelayNode {
  readonly node: Libp2p<{ identify: Identify; relay: CircuitRelayService }>;
  readonly peerId: string;
  /** The addresses trainers dial, with /p2p/<relay id>. */
  readonly multiaddrs: string[];
  /** Peers holding a reservation now. */
  reservations(): number;
  stop(): Promise<void>;
}

export async function startRelay(o: RelayNodeOptions): Promise<RelayNode> {
  const node = await createLibp2p({
    privateKey: o.privateKey,
    addresses: {
      listen: [tcpMultiaddr(o.ip, o.port)],
      ...(o.announce.length > 0 ? { announce: [...o.announce] } : {}),
    },
    transports: [tcp()],
    ...(o.connectionGater ? { connectionGater: o.connectionGater } : {}),
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections: MAX_RELAY_CONNECTIONS,
      // Trainers behind one NAT share an address; the default (5 per second per host) would turn them away at start-up.
      inboundConnectionThreshold: 1000,
      maxIncomingPendingConnections: 256,
    },
    // A trainer's connection to the relay carries all its relayed bulk traffic; a ping stuck behind it must not
    // make the relay drop the connection, and with it every circuit and the reservation.
    connectionMonitor: { abortConnectionOnPingFailure: false },
    services: {
      identify: identify(),
      relay: circuitRelayServer({
        reservations: { applyDefaultLimit: false, maxReservations: o.maxReservations },
        maxInboundHopStreams: MAX_RELAY_STREAMS,
        maxOutboundStopStreams: MAX_RELAY_STREAMS,
      }),
    },
  });
  const relay = node.services.relay;
  const peerId = node.peerId.toString();
  const multiaddrs = node.getMultiaddrs().map((a) => a.toString());

  if (o.registry) {
    const registers = [o.registry];
    new Gauge({ name: 'spotswarm_relay_reservations', help: 'Peers holding a reservation on this relay', registers, collect() { this.set(relay.reservations.size); } });
    new Gauge({ name: 'spotswarm_relay_connections', help: 'Open libp2p connections of this relay (reserving peers and peers dialing through it)', registers, collect() { this.set(node.getConnections().length); } });
  }
  // The server emits no event per reservation: log the changes of the reserved set instead.
  let reserved = new Set<string>();
  const watch = setInterval(() => {
    const now = new Set([...relay.reservations.keys()].map((p) => p.toString()));
    const added = [...now].filter((p) => !reserved.has(p));
    const gone = [...reserved].filter((p) => !now.has(p));
    if (added.length > 0 || gone.length > 0) o.log.info('reservations changed', { reservations: now.size, added, gone });
    reserved = now;
  }, RESERVATION_LOG_MS);
  watch.unref();
  node.addEventListener('peer:connect', (evt) => o.log.debug('peer connected', { peerId: evt.detail.toString() }));
  node.addEventListener('peer:disconnect', (evt) => o.log.debug('peer disconnected', { peerId: evt.detail.toString() }));

  return {
    node,
    peerId,
    multiaddrs,
    reservations: () => relay.reservations.size,
    stop: async () => {
      clearInterval(watch);
      await node.stop();
    },
  };
}
