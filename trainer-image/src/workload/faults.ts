/**
 * Fault injection for tests (pure): what a Byzantine peer does to every
 * gradient it sends (SPOTSWARM_FAULT_BYZANTINE). The tampering is
 * deterministic per epoch, so a failing test can be replayed.
 */

export type ByzantineFault =
  /** multiply the gradient by `factor` (a huge or sign-flipped gradient) */
  | { kind: 'scale'; factor: number }
  /** replace it by Gaussian noise with standard deviation `std` */
  | { kind: 'random'; std: number }
  /** fill it with NaN */
  | { kind: 'nan' };

/** The faults a test injects into a training peer (SPOTSWARM_FAULT_*). */
export interface TrainingFaults {
  /** Epochs at which this peer sends a NaN gradient to its group (must be rejected). */
  nanGradientEpochs: readonly number[];
  /** Tamper with every gradient (and parameter vector) this peer sends (tests of robust aggregation). */
  byzantine: ByzantineFault | undefined;
  /** Tamper with every shard result this peer reduces (tests of verifyReducers). */
  byzantineResults: ByzantineFault | undefined;
}

/** Parses "scale:<factor>", "random:<std>" or "nan"; throws a RangeError saying what is accepted. */
export function parseByzantineFault(text: string): ByzantineFault {
  const [kind, arg, ...rest] = text.trim().split(':');
  const num = Number(arg);
  if (kind === 'nan' && arg === undefined) return { kind: 'nan' };
  if (kind === 'scale' && rest.length === 0 && arg !== '' && Number.isFinite(num) && num !== 0) return { kind: 'scale', factor: num };
  if (kind === 'random' && rest.length === 0 && arg !== '' && Number.isFinite(num) && num > 0) return { kind: 'random', std: num };
  throw new RangeError(`must be scale:<non-zero factor>, random:<std > 0> or nan, got ${JSON.stringify(text)}`);
}

/** Tamper with the outgoing vector `v` of epoch `epoch` in place. */
export function applyByzantineFault(fault: ByzantineFault, v: Float32Array, epoch: number): void {
  if (fault.kind === 'nan') {
    v.fill(NaN);
    return;
  }
  if (fault.kind === 'scale') {
    for (let i = 0; i < v.length; i++) v[i]! *= fault.factor;
    return;
  }
  // Box–Muller over a 32-bit LCG seeded by the epoch
  let s = (epoch * 2654435761 + 1) >>> 0;
  const uniform = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 1) / 2 ** 32; // (0, 1]
  };
  for (let i = 0; i < v.length; i += 2) {
    const r = fault.std * Math.sqrt(-2 * Math.log(uniform()));
    const t = 2 * Math.PI * uniform();
    v[i] = r * Math.cos(t);
    if (i + 1 < v.length) v[i + 1] = r * Math.sin(t);
  }
}
