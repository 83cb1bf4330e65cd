/** The operator sizes checkpoints from api/checkpoints.ts; these are the trainer's real numbers it must match. */
import { describe, expect, it } from '@jest/globals';
import { checkpointBytes, CHECKPOINTS_KEPT, MODEL_SIZES, PRESET_PARAMETERS } from '../../../api/index.ts';
import { MODEL_PRESETS, parameterCount } from '../model/config.ts';
import { encodeState } from './blob.ts';
import { DEFAULT_CHECKPOINTS_KEPT } from './constants.ts';

describe("api/checkpoints.ts against the trainer", () => {
  it.each(MODEL_SIZES)('has the parameter count of preset %s', (size) => {
    expect(PRESET_PARAMETERS[size]).toBe(parameterCount(MODEL_PRESETS[size]));
  });
  it('keeps as many checkpoints as the writer', () => {
    expect(CHECKPOINTS_KEPT).toBe(DEFAULT_CHECKPOINTS_KEPT);
  });
  it('sizes a checkpoint as the encoded state blob of each mode', () => {
    const n = PRESET_PARAMETERS.tiny;
    const f = () => new Float32Array(n);
    const fp = 'a'.repeat(64);
    expect(encodeState({ epoch: 1, mode: 'gradient', params: f(), moments: { step: 1, m: f(), v: f() } }, fp).length).toBe(checkpointBytes('tiny', 'gradient'));
    expect(encodeState({ epoch: 1, mode: 'diloco', params: f(), outerMomentum: f() }, fp).length).toBe(checkpointBytes('tiny', 'diloco'));
  });
});
