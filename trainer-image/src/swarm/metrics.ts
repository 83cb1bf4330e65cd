/** prom-client metrics of the swarm layer, registered on an injected registry. */
import { Counter, Gauge, Registry } from 'prom-client';

export interface SwarmMetrics {
  /** Connections the gater refused, by direction. */
  refusedConnections: Counter<'direction'>;
  /** Records or assignments that failed validation, by kind (membership | assignment). */
  badRecords: Counter<'kind'>;
  /** NATS operations that failed (put, get, create, watch), by operation. */
  natsErrors: Counter<'op'>;
  /** Live peers in the membership view. */
  livePeers: Gauge;
  /** Relay network mode: relays holding a reservation for this peer. */
  relayReservations: Gauge;
  /** Rounds this peer led (won the compare-and-set). */
  roundsLed: Counter;
  /** NATS operations the server refused by permission (publish | subscription), e.g. another swarm's subjects. */
  natsPermissionDenied: Counter<'operation'>;
  /**
   * Peers whose claimed samples this peer counted only up to their measured
   * throughput, once per peer and epoch; measured = false when the claim was
   * already in the first record this peer saw of them (swarm/throughput.ts).
   */
  cappedClaims: Counter<'measured'>;
}

export function createSwarmMetrics(registry: Registry = new Registry()): SwarmMetrics {
  return {
    refusedConnections: new Counter({
      name: 'spotswarm_p2p_refused_connections_total',
      help: 'libp2p connections refused because the remote peer is not registered in this swarm',
      labelNames: ['direction'],
      registers: [registry],
    }),
    badRecords: new Counter({
      name: 'spotswarm_swarm_bad_records_total',
      help: 'Membership records, round assignments or round result digests ignored because they failed validation, by kind',
      labelNames: ['kind'],
      registers: [registry],
    }),
    natsErrors: new Counter({
      name: 'spotswarm_swarm_nats_errors_total',
      help: 'NATS operations of the swarm layer that failed',
      labelNames: ['op'],
      registers: [registry],
    }),
    livePeers: new Gauge({ name: 'spotswarm_swarm_live_peers', help: 'Live peers in the membership view', registers: [registry] }),
    roundsLed: new Counter({ name: 'spotswarm_swarm_rounds_led_total', help: 'Rounds whose assignment this peer wrote', registers: [registry] }),
    relayReservations: new Gauge({ name: 'spotswarm_p2p_relay_reservations', help: 'Relay network mode: circuit relays holding a reservation for this peer', registers: [registry] }),
    natsPermissionDenied: new Counter({
      name: 'spotswarm_swarm_nats_permission_denied_total',
      help: 'NATS publishes or subscriptions the server refused because the swarm credentials do not allow them',
      labelNames: ['operation'],
      registers: [registry],
    }),
    cappedClaims: new Counter({
      name: 'spotswarm_swarm_capped_claims_total',
      help: 'Peers whose self-reported samples were counted only up to what their throughput, measured on the NATS server clock, allows (once per peer and epoch)',
      labelNames: ['measured'],
      registers: [registry],
    }),
  };
}
