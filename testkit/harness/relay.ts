/**
 * A relay process for integration tests: the trainer image's relay workload
 * (SPOTSWARM_WORKLOAD=relay) on 127.0.0.1, with a key made here so that its
 * multiaddr is known before it starts, as the operator does with its Secret.
 */
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { Env } from '../../api/index.ts';
import { freePort } from '../cluster/index.ts';
import type { Fleet, Trainer } from './trainers.ts';

export interface RelayIdentity {
  /** base64 protobuf private key (SPOTSWARM_RELAY_PRIVATE_KEY). */
  key: string;
  peerId: string;
  port: number;
  /** /ip4/127.0.0.1/tcp/<port>/p2p/<peerId>: what trainers get in SPOTSWARM_RELAYS. */
  multiaddr: string;
}

/** A fresh relay identity on a free port. */
export async function relayIdentity(): Promise<RelayIdentity> {
  const k = await generateKeyPair('Ed25519');
  const peerId = peerIdFromPrivateKey(k).toString();
  const port = await freePort();
  return { key: Buffer.from(privateKeyToProtobuf(k)).toString('base64'), peerId, port, multiaddr: `/ip4/127.0.0.1/tcp/${port}/p2p/${peerId}` };
}

/**
 * Spawns the relay process (stopped with the fleet); resolves once it logged
 * "relay started". It admits only the members of `swarm`, as the operator
 * runs it.
 */
export async function spawnRelay(fleet: Fleet, id: RelayIdentity, opts: { name?: string; natsUrl: string; swarm: { namespace: string; name: string }; metricsPort?: number }): Promise<Trainer> {
  const t = fleet.spawn({
    name: opts.name ?? 'relay',
    natsUrl: opts.natsUrl,
    swarm: opts.swarm,
    training: { targetBatchSize: 1 },
    env: {
      [Env.Workload]: 'relay',
      [Env.RelayPrivateKey]: id.key,
      [Env.P2pPort]: String(id.port),
      ...(opts.metricsPort !== undefined ? { [Env.MetricsPort]: String(opts.metricsPort) } : {}),
    },
  });
  const started = await t.waitFor('relay started');
  if (started['peerId'] !== id.peerId) throw new Error(`relay started as ${String(started['peerId'])}, expected ${id.peerId}`);
  return t;
}

/** Env of a trainer in Relay mode behind `relays`. */
export function relayModeEnv(...relays: RelayIdentity[]): Record<string, string> {
  return { [Env.NetworkMode]: 'Relay', [Env.Relays]: relays.map((r) => r.multiaddr).join(',') };
}
