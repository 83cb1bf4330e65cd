/** Index of the first NaN or ±Infinity in `values`, or -1. */
export function firstNonFinite(values: Float32Array): number {
  // x − x is 0 for finite x and NaN otherwise (NaN − NaN, ∞ − ∞): one subtraction and one comparison per element.
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v - v !== 0) return i;
  }
  return -1;
}
