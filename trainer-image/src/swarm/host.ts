/**
 * The in-process libp2p host: TCP + noise + yamux, listening on the pod's IP
 * and announcing it. No pnet (see gater.ts) and no DHT or discovery: peers
 * learn each other's addresses from the membership bucket.
 *
 * Every host can dial circuit addresses (circuit relay v2 transport, with
 * identify, which it needs), so that peers in any placement reach peers
 * behind NAT. In Relay mode (`relays` set) the host does not listen on TCP
 * at all: it holds a reservation on each relay and is reachable only through
 * them (relay-client.ts).
 */
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { circuitRelayTransport, type CircuitRelayTransportComponents } from '@libp2p/circuit-relay-v2';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { identify } from '@libp2p/identify';
import { FaultTolerance, type ConnectionGater, type Libp2p, type PrivateKey, type Transport } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import { silentLogger, type SwarmLogger } from './log.ts';
import { parseRelay, RelayReservations, type ReservationStoreLike } from './relay-client.ts';

export interface HostOptions {
  /** The pod IP: listened on and announced (not in Relay mode). */
  ip: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /**
   * Address to announce instead of `ip` (HostPort network mode: the node's
   * IP, with `port` mapped 1:1 as a host port). Requires a fixed port.
   */
  announceIp?: string;
  /**
   * Relay network mode: circuit relay multiaddrs, each ending in /p2p/<relay id>.
   * The host listens only through these relays (no TCP listener).
   */
  relays?: readonly string[];
  /** Relay mode: how long to keep trying for a first reservation. @default 120000 */
  relayWaitMs?: number;
  /** Relay mode: how often to check reservations and make lost ones again. @default 2000 */
  relayCheckMs?: number;
  /** Relay mode: told how many relays hold a reservation for us, after every check. */
  onRelayReservations?: (n: number) => void;
  connectionGater: ConnectionGater;
  /** Fixed identity; a fresh Ed25519 key when omitted. */
  privateKey?: PrivateKey;
  log?: SwarmLogger;
}

/** Multiaddr of a TCP address, ip4 or ip6. */
export function tcpMultiaddr(ip: string, port: number): string {
  return `/${ip.includes(':') ? 'ip6' : 'ip4'}/${ip}/tcp/${port}`;
}

function isReservationStore(x: unknown): x is ReservationStoreLike {
  const s = x as Partial<ReservationStoreLike> | undefined;
  return typeof s?.hasReservation === 'function' && typeof s.addRelay === 'function';
}

/**
 * Starts the host. In Relay mode it resolves once some relay holds a
 * reservation for it (see createRelayedHost to wait later instead).
 */
export async function createHost(opts: HostOptions): Promise<Libp2p> {
  const { host, reservations } = await createRelayedHost(opts);
  if (!reservations) return host;
  try {
    await reservations.first(opts.relayWaitMs ?? 120_000);
  } catch (e) {
    await host.stop();
    throw e;
  }
  return host;
}

/**
 * Starts the host; in Relay mode also returns its reservation keeper, which
 * has not waited for a first reservation yet: a relay that admits only
 * registered members accepts us once we are registered, so the caller
 * registers first and then awaits `reservations.first()`.
 */
export async function createRelayedHost(opts: HostOptions): Promise<{ host: Libp2p; reservations?: RelayReservations }> {
  if (opts.announceIp !== undefined && opts.port === 0) throw new RangeError('announceIp needs a fixed port');
  const relays = (opts.relays ?? []).map(parseRelay);
  if (opts.relays !== undefined && relays.length === 0) throw new RangeError('Relay mode needs at least one relay');
  // The circuit relay transport keeps its client reservation store on the instance; relay-client.ts needs it.
  let store: unknown;
  const relayTransport = circuitRelayTransport({ reservationCompletionTimeout: 10_000 });
  const init = {
    addresses: relays.length > 0
      ? { listen: relays.map((r) => `${r.addr.toString()}/p2p-circuit`) }
      : {
          listen: [tcpMultiaddr(opts.ip, opts.port)],
          ...(opts.announceIp !== undefined ? { announce: [tcpMultiaddr(opts.announceIp, opts.port)] } : {}),
        },
    transports: [
      tcp(),
      (components: CircuitRelayTransportComponents): Transport => {
        const t = relayTransport(components);
        store = (t as { reservationStore?: unknown }).reservationStore;
        return t;
      },
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: opts.connectionGater,
    // Peers behind one NAT reach us from one address, all at a round's start; the default (5 per second per host) would turn them away.
    connectionManager: { inboundConnectionThreshold: 1000, maxIncomingPendingConnections: 256 },
    // libp2p's connection monitor aborts a connection whose ping is slow (>= 5 s); under a large all-reduce a
    // ping queues behind megabytes of bulk data (twice over a relay), and healthy connections died mid-round
    // (see averaging/testing.ts). The all-reduce has its own deadlines.
    connectionMonitor: { abortConnectionOnPingFailure: false },
    services: { identify: identify() },
    // Relay mode: a relay that is down (or does not admit us yet) at start-up must not fail the start; RelayReservations retries.
    ...(relays.length > 0 ? { transportManager: { faultTolerance: FaultTolerance.NO_FATAL } } : {}),
    privateKey: opts.privateKey ?? (await generateKeyPair('Ed25519')),
    start: false,
  };
  const host: Libp2p = await createLibp2p(init);
  await host.start();
  if (relays.length === 0) return { host };
  if (!isReservationStore(store)) {
    await host.stop();
    throw new Error('the circuit relay transport has no reservation store (incompatible @libp2p/circuit-relay-v2 version)');
  }
  const reservations = new RelayReservations({ host, store, relays, log: opts.log ?? silentLogger, ...(opts.relayCheckMs !== undefined ? { intervalMs: opts.relayCheckMs } : {}), ...(opts.onRelayReservations ? { onCount: opts.onRelayReservations } : {}) });
  host.addEventListener('stop', () => reservations.stop(), { once: true });
  return { host, reservations };
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
