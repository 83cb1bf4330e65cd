/**
 * How two float vectors are compared (the project's against PyTorch's),
 * accumulated in float64:
 *  - relDiff(a, b)  = |a − b| / |b| for scalars (the loss);
 *  - cosine(a, b)   = a·b / (‖a‖‖b‖); 1 when both are all zeros (a
 *    parameter no token reaches has a zero gradient on both sides);
 *  - relL2(a, b)    = ‖a − b‖ / ‖b‖ (0 when both are zero);
 *  - maxRel(a, b)   = max |aᵢ − bᵢ| / max |bᵢ|: the worst element's error
 *    on the tensor's own scale (an element-wise ratio would divide by
 *    gradients that are zero up to rounding).
 */

export interface VectorComparison {
  cosine: number;
  relL2: number;
  maxRel: number;
  /** max |aᵢ − bᵢ| */
  maxAbs: number;
}

export function relDiff(a: number, b: number): number {
  return a === b ? 0 : Math.abs(a - b) / Math.abs(b);
}

export function compareVectors(a: ArrayLike<number>, b: ArrayLike<number>): VectorComparison {
  if (a.length !== b.length) throw new RangeError(`lengths differ: ${a.length} and ${b.length}`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  let nd = 0;
  let maxAbs = 0;
  let maxB = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    dot += x * y;
    na += x * x;
    nb += y * y;
    const d = x - y;
    nd += d * d;
    maxAbs = Math.max(maxAbs, Math.abs(d));
    maxB = Math.max(maxB, Math.abs(y));
  }
  const bothZero = na === 0 && nb === 0;
  return {
    cosine: bothZero ? 1 : dot / Math.sqrt(na * nb),
    relL2: nd === 0 ? 0 : Math.sqrt(nd / nb),
    maxRel: maxAbs === 0 ? 0 : maxAbs / maxB,
    maxAbs,
  };
}

/** Per-name comparisons and their worst values. */
export function compareAll(names: readonly string[], a: (name: string) => ArrayLike<number>, b: (name: string) => ArrayLike<number>): {
  byName: Record<string, VectorComparison>;
  worst: { cosine: number; cosineOf: string; maxRel: number; maxRelOf: string; relL2: number; relL2Of: string };
} {
  const byName: Record<string, VectorComparison> = {};
  const worst = { cosine: Infinity, cosineOf: '', maxRel: -Infinity, maxRelOf: '', relL2: -Infinity, relL2Of: '' };
  for (const n of names) {
    const c = compareVectors(a(n), b(n));
    byName[n] = c;
    if (c.cosine < worst.cosine) Object.assign(worst, { cosine: c.cosine, cosineOf: n });
    if (c.maxRel > worst.maxRel) Object.assign(worst, { maxRel: c.maxRel, maxRelOf: n });
    if (c.relL2 > worst.relL2) Object.assign(worst, { relL2: c.relL2, relL2Of: n });
  }
  return { byName, worst };
}
