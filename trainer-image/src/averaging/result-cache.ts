/**
 * The broadcast's cache of encoded result chunks (broadcast.ts): a chunk the
 * first writer computed is kept for the writers that still need it, up to a
 * byte budget. A writer that finds its chunk gone recomputes it (same bytes:
 * the computation is deterministic), so the budget bounds memory, not speed.
 */

/** Encoded result chunks a reducer keeps for members that lag behind the fastest one (they recompute beyond it). */
export const RESULT_CACHE_BYTES = 32 * 1024 * 1024;

/** One result chunk on the wire: its signed head and its payload. */
export interface EncodedChunk {
  head: Uint8Array;
  payload: Uint8Array;
}

export class ResultCache {
  readonly #limit: number;
  /** Chunk index -> the chunk and how many writers still need it. */
  readonly #entries = new Map<number, EncodedChunk & { pending: number }>();
  #bytes = 0;

  constructor(limit = RESULT_CACHE_BYTES) {
    this.#limit = limit;
  }

  /** Payload bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Chunk `i` if it is held, counting one of its writers off (the last one frees it). */
  take(i: number): EncodedChunk | undefined {
    const hit = this.#entries.get(i);
    if (hit && --hit.pending <= 0) this.#delete(i, hit);
    return hit;
  }

  /** Hold a freshly computed chunk `i` for `pending` more writers, if any and it fits the budget. */
  keep(i: number, chunk: EncodedChunk, pending: number): void {
    if (pending > 0 && this.#bytes + chunk.payload.byteLength <= this.#limit) {
      this.#entries.set(i, { ...chunk, pending });
      this.#bytes += chunk.payload.byteLength;
    }
  }

  /** A writer at chunk `pos` gave up: it no longer needs chunks `pos` and beyond. */
  release(pos: number): void {
    for (const [i, e] of this.#entries) {
      if (i >= pos && --e.pending <= 0) this.#delete(i, e);
    }
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  #delete(i: number, e: EncodedChunk): void {
    this.#entries.delete(i);
    this.#bytes -= e.payload.byteLength;
  }
}
