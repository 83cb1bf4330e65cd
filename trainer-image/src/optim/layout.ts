/**
 * The flat parameter vector's layout, as the optimizers see it: one segment
 * per parameter tensor (LAMB's trust ratio is per segment), in the model's
 * stable order, with the weight-decay rule applied once.
 */

export interface ParamSegment {
  name: string;
  /** First element in the flat vector. */
  offset: number;
  size: number;
  /** Whether decoupled weight decay applies (not to biases and LayerNorm gains/shifts). */
  decay: boolean;
}

/**
 * No weight decay on biases and LayerNorm parameters: BERT/ALBERT's
 * `no_decay = ["bias", "LayerNorm.weight"]`, which RuLeanALBERT keeps.
 */
export function decays(name: string): boolean {
  return !(/(^|\.)bias$/.test(name) || /layer_?norm/i.test(name) || /(^|\.)(gamma|beta)$/.test(name));
}

/** Segments of parameters given in flat order (e.g. `model.params`). */
export function segmentsOf(params: readonly { name: string; size: number }[]): ParamSegment[] {
  let offset = 0;
  return params.map((p) => {
    if (!Number.isInteger(p.size) || p.size < 0) throw new RangeError(`parameter ${p.name}: bad size ${p.size}`);
    const s: ParamSegment = { name: p.name, offset, size: p.size, decay: decays(p.name) };
    offset += p.size;
    return s;
  });
}

/** Total elements covered by the segments; throws if they are not contiguous from 0. */
export function layoutSize(segments: readonly ParamSegment[]): number {
  let n = 0;
  for (const s of segments) {
    if (s.offset !== n) throw new RangeError(`segment ${s.name} starts at ${s.offset}, expected ${n}`);
    n += s.size;
  }
  return n;
}
