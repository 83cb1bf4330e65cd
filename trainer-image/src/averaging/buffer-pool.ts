/**
 * Reducers' float64 sums, reused across rounds. A 64 MiB vector's shard sum
 * is tens of MiB; allocating it afresh every round costs the kernel's page
 * zeroing and first-touch faults on every page, and the garbage collector a
 * large external buffer per round. A buffer handed out is not zeroed: its
 * user (ShardAccumulator) writes each element before it reads it.
 */

/** Idle buffers kept: a round reduces its own shard and, on failover, a backup's. */
const MAX_IDLE = 2;

export class Float64Pool {
  readonly #idle: Float64Array[] = [];

  /** A buffer of exactly `length` elements (a view of a pooled one when one is large enough), with arbitrary contents. */
  take(length: number): Float64Array {
    let best = -1;
    for (let i = 0; i < this.#idle.length; i++) {
      const b = this.#idle[i]!;
      // not more than twice the need: a small round must not pin a large buffer's worth
      if (b.length >= length && b.length <= 2 * length && (best < 0 || b.length < this.#idle[best]!.length)) best = i;
    }
    if (best < 0) return new Float64Array(length);
    const [b] = this.#idle.splice(best, 1);
    return b!.subarray(0, length);
  }

  /** Return a buffer from `take`; it must not be used afterwards. */
  give(buf: Float64Array): void {
    if (buf.buffer.byteLength === 0 || this.#idle.some((b) => b.buffer === buf.buffer)) return;
    const whole = new Float64Array(buf.buffer);
    this.#idle.push(whole);
    // keep the largest ones
    if (this.#idle.length > MAX_IDLE) this.#idle.sort((a, b) => b.length - a.length).length = MAX_IDLE;
  }
}
