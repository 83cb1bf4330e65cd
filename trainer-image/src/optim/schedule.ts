/**
 * Learning rate as a function of the GLOBAL epoch (the swarm's optimizer
 * step count), so that every peer, whenever it joined, uses the same rate
 * for the same step: linear warm-up over `warmupEpochs`, then a linear (the
 * `get_linear_schedule_with_warmup` RuLeanALBERT trains with) or cosine
 * decay to 0 at `totalEpochs`; constant after warm-up when there is no total.
 */

export interface ScheduleOptions {
  /** Peak learning rate (spec.training.optimizer.learningRate). */
  learningRate: number;
  /** @default 0 */
  warmupEpochs?: number;
  /** Decay reaches 0 here; undefined = no decay. */
  totalEpochs?: number | undefined;
  /** @default 'linear' */
  decay?: 'linear' | 'cosine';
}

/** The learning rate for the step taken at the end of `epoch` (0-based). */
export function learningRateAt(epoch: number, o: ScheduleOptions): number {
  if (!Number.isInteger(epoch) || epoch < 0) throw new RangeError(`epoch must be an integer >= 0, got ${epoch}`);
  const lr = o.learningRate;
  const warmup = o.warmupEpochs ?? 0;
  // Step k = epoch + 1 of warm-up has rate lr·k/warmup: never 0, reaches lr at the end of warm-up.
  if (epoch < warmup) return (lr * (epoch + 1)) / warmup;
  const total = o.totalEpochs;
  if (total === undefined) return lr;
  if (epoch >= total) return 0;
  const progress = (epoch - warmup) / Math.max(1, total - warmup); // 0 at the end of warm-up, → 1 at total
  if ((o.decay ?? 'linear') === 'cosine') return lr * 0.5 * (1 + Math.cos(Math.PI * progress));
  return lr * (1 - progress);
}
