/** Rounding and percentiles of what the bench measured. */

export const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;

/** p in [0, 1] of a list of numbers (nearest rank), or null when empty. */
export function percentile(xs: number[], p: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
}
