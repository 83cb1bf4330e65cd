/**
 * Frames over one libp2p stream (v3 API), with back-pressure both ways.
 *
 * Reading is event-driven: frames are handed to the handler synchronously
 * from the stream's 'message' event, so a slow consumer slows yamux's window
 * updates and thereby the sender (the async iterator would buffer without
 * bound). `pause()` holds the stream (a round not started yet): yamux stops
 * sending window updates and bytes already parsed are kept.
 *
 * Writing waits, after every `send()` that returns false or leaves more than
 * WRITE_HIGH_WATER bytes queued, until the stream's 'drain'/'idle' events
 * show the queue is short again (or 'close' fails it). `onDrain()` is not
 * used: in @libp2p/utils 7.4.1 it resolves only once (after the first drain it
 * returns at once; a sender was seen holding 535 MB), which lets a
 * sender buffer a whole payload in memory. And one 'drain' is not enough:
 * yamux emits it on every window update while bytes remain queued.
 */
import type { Stream } from '@libp2p/interface';
import { FrameDecoder, type Frame } from './codec.ts';
import { MAX_READ_BUFFER_BYTES, MAX_WRITE_BUFFER_BYTES } from './constants.ts';
import { StreamFailedError } from './errors.ts';

function asError(e: unknown, fallback: string): Error {
  if (e instanceof Error) return e;
  const inner = (e as { error?: unknown } | undefined)?.error;
  return inner instanceof Error ? inner : new StreamFailedError(fallback);
}

export interface FrameStreamCounters {
  bytesIn(n: number): void;
  bytesOut(n: number): void;
}

/**
 * `onFrame` returns false to stop parsing (e.g. to pause); `onFinish` is
 * called once when the stream can deliver nothing more, with an error if it
 * closed abnormally; `onError` receives parse errors and handler throws.
 */
export interface FrameHandlers {
  onFrame(f: Frame): boolean | void;
  onFinish(err?: Error): void;
  onError(err: Error): void;
}

export class FrameStream {
  readonly stream: Stream;
  readonly #decoder = new FrameDecoder();
  #counters: FrameStreamCounters;
  /** Bytes read so far. */
  bytesRead = 0;
  #handlers: FrameHandlers | undefined;
  #held: Uint8Array[] = [];
  #paused = false;
  #finished = false;
  #closeError: Error | undefined;
  #closed = false;

  constructor(stream: Stream, counters: FrameStreamCounters) {
    this.stream = stream;
    this.#counters = counters;
    stream.maxReadBufferLength = MAX_READ_BUFFER_BYTES;
    stream.maxWriteBufferLength = MAX_WRITE_BUFFER_BYTES;
    stream.addEventListener('message', (evt) => {
      const data = evt.data;
      this.bytesRead += data.byteLength;
      this.#counters.bytesIn(data.byteLength);
      // feed a Uint8ArrayList's buffers one by one: subarray() would concatenate (copy) them
      if (data instanceof Uint8Array) this.#feed(data);
      else for (const piece of data) this.#feed(piece);
    });
    stream.addEventListener('close', (evt) => {
      this.#closed = true;
      if (evt.error) this.#closeError = evt.error;
      setImmediate(() => this.#maybeFinish());
    });
    stream.addEventListener('end', () => setImmediate(() => this.#maybeFinish()));
  }

  /** Count further bytes on `c` (an incoming stream, once routed to its round). */
  setCounters(c: FrameStreamCounters): void {
    this.#counters = c;
  }

  get closed(): boolean {
    return this.#closed || this.stream.status !== 'open';
  }

  /**
   * Route frames to `h` (replacing earlier handlers). A handler returning
   * false pauses the stream after that frame; call `resume()` to go on.
   */
  setHandlers(h: FrameHandlers): void {
    this.#handlers = h;
    queueMicrotask(() => this.#drain());
  }

  /** Stop parsing until `resume()`; the stream itself is paused (flow control). */
  pause(): void {
    this.#paused = true;
    try {
      if (this.stream.readStatus === 'readable') this.stream.pause();
    } catch { /* closing: nothing to hold back */ }
  }

  /** Continue parsing (held bytes first, in order), asynchronously. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    queueMicrotask(() => {
      try {
        if (this.stream.readStatus === 'paused') this.stream.resume();
      } catch { /* closing */ }
      this.#drain();
      setImmediate(() => this.#maybeFinish());
    });
  }

  #feed(piece: Uint8Array): void {
    if (this.#finished) return;
    this.#held.push(piece);
    this.#drain();
  }

  #draining = false;
  #drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    try {
      while (!this.#paused && this.#handlers && !this.#finished && this.#held.length > 0) {
        const piece = this.#held[0]!;
        const handlers = this.#handlers;
        const used = this.#decoder.push(piece, (f) => {
          if (handlers.onFrame(f) === false) this.pause();
          return !this.#paused && !this.#finished;
        });
        if (used < piece.byteLength) this.#held[0] = piece.subarray(used);
        else this.#held.shift();
      }
    } catch (e) {
      // the decoder's state is unknown now: ignore everything after this
      this.#finished = true;
      this.#held = [];
      this.#handlers?.onError(asError(e, 'frame handler failed'));
    } finally {
      this.#draining = false;
    }
  }

  /** Stop reading for good (after a rejection): later bytes are discarded. */
  discard(): void {
    this.#finished = true;
    this.#held = [];
  }

  #maybeFinish(): void {
    if (this.#finished || this.#paused || !this.#handlers) return;
    const s = this.stream;
    const ended = this.#closed || s.readableEnded || s.status === 'closed' || s.status === 'aborted' || s.status === 'reset';
    if (!ended || this.#held.length > 0) return;
    this.#finished = true;
    this.#handlers.onFinish(this.#closeError ?? (s.status === 'aborted' || s.status === 'reset' ? new StreamFailedError(`stream ${s.status}`) : undefined));
  }

  /** Send `parts` in order, waiting for drain whenever the stream asks. */
  async write(parts: Uint8Array[], signal?: AbortSignal): Promise<void> {
    for (const p of parts) {
      if (p.byteLength === 0) continue;
      signal?.throwIfAborted();
      let ok: boolean;
      try {
        ok = this.stream.send(p);
      } catch (e) {
        throw new StreamFailedError(`send failed: ${asError(e, 'send failed').message}`, { cause: e });
      }
      this.#counters.bytesOut(p.byteLength);
      if (!ok || this.stream.writeBufferLength > WRITE_HIGH_WATER) await waitWritable(this.stream, signal);
    }
  }

  /** Close our writable end, swallowing the non-Error rejections v3 can produce. */
  async closeWrite(signal?: AbortSignal): Promise<void> {
    try {
      await this.stream.close(signal ? { signal } : {});
    } catch (e) {
      throw new StreamFailedError(`close failed: ${asError(e, 'close failed').message}`, { cause: e });
    }
  }

  abort(reason: string): void {
    try {
      this.stream.abort(new StreamFailedError(reason));
    } catch { /* already closed */ }
  }
}

/**
 * Bytes we let queue in a stream's write buffer before waiting. yamux emits
 * 'drain' on every window update that arrives while bytes are still queued,
 * not when the queue is empty: a writer that sends a chunk per 'drain' grows
 * the queue by (chunk − window) per update and, with small windows (a loaded
 * machine), overflows `maxWriteBufferLength`, which resets the stream.
 */
export const WRITE_HIGH_WATER = 2 * 1024 * 1024;

/**
 * Resolve when `stream` may be written again: no drain pending and at most
 * `highWater` bytes queued. Re-checked on every 'drain' and 'idle' event;
 * rejects when the stream closes or `signal` aborts. A 100 ms poll guards
 * against an event that fired between `send()` and this call.
 */
export function waitWritable(stream: Stream, signal?: AbortSignal, highWater = WRITE_HIGH_WATER): Promise<void> {
  const ready = (): boolean => !stream.writableNeedsDrain && stream.writeBufferLength <= highWater;
  if (ready()) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const done = (err?: Error): void => {
      if (settled) return;
      settled = true;
      stream.removeEventListener('drain', onDrain);
      stream.removeEventListener('idle', check);
      stream.removeEventListener('close', onClose);
      signal?.removeEventListener('abort', onAbort);
      clearInterval(poll);
      if (err) reject(err);
      else resolve();
    };
    const check = (): void => {
      if (settled) return;
      if (stream.writeStatus === 'closed') done(new StreamFailedError(`stream ${stream.status} while waiting for drain`));
      else if (ready()) done();
    };
    // after 'drain' the stream resumes sending in a microtask: look once that has run
    const onDrain = (): void => void setImmediate(check);
    const onClose = (evt: Event): void => done(new StreamFailedError('stream closed while waiting for drain', { cause: (evt as { error?: unknown }).error }));
    const onAbort = (): void => done(asError(signal?.reason, 'aborted'));
    const poll = setInterval(check, 100);
    stream.addEventListener('drain', onDrain);
    stream.addEventListener('idle', check);
    stream.addEventListener('close', onClose);
    signal?.addEventListener('abort', onAbort);
  });
}
