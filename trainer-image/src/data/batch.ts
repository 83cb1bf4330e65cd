/** The masked-language-model batch: what the data layer produces and the model consumes. */
import * as tf from '@tensorflow/tfjs';

/** Label of a position that is not predicted (PyTorch's ignore_index). */
export const IGNORE_INDEX = -100;

/**
 * B sequences of T token ids, row-major ([b·T + t]). Host arrays, so a batch
 * can be built, inspected and sent without tensor lifetimes; `batchTensors`
 * turns it into int32 tensors.
 */
export interface MlmBatch {
  batchSize: number;
  seqLength: number;
  /** Token ids after masking ([MASK] / random / unchanged). */
  inputIds: Int32Array;
  /** 1 for a real token (including [CLS]/[SEP]), 0 for padding. */
  attentionMask: Int32Array;
  /** The original id at predicted positions, IGNORE_INDEX elsewhere. */
  labels: Int32Array;
}

/** Number of predicted positions (labels ≠ IGNORE_INDEX). */
export function maskedCount(b: MlmBatch): number {
  let n = 0;
  for (const l of b.labels) if (l !== IGNORE_INDEX) n++;
  return n;
}

/** Checks shapes and id ranges; throws an Error naming the field. */
export function validateBatch(b: MlmBatch, vocabSize: number): void {
  const n = b.batchSize * b.seqLength;
  if (!Number.isInteger(b.batchSize) || b.batchSize < 1) throw new Error(`batch.batchSize: ${b.batchSize}`);
  if (!Number.isInteger(b.seqLength) || b.seqLength < 1) throw new Error(`batch.seqLength: ${b.seqLength}`);
  for (const [name, arr] of [['inputIds', b.inputIds], ['attentionMask', b.attentionMask], ['labels', b.labels]] as const) {
    if (arr.length !== n) throw new Error(`batch.${name}: length ${arr.length}, expected ${n}`);
  }
  for (let i = 0; i < n; i++) {
    const id = b.inputIds[i]!;
    if (id < 0 || id >= vocabSize) throw new Error(`batch.inputIds[${i}]: ${id} outside [0, ${vocabSize})`);
    const l = b.labels[i]!;
    if (l !== IGNORE_INDEX && (l < 0 || l >= vocabSize)) throw new Error(`batch.labels[${i}]: ${l} outside [0, ${vocabSize})`);
  }
}

/** The batch as int32 tensors [B, T]; the caller disposes them. */
export function batchTensors(b: MlmBatch): { inputIds: tf.Tensor2D; attentionMask: tf.Tensor2D; labels: tf.Tensor2D } {
  const shape: [number, number] = [b.batchSize, b.seqLength];
  return {
    inputIds: tf.tensor2d(b.inputIds.slice(), shape, 'int32'),
    attentionMask: tf.tensor2d(b.attentionMask.slice(), shape, 'int32'),
    labels: tf.tensor2d(b.labels.slice(), shape, 'int32'),
  };
}
