/**
 * The joiner's side of state transfer: ask every live donor what it has
 * (GET_META), pick the newest state that several donors agree on (same
 * sha256), and fetch its chunks from all of them in parallel. Every chunk is
 * checked against its own digest and the whole blob against the META's;
 * failed chunks go back to the queue (bounded attempts per chunk), donors
 * that misbehave are dropped, and the whole download is retried a bounded
 * number of times, each time asking for META again. Progress is logged.
 */
import type { Libp2p } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { encodeFrame, type MetaFrame, type StateFrame } from './codec.ts';
import {
  DEFAULT_CHUNK_ATTEMPTS, DEFAULT_DOWNLOAD_ATTEMPTS, DEFAULT_PER_DONOR_PARALLEL, DEFAULT_REQUEST_TIMEOUT_MS, MAX_RESPONSE_BODY,
  PROGRESS_LOG_EVERY_MS, PROTOCOL,
} from './constants.ts';
import { BadStateFrameError, DownloadFailedError, NoDonorError } from './errors.ts';
import { readFrame, writeFrame } from './io.ts';
import type { StateMetrics } from './metrics.ts';
import type { StateLogger } from './server.ts';
import { sha256Hex } from './blob.ts';

export interface DonorMeta {
  peerId: string;
  meta?: MetaFrame;
  /** Why there is no usable META from this donor. */
  error?: string;
}

export interface ClientOptions {
  host: Libp2p;
  log: StateLogger;
  metrics: StateMetrics;
  /** @default DEFAULT_REQUEST_TIMEOUT_MS */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface DownloadOptions extends ClientOptions {
  /** Peer ids to ask; their addresses must already be in the host's peer store. */
  donors: readonly string[];
  /** Only states of this model (fingerprint from state/blob.ts). */
  fingerprint: string;
  /** Ignore states older than this epoch. @default 0 */
  minEpoch?: number;
  /** @default DEFAULT_DOWNLOAD_ATTEMPTS */
  attempts?: number;
  /** @default DEFAULT_CHUNK_ATTEMPTS */
  chunkAttempts?: number;
  /** @default DEFAULT_PER_DONOR_PARALLEL */
  perDonorParallel?: number;
  /** Wait between whole-download attempts. @default 500 ms × attempt */
  backoffMs?: number;
}

export interface DownloadResult {
  blob: Uint8Array;
  meta: MetaFrame;
  /** Donors chunks were actually taken from. */
  donors: string[];
  attempts: number;
  durationMs: number;
}

async function request(o: ClientOptions, peerId: string, req: StateFrame): Promise<StateFrame> {
  const timeout = AbortSignal.timeout(o.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  const signal = o.signal ? AbortSignal.any([o.signal, timeout]) : timeout;
  const stream = await o.host.dialProtocol(peerIdFromString(peerId), PROTOCOL, { signal });
  try {
    await writeFrame(stream, encodeFrame(req), signal);
    return await readFrame(stream, MAX_RESPONSE_BODY, signal);
  } catch (e) {
    stream.abort(e instanceof Error ? e : new Error(String(e)));
    throw e;
  }
}

function message(e: unknown): string {
  if (e instanceof Error) return e.message;
  // libp2p v3 can reject with an Event that carries the error
  const inner = (e as { error?: unknown } | undefined)?.error;
  if (inner instanceof Error) return inner.message;
  return typeof e === 'object' && e !== null ? `${(e as { type?: string }).type ?? 'unknown'} event` : String(e);
}

function noteBadFrame(o: ClientOptions, peerId: string, e: unknown): void {
  if (!(e instanceof BadStateFrameError)) return;
  o.metrics.badFrames.inc({ side: 'client', reason: e.reason });
  o.log.warn('state: rejected a bad frame from a donor', { peer: peerId, reason: e.reason, error: e.message });
}

/** GET_META from every donor in parallel; never throws. */
export async function queryDonors(o: ClientOptions, donors: readonly string[]): Promise<DonorMeta[]> {
  return Promise.all(
    donors.map(async (peerId): Promise<DonorMeta> => {
      try {
        const f = await request(o, peerId, { type: 'getMeta' });
        if (f.type === 'meta') return { peerId, meta: f };
        if (f.type === 'error') return { peerId, error: `${f.code}: ${f.message}` };
        o.metrics.badFrames.inc({ side: 'client', reason: 'unexpected' });
        o.log.warn('state: rejected an unexpected frame from a donor', { peer: peerId, type: f.type });
        return { peerId, error: `unexpected ${f.type} frame` };
      } catch (e) {
        noteBadFrame(o, peerId, e);
        return { peerId, error: message(e) };
      }
    }),
  );
}

/**
 * The group of donors to download from: the newest usable state, and among
 * equally new ones the one most donors hold (then the smaller sha256, so
 * the choice is deterministic). Pure.
 */
export function chooseDonors(metas: readonly DonorMeta[], fingerprint: string, minEpoch = 0): { meta: MetaFrame; donors: string[] } | undefined {
  const groups = new Map<string, { meta: MetaFrame; donors: string[] }>();
  for (const d of metas) {
    const m = d.meta;
    if (!m || m.fingerprint !== fingerprint || m.epoch < minEpoch) continue;
    const key = `${m.sha256}/${m.chunkBytes}/${m.totalBytes}`;
    const g = groups.get(key);
    if (g) g.donors.push(d.peerId);
    else groups.set(key, { meta: m, donors: [d.peerId] });
  }
  let best: { meta: MetaFrame; donors: string[] } | undefined;
  for (const g of groups.values()) {
    if (
      !best ||
      g.meta.epoch > best.meta.epoch ||
      (g.meta.epoch === best.meta.epoch && (g.donors.length > best.donors.length || (g.donors.length === best.donors.length && g.meta.sha256 < best.meta.sha256)))
    ) {
      best = g;
    }
  }
  if (best) best.donors.sort();
  return best;
}

/** Fetches every chunk of `meta` from `donors` in parallel; checks every chunk and the whole blob. */
async function fetchChunks(o: DownloadOptions, meta: MetaFrame, donors: string[]): Promise<{ blob: Uint8Array; used: string[] }> {
  const blob = new Uint8Array(meta.totalBytes);
  const queue = Array.from({ length: meta.chunks }, (_, i) => i);
  const tries = new Array<number>(meta.chunks).fill(0);
  const maxTries = o.chunkAttempts ?? DEFAULT_CHUNK_ATTEMPTS;
  const alive = new Set(donors);
  const strikes = new Map<string, number>();
  const used = new Set<string>();
  let done = 0;
  let received = 0;
  let inFlight = 0;
  let failure: Error | undefined;
  let wake: () => void = () => undefined;
  let changed = new Promise<void>((r) => (wake = r));
  const notify = (): void => {
    const w = wake;
    changed = new Promise<void>((r) => (wake = r));
    w();
  };
  const t0 = Date.now();
  let lastLog = t0;
  const progress = (force: boolean): void => {
    const now = Date.now();
    if (!force && now - lastLog < PROGRESS_LOG_EVERY_MS) return;
    lastLog = now;
    o.log.info('state download progress', {
      epoch: meta.epoch, chunks: `${done}/${meta.chunks}`, bytes: received, totalBytes: meta.totalBytes,
      percent: Math.round((100 * received) / meta.totalBytes), donors: [...alive], mibPerSecond: +(received / 1048576 / Math.max(0.001, (now - t0) / 1000)).toFixed(2),
    });
  };
  const strike = (peerId: string, why: string): void => {
    const n = (strikes.get(peerId) ?? 0) + 1;
    strikes.set(peerId, n);
    if (n >= 2 && alive.delete(peerId)) o.log.warn('state: dropping a donor', { peer: peerId, reason: why });
  };
  const giveBack = (index: number, reason: string): void => {
    o.metrics.chunkFailures.inc({ reason });
    tries[index] = tries[index]! + 1;
    if (tries[index]! >= maxTries) failure ??= new DownloadFailedError(`chunk ${index} failed ${tries[index]} times (last: ${reason})`);
    else queue.push(index);
  };

  const worker = async (peerId: string): Promise<void> => {
    while (failure === undefined && done < meta.chunks && alive.has(peerId)) {
      o.signal?.throwIfAborted();
      const index = queue.shift();
      if (index === undefined) {
        if (inFlight === 0) return;
        await changed;
        continue;
      }
      inFlight++;
      try {
        const f = await request(o, peerId, { type: 'getChunk', sha256: meta.sha256, index });
        const start = index * meta.chunkBytes;
        const want = Math.min(meta.chunkBytes, meta.totalBytes - start);
        if (f.type === 'error') {
          if (f.code === 'gone') alive.delete(peerId);
          else if (f.code !== 'busy') strike(peerId, `${f.code}: ${f.message}`);
          giveBack(index, f.code);
        } else if (f.type !== 'chunk' || f.index !== index || f.data.byteLength !== want) {
          o.metrics.badFrames.inc({ side: 'client', reason: 'unexpected' });
          o.log.warn('state: rejected a chunk that does not match the request', { peer: peerId, index, got: f.type === 'chunk' ? { index: f.index, bytes: f.data.byteLength } : f.type });
          strike(peerId, 'mismatched chunk');
          giveBack(index, 'mismatch');
        } else if (sha256Hex(f.data) !== f.sha256) {
          o.metrics.badFrames.inc({ side: 'client', reason: 'digest' });
          o.log.warn('state: rejected a chunk whose digest does not match', { peer: peerId, index });
          strike(peerId, 'bad digest');
          giveBack(index, 'digest');
        } else {
          blob.set(f.data, start);
          done++;
          received += f.data.byteLength;
          used.add(peerId);
          o.metrics.downloadedBytes.inc(f.data.byteLength);
          progress(false);
        }
      } catch (e) {
        noteBadFrame(o, peerId, e);
        strike(peerId, message(e));
        giveBack(index, e instanceof BadStateFrameError ? 'bad_frame' : 'stream');
        if (o.signal?.aborted) throw e;
      } finally {
        inFlight--;
        notify();
      }
    }
  };

  const per = o.perDonorParallel ?? DEFAULT_PER_DONOR_PARALLEL;
  await Promise.all(donors.flatMap((d) => Array.from({ length: per }, () => worker(d))));
  if (failure) throw failure;
  if (done < meta.chunks) throw new DownloadFailedError(`no donor left with ${meta.chunks - done} of ${meta.chunks} chunks missing`);
  progress(true);
  const sha = sha256Hex(blob);
  if (sha !== meta.sha256) {
    o.metrics.badFrames.inc({ side: 'client', reason: 'blob_digest' });
    throw new DownloadFailedError(`assembled state has sha256 ${sha.slice(0, 12)}…, donors announced ${meta.sha256.slice(0, 12)}…`);
  }
  return { blob, used: [...used].sort() };
}

/**
 * Downloads the newest usable state from `donors`. Rejects with
 * NoDonorError when no donor offers one, DownloadFailedError after the
 * last attempt.
 */
export async function downloadState(o: DownloadOptions): Promise<DownloadResult> {
  const attempts = o.attempts ?? DEFAULT_DOWNLOAD_ATTEMPTS;
  const t0 = Date.now();
  let last: Error | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    o.signal?.throwIfAborted();
    const metas = await queryDonors(o, o.donors);
    const pick = chooseDonors(metas, o.fingerprint, o.minEpoch ?? 0);
    if (!pick) {
      last = new NoDonorError(
        `no donor offers a usable state (${metas.map((m) => `${m.peerId.slice(-6)}: ${m.error ?? (m.meta && m.meta.fingerprint !== o.fingerprint ? 'another model' : `epoch ${m.meta?.epoch}`)}`).join('; ') || 'no donors'})`,
      );
      o.log.warn('state: no usable donor', { attempt, attempts, error: last.message });
    } else {
      o.log.info('state download started', { attempt, epoch: pick.meta.epoch, totalBytes: pick.meta.totalBytes, chunks: pick.meta.chunks, donors: pick.donors, sha256: pick.meta.sha256.slice(0, 16) });
      try {
        const { blob, used } = await fetchChunks(o, pick.meta, pick.donors);
        o.metrics.downloads.inc({ outcome: 'ok' });
        return { blob, meta: pick.meta, donors: used, attempts: attempt, durationMs: Date.now() - t0 };
      } catch (e) {
        if (o.signal?.aborted) throw e;
        last = e instanceof Error ? e : new Error(String(e));
        o.log.warn('state download attempt failed', { attempt, attempts, error: last.message });
      }
    }
    if (attempt < attempts) await new Promise((r) => setTimeout(r, (o.backoffMs ?? 500) * attempt));
  }
  o.metrics.downloads.inc({ outcome: last instanceof NoDonorError ? 'no_donor' : 'failed' });
  if (last instanceof NoDonorError) throw last;
  throw new DownloadFailedError(`state download failed after ${attempts} attempts: ${last?.message ?? 'unknown'}`, { cause: last });
}
