/**
 * One frame per direction over a libp2p stream (v3 API): the writer sends a
 * frame and closes its side; the reader takes bytes until the writer closed,
 * refusing a header that announces more than its limit before buffering the
 * body, and refusing bytes after the frame. Writes wait for the stream's own
 * 'drain' event: onDrain() in @libp2p/utils 7.4.1 resolves only once, then
 * returns at once, so it would let a sender buffer a whole payload.
 */
import type { Stream } from '@libp2p/interface';
import { decodeFrame, decodeHeader, type StateFrame } from './codec.ts';
import { HEADER_BYTES, MAX_RESPONSE_BODY } from './constants.ts';
import { BadStateFrameError } from './errors.ts';

/** Thrown when a stream ends, resets or times out before a whole frame was read or written. */
export class StateStreamError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StateStreamError';
  }
}

function errorOf(e: unknown, fallback: string): Error {
  if (e instanceof Error) return e;
  const inner = (e as { error?: unknown } | undefined)?.error;
  return inner instanceof Error ? inner : new StateStreamError(fallback);
}

/** Reads exactly one frame; the peer must close its side right after it. */
export async function readFrame(stream: Stream, maxBody: number, signal: AbortSignal): Promise<StateFrame> {
  stream.maxReadBufferLength = Math.max(stream.maxReadBufferLength, HEADER_BYTES + MAX_RESPONSE_BODY + 64 * 1024);
  const parts: Uint8Array[] = [];
  let have = 0;
  let expected = -1;
  const onAbort = (): void => stream.abort(new StateStreamError('timed out'));
  signal.addEventListener('abort', onAbort);
  try {
    for await (const chunk of stream) {
      const piece = chunk instanceof Uint8Array ? chunk : chunk.subarray();
      parts.push(piece);
      have += piece.byteLength;
      if (expected < 0 && have >= HEADER_BYTES) {
        const head = concat(parts, HEADER_BYTES);
        expected = HEADER_BYTES + decodeHeader(head, maxBody).length;
      }
      if (expected >= 0 && have > expected) throw new BadStateFrameError('trailing', `${have - expected} bytes after the frame`);
    }
  } catch (e) {
    if (e instanceof BadStateFrameError) throw e;
    signal.throwIfAborted();
    throw new StateStreamError(`stream failed while reading: ${errorOf(e, 'read failed').message}`, { cause: e });
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  signal.throwIfAborted();
  if (expected < 0 || have < expected) throw new StateStreamError(`stream ended after ${have} bytes, before a whole frame`);
  return decodeFrame(concat(parts, have), maxBody);
}

function concat(parts: Uint8Array[], n: number): Uint8Array {
  if (parts.length === 1 && parts[0]!.byteLength >= n) return parts[0]!.subarray(0, n);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    if (o >= n) break;
    const take = Math.min(p.byteLength, n - o);
    out.set(p.subarray(0, take), o);
    o += take;
  }
  return out;
}

/** Writes one frame and closes our side. */
export async function writeFrame(stream: Stream, frame: Uint8Array, signal: AbortSignal): Promise<void> {
  try {
    if (!stream.send(frame)) await waitWritable(stream, signal);
    await stream.close({ signal });
  } catch (e) {
    signal.throwIfAborted();
    throw new StateStreamError(`stream failed while writing: ${errorOf(e, 'write failed').message}`, { cause: e });
  }
}

function waitWritable(stream: Stream, signal: AbortSignal): Promise<void> {
  if (!stream.writableNeedsDrain) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const done = (err?: Error): void => {
      stream.removeEventListener('drain', onDrain);
      stream.removeEventListener('close', onClose);
      signal.removeEventListener('abort', onAbort);
      clearInterval(poll);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = (): void => done();
    const onClose = (): void => done(new StateStreamError('stream closed while waiting for drain'));
    const onAbort = (): void => done(errorOf(signal.reason, 'aborted'));
    // A drain that fired between send() and here would be missed: poll as well.
    const poll = setInterval(() => {
      if (stream.writeStatus === 'closed') done(new StateStreamError(`stream ${stream.status} while waiting for drain`));
      else if (!stream.writableNeedsDrain) done();
    }, 100);
    stream.addEventListener('drain', onDrain);
    stream.addEventListener('close', onClose);
    signal.addEventListener('abort', onAbort);
  });
}
