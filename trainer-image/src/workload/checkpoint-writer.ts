/**
 * Checkpoints of the training workload: every checkpointEvery epochs (and
 * at stopAfter.epochs), one peer elected per epoch writes the state to the
 * swarm's NATS object store, in the background; one write at a time.
 */
import { errorMessage, type Logger } from '../common/index.ts';
import type { CheckpointStore } from '../state/index.ts';

export interface CheckpointWriterOptions {
  store: CheckpointStore;
  peerId: string;
  every: number;
  stopAfterEpochs: number | undefined;
  log: Logger;
  now: () => number;
  /** A checkpoint was written (its name). */
  written: (name: string) => void;
}

export class CheckpointWriter {
  readonly #o: CheckpointWriterOptions;
  #writing: Promise<void> | undefined;

  constructor(o: CheckpointWriterOptions) {
    this.#o = o;
  }

  /** The write under way, if any. */
  get writing(): Promise<void> | undefined {
    return this.#writing;
  }

  /**
   * After the step to `epoch`: writes its checkpoint when one is due and this peer wins the election. `encode` runs now,
   * so the blob is exactly state(epoch); `data` (the swarm's data position) too.
   */
  maybeWrite(epoch: number, encode: () => Uint8Array, data: () => string | undefined): void {
    const o = this.#o;
    if (epoch === 0 || (epoch % o.every !== 0 && epoch !== o.stopAfterEpochs) || this.#writing) return;
    const blob = encode();
    const position = data();
    this.#writing = (async () => {
      try {
        if (!(await o.store.elect(epoch, o.peerId))) return;
        const t0 = o.now();
        const info = await o.store.write(epoch, blob, o.peerId, position);
        o.log.info('checkpoint written', { checkpoint: info.name, epoch, bytes: info.size, ms: o.now() - t0 });
        o.written(info.name);
      } catch (err) {
        o.log.warn('could not write a checkpoint', { epoch, error: errorMessage(err) });
      }
    })().finally(() => (this.#writing = undefined));
  }
}
