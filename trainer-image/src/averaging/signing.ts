/**
 * Signed contributions: every CHUNK a peer writes (a part of its gradient,
 * or a reducer's averaged result) carries an Ed25519 signature by the
 * writer's libp2p key, and receivers verify it against the key in the
 * writer's peer id before using a single value.
 *
 * Noise already authenticates the connection, so a signature adds no
 * secrecy. What it adds is accountability: a chunk is bound to its writer,
 * its round and its place in the vector, so a receiver holds proof of what a
 * peer sent (the basis for reporting a Byzantine peer, as in BTARD), and a
 * chunk cannot be replayed into another round, shard or stream kind.
 *
 * What is signed: sha256 over a domain tag, the stream's context (from its
 * OPEN frame: round id, kind, backup flag, group size, writer index, shard,
 * shard length) and the chunk (offset, count, codec, block size, contributor
 * bitset, payload). Hashing first keeps Ed25519 to one 32-byte message per
 * chunk (a chunk is up to 4 MiB); Node's crypto does both.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import type { ChunkFrame, OpenFrame } from './codec.ts';
import { StreamKinds } from './codec.ts';
import { SIGNATURE_BYTES } from './constants.ts';
import { CodecIds } from './compression.ts';

const DOMAIN = new TextEncoder().encode('spotswarm/allreduce/2/chunk\0');
/** Verifiers kept per peer id (a group is at most a few hundred peers; a process sees few groups' worth). */
const MAX_CACHED_KEYS = 4096;

/** The signed context of one stream: everything of its OPEN frame a chunk's meaning depends on. */
export function streamContext(o: Pick<OpenFrame, 'kind' | 'backup' | 'groupSize' | 'sender' | 'shard' | 'shardLength' | 'roundId'>): Uint8Array {
  const id = new TextEncoder().encode(o.roundId);
  const out = new Uint8Array(DOMAIN.byteLength + 14 + id.byteLength);
  out.set(DOMAIN);
  const v = new DataView(out.buffer, DOMAIN.byteLength);
  v.setUint8(0, StreamKinds[o.kind]);
  v.setUint8(1, o.backup ? 1 : 0);
  v.setUint16(2, o.groupSize, true);
  v.setUint16(4, o.sender, true);
  v.setUint16(6, o.shard, true);
  v.setUint32(8, o.shardLength, true);
  v.setUint16(12, id.byteLength, true);
  out.set(id, DOMAIN.byteLength + 14);
  return out;
}

type SignedChunk = Pick<ChunkFrame, 'offset' | 'count' | 'codec' | 'blockSize' | 'contributors' | 'payload'>;

function chunkDigest(context: Uint8Array, c: SignedChunk): Buffer {
  const fields = new Uint8Array(11);
  const v = new DataView(fields.buffer);
  v.setUint32(0, c.offset, true);
  v.setUint32(4, c.count, true);
  v.setUint8(8, CodecIds[c.codec]);
  v.setUint16(9, c.blockSize, true);
  return createHash('sha256').update(context).update(fields).update(c.contributors).update(c.payload).digest();
}

/** Signs chunks with this peer's libp2p key. */
export class ChunkSigner {
  readonly #key: KeyObject;

  /** Ed25519 keys only (what trainers generate); anything else is refused here, not on the wire. */
  constructor(key: PrivateKey) {
    if (key.type !== 'Ed25519') throw new TypeError(`chunk signing needs an Ed25519 libp2p key, got ${key.type}`);
    const raw = key.raw; // 32-byte seed followed by the 32-byte public key
    this.#key = createPrivateKey({
      format: 'jwk',
      key: { kty: 'OKP', crv: 'Ed25519', d: Buffer.from(raw.subarray(0, 32)).toString('base64url'), x: Buffer.from(raw.subarray(32, 64)).toString('base64url') },
    });
  }

  sign(context: Uint8Array, c: SignedChunk): Uint8Array {
    return sign(null, chunkDigest(context, c), this.#key);
  }
}

/** Verifies chunks against the key embedded in the writer's peer id. */
export class ChunkVerifier {
  readonly #keys = new Map<string, KeyObject | string>();

  /** undefined when the signature is valid, else why not (for the log line and the metric). */
  check(peerId: string, context: Uint8Array, c: SignedChunk & { signature: Uint8Array }): string | undefined {
    const key = this.#keyOf(peerId);
    if (typeof key === 'string') return key;
    if (c.signature.byteLength !== SIGNATURE_BYTES) return `signature is ${c.signature.byteLength} bytes`;
    return verify(null, chunkDigest(context, c), key, c.signature) ? undefined : `chunk at ${c.offset} is not signed by ${peerId}`;
  }

  #keyOf(peerId: string): KeyObject | string {
    let k = this.#keys.get(peerId);
    if (k === undefined) {
      k = publicKeyOf(peerId);
      if (this.#keys.size >= MAX_CACHED_KEYS) this.#keys.clear();
      this.#keys.set(peerId, k);
    }
    return k;
  }
}

function publicKeyOf(peerId: string): KeyObject | string {
  try {
    const pub = peerIdFromString(peerId).publicKey;
    if (pub?.type !== 'Ed25519') return `peer id ${peerId} holds no Ed25519 key`;
    return createPublicKey({ format: 'jwk', key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(pub.raw).toString('base64url') } });
  } catch (e) {
    return `peer id ${peerId}: ${e instanceof Error ? e.message : String(e)}`;
  }
}
