/**
 * Where the frames of a zstd stream end. Node 22.23's zstd decoder
 * (node:zlib) ends without an error on a stream cut inside a frame (fixed
 * upstream in nodejs/node pull request 64593), and stops after the first of
 * several concatenated frames (measured: `zstdDecompressSync` of two frames
 * returns the first one's text). So the reader walks the frame and block
 * headers of the compressed bytes as they pass (RFC 8878, sections 3.1.1 and
 * 3.1.2; no data is decoded here), gives each frame to its own decoder, and
 * reports a stream that ends inside a frame, or holds none.
 */

const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

type Step = 'magic' | 'skippableSize' | 'descriptor' | 'header' | 'block' | 'checksum';

export class ZstdFrameTracker {
  #step: Step = 'magic';
  /** Bytes the current step needs. */
  #need = 4;
  /** Header bytes collected for the current step. */
  #got: number[] = [];
  /** Bytes to pass over (block contents, skippable frames). */
  #skip = 0;
  #checksum = false;
  #frames = 0;
  /** A frame's headers are all read; it ends once its last bytes are passed over. */
  #ending = false;
  /** Set when the bytes are not zstd frames: the decoder reports that, so the tracker stops judging. */
  #unknown = false;

  /** Follows `chunk`; returns the offsets in it just after each frame that ends in it. */
  feed(chunk: Uint8Array): number[] {
    const ends: number[] = [];
    let i = 0;
    while (i < chunk.length && !this.#unknown) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - i);
        this.#skip -= n;
        i += n;
      } else {
        while (this.#got.length < this.#need && i < chunk.length) this.#got.push(chunk[i++]!);
        if (this.#got.length === this.#need) this.#advance();
      }
      if (this.#ending && this.#skip === 0) {
        ends.push(i);
        this.#ending = false;
      }
    }
    return ends;
  }

  /** True when the bytes fed so far are one or more whole frames. */
  complete(): boolean {
    return this.#unknown || (this.#frames > 0 && this.#step === 'magic' && this.#got.length === 0 && this.#skip === 0);
  }

  #to(step: Step, need: number): void {
    this.#step = step;
    this.#need = need;
    this.#got = [];
  }

  #frameRead(): void {
    this.#frames++;
    this.#ending = true;
    this.#to('magic', 4);
  }

  #advance(): void {
    const b = this.#got;
    const u32 = (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
    switch (this.#step) {
      case 'magic':
        if (u32 === ZSTD_MAGIC) return this.#to('descriptor', 1);
        if ((u32 & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) return this.#to('skippableSize', 4);
        this.#unknown = true;
        return;
      case 'skippableSize':
        this.#skip = u32;
        this.#frames++;
        this.#ending = true;
        return this.#to('magic', 4);
      case 'descriptor': {
        const d = b[0]!;
        const fcsFlag = d >> 6;
        const singleSegment = (d >> 5) & 1;
        this.#checksum = ((d >> 2) & 1) === 1;
        const headerBytes = (singleSegment ? 0 : 1) + [0, 1, 2, 4][d & 3]! + [singleSegment, 2, 4, 8][fcsFlag]!;
        return headerBytes === 0 ? this.#to('block', 3) : this.#to('header', headerBytes);
      }
      case 'header':
        return this.#to('block', 3);
      case 'block': {
        const h = b[0]! | (b[1]! << 8) | (b[2]! << 16);
        const type = (h >> 1) & 3;
        if (type === 3) {
          this.#unknown = true; // reserved block type: the decoder rejects it
          return;
        }
        this.#skip = type === 1 ? 1 : h >>> 3;
        if ((h & 1) === 0) return this.#to('block', 3);
        if (this.#checksum) return this.#to('checksum', 4);
        return this.#frameRead();
      }
      case 'checksum':
        return this.#frameRead();
    }
  }
}
