/**
 * The averager: owns the all-reduce protocol handler on a libp2p host, holds
 * incoming streams of rounds that have not started here yet (bounded), and
 * runs rounds (round.ts).
 */
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface';
import { silentLogger, type Logger } from '../common/index.ts';
import { encodeAck, type OpenFrame } from './codec.ts';
import {
  DEFAULT_CHUNK_BYTES, DEFAULT_FP16_MIN_ELEMENTS, DEFAULT_INT8_BLOCK, FINISHED_ROUNDS_REMEMBERED, MAX_CHUNK_ELEMENTS,
  MAX_INT8_BLOCK, MIN_INT8_BLOCK, PROTOCOL,
} from './constants.ts';
import { Float64Pool } from './buffer-pool.ts';
import type { ResolvedOptions, RoundContext } from './context.ts';
import { DEFAULT_DEADLINE_POLICY, type DeadlinePolicy } from './deadline.ts';
import { AveragerLeftError, InvalidRoundSpecError } from './errors.ts';
import { createMetrics, rejectReasonOf, type AveragingMetrics, type RejectReason } from './metrics.ts';
import { chunkElements } from './partition.ts';
import { Round } from './round.ts';
import { ChunkSigner, ChunkVerifier } from './signing.ts';
import { validateSpec } from './spec.ts';
import { FrameStream } from './stream-io.ts';
import type { Averager as AveragerApi, AveragerOptions, RoundResult, RoundSpec } from './types.ts';

function positive(field: string, v: number | undefined, fallback: number, { integer = false, min = Number.MIN_VALUE, max = Infinity } = {}): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || Number.isNaN(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new InvalidRoundSpecError(`options.${field}`, `must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${v}`);
  }
  return v;
}

/** Parse and freeze the options once; errors name the field. */
export function resolveOptions(o: Omit<AveragerOptions, 'privateKey'>): ResolvedOptions {
  const block = positive('int8BlockSize', o.int8BlockSize, DEFAULT_INT8_BLOCK, { integer: true, min: MIN_INT8_BLOCK, max: MAX_INT8_BLOCK });
  const chunkBytes = positive('chunkBytes', o.chunkBytes, DEFAULT_CHUNK_BYTES, { integer: true, min: 4 * block, max: 4 * MAX_CHUNK_ELEMENTS });
  const d = o.deadlines ?? {};
  const policy: DeadlinePolicy = {
    quorum: positive('deadlines.quorum', d.quorum, DEFAULT_DEADLINE_POLICY.quorum, { max: 1 }),
    slackRatio: positive('deadlines.slackRatio', d.slackRatio, DEFAULT_DEADLINE_POLICY.slackRatio, { min: 0 }),
    slackMs: positive('deadlines.slackMs', d.slackMs, DEFAULT_DEADLINE_POLICY.slackMs, { min: 0 }),
    stallMs: positive('deadlines.stallMs', d.stallMs, DEFAULT_DEADLINE_POLICY.stallMs, { min: 0 }),
  };
  return Object.freeze({
    chunkElements: chunkElements(chunkBytes, block),
    int8BlockSize: block,
    auto: Object.freeze({
      fp16MinElements: positive('autoCompression.fp16MinElements', o.autoCompression?.fp16MinElements, DEFAULT_FP16_MIN_ELEMENTS, { min: 0 }),
      int8MinElements: positive('autoCompression.int8MinElements', o.autoCompression?.int8MinElements, Infinity, { min: 0 }),
    }),
    policy: Object.freeze(policy),
    pendingRoundWaitMs: positive('pendingRoundWaitMs', o.pendingRoundWaitMs, 30_000, { min: 0 }),
    maxPendingStreams: positive('maxPendingStreams', o.maxPendingStreams, 256, { integer: true, min: 0 }),
    dialTimeoutMs: positive('dialTimeoutMs', o.dialTimeoutMs, 10_000),
  });
}

interface Parked {
  fs: FrameStream;
  open: OpenFrame;
  remote: string;
  timer: ReturnType<typeof setTimeout>;
}

export class Averager implements AveragerApi {
  readonly #host: Libp2p;
  readonly #opts: ResolvedOptions;
  readonly #log: Logger;
  readonly #metrics: AveragingMetrics;
  readonly #ctx: RoundContext;
  readonly #rounds = new Map<string, Round>();
  readonly #finished = new Set<string>();
  readonly #parked = new Map<string, Parked[]>();
  #parkedCount = 0;
  #leaving = false;
  #stopped = false;
  readonly #ready: Promise<void>;
  readonly #onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const id = evt.detail.toString();
    if (this.#rounds.size > 0) this.#log.info('all-reduce: peer disconnected', { peer: id, rounds: [...this.#rounds.keys()] });
    for (const r of this.#rounds.values()) {
      const m = r.ids.indexOf(id);
      if (m >= 0) r.memberGone(m, 'disconnected');
    }
  };

  constructor(host: Libp2p, opts: AveragerOptions) {
    this.#host = host;
    this.#opts = resolveOptions(opts);
    this.#log = opts.logger ?? silentLogger;
    this.#metrics = createMetrics(opts.registry);
    if (!opts.privateKey.publicKey.equals(host.peerId.publicKey)) throw new InvalidRoundSpecError('options.privateKey', `is not the key of host ${host.peerId.toString()}`);
    this.#ctx = { host, selfId: host.peerId.toString(), opts: this.#opts, log: this.#log, metrics: this.#metrics, signer: new ChunkSigner(opts.privateKey), verifier: new ChunkVerifier(), sums: new Float64Pool(), ...(opts.tamperResult ? { tamperResult: opts.tamperResult } : {}) };
    host.addEventListener('peer:disconnect', this.#onDisconnect);
    this.#ready = host.handle(PROTOCOL, (stream, connection) => this.#onStream(stream, connection), {
      maxInboundStreams: 1024,
      maxOutboundStreams: 1024,
    });
    this.#ready.catch(() => undefined);
  }

  /** Resolved options (frozen), for logs and tests. */
  get options(): ResolvedOptions {
    return this.#opts;
  }

  async run(spec: RoundSpec, vector: Float32Array, opts: { signal?: AbortSignal } = {}): Promise<RoundResult> {
    await this.#ready;
    if (this.#leaving || this.#stopped) throw new AveragerLeftError(this.#stopped ? 'averager stopped' : 'averager is leaving');
    if (!(vector instanceof Float32Array)) throw new InvalidRoundSpecError('vector', 'must be a Float32Array');
    const self = validateSpec(spec, this.#ctx.selfId, vector.length);
    if (this.#rounds.has(spec.roundId) || this.#finished.has(spec.roundId)) {
      throw new InvalidRoundSpecError('roundId', `round ${spec.roundId} already ran here`);
    }
    const round = new Round(this.#ctx, spec, self, vector);
    this.#rounds.set(spec.roundId, round);
    const done = round.run(opts.signal);
    for (const p of this.#parked.get(spec.roundId) ?? []) {
      clearTimeout(p.timer);
      this.#parkedCount--;
      round.attach(p.fs, p.open, p.remote);
      p.fs.resume();
    }
    this.#parked.delete(spec.roundId);
    try {
      return await done;
    } finally {
      this.#rounds.delete(spec.roundId);
      this.#finished.add(spec.roundId);
      if (this.#finished.size > FINISHED_ROUNDS_REMEMBERED) this.#finished.delete(this.#finished.values().next().value!);
    }
  }

  async leave(): Promise<void> {
    if (this.#leaving || this.#stopped) return;
    this.#leaving = true;
    this.#log.info('all-reduce: leaving', { rounds: [...this.#rounds.keys()] });
    this.#dropParked('leaving');
    await Promise.all([...this.#rounds.values()].map((r) => r.leave().then(() => undefined, () => undefined)));
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#host.removeEventListener('peer:disconnect', this.#onDisconnect);
    for (const r of this.#rounds.values()) r.abort(new AveragerLeftError('averager stopped'));
    this.#dropParked('leaving');
    try {
      await this.#ready;
      await this.#host.unhandle(PROTOCOL);
    } catch { /* host already stopped */ }
  }

  #dropParked(reason: 'leaving' | 'unknownRound'): void {
    for (const list of this.#parked.values()) {
      for (const p of list) {
        clearTimeout(p.timer);
        this.#ackAndClose(p.fs, reason);
      }
    }
    this.#parked.clear();
    this.#parkedCount = 0;
  }

  #ackAndClose(fs: FrameStream, reason: 'leaving' | 'unknownRound' | 'roundOver' | 'rejected'): void {
    const signal = AbortSignal.timeout(5000);
    fs.discard();
    fs.write([encodeAck(reason, 0)], signal)
      .then(() => fs.closeWrite(signal))
      .catch(() => fs.abort('closing'));
  }

  #reject(fs: FrameStream, reason: RejectReason, remote: string, detail: string): void {
    this.#metrics.rejectedFrames.inc({ reason });
    this.#log.warn('all-reduce: rejected stream', { peer: remote, reason, detail });
    this.#ackAndClose(fs, reason === 'unknown_round' || reason === 'pending_overflow' ? 'unknownRound' : 'rejected');
  }

  #onStream(stream: Stream, connection: Connection): void {
    const remote = connection.remotePeer.toString();
    if (this.#stopped) {
      stream.abort(new Error('averager stopped'));
      return;
    }
    // bytes before routing are counted on the averager's metrics only
    const fs = new FrameStream(stream, {
      bytesIn: (n) => this.#metrics.bytesReceived.inc(n),
      bytesOut: (n) => this.#metrics.bytesSent.inc(n),
    });
    let routed = false;
    fs.setHandlers({
      onFrame: (f) => {
        if (routed) return false;
        routed = true;
        if (f.type !== 'open') {
          this.#reject(fs, 'unexpected', remote, `first frame is ${f.type}, not open`);
          return false;
        }
        const open = f;
        queueMicrotask(() => this.#route(fs, open, remote));
        return false; // paused until routed
      },
      onFinish: () => undefined,
      onError: (err) => this.#reject(fs, rejectReasonOf(err), remote, err.message),
    });
  }

  #route(fs: FrameStream, open: OpenFrame, remote: string): void {
    const round = this.#rounds.get(open.roundId);
    if (round) {
      round.attach(fs, open, remote);
      fs.resume();
      return;
    }
    if (this.#finished.has(open.roundId)) {
      this.#ackAndClose(fs, 'roundOver');
      return;
    }
    if (this.#leaving || this.#stopped) {
      this.#ackAndClose(fs, 'leaving');
      return;
    }
    if (this.#parkedCount >= this.#opts.maxPendingStreams) {
      this.#reject(fs, 'pending_overflow', remote, `more than ${this.#opts.maxPendingStreams} streams wait for rounds not started here`);
      return;
    }
    const p: Parked = {
      fs, open, remote,
      timer: setTimeout(() => {
        const list = this.#parked.get(open.roundId);
        const i = list?.indexOf(p) ?? -1;
        if (!list || i < 0) return;
        list.splice(i, 1);
        if (list.length === 0) this.#parked.delete(open.roundId);
        this.#parkedCount--;
        this.#reject(fs, 'unknown_round', remote, `round ${open.roundId} did not start here within ${this.#opts.pendingRoundWaitMs} ms`);
      }, this.#opts.pendingRoundWaitMs),
    };
    p.timer.unref?.();
    const list = this.#parked.get(open.roundId) ?? [];
    list.push(p);
    this.#parked.set(open.roundId, list);
    this.#parkedCount++;
    this.#log.debug('all-reduce: holding stream for a round not started yet', { round: open.roundId, peer: remote, kind: open.kind });
  }
}
