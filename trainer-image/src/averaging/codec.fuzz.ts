/**
 * Fuzz properties of the all-reduce wire codec (see testkit/fuzz/registry.ts):
 * the incremental FrameDecoder over arbitrary and mutated bytes.
 */
import fc from 'fast-check';
import { mutated } from '../../../testkit/fuzz/index.ts';
import { decodeFrame, encodeAck, encodeChunk, encodeEnd, encodeOpen, FrameDecoder, type Frame } from './codec.ts';
import { encode } from './compression.ts';
import { MAX_FRAME_BODY } from './constants.ts';
import { BadFrameError, FrameTooLargeError } from './errors.ts';

const signature = new Uint8Array(64).fill(7);
const valid = new Uint8Array(Buffer.concat([
  encodeOpen({ kind: 'result', backup: true, groupSize: 9, sender: 3, shard: 4, shardLength: 6, handoff: null, roundId: 'e12g0' }),
  encodeChunk({ offset: 0, count: 3, codec: 'fp16', blockSize: 0, contributors: Uint8Array.of(0xff, 1), signature, payload: encode('fp16', Float32Array.of(1, 2, 3), 0)! }),
  encodeChunk({ offset: 3, count: 3, codec: 'int8', blockSize: 16, contributors: Uint8Array.of(0, 1), signature, payload: encode('int8', Float32Array.of(4, -5, 6), 16)! }),
  encodeEnd(6),
  encodeAck('notNeeded', 3),
]));

/**
 * Feeds `b` in pieces: only the codec's named errors may escape, nothing is
 * emitted past an error, every frame emitted re-encodes to bytes that decode
 * to the same frame, and no buffer grows past the largest allowed frame.
 */
function check(b: Uint8Array, cuts: number[] = []): void {
  const d = new FrameDecoder();
  const frames: Frame[] = [];
  const points = [0, ...cuts.map((c) => c % (b.byteLength + 1)).sort((x, y) => x - y), b.byteLength];
  try {
    for (let i = 0; i + 1 < points.length; i++) d.push(b.subarray(points[i], points[i + 1]), (f) => void frames.push(structuredClone(f)));
  } catch (e) {
    if (!(e instanceof BadFrameError)) throw e;
  }
  for (const f of frames) {
    if (f.type === 'chunk' && f.payload.byteLength > MAX_FRAME_BODY) throw new Error('payload larger than a frame may be');
    if (JSON.stringify(decodeFrame(reencode(f))) !== JSON.stringify(f)) throw new Error(`accepted ${f.type} frame does not round-trip`);
  }
}

function reencode(f: Frame): Uint8Array {
  if (f.type === 'open') return encodeOpen(f);
  if (f.type === 'chunk') return encodeChunk(f);
  if (f.type === 'end') return encodeEnd(f.total);
  return encodeAck(f.reason, f.accepted);
}

export const properties = [
  { name: 'all-reduce FrameDecoder: arbitrary bytes', property: fc.property(fc.uint8Array({ maxLength: 4096 }), fc.array(fc.nat(), { maxLength: 6 }), (b, cuts) => check(b, cuts)) },
  { name: 'all-reduce FrameDecoder: mutated valid stream', property: fc.property(mutated(valid), fc.array(fc.nat(), { maxLength: 6 }), (b, cuts) => check(b, cuts)) },
  {
    name: 'all-reduce FrameDecoder: a header announcing more than the limit is refused before any body byte',
    property: fc.property(fc.integer({ min: MAX_FRAME_BODY + 1, max: 0xffffffff }), fc.integer({ min: 1, max: 4 }), (length, type) => {
      const h = new Uint8Array(8);
      const v = new DataView(h.buffer);
      v.setUint8(0, 2);
      v.setUint8(1, type);
      v.setUint32(4, length, true);
      try {
        new FrameDecoder().push(h, () => undefined);
      } catch (e) {
        if (e instanceof FrameTooLargeError) return;
        throw e;
      }
      throw new Error(`a ${length}-byte body was accepted`);
    }),
  },
];
