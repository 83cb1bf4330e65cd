/**
 * Relay mode, client side: a trainer behind NAT holds a reservation on each
 * configured circuit relay (libp2p circuit relay v2) and announces
 * `<relay>/p2p-circuit/p2p/<self>` addresses; peers elsewhere dial those, and
 * the relay splices their connection onto ours.
 *
 * libp2p makes the first reservation of a `/p2p-circuit` listen address, but
 * does not make it again when the connection to a configured relay drops (a
 * relay restart, say). RelayReservations checks every few seconds and, for a
 * relay without a reservation, dials it and reserves a slot again, so that a
 * relay restart costs a few seconds instead of the peer.
 *
 * Announced addresses are the configured relay addresses, not those the relay
 * reports: the operator passes every placement the same, reachable address.
 */
import type { Libp2p, PeerId } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { errorMessage, type SwarmLogger } from './log.ts';

/** The part of circuit-relay-v2's client reservation store this module uses. */
export interface ReservationStoreLike {
  hasReservation(peerId: PeerId): boolean;
  addRelay(peerId: PeerId, type: 'configured' | 'discovered'): Promise<unknown>;
}

/** One configured relay: its multiaddr (with /p2p/) and peer id. */
export interface RelayRef {
  addr: Multiaddr;
  peerId: PeerId;
}

/** Thrown for a relay multiaddr that cannot be used. */
export class InvalidRelayAddressError extends Error {
  readonly code = 'ERR_INVALID_RELAY_ADDRESS';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidRelayAddressError';
  }
}

/** Parses a relay multiaddr: a transport address ending in /p2p/<relay id>, not itself a circuit. */
export function parseRelay(addr: string): RelayRef {
  let ma: Multiaddr;
  try {
    ma = multiaddr(addr);
  } catch (e) {
    throw new InvalidRelayAddressError(`${JSON.stringify(addr)} is not a multiaddr: ${errorMessage(e)}`);
  }
  const cs = ma.getComponents();
  if (cs.some((c) => c.name === 'p2p-circuit')) throw new InvalidRelayAddressError(`${addr}: give the relay's own address, not a circuit address`);
  const last = cs[cs.length - 1];
  if (last?.name !== 'p2p' || last.value === undefined) throw new InvalidRelayAddressError(`${addr}: must end with /p2p/<relay peer id>`);
  if (cs.filter((c) => c.name === 'p2p').length !== 1) throw new InvalidRelayAddressError(`${addr}: must name exactly one peer`);
  if (!cs.some((c) => c.name === 'tcp')) throw new InvalidRelayAddressError(`${addr}: must be a TCP address`);
  let peerId: PeerId;
  try {
    peerId = peerIdFromString(last.value);
  } catch (e) {
    throw new InvalidRelayAddressError(`${addr}: bad relay peer id (${errorMessage(e)})`);
  }
  return { addr: ma, peerId };
}

/** The addresses a peer in Relay mode announces: one circuit address per relay. */
export function circuitMultiaddrs(relays: readonly string[], self: string): string[] {
  return relays.map((r) => `${parseRelay(r).addr.toString()}/p2p-circuit/p2p/${self}`);
}

/** The relay peer ids named in circuit addresses (the /p2p/ right before /p2p-circuit). */
export function relayIdsIn(addrs: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of addrs) {
    let cs;
    try {
      cs = multiaddr(a).getComponents();
    } catch {
      continue;
    }
    for (let k = 0; k + 1 < cs.length; k++) {
      const c = cs[k]!;
      if (c.name === 'p2p' && cs[k + 1]!.name === 'p2p-circuit' && c.value !== undefined) out.push(c.value);
    }
  }
  return out;
}

export interface RelayReservationsOptions {
  host: Libp2p;
  store: ReservationStoreLike;
  relays: readonly RelayRef[];
  log: SwarmLogger;
  /** How often to check the reservations. @default 2000 */
  intervalMs?: number;
  /** Called with the number of relays holding a reservation for us, after every check. */
  onCount?: (n: number) => void;
}

/** Keeps a reservation on every configured relay (see the file comment). */
export class RelayReservations {
  readonly #o: RelayReservationsOptions;
  readonly #lost = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;
  #stopped = false;

  constructor(o: RelayReservationsOptions) {
    this.#o = o;
  }

  /** Relays holding a reservation for us now. */
  count(): number {
    return this.#o.relays.filter((r) => this.#o.store.hasReservation(r.peerId)).length;
  }

  start(): void {
    if (this.#timer || this.#stopped) return;
    this.#timer = setInterval(() => void this.check(), this.#o.intervalMs ?? 2000);
    this.#timer.unref();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Resolves once some relay holds a reservation for us, checking every
   * second; rejects after `waitMs`. Checks go on in the background afterwards.
   */
  async first(waitMs: number): Promise<void> {
    const { log, relays } = this.#o;
    const t0 = Date.now();
    let warned = false;
    while (this.count() === 0) {
      await this.check();
      if (this.count() > 0) break;
      if (this.#stopped) throw new Error('stopped before any relay accepted a reservation');
      if (Date.now() - t0 > waitMs) throw new Error(`no reservation on any relay after ${waitMs} ms (${relays.map((r) => r.addr.toString()).join(', ')})`);
      if (!warned) log.warn('waiting for a relay to accept a reservation', { relays: relays.map((r) => r.addr.toString()) });
      warned = true;
      await new Promise((r) => setTimeout(r, 1000));
    }
    log.info('listening through relays', { reserved: this.count(), relays: relays.map((r) => r.addr.toString()) });
    this.#o.onCount?.(this.count());
    this.start();
  }

  /** Reserves again on every relay that lost (or never got) our reservation; one check at a time. */
  check(): Promise<void> {
    this.#checking ??= this.#check().finally(() => (this.#checking = undefined));
    return this.#checking;
  }

  async #check(): Promise<void> {
    const { host, store, log } = this.#o;
    for (const r of this.#o.relays) {
      if (this.#stopped) return;
      const id = r.peerId.toString();
      if (store.hasReservation(r.peerId)) {
        const since = this.#lost.get(id);
        if (since !== undefined) {
          log.info('relay reservation restored', { relay: r.addr.toString(), afterMs: Date.now() - since });
          this.#lost.delete(id);
        }
        continue;
      }
      if (!this.#lost.has(id)) {
        this.#lost.set(id, Date.now());
        log.warn('no reservation on relay; reserving a slot again', { relay: r.addr.toString() });
      }
      try {
        // Dial first ourselves: a failed dial inside addRelay would mark the relay invalid for good.
        await host.dial(r.addr, { signal: AbortSignal.timeout(10_000) });
        await store.addRelay(r.peerId, 'configured');
      } catch (e) {
        log.debug('relay reservation attempt failed', { relay: r.addr.toString(), error: errorMessage(e) });
      }
    }
    if (!this.#stopped) this.#o.onCount?.(this.count());
  }
}
