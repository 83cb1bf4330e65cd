/** The pure arithmetic of the loss curves: samples behind an epoch's parameters, and a curve's loss at a sample count. */

export interface CurvePoint { epoch: number; samples: number; evalLoss: number }

/** Samples the swarm had averaged into its parameters when it reached `epoch` (stepSamples: samples of the step of each epoch). */
export function samplesAt(stepSamples: ReadonlyMap<number, number>, epoch: number): number {
  let n = 0;
  for (const [e, s] of stepSamples) if (e < epoch) n += s;
  return n;
}

/** Linear interpolation of a curve's loss at `samples` (clamped to its ends). */
export function lossAt(curve: readonly CurvePoint[], samples: number): number {
  const c = [...curve].sort((a, b) => a.samples - b.samples);
  if (samples <= c[0]!.samples) return c[0]!.evalLoss;
  for (let i = 1; i < c.length; i++) {
    const a = c[i - 1]!;
    const b = c[i]!;
    if (samples <= b.samples) return a.evalLoss + ((b.evalLoss - a.evalLoss) * (samples - a.samples)) / (b.samples - a.samples);
  }
  return c[c.length - 1]!.evalLoss;
}
