/**
 * Swarm isolation for libp2p: a connection gater that lets through only
 * peers registered in this swarm's membership bucket. Noise authenticates the
 * remote peer id before the "encrypted" hooks run, so a peer cannot claim an
 * id it holds no key for; and only holders of the swarm's NATS credentials
 * can register. FACTS.md: @libp2p/pnet breaks under bulk data, so this gater
 * is the isolation mechanism instead.
 *
 * Every refusal is counted (kubeswarm_p2p_refused_connections_total) and
 * logged.
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
  return {
    denyDialPeer: (peerId: PeerId) => refuse(peerId, 'outbound'),
    denyInboundEncryptedConnection: (peerId: PeerId, conn: MultiaddrConnection) => refuse(peerId, 'inbound', conn.remoteAddr),
    denyOutboundEncryptedConnection: (peerId: PeerId, conn: MultiaddrConnection) => refuse(peerId, 'outbound', conn.remoteAddr),
  };
}
