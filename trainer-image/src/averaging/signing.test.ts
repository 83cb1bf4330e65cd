import { describe, expect, it } from '@jest/globals';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { ChunkSigner, ChunkVerifier, streamContext } from './signing.ts';

const key = await generateKeyPair('Ed25519');
const other = await generateKeyPair('Ed25519');
const id = peerIdFromPrivateKey(key).toString();
const open = { kind: 'part', backup: false, groupSize: 4, sender: 1, shard: 2, shardLength: 1000, roundId: 'e3g0' } as const;
const chunk = { offset: 256, count: 2, codec: 'none', blockSize: 0, contributors: new Uint8Array(0), payload: new Uint8Array(new Float32Array([1, -2]).buffer) } as const;
const signer = new ChunkSigner(key);

describe('chunk signatures', () => {
  it('verify for the writer, in the stream it was written for', () => {
    const signature = signer.sign(streamContext(open), chunk);
    expect(signature.byteLength).toBe(64);
    expect(new ChunkVerifier().check(id, streamContext(open), { ...chunk, signature })).toBeUndefined();
  });

  it.each([
    ['another payload', {}, { payload: new Uint8Array(new Float32Array([1, -2.5]).buffer) }],
    ['another offset', {}, { offset: 0 }],
    ['another codec', {}, { codec: 'fp16' as const }],
    ['another contributor set', {}, { contributors: Uint8Array.of(1) }],
    ['another round', { roundId: 'e4g0' }, {}],
    ['another shard', { shard: 3 }, {}],
    ['another stream kind', { kind: 'result' as const }, {}],
    ['a backup stream', { backup: true }, {}],
  ])('fail for %s (no replay into another place)', (_what, openOver, chunkOver) => {
    const signature = signer.sign(streamContext(open), chunk);
    const why = new ChunkVerifier().check(id, streamContext({ ...open, ...openOver }), { ...chunk, ...chunkOver, signature });
    expect(why).toBe(`chunk at ${(chunkOver as { offset?: number }).offset ?? 256} is not signed by ${id}`);
  });

  it('fail for another key, and for a truncated signature', () => {
    const forged = new ChunkSigner(other).sign(streamContext(open), chunk);
    const v = new ChunkVerifier();
    expect(v.check(id, streamContext(open), { ...chunk, signature: forged })).toMatch(/is not signed by/);
    expect(v.check(id, streamContext(open), { ...chunk, signature: forged.subarray(0, 10) })).toBe('signature is 10 bytes');
  });

  it('name a writer whose peer id holds no Ed25519 key, and refuse to sign with one', async () => {
    const secp = await generateKeyPair('secp256k1');
    const secpId = peerIdFromPrivateKey(secp).toString();
    expect(new ChunkVerifier().check(secpId, streamContext(open), { ...chunk, signature: new Uint8Array(64) })).toBe(`peer id ${secpId} holds no Ed25519 key`);
    expect(new ChunkVerifier().check('not-a-peer-id', streamContext(open), { ...chunk, signature: new Uint8Array(64) })).toMatch(/^peer id not-a-peer-id: /);
    expect(() => new ChunkSigner(secp)).toThrow(/needs an Ed25519 libp2p key, got secp256k1/);
  });
});
