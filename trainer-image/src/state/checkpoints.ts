/**
 * Checkpoints in the swarm's NATS object store (`Buckets.checkpoints`).
 *
 * Every `checkpointEvery` epochs (and at stopAfter) one peer writes the
 * state blob (state/blob.ts) as `ckpt-e<epoch>`. The writer is elected by
 * a compare-and-set create of `ckpt.<epoch>` in the swarm's rounds bucket:
 * exactly one create succeeds per key, so exactly one peer writes each
 * epoch's checkpoint (if that peer dies mid-write, the epoch has none and
 * the next one's writer covers it). The writer deletes checkpoints beyond
 * the newest `kept`.
 *
 * Loading walks the checkpoints newest first and returns the first whose
 * blob decodes for this model and matches its recorded sha256; a broken
 * one is logged, counted and skipped.
 */
import { Kvm, type KV } from '@nats-io/kv';
import { Objm, StorageType, type ObjectInfo, type ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { decodeState, sha256Hex, type DecodedState } from './blob.ts';
import { CHECKPOINT_KEY_TTL, CHECKPOINT_NAME_RE, checkpointKey, checkpointName, DEFAULT_CHECKPOINTS_KEPT } from './constants.ts';
import type { StateMetrics } from './metrics.ts';
import type { StateLogger } from './server.ts';

export interface CheckpointStoreOptions {
  /** Object store bucket: Buckets.checkpoints(swarm). */
  bucket: string;
  /** KV bucket holding the election keys: Buckets.rounds(swarm) (the matchmaker creates it). */
  electionBucket: string;
  log: StateLogger;
  metrics: StateMetrics;
  /** @default DEFAULT_CHECKPOINTS_KEPT */
  kept?: number;
}

export interface CheckpointInfo {
  name: string;
  epoch: number;
  size: number;
  sha256: string | undefined;
  writer: string | undefined;
  /** The swarm's data position when it was written (JSON, data/pool.ts' DataPosition), if it reads a data pool. */
  data: string | undefined;
}

export interface LoadedCheckpoint extends DecodedState {
  info: CheckpointInfo;
}

function infoOf(o: ObjectInfo): CheckpointInfo | undefined {
  const m = CHECKPOINT_NAME_RE.exec(o.name);
  if (!m) return undefined;
  return { name: o.name, epoch: Number(m[1]), size: o.size, sha256: o.metadata?.['sha256'], writer: o.metadata?.['writer'], data: o.metadata?.['data'] };
}

export class CheckpointStore {
  readonly #os: ObjectStore;
  readonly #kv: KV;
  readonly #o: CheckpointStoreOptions;

  private constructor(os: ObjectStore, kv: KV, o: CheckpointStoreOptions) {
    this.#os = os;
    this.#kv = kv;
    this.#o = o;
  }

  /** Opens (creating if needed) the object store, and the election bucket. */
  static async open(nc: NatsConnection, o: CheckpointStoreOptions): Promise<CheckpointStore> {
    const os = await new Objm(nc).create(o.bucket, { storage: StorageType.File });
    const kv = await new Kvm(nc).open(o.electionBucket);
    return new CheckpointStore(os, kv, o);
  }

  /** True when this peer won the right to write epoch `epoch`'s checkpoint. Rejects on NATS errors other than a lost race. */
  async elect(epoch: number, peerId: string): Promise<boolean> {
    try {
      await this.#kv.create(checkpointKey(epoch), peerId, CHECKPOINT_KEY_TTL);
      return true;
    } catch (e) {
      const existing = await this.#kv.get(checkpointKey(epoch));
      if (existing && existing.operation === 'PUT') return existing.string() === peerId;
      throw e;
    }
  }

  /** Writes epoch `epoch`'s checkpoint (with the swarm's data position, if any) and prunes old ones. */
  async write(epoch: number, blob: Uint8Array, writer: string, data?: string): Promise<CheckpointInfo> {
    const name = checkpointName(epoch);
    const sha256 = sha256Hex(blob);
    try {
      const info = await this.#os.putBlob({ name, description: `spotswarm state at epoch ${epoch}`, metadata: { epoch: String(epoch), sha256, writer, ...(data !== undefined ? { data } : {}) } }, blob);
      this.#o.metrics.checkpoints.inc({ op: 'write', outcome: 'ok' });
      await this.#prune().catch((e: unknown) => this.#o.log.warn('could not prune old checkpoints', { error: e instanceof Error ? e.message : String(e) }));
      return { name, epoch, size: info.size, sha256, writer, data };
    } catch (e) {
      this.#o.metrics.checkpoints.inc({ op: 'write', outcome: 'failed' });
      throw e;
    }
  }

  /** Checkpoints in the bucket, newest first. */
  async list(): Promise<CheckpointInfo[]> {
    const all = await this.#os.list();
    return all
      .filter((o) => !o.deleted)
      .map(infoOf)
      .filter((c): c is CheckpointInfo => c !== undefined)
      .sort((a, b) => b.epoch - a.epoch);
  }

  async #prune(): Promise<void> {
    const kept = this.#o.kept ?? DEFAULT_CHECKPOINTS_KEPT;
    for (const c of (await this.list()).slice(kept)) await this.#os.delete(c.name);
  }

  /** The newest checkpoint that decodes for `fingerprint`, or undefined when there is none. */
  async latest(fingerprint: string): Promise<LoadedCheckpoint | undefined> {
    for (const info of await this.list()) {
      try {
        const blob = await this.#os.getBlob(info.name);
        if (blob === null) continue;
        if (info.sha256 !== undefined && sha256Hex(blob) !== info.sha256) throw new Error(`sha256 differs from the recorded ${info.sha256.slice(0, 12)}…`);
        const decoded = decodeState(blob, fingerprint);
        if (decoded.state.epoch !== info.epoch) throw new Error(`blob holds epoch ${decoded.state.epoch}, name says ${info.epoch}`);
        this.#o.metrics.checkpoints.inc({ op: 'load', outcome: 'ok' });
        return { ...decoded, info };
      } catch (e) {
        this.#o.metrics.checkpoints.inc({ op: 'load', outcome: 'bad' });
        this.#o.log.warn('skipping an unusable checkpoint', { name: info.name, error: e instanceof Error ? e.message : String(e) });
      }
    }
    return undefined;
  }
}
