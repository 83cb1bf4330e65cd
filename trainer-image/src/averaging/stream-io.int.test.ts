/**
 * FrameStream back-pressure over real libp2p streams (TCP, noise, yamux).
 */
import type { Libp2p, Stream } from '@libp2p/interface';
import { encodeChunkHead, encodeEnd, type Frame } from './codec.ts';
import { MAX_WRITE_BUFFER_BYTES } from './constants.ts';
import { FrameStream, WRITE_HIGH_WATER } from './stream-io.ts';
import { createTestHost, introduce } from './testing.ts';

const PROTO = '/spotswarm/test-frames/1.0.0';
const MiB = 1 << 20;
let hosts: Libp2p[] = [];

afterEach(async () => {
  await Promise.all(hosts.map((h) => h.stop()));
  hosts = [];
});

const counters = { bytesIn: (): void => undefined, bytesOut: (): void => undefined };

it('keeps the write queue bounded when yamux windows stay small (drain fires per window update, not per empty queue)', async () => {
  // windows capped at 256 KiB: every window update emits 'drain' with most of a 1 MiB chunk still queued
  hosts = await Promise.all([createTestHost({ yamux: { streamOptions: { maxStreamWindowSize: 256 * 1024 } } }), createTestHost({ yamux: { streamOptions: { maxStreamWindowSize: 256 * 1024 } } })]);
  await introduce(hosts);
  const [a, b] = hosts as [Libp2p, Libp2p];
  const total = 48 * MiB; // more than MAX_WRITE_BUFFER_BYTES: a queue growing per chunk would reset the stream
  expect(total).toBeGreaterThan(MAX_WRITE_BUFFER_BYTES);
  const received = new Promise<number>((resolve, reject) => {
    void b.handle(PROTO, (stream: Stream) => {
      let elements = 0;
      const fs = new FrameStream(stream, counters);
      fs.setHandlers({
        onFrame: (f: Frame) => {
          if (f.type === 'chunk') elements += f.count;
          if (f.type === 'end') resolve(elements);
        },
        onFinish: (err) => (err ? reject(err) : undefined),
        onError: reject,
      });
    });
  });
  const stream = await a.dialProtocol(b.peerId, PROTO);
  const fs = new FrameStream(stream, counters);
  let maxQueued = 0;
  const chunk = MiB / 4;
  for (let off = 0; off < total / 4; off += chunk) {
    const payload = new Uint8Array(4 * chunk);
    await fs.write([encodeChunkHead({ offset: off, count: chunk, codec: 'none', blockSize: 0, contributors: new Uint8Array(0), signature: new Uint8Array(64) }, payload.byteLength), payload]);
    maxQueued = Math.max(maxQueued, stream.writeBufferLength);
  }
  await fs.write([encodeEnd(total / 4)]);
  expect(await received).toBe(total / 4);
  expect(maxQueued).toBeLessThanOrEqual(WRITE_HIGH_WATER);
  expect(stream.status).not.toBe('aborted');
}, 120_000);
