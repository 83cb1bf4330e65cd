import { describe, expect, it } from '@jest/globals';
import { decodeState, encodeState, stateFingerprint } from './blob.ts';
import { chooseDonors, type DonorMeta } from './client.ts';
import { decodeFrame, encodeFrame, type MetaFrame } from './codec.ts';
import { MAX_REQUEST_BODY, MAX_RESPONSE_BODY } from './constants.ts';
import { BadStateBlobError, BadStateFrameError } from './errors.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
const A = 'aa'.repeat(32);
const B = 'bb'.repeat(32);

const META: MetaFrame = { type: 'meta', epoch: 7, workloadEpoch: 8, totalBytes: 10_000, chunkBytes: 4096, chunks: 3, mode: 'gradient', sha256: A, fingerprint: B };

describe('state frames: golden bytes', () => {
  const golden: Array<[string, Uint8Array, string]> = [
    ['GET_META', encodeFrame({ type: 'getMeta' }), '01010000 00000000'],
    ['GET_CHUNK', encodeFrame({ type: 'getChunk', sha256: A, index: 2 }), `01030000 24000000 ${A} 02000000`],
    ['CHUNK', encodeFrame({ type: 'chunk', index: 1, sha256: B, data: Uint8Array.from([9, 8, 7]) }), `01040000 27000000 01000000 ${B} 090807`],
    ['ERROR', encodeFrame({ type: 'error', code: 'gone', message: 'no' }), '01050000 06000000 02000200 6e6f'],
    [
      'META',
      encodeFrame(META),
      `01020000 64000000 0700000000000000 0800000000000000 1027000000000000 00100000 03000000 01 00 0000 ${A} ${B}`,
    ],
  ];
  it.each(golden)('%s encodes to its golden bytes and decodes back', (_name, got, want) => {
    expect(hex(got)).toBe(want.replace(/\s+/g, ''));
    expect(encodeFrame(decodeFrame(bytes(want), MAX_RESPONSE_BODY))).toEqual(got);
  });
  it('decodes META fields', () => {
    expect(decodeFrame(encodeFrame(META), MAX_RESPONSE_BODY)).toEqual(META);
  });
});

describe('state frames: strict decoding', () => {
  const reject = (b: Uint8Array, reason: string, max = MAX_RESPONSE_BODY): void => {
    let err: unknown;
    try {
      decodeFrame(b, max);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BadStateFrameError);
    expect((err as BadStateFrameError).reason).toBe(reason);
  };
  it.each([
    ['another version', '02010000 00000000', 'version'],
    ['reserved header bits', '01010100 00000000', 'reserved'],
    ['an unknown type', '01090000 00000000', 'type'],
    ['a GET_META with a body', '01010000 01000000 00', 'length'],
    ['a short GET_CHUNK', '01030000 04000000 00000000', 'length'],
    ['a length that disagrees with the bytes', '01010000 00000000 00', 'length'],
    ['an empty CHUNK', `01040000 24000000 00000000 ${A}`, 'length'],
    ['an unknown error code', '01050000 04000000 09000000', 'error_code'],
    ['an ERROR whose message length lies', '01050000 05000000 01000900 41', 'length'],
    ['an ERROR that is not UTF-8', '01050000 05000000 01000100 ff', 'utf8'],
  ])('rejects %s', (_name, h, reason) => reject(bytes(h), reason));

  it('rejects a header announcing more than the limit before reading the body', () => {
    reject(bytes('01040000 ffffff7f'), 'too_large');
    reject(encodeFrame({ type: 'getChunk', sha256: A, index: 0 }), 'too_large', MAX_REQUEST_BODY - 1);
  });

  it('rejects a META whose numbers do not add up, and an unknown mode', () => {
    const m = encodeFrame(META);
    const wrongChunks = m.slice();
    wrongChunks[8 + 28] = 4;
    reject(wrongChunks, 'range');
    const mode = m.slice();
    mode[8 + 32] = 3;
    reject(mode, 'mode');
    const behind = m.slice();
    behind[8 + 8] = 6; // workloadEpoch 6 < epoch 7
    reject(behind, 'range');
    expect(() => encodeFrame({ ...META, chunkBytes: 16 })).toThrow(/chunkBytes/);
  });
});

describe('state blob', () => {
  const fp = stateFingerprint({ model: 'tiny', tokenizer: 'x' });
  const params = Float32Array.from([1, -2, 3.5]);
  it('round-trips a gradient-mode state with its moments, and pins the header', () => {
    const blob = encodeState({ epoch: 42, mode: 'gradient', params, moments: { step: 41, m: Float32Array.from([0.1, 0.2, 0.3]), v: Float32Array.from([1, 2, 3]) } }, fp);
    expect(blob.byteLength).toBe(64 + 3 * 3 * 4);
    expect(hex(blob.subarray(0, 32))).toBe('4b535354' + '0100' + '01' + '03' + '2a00000000000000' + '03000000' + '00000000' + '2900000000000000');
    const d = decodeState(blob, fp);
    expect(d.fingerprint).toBe(fp);
    expect(d.state.epoch).toBe(42);
    expect(Array.from(d.state.params)).toEqual([1, -2, 3.5]);
    expect(d.state.moments!.step).toBe(41);
    expect(Array.from(d.state.moments!.v)).toEqual([1, 2, 3]);
  });
  it('round-trips a diloco state with its outer momentum', () => {
    const d = decodeState(encodeState({ epoch: 3, mode: 'diloco', params, outerMomentum: Float32Array.from([0, 0, 1]) }, fp));
    expect(d.state.mode).toBe('diloco');
    expect(Array.from(d.state.outerMomentum!)).toEqual([0, 0, 1]);
    expect(d.state.moments).toBeUndefined();
  });
  it('rejects another model, a truncated blob, bad magic and other versions', () => {
    const blob = encodeState({ epoch: 1, mode: 'diloco', params, outerMomentum: params }, fp);
    expect(() => decodeState(blob, stateFingerprint('other'))).toThrow(/another model/);
    expect(() => decodeState(blob.subarray(0, blob.byteLength - 4))).toThrow(BadStateBlobError);
    const magic = blob.slice();
    magic[0] = 0;
    expect(() => decodeState(magic)).toThrow(/magic/);
    const version = blob.slice();
    version[4] = 2;
    expect(() => decodeState(version)).toThrow(/version 2/);
    expect(() => encodeState({ epoch: 1, mode: 'gradient', params }, fp)).toThrow(/arrays/);
  });
});

describe('chooseDonors', () => {
  const meta = (epoch: number, sha: string, fingerprint = B): MetaFrame => ({ ...META, epoch, workloadEpoch: epoch, sha256: sha, fingerprint });
  it('takes the newest state, then the one most donors hold; skips other models, old states and silent donors', () => {
    const metas: DonorMeta[] = [
      { peerId: 'p1', meta: meta(5, A) },
      { peerId: 'p2', meta: meta(6, A) },
      { peerId: 'p3', meta: meta(6, 'cc'.repeat(32)) },
      { peerId: 'p4', meta: meta(6, 'cc'.repeat(32)) },
      { peerId: 'p5', meta: meta(9, A, A) },
      { peerId: 'p6', error: 'timed out' },
    ];
    expect(chooseDonors(metas, B)).toEqual({ meta: meta(6, 'cc'.repeat(32)), donors: ['p3', 'p4'] });
    expect(chooseDonors(metas, B, 7)).toBeUndefined();
    expect(chooseDonors([], B)).toBeUndefined();
  });
});
