/**
 * The streams of one round: dialing members (with retries), adopting
 * incoming streams, the byte counts, ACK-and-close, and aborting what is
 * still open a grace period after the round.
 */
import type { Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { errorMessage } from '../common/index.ts';
import { encodeAck, type AckReason } from './codec.ts';
import { PROTOCOL } from './constants.ts';
import { streamStallLimitMs, type RoundView } from './context.ts';
import { RoundAbortedError, StreamFailedError } from './errors.ts';
import { FrameStream } from './stream-io.ts';

export class RoundStreams {
  readonly #r: RoundView;
  /** Streams of this round; those still open a grace period after the round are aborted. */
  readonly #open = new Set<FrameStream>();
  bytesSent = 0;
  bytesReceived = 0;
  // byte counts go to the metrics in batches (every tick and at the end), not per piece
  #unflushedIn = 0;
  #unflushedOut = 0;
  readonly counters = {
    bytesIn: (k: number): void => {
      this.bytesReceived += k;
      this.#unflushedIn += k;
    },
    bytesOut: (k: number): void => {
      this.bytesSent += k;
      this.#unflushedOut += k;
    },
  };

  constructor(r: RoundView) {
    this.#r = r;
  }

  /** How long a stream of this round may make no write progress before we give up on it. */
  get stallMs(): number {
    return streamStallLimitMs(this.#r.ctx.opts.policy);
  }

  /** Add the byte counts since the last flush to the metrics. */
  flushBytes(): void {
    const metrics = this.#r.ctx.metrics;
    if (this.#unflushedIn > 0) metrics.bytesReceived.inc(this.#unflushedIn);
    if (this.#unflushedOut > 0) metrics.bytesSent.inc(this.#unflushedOut);
    this.#unflushedIn = 0;
    this.#unflushedOut = 0;
  }

  /**
   * Open an all-reduce stream to `member`. Retries a failed dial (twice, with
   * backoff, within `dialTimeoutMs`): when every member dials every other at
   * the start of a round, simultaneous connection attempts can reset each
   * other's handshakes, and that must not count as a failed peer.
   */
  async dial(member: number): Promise<FrameStream> {
    const r = this.#r;
    const signal = AbortSignal.any([r.signal, AbortSignal.timeout(r.ctx.opts.dialTimeoutMs)]);
    const peer = peerIdFromString(r.ids[member]!);
    let stream: Stream | undefined;
    for (let attempt = 0; stream === undefined; attempt++) {
      try {
        stream = await r.ctx.host.dialProtocol(peer, PROTOCOL, { signal });
      } catch (e) {
        if (attempt >= 2 || signal.aborted) throw e;
        r.log('debug', 'all-reduce: dial failed, retrying', { to: r.ids[member], error: errorMessage(e) });
        await new Promise((res) => setTimeout(res, 50 * 4 ** attempt));
      }
    }
    if (r.settled) {
      stream.abort(new StreamFailedError('round over'));
      throw new RoundAbortedError('round over');
    }
    const fs = new FrameStream(stream, this.counters);
    this.#open.add(fs);
    return fs;
  }

  /** An incoming stream routed to this round: its OPEN frame (read before routing, already in the metric) and what follows count here. */
  adopt(fs: FrameStream): void {
    this.#open.add(fs);
    this.bytesReceived += fs.bytesRead;
    fs.setCounters(this.counters);
  }

  /**
   * Reply with an ACK and close our side, in the background. Not bound to the
   * round's signal: the ACK must still go out when the round just finished.
   */
  ackAndClose(fs: FrameStream, reason: AckReason, accepted: number): void {
    this.#r.track((async () => {
      const signal = AbortSignal.timeout(this.stallMs);
      await fs.write([encodeAck(reason, accepted)], signal);
      await fs.closeWrite(signal);
    })());
  }

  /** The round settled: abort the streams still open after a grace period, and flush the byte counts now and once the last ACKs are out. */
  settle(): void {
    setTimeout(() => {
      for (const fs of this.#open) if (!fs.closed) fs.abort('round over');
      this.#open.clear();
    }, this.stallMs).unref();
    this.flushBytes();
    setTimeout(() => this.flushBytes(), this.stallMs).unref(); // ACKs still going out
  }
}
