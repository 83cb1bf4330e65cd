/**
 * The donor side of state transfer: answers GET_META with the current
 * snapshot's description and GET_CHUNK with a slice of a kept snapshot.
 *
 * It never waits for the training loop: snapshots are immutable blobs the
 * owner encodes on demand (synchronously, between two steps), and serving
 * is plain stream I/O. At most `maxServing` streams are served at once;
 * more are answered `busy`, so a crowd of joiners cannot starve the donor's
 * own averaging. The last SNAPSHOTS_KEPT snapshots stay available, so a
 * download that spans one epoch change completes.
 */
import type { Libp2p, Stream } from '@libp2p/interface';
import { encodeFrame, type StateErrorReply, type StateFrame, type StateMode } from './codec.ts';
import { DEFAULT_CHUNK_BYTES, DEFAULT_MAX_SERVING, DEFAULT_REQUEST_TIMEOUT_MS, MAX_REQUEST_BODY, PROTOCOL, SNAPSHOTS_KEPT } from './constants.ts';
import { BadStateFrameError } from './errors.ts';
import { readFrame, writeFrame } from './io.ts';
import type { StateMetrics } from './metrics.ts';
import { sha256Hex } from './blob.ts';

export interface Snapshot {
  epoch: number;
  mode: StateMode;
  blob: Uint8Array;
  /** sha256 hex of blob. */
  sha256: string;
  fingerprint: string;
}

export interface StateLogger {
  debug(message: string, meta?: Record<string, unknown>): unknown;
  info(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
}

export interface StateServerOptions {
  /** The current snapshot, or undefined while this peer has nothing to give (syncing, not started). */
  snapshot(): Snapshot | undefined;
  /** The epoch this peer works on (≥ the snapshot's epoch). */
  workloadEpoch(): number;
  log: StateLogger;
  metrics: StateMetrics;
  /** @default DEFAULT_CHUNK_BYTES */
  chunkBytes?: number;
  /** @default DEFAULT_MAX_SERVING */
  maxServing?: number;
  /** @default DEFAULT_REQUEST_TIMEOUT_MS */
  timeoutMs?: number;
}

/** Builds a snapshot from a blob (computes its sha256). */
export function makeSnapshot(blob: Uint8Array, meta: { epoch: number; mode: StateMode; fingerprint: string }): Snapshot {
  return { ...meta, blob, sha256: sha256Hex(blob) };
}

export class StateServer {
  readonly #host: Libp2p;
  readonly #o: StateServerOptions;
  readonly #chunkBytes: number;
  readonly #maxServing: number;
  readonly #timeoutMs: number;
  /** Kept snapshots, newest last. */
  #kept: Snapshot[] = [];
  #serving = 0;
  #started = false;

  constructor(host: Libp2p, o: StateServerOptions) {
    this.#host = host;
    this.#o = o;
    this.#chunkBytes = o.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.#maxServing = o.maxServing ?? DEFAULT_MAX_SERVING;
    this.#timeoutMs = o.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  async start(): Promise<void> {
    await this.#host.handle(PROTOCOL, (stream, connection) => void this.#serve(stream, connection.remotePeer.toString()), { maxInboundStreams: this.#maxServing * 4 });
    this.#started = true;
  }

  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    try {
      await this.#host.unhandle(PROTOCOL);
    } catch {
      // host already stopped
    }
  }

  #current(): Snapshot | undefined {
    const s = this.#o.snapshot();
    if (s === undefined) return undefined;
    if (this.#kept.at(-1)?.sha256 !== s.sha256) {
      this.#kept = [...this.#kept.filter((k) => k.sha256 !== s.sha256), s].slice(-SNAPSHOTS_KEPT);
    }
    return s;
  }

  async #serve(stream: Stream, remote: string): Promise<void> {
    const signal = AbortSignal.timeout(this.#timeoutMs);
    const reply = async (f: StateFrame): Promise<void> => {
      const bytes = encodeFrame(f);
      this.#o.metrics.served.inc({ reply: f.type });
      if (f.type === 'chunk') this.#o.metrics.servedBytes.inc(f.data.byteLength);
      await writeFrame(stream, bytes, signal);
    };
    const fail = (code: StateErrorReply, message: string): Promise<void> => reply({ type: 'error', code, message });
    if (this.#serving >= this.#maxServing) {
      await fail('busy', `serving ${this.#serving} streams`).catch(() => stream.abort(new Error('busy')));
      return;
    }
    this.#serving++;
    try {
      let req: StateFrame;
      try {
        req = await readFrame(stream, MAX_REQUEST_BODY, signal);
      } catch (e) {
        if (e instanceof BadStateFrameError) {
          this.#o.metrics.badFrames.inc({ side: 'server', reason: e.reason });
          this.#o.log.warn('state: rejected a bad request frame', { peer: remote, reason: e.reason, error: e.message });
          await fail('badRequest', e.message).catch(() => undefined);
        }
        stream.abort(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      if (req.type === 'getMeta') {
        const s = this.#current();
        if (s === undefined) return await fail('unavailable', 'no state to offer yet');
        const chunks = Math.ceil(s.blob.byteLength / this.#chunkBytes);
        await reply({
          type: 'meta', epoch: s.epoch, workloadEpoch: Math.max(s.epoch, this.#o.workloadEpoch()), totalBytes: s.blob.byteLength,
          chunkBytes: this.#chunkBytes, chunks, mode: s.mode, sha256: s.sha256, fingerprint: s.fingerprint,
        });
        return;
      }
      if (req.type === 'getChunk') {
        this.#current();
        const s = this.#kept.find((k) => k.sha256 === req.sha256);
        if (s === undefined) return await fail('gone', `snapshot ${req.sha256.slice(0, 12)}… is not kept here`);
        const start = req.index * this.#chunkBytes;
        if (start >= s.blob.byteLength) return await fail('outOfRange', `chunk ${req.index} beyond ${s.blob.byteLength} bytes`);
        const data = s.blob.subarray(start, Math.min(s.blob.byteLength, start + this.#chunkBytes));
        await reply({ type: 'chunk', index: req.index, sha256: sha256Hex(data), data });
        return;
      }
      this.#o.metrics.badFrames.inc({ side: 'server', reason: 'unexpected' });
      this.#o.log.warn('state: rejected an unexpected frame', { peer: remote, type: req.type });
      await fail('badRequest', `unexpected ${req.type} frame`);
    } catch (e) {
      this.#o.log.debug('state: serving a request failed', { peer: remote, error: e instanceof Error ? e.message : String(e) });
      stream.abort(e instanceof Error ? e : new Error(String(e)));
    } finally {
      this.#serving--;
    }
  }
}
