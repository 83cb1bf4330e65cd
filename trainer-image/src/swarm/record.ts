/**
 * The membership record every peer keeps fresh in its swarm's membership
 * bucket (key = its peer id), and its strict codec. Decoding never throws: a
 * bad record yields an error that names the first bad field, and the caller
 * logs, counts and ignores it.
 */
import { MAX_RECORD_BYTES, RECORD_VERSION } from './constants.ts';
import { InvalidRecordError } from './errors.ts';
import { checkFinite, checkInt, checkKnownFields, checkMultiaddrs, checkName, checkPeerId, parseJsonObject } from './validate.ts';

export interface MembershipRecord {
  v: typeof RECORD_VERSION;
  /** libp2p peer id; also the record's key. */
  peerId: string;
  /** Addresses peers dial, announcing the pod IP. */
  multiaddrs: string[];
  /** The epoch this peer is accumulating samples for. */
  epoch: number;
  /** Samples accumulated toward `epoch` (0 = tag-along). */
  samples: number;
  /** Current local throughput; 0 when not accumulating. */
  samplesPerSecond: number;
  /** Unix milliseconds of this update (the writer's clock). */
  updatedAt: number;
  pod: string;
  cluster?: string;
  /** Measured bandwidth in bytes/s, when known (shard sizing). */
  bandwidth?: number;
}

export type RecordDecode = { ok: true; record: MembershipRecord } | { ok: false; error: string };

const FIELDS: ReadonlySet<string> = new Set(['v', 'peerId', 'multiaddrs', 'epoch', 'samples', 'samplesPerSecond', 'updatedAt', 'pod', 'cluster', 'bandwidth']);

/** Validates an already parsed value; returns the first error, naming the field. */
export function validateRecord(r: Record<string, unknown>): string | undefined {
  if (r['v'] !== RECORD_VERSION) return `field v: unsupported version ${JSON.stringify(r['v'])}`;
  return (
    checkKnownFields('record', r, FIELDS) ??
    checkPeerId('field peerId', r['peerId']) ??
    checkMultiaddrs('field multiaddrs', r['multiaddrs'], r['peerId'] as string) ??
    checkInt('field epoch', r['epoch'], 0) ??
    checkInt('field samples', r['samples'], 0) ??
    checkFinite('field samplesPerSecond', r['samplesPerSecond'], 0) ??
    checkInt('field updatedAt', r['updatedAt'], 0) ??
    checkName('field pod', r['pod'], false) ??
    checkName('field cluster', r['cluster'], true) ??
    (r['bandwidth'] === undefined ? undefined : checkFinite('field bandwidth', r['bandwidth'], 0))
  );
}

/**
 * Decodes a record read under `key`. A record whose peerId differs from its
 * key is rejected: one peer must not be able to speak for another's entry.
 */
export function decodeRecord(bytes: Uint8Array, key?: string): RecordDecode {
  const parsed = parseJsonObject(bytes, MAX_RECORD_BYTES, 'record');
  if (!parsed.ok) return parsed;
  const err = validateRecord(parsed.value);
  if (err !== undefined) return { ok: false, error: err };
  const r = parsed.value as unknown as MembershipRecord;
  if (key !== undefined && r.peerId !== key) return { ok: false, error: `field peerId: ${r.peerId} stored under key ${key}` };
  // Rebuild so that the returned object holds exactly the known fields, copied.
  const out: MembershipRecord = {
    v: RECORD_VERSION,
    peerId: r.peerId,
    multiaddrs: [...r.multiaddrs],
    epoch: r.epoch,
    samples: r.samples,
    samplesPerSecond: r.samplesPerSecond,
    updatedAt: r.updatedAt,
    pod: r.pod,
  };
  if (r.cluster !== undefined) out.cluster = r.cluster;
  if (r.bandwidth !== undefined) out.bandwidth = r.bandwidth;
  return { ok: true, record: out };
}

/** Encodes a record; throws InvalidRecordError if it would not decode (a caller bug). */
export function encodeRecord(r: MembershipRecord): Uint8Array {
  const err = validateRecord(r as unknown as Record<string, unknown>);
  if (err !== undefined) throw new InvalidRecordError(err);
  const bytes = new TextEncoder().encode(JSON.stringify(r));
  if (bytes.byteLength > MAX_RECORD_BYTES) throw new InvalidRecordError(`record is ${bytes.byteLength} bytes, limit ${MAX_RECORD_BYTES}`);
  return bytes;
}
