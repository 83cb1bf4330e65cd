/**
 * The safetensors file format (Hugging Face), written and read here because
 * npm has no maintained library for it (the `safetensors` package is a
 * 0.0.1 placeholder). The format: an 8-byte little-endian header length N,
 * N bytes of JSON header `{name: {dtype, shape, data_offsets: [begin, end]},
 * "__metadata__"?: {string: string}}` padded with spaces to a multiple of 8,
 * then the tensors' raw little-endian bytes, offsets relative to the end of
 * the header. Only the dtypes this bench exchanges: F32 and I32.
 */

export type TensorData = Float32Array | Int32Array;

export interface NamedTensor {
  name: string;
  shape: readonly number[];
  data: TensorData;
}

const DTYPES = { F32: Float32Array, I32: Int32Array } as const;
type DType = keyof typeof DTYPES;

function dtypeOf(d: TensorData): DType {
  return d instanceof Float32Array ? 'F32' : 'I32';
}

/** Thrown for a malformed file or tensor; the message names the tensor or the header field. */
export class SafetensorsError extends Error {
  constructor(message: string) {
    super(`safetensors: ${message}`);
    this.name = 'SafetensorsError';
  }
}

/** Encodes tensors (in the given order) and optional string metadata. */
export function encodeSafetensors(tensors: readonly NamedTensor[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header['__metadata__'] = metadata;
  let offset = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new SafetensorsError(`${t.name}: shape [${t.shape.join(', ')}] holds ${n} elements, data has ${t.data.length}`);
    if (t.name === '__metadata__' || t.name in header) throw new SafetensorsError(`${t.name}: duplicate or reserved name`);
    header[t.name] = { dtype: dtypeOf(t.data), shape: [...t.shape], data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const t of tensors) {
    // Typed arrays are in the platform's byte order; every platform Node runs on here is little-endian.
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

export interface DecodedSafetensors {
  tensors: Map<string, { shape: number[]; data: TensorData }>;
  metadata: Record<string, string>;
}

/** Decodes a file (F32/I32 tensors only); copies the data out of `bytes`. */
export function decodeSafetensors(bytes: Uint8Array): DecodedSafetensors {
  if (bytes.byteLength < 8) throw new SafetensorsError(`file of ${bytes.byteLength} bytes has no header length`);
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (8 + n > bytes.byteLength) throw new SafetensorsError(`header length ${n} exceeds the file (${bytes.byteLength} bytes)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new SafetensorsError(`header is not JSON: ${(e as Error).message}`);
  }
  const base = 8 + n;
  const tensors = new Map<string, { shape: number[]; data: TensorData }>();
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = v as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    const Ctor = DTYPES[e.dtype as DType];
    if (Ctor === undefined) throw new SafetensorsError(`${name}: dtype ${String(e.dtype)} is not F32 or I32`);
    const [begin, end] = e.data_offsets ?? [NaN, NaN];
    const count = (e.shape ?? []).reduce((a, b) => a * b, 1);
    if (!(begin >= 0 && end >= begin && base + end <= bytes.byteLength) || end - begin !== count * 4) {
      throw new SafetensorsError(`${name}: data_offsets [${begin}, ${end}] do not fit shape [${(e.shape ?? []).join(', ')}] in the file`);
    }
    // A copy of exactly these bytes (Buffer#slice would share, and .buffer would be the whole pool).
    const own = new Uint8Array(end - begin);
    own.set(bytes.subarray(base + begin, base + end));
    const data = new Ctor(own.buffer);
    tensors.set(name, { shape: [...(e.shape ?? [])], data });
  }
  return { tensors, metadata: (header['__metadata__'] as Record<string, string> | undefined) ?? {} };
}
