import fc from 'fast-check';
import {
  decodeFrame, encodeAck, encodeChunk, encodeEnd, encodeOpen, FrameDecoder, type Frame,
} from './codec.ts';
import { encode } from './compression.ts';
import { MAX_FRAME_BODY } from './constants.ts';
import { BadFrameError, FrameTooLargeError, UnknownFrameTypeError, UnsupportedVersionError } from './errors.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

/** A fixed signature: the codec carries it, signing.ts makes and checks it. */
const SIG = new Uint8Array(64).fill(0xab);

/** Golden fixtures: the wire format of version 2. Changing any of these is a protocol change. */
const golden: Array<[string, () => Uint8Array, string]> = [
  ['OPEN part', () => encodeOpen({ kind: 'part', backup: false, groupSize: 4, sender: 1, shard: 2, shardLength: 1000, handoff: null, roundId: 'r1' }),
    '02010000120000000100040001000200e8030000ffff02007231'],
  ['OPEN result backup', () => encodeOpen({ kind: 'result', backup: true, groupSize: 2, sender: 0, shard: 1, shardLength: 7, handoff: null, roundId: 'x' }),
    '0201000011000000020102000000010007000000ffff010078'],
  ['OPEN leave with handoff', () => encodeOpen({ kind: 'leave', backup: false, groupSize: 3, sender: 2, shard: 2, shardLength: 0, handoff: 0, roundId: 'e7' }),
    '0201000012000000030003000200020000000000000002006537'],
  ['CHUNK none', () => encodeChunk({ offset: 256, count: 2, codec: 'none', blockSize: 0, contributors: new Uint8Array(0), signature: SIG, payload: encode('none', Float32Array.of(1, -2), 0)! }),
    '0202000054000000000100000200000000000000abababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababab0000803f000000c0'],
  ['CHUNK fp16 with contributors', () => encodeChunk({ offset: 0, count: 2, codec: 'fp16', blockSize: 0, contributors: Uint8Array.of(0b1011), signature: SIG, payload: encode('fp16', Float32Array.of(1, -2), 0)! }),
    '02020000540000000000000002000000010100000b000000abababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababab003c00c0'],
  ['CHUNK int8', () => encodeChunk({ offset: 0, count: 3, codec: 'int8', blockSize: 16, contributors: new Uint8Array(0), signature: SIG, payload: encode('int8', Float32Array.of(127, -63.5, 0), 16)! }),
    '0202000053000000000000000300000002001000abababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababab0000803f7fc100'],
  ['CHUNK empty', () => encodeChunk({ offset: 4, count: 5, codec: 'empty', blockSize: 0, contributors: new Uint8Array(1), signature: SIG, payload: new Uint8Array(0) }),
    '020200005000000004000000050000000301000000000000abababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababab'],
  ['END', () => encodeEnd(1000), '0203000004000000e8030000'],
  ['ACK deadline', () => encodeAck('deadline', 512), '02040000080000000100000000020000'],
];

describe('wire codec v2', () => {
  it.each(golden)('encodes %s to its golden bytes', (_name, make, want) => {
    expect(hex(make())).toBe(want);
  });

  it('decodes the golden bytes back to the same frames', () => {
    expect(decodeFrame(bytes(golden[0]![2]))).toEqual({
      type: 'open', kind: 'part', backup: false, groupSize: 4, sender: 1, shard: 2, shardLength: 1000, handoff: null, roundId: 'r1',
    });
    expect(decodeFrame(bytes(golden[2]![2]))).toMatchObject({ kind: 'leave', handoff: 0, roundId: 'e7' });
    const c = decodeFrame(bytes(golden[4]![2])) as Extract<Frame, { type: 'chunk' }>;
    expect(c).toMatchObject({ type: 'chunk', offset: 0, count: 2, codec: 'fp16', blockSize: 0 });
    expect([...c.contributors]).toEqual([0b1011]);
    expect([...c.signature]).toEqual([...SIG]);
    expect(hex(c.payload)).toBe('003c00c0');
    expect(decodeFrame(bytes(golden[7]![2]))).toEqual({ type: 'end', total: 1000 });
    expect(decodeFrame(bytes(golden[8]![2]))).toEqual({ type: 'ack', reason: 'deadline', accepted: 512 });
  });

  const mutate = (h: string, at: number, byte: number): Uint8Array => {
    const b = bytes(h);
    b[at] = byte;
    return b;
  };
  const open = golden[0]![2];
  const chunk = golden[3]![2];

  it.each([
    ['a version it does not speak (v1: unsigned chunks)', mutate(open, 0, 1), UnsupportedVersionError],
    ['an unknown frame type', mutate(open, 1, 9), UnknownFrameTypeError],
    ['reserved header bits', mutate(open, 2, 1), BadFrameError],
    ['an unknown stream kind', mutate(open, 8, 7), UnknownFrameTypeError],
    ['unknown OPEN flags', mutate(open, 9, 2), BadFrameError],
    ['a sender outside the group', mutate(open, 12, 4), BadFrameError],
    ['a handoff on a part stream', mutate(open, 20, 0), BadFrameError],
    ['a body length that does not match', bytes(open.slice(0, -2)), BadFrameError],
    ['an unknown codec', mutate(chunk, 16, 9), UnknownFrameTypeError],
    ['a block size on a non-int8 chunk', mutate(chunk, 18, 16), BadFrameError],
    ['a payload of the wrong size', mutate(chunk, 12, 3), BadFrameError],
    ['a zero count', mutate(chunk, 12, 0), BadFrameError],
    ['an unknown ACK reason', mutate(golden[8]![2], 8, 99), UnknownFrameTypeError],
    ['reserved ACK bytes', mutate(golden[8]![2], 9, 1), BadFrameError],
  ])('rejects %s with a named error', (_what, frame, cls) => {
    expect(() => decodeFrame(frame)).toThrow(cls);
  });

  it('rejects invalid UTF-8 round ids and nonzero padding', () => {
    expect(() => decodeFrame(mutate(open, 24, 0xff))).toThrow(/UTF-8/);
    expect(() => decodeFrame(mutate(golden[4]![2], 21, 1))).toThrow(/padding/);
  });

  it('refuses an oversized frame from its header alone', () => {
    const h = new Uint8Array(8);
    new DataView(h.buffer).setUint32(4, MAX_FRAME_BODY + 1, true);
    h[0] = 2;
    h[1] = 2;
    const d = new FrameDecoder();
    expect(() => d.push(h, () => undefined)).toThrow(FrameTooLargeError);
  });

  it('refuses to encode out-of-range fields', () => {
    expect(() => encodeOpen({ kind: 'part', backup: false, groupSize: 300, sender: 0, shard: 0, shardLength: 1, handoff: null, roundId: 'r' })).toThrow(RangeError);
    expect(() => encodeOpen({ kind: 'part', backup: false, groupSize: 2, sender: 0, shard: 0, shardLength: 1, handoff: null, roundId: 'x'.repeat(129) })).toThrow(RangeError);
    expect(() => encodeEnd(-1)).toThrow(RangeError);
  });

  it('parses frames split at any byte boundary (property)', () => {
    const stream = new Uint8Array(Buffer.concat(golden.map(([, make]) => make())));
    const whole: Frame[] = [];
    new FrameDecoder().push(stream, (f) => void whole.push(structuredClone(f)));
    expect(whole).toHaveLength(golden.length);
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: stream.byteLength }), { maxLength: 20 }), (cuts) => {
      const points = [0, ...cuts.sort((a, b) => a - b), stream.byteLength];
      const got: Frame[] = [];
      const d = new FrameDecoder();
      for (let i = 0; i + 1 < points.length; i++) d.push(stream.subarray(points[i], points[i + 1]), (f) => void got.push(structuredClone(f)));
      expect(got).toEqual(whole);
      expect(d.idle).toBe(true);
    }));
  });

  it('stops after a frame when the handler returns false, and goes on from there', () => {
    const stream = new Uint8Array(Buffer.concat([encodeEnd(1), encodeEnd(2), encodeEnd(3)]));
    const d = new FrameDecoder();
    const got: number[] = [];
    const used = d.push(stream, (f) => {
      got.push((f as { total: number }).total);
      return false;
    });
    expect(used).toBe(12);
    d.push(stream.subarray(used), (f) => void got.push((f as { total: number }).total));
    expect(got).toEqual([1, 2, 3]);
  });
});
