/**
 * What the bench hands the PyTorch side, as safetensors: the project's
 * parameters under their stable names, and token batches as int32
 * [batches·B, T] matrices (input_ids, attention_mask, labels) plus
 * batch_size, so both sides compute on the same ids, mask and labels.
 */
import type { MlmBatch } from '../../trainer-image/src/data/index.ts';
import type { ParamSpec } from '../../trainer-image/src/model/index.ts';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from './safetensors.ts';

/** The flat parameter vector cut by the model's specs, one tensor per parameter. */
export function paramTensors(specs: readonly ParamSpec[], flat: Float32Array, prefix = ''): NamedTensor[] {
  let off = 0;
  return specs.map((s) => {
    const data = flat.subarray(off, off + s.size);
    off += s.size;
    return { name: `${prefix}${s.name}`, shape: s.shape, data };
  });
}

export function encodeParams(specs: readonly ParamSpec[], flat: Float32Array): Uint8Array {
  return encodeSafetensors(paramTensors(specs, flat));
}

export function encodeBatches(batches: readonly MlmBatch[]): Uint8Array {
  const first = batches[0];
  if (first === undefined) throw new RangeError('no batches');
  const { batchSize: B, seqLength: T } = first;
  const bad = batches.findIndex((b) => b.batchSize !== B || b.seqLength !== T);
  if (bad >= 0) throw new RangeError(`batch ${bad} is ${batches[bad]!.batchSize}×${batches[bad]!.seqLength}, batch 0 is ${B}×${T}`);
  const cat = (k: 'inputIds' | 'attentionMask' | 'labels'): Int32Array => {
    const out = new Int32Array(batches.length * B * T);
    batches.forEach((b, i) => out.set(b[k], i * B * T));
    return out;
  };
  const shape = [batches.length * B, T];
  return encodeSafetensors([
    { name: 'input_ids', shape, data: cat('inputIds') },
    { name: 'attention_mask', shape, data: cat('attentionMask') },
    { name: 'labels', shape, data: cat('labels') },
    { name: 'batch_size', shape: [1], data: Int32Array.of(B) },
  ]);
}

/** Tensors `<prefix><name>` of a file, as float32, for the given names; throws naming a missing one. */
export function readPrefixed(bytes: Uint8Array, prefix: string, names: readonly string[]): Map<string, Float32Array> {
  const { tensors } = decodeSafetensors(bytes);
  const out = new Map<string, Float32Array>();
  for (const n of names) {
    const t = tensors.get(`${prefix}${n}`);
    if (t === undefined || !(t.data instanceof Float32Array)) throw new Error(`PyTorch output has no float32 tensor ${prefix}${n}`);
    out.set(n, t.data);
  }
  return out;
}
