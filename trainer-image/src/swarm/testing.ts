/** Test helpers shared by the swarm layer's unit tests (not imported by production code). */
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { RECORD_VERSION } from './constants.ts';
import type { MembershipRecord } from './record.ts';

/** `n` real Ed25519 peer ids, as strings. */
export async function makePeerIds(n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString());
  return out;
}

export function makeRecord(peerId: string, over: Partial<MembershipRecord> = {}): MembershipRecord {
  return {
    v: RECORD_VERSION,
    peerId,
    multiaddrs: [`/ip4/10.0.0.1/tcp/4001/p2p/${peerId}`],
    epoch: 0,
    samples: 0,
    samplesPerSecond: 0,
    updatedAt: 1_000_000,
    pod: 'trainer-0',
    ...over,
  };
}
