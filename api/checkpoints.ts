/**
 * How big a swarm's checkpoints are, so that the operator can tell whether
 * they fit the NATS JetStream store before a write fails. The numbers come
 * from the trainer: parameter counts of its model presets (trainer-image/src/
 * model/config.ts parameterCount, with each preset's own vocabulary: 2048 for
 * tiny, 30000 for the others; a real tokenizer's vocabulary shifts them a
 * little), the state blob's layout (trainer-image/src/state/blob.ts) and the
 * checkpoints the writer keeps. A trainer unit test keeps them equal.
 */
import type { AveragingMode, ModelPreset } from './trainingswarm.ts';

export const PRESET_PARAMETERS: Readonly<Record<ModelPreset, number>> = Object.freeze({
  tiny: 307_328,
  base: 13_421_104,
  large: 20_799_024,
  xlarge: 272_911_920,
});

/** Checkpoints the writer keeps in the object store; the next one is written before the oldest is deleted. */
export const CHECKPOINTS_KEPT = 3;

/** The state blob's fixed header. */
export const STATE_HEADER_BYTES = 64;

/** float32 arrays in a checkpoint: params and LAMB's two moments (gradient), or params and the outer momentum (diloco). */
export const STATE_ARRAYS: Readonly<Record<AveragingMode, number>> = Object.freeze({ gradient: 3, diloco: 2 });

/** Bytes of one checkpoint. */
export function checkpointBytes(size: ModelPreset, mode: AveragingMode): number {
  return STATE_HEADER_BYTES + STATE_ARRAYS[mode] * PRESET_PARAMETERS[size] * 4;
}

/** Most bytes a swarm's checkpoints hold in the store at once: the kept ones and the one being written. */
export function checkpointStoreBytes(size: ModelPreset, mode: AveragingMode): number {
  return (CHECKPOINTS_KEPT + 1) * checkpointBytes(size, mode);
}
