/**
 * The all-reduce protocol against a real averager, spoken through raw
 * streams: malformed, impersonating, unsigned and early frames are refused
 * (each with a metric), and rounds still complete.
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Libp2p, PrivateKey } from '@libp2p/interface';
import { encodeAck, encodeChunkHead, encodeEnd, encodeOpen, FrameDecoder, type Frame } from './codec.ts';
import { PROTOCOL } from './constants.ts';
import { AveragerLeftError, InvalidRoundSpecError, RoundAbortedError, type RoundResult } from './index.ts';
import { ChunkSigner, streamContext } from './signing.ts';
import { dyadic, firstDifference, members, metric, spec, startPeers, stopPeers, weightedMean } from './test-peers.ts';

afterEach(stopPeers);

/** Open a raw all-reduce stream from `from` to `to`, write `frames`, and collect what comes back until the stream ends. */
async function rawExchange(from: Libp2p, to: Libp2p, frames: Uint8Array[]): Promise<Frame[]> {
  const stream = await from.dialProtocol(to.peerId, PROTOCOL);
  const got: Frame[] = [];
  const decoder = new FrameDecoder();
  const ended = new Promise<void>((resolve) => {
    stream.addEventListener('message', (evt) => {
      const data = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray();
      decoder.push(data, (f) => void got.push(structuredClone(f)));
    });
    stream.addEventListener('remoteCloseWrite', () => resolve());
    stream.addEventListener('close', () => resolve());
  });
  for (const f of frames) stream.send(f);
  await ended;
  stream.abort(new Error('done'));
  return got;
}

describe('all-reduce protocol hygiene (raw streams against a real averager)', () => {
  it('rejects bad versions, wrong sizes and impersonation with a metric each, and the round still completes', async () => {
    const ps = await startPeers(3);
    const bad = ps[2]!; // a group member that does not run the averager properly: weight 0, no shard
    await bad.averager.stop(); // it speaks the protocol only through rawExchange below
    const group = members(ps, [1, 1, 0], [1, 1, 0]);
    const L = 1000;
    const open = (over: Partial<Parameters<typeof encodeOpen>[0]>): Uint8Array =>
      encodeOpen({ kind: 'part', backup: false, groupSize: 3, sender: 2, shard: 0, shardLength: 500, handoff: null, roundId: 'hyg', ...over });
    const garbage = Uint8Array.of(9, 2, 0, 0, 0, 0, 0, 0); // version 9
    const replies = await Promise.all([
      rawExchange(bad.host, ps[0]!.host, [garbage]),
      rawExchange(bad.host, ps[0]!.host, [open({ shardLength: 7 })]),
      rawExchange(bad.host, ps[0]!.host, [open({ sender: 1 })]),
      rawExchange(bad.host, ps[1]!.host, [open({ groupSize: 4 })]),
      // parked until the round starts, then checked
      ps[0]!.averager.run(spec('hyg', group), dyadic(1, L)),
      ps[1]!.averager.run(spec('hyg', group), dyadic(2, L)),
    ]);
    const [r0, r1] = [replies[4] as RoundResult, replies[5] as RoundResult];
    for (const reply of replies.slice(0, 4) as Frame[][]) expect(reply).toContainEqual(expect.objectContaining({ type: 'ack', reason: 'rejected' }));
    const expected = weightedMean([dyadic(1, L), dyadic(2, L)], [1, 1], [0, 1]);
    for (const r of [r0, r1]) {
      expect(r.fractionAveraged).toBe(1);
      expect(firstDifference(r.vector.subarray(0, 1000), expected)).toBe(-1);
    }
    expect(await metric(ps[0]!, 'spotswarm_allreduce_rejected_frames_total', { reason: 'version' })).toBe(1);
    expect(await metric(ps[0]!, 'spotswarm_allreduce_rejected_frames_total', { reason: 'wrong_size' })).toBe(1);
    expect(await metric(ps[0]!, 'spotswarm_allreduce_rejected_frames_total', { reason: 'wrong_peer' })).toBe(1);
    expect(await metric(ps[1]!, 'spotswarm_allreduce_rejected_frames_total', { reason: 'wrong_round' })).toBe(1);
    expect(ps[0]!.warnings.some((w) => w.includes('rejected'))).toBe(true);
  });

  it('takes a part signed by its sender and refuses one that is not (bad_signature, naming the peer), averaging without it', async () => {
    const ps = await startPeers(3);
    const signer = ps[2]!; // a member with samples but no shard, speaking only through rawExchange
    await signer.averager.stop();
    const group = members(ps, [1, 1, 1], [1, 1, 0]);
    const L = 1000;
    const v = [dyadic(1, L), dyadic(2, L), dyadic(3, L)];
    const part = (shard: number, key: PrivateKey): Uint8Array[] => {
      const open = { kind: 'part', backup: false, groupSize: 3, sender: 2, shard, shardLength: 500, handoff: null, roundId: 'sig' } as const;
      const payload = new Uint8Array(v[2]!.slice(shard * 500, shard * 500 + 500).buffer);
      const chunk = { offset: 0, count: 500, codec: 'none', blockSize: 0, contributors: new Uint8Array(0), payload } as const;
      const signature = new ChunkSigner(key).sign(streamContext(open), chunk);
      return [encodeOpen(open), encodeChunkHead({ ...chunk, signature }, payload.byteLength), payload, encodeEnd(500)];
    };
    const forger = await generateKeyPair('Ed25519');
    const [toReducer0, toReducer1, r0, r1] = await Promise.all([
      rawExchange(signer.host, ps[0]!.host, part(0, signer.privateKey)),
      rawExchange(signer.host, ps[1]!.host, part(1, forger)),
      ps[0]!.averager.run(spec('sig', group), v[0]!),
      ps[1]!.averager.run(spec('sig', group), v[1]!),
    ]);
    expect(toReducer0).toEqual([{ type: 'ack', reason: 'complete', accepted: 500 }]);
    expect(toReducer1).toEqual([{ type: 'ack', reason: 'rejected', accepted: 0 }]);
    // Shard 0 holds all three parts; shard 1 only the two that were signed by their senders.
    const withSigner = weightedMean(v, [1, 1, 1], [0, 1, 2]);
    const without = weightedMean(v, [1, 1, 1], [0, 1]);
    for (const r of [r0 as RoundResult, r1 as RoundResult]) {
      expect(firstDifference(r.vector.subarray(0, 500), withSigner.subarray(0, 500))).toBe(-1);
      expect(firstDifference(r.vector.subarray(500), without.subarray(500))).toBe(-1);
      expect(r.contributorsPerShard.slice(0, 2)).toEqual([3, 2]);
    }
    expect(await metric(ps[1]!, 'spotswarm_allreduce_rejected_frames_total', { reason: 'bad_signature' })).toBe(1);
    expect(await metric(ps[0]!, 'spotswarm_allreduce_rejected_frames_total', { reason: 'bad_signature' })).toBe(0);
    expect(ps[1]!.warnings.some((w) => w.includes(`not signed by ${signer.id}`))).toBe(true);
  });

  it('holds a stream for a round that never starts only for pendingRoundWaitMs, then refuses it', async () => {
    const ps = await startPeers(2, { pendingRoundWaitMs: 200 });
    const frames = [
      encodeOpen({ kind: 'part', backup: false, groupSize: 2, sender: 1, shard: 0, shardLength: 4, handoff: null, roundId: 'never' }),
      encodeChunkHead({ offset: 0, count: 4, codec: 'none', blockSize: 0, contributors: new Uint8Array(0), signature: new Uint8Array(64) }, 16),
      new Uint8Array(16),
    ];
    const reply = await rawExchange(ps[1]!.host, ps[0]!.host, frames);
    expect(reply).toEqual([{ type: 'ack', reason: 'unknownRound', accepted: 0 }]);
    expect(await metric(ps[0]!, 'spotswarm_allreduce_rejected_frames_total', { reason: 'unknown_round' })).toBe(1);
    // an ACK is not a valid first frame either
    expect(await rawExchange(ps[1]!.host, ps[0]!.host, [encodeAck('complete', 0)])).toContainEqual(expect.objectContaining({ reason: 'rejected' }));
  });

  it('validates specs, honours an abort signal, and refuses rounds after stop()', async () => {
    const ps = await startPeers(2);
    const group = members(ps, [1, 1]);
    await expect(ps[0]!.averager.run(spec('bad', group, { timeoutMs: -1 }), new Float32Array(4))).rejects.toBeInstanceOf(InvalidRoundSpecError);
    await expect(ps[0]!.averager.run(spec('ab', group), new Float32Array(4), { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(RoundAbortedError);
    await expect(ps[0]!.averager.run(spec('ab', group), new Float32Array(4))).rejects.toBeInstanceOf(InvalidRoundSpecError); // ids are single-use
    const pending = ps[0]!.averager.run(spec('stopped', group), new Float32Array(4));
    await ps[0]!.averager.stop();
    await expect(pending).rejects.toBeInstanceOf(AveragerLeftError);
    await expect(ps[0]!.averager.run(spec('later', group), new Float32Array(4))).rejects.toBeInstanceOf(AveragerLeftError);
  });
});
