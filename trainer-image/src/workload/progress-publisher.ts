/**
 * Publishes this peer's progress (epoch, samples, samples/s) in its
 * membership record: when it changed, and at most every `gapMs` unless
 * forced. Both workloads use it; the round's leader weighs each member by
 * the samples it last saw.
 */
import type { LocalProgress, Swarm } from '../swarm/index.ts';

export interface ProgressPublisherOptions {
  swarm: Swarm;
  /** This peer's progress as of now. */
  local: () => LocalProgress;
  /** Shortest gap between two writes that are not forced. */
  gapMs: number;
  /** Compare samples/s rounded: a rate that moves with every micro-batch is not worth a write by itself. */
  roundRate: boolean;
  now: () => number;
}

export class ProgressPublisher {
  readonly #o: ProgressPublisherOptions;
  #lastPublish = 0;
  #lastPublished = '';

  constructor(o: ProgressPublisherOptions) {
    this.#o = o;
  }

  /** Publishes the record when it changed, at most every gapMs unless `force`. */
  publish(force: boolean): void {
    const l = this.#o.local();
    this.#o.swarm.setLocal(l);
    const key = `${l.epoch}/${l.samples}/${this.#o.roundRate ? Math.round(l.samplesPerSecond) : l.samplesPerSecond}`;
    const now = this.#o.now();
    if (key === this.#lastPublished) return;
    if (!force && now - this.#lastPublish < this.#o.gapMs) return;
    this.#lastPublished = key;
    this.#lastPublish = now;
    void this.#o.swarm.publish();
  }
}
