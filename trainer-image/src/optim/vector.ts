/** Small float-vector helpers shared by the optimizers (float64 accumulation, in order: deterministic on every peer). */

/** Euclidean norm of v[offset, offset + size). */
export function norm(v: Float32Array, offset = 0, size = v.length - offset): number {
  let s = 0;
  for (let i = offset, end = offset + size; i < end; i++) {
    const x = v[i]!;
    s += x * x;
  }
  return Math.sqrt(s);
}

/**
 * Scales `grad` in place so that its global norm is at most `maxNorm`
 * (torch.nn.utils.clip_grad_norm_). Returns the norm before clipping and the
 * factor applied (1 when nothing was clipped).
 */
export function clipByGlobalNorm(grad: Float32Array, maxNorm: number): { norm: number; scale: number } {
  if (!(maxNorm > 0)) throw new RangeError(`maxNorm must be > 0, got ${maxNorm}`);
  const n = norm(grad);
  if (!(n > maxNorm)) return { norm: n, scale: 1 };
  const scale = maxNorm / (n + 1e-6);
  for (let i = 0; i < grad.length; i++) grad[i] = grad[i]! * scale;
  return { norm: n, scale };
}
