/**
 * Swarm isolation for libp2p: a connection gater that lets through only
 * peers registered in this swarm's membership bucket. Noise authenticates the
 * remote peer id before the "encrypted" hooks run, so a peer cannot claim an
 * id it holds no key for; and only holders of the swarm's NATS credentials
 * can register. @libp2p/pnet breaks under bulk data (with more than 32-64 MiB
 * in flight its WASM xsalsa20 exceeds its maximum memory), so this gater is
 * the isolation mechanism instead.
 *
 * Every refusal is counted (spotswarm_p2p_refused_connections_total) and
 * logged.
 *
 * Circuit relays (Relay network mode) are not members: `isRelay` names the
 * relays this peer may dial (to hold a reservation, or to reach a peer behind
 * NAT). A relay is only ever dialled, never dials us, so inbound connections
 * from it are refused like any other. A relayed connection is checked twice:
 * when the relay asks us to accept it (the relay vouches for the remote id,
 * and must itself be one of ours), and again once noise has authenticated the
 * remote over the relayed stream.
 */
import type { ConnectionGater, MultiaddrConnection, PeerId } from '@libp2p/interface';
import type { Multiaddr } from '@multiformats/multiaddr';
import { errorMessage, type SwarmLogger } from './log.ts';
import type { SwarmMetrics } from './metrics.ts';

export interface MembershipGaterDeps {
  /** Whether the peer is currently registered in this swarm. Must not throw; a failure means "no". */
  isMember(peerId: string): Promise<boolean> | boolean;
  metrics: SwarmMetrics;
  log: SwarmLogger;
  /** Our own peer id (never gated). */
  self?: string;
  /** Whether the peer is a circuit relay this swarm uses (dialable, not a member). Must not throw. */
  isRelay?(peerId: string): boolean;
}

export function membershipGater(deps: MembershipGaterDeps): ConnectionGater {
  const refuse = async (peerId: PeerId, direction: 'inbound' | 'outbound', remote?: Multiaddr): Promise<boolean> => {
    const id = peerId.toString();
    if (id === deps.self) return false;
    let ok = false;
    try {
      ok = await deps.isMember(id);
    } catch (e) {
      deps.log.warn('membership check failed; refusing', { peerId: id, error: errorMessage(e) });
    }
    if (ok) return false;
    deps.metrics.refusedConnections.inc({ direction });
    deps.log.warn(direction === 'inbound' ? 'refused connection from a peer not registered in this swarm' : 'refused to connect to a peer not registered in this swarm', { peerId: id, direction, remote: remote?.toString() });
    return true;
  };
  const relay = (peerId: PeerId): boolean => {
    try {
      return deps.isRelay?.(peerId.toString()) === true;
    } catch {
      return false;
    }
  };
  return {
    denyDialPeer: (peerId: PeerId) => (relay(peerId) ? false : refuse(peerId, 'outbound')),
    denyInboundEncryptedConnection: (peerId: PeerId, conn: MultiaddrConnection) => refuse(peerId, 'inbound', conn.remoteAddr),
    denyOutboundEncryptedConnection: (peerId: PeerId, conn: MultiaddrConnection) => (relay(peerId) ? false : refuse(peerId, 'outbound', conn.remoteAddr)),
    denyInboundRelayedConnection: async (relayId: PeerId, remotePeer: PeerId) => {
      if (!relay(relayId)) {
        deps.metrics.refusedConnections.inc({ direction: 'inbound' });
        deps.log.warn('refused a relayed connection through a relay this swarm does not use', { relay: relayId.toString(), peerId: remotePeer.toString(), direction: 'inbound' });
        return true;
      }
      return refuse(remotePeer, 'inbound');
    },
  };
}
