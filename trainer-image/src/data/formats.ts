/**
 * What a data file holds, from its name: `.gz` (gzip) or `.zst` (zstd)
 * compressed, and JSON Lines (`.jsonl`, `.ndjson`, also under `.gz`/`.zst`),
 * one JSON object per line whose `text` field is the document. Anything else
 * is plain text, one document per line.
 *
 * Decompression is node:zlib's (gunzip, including concatenated members, and
 * zstd, one decoder per frame: zstd-frames.ts); JSON is JSON.parse. A compressed file cannot be cut into byte
 * ranges: it is one unit, read from its start.
 */
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { ZstdFrameTracker } from './zstd-frames.ts';

export type Compression = 'gzip' | 'zstd';

export interface FileFormat {
  compression: Compression | undefined;
  /** One JSON object per line, the document in its `text` field. */
  jsonl: boolean;
}

/** The field of a JSON Lines record that holds the document. */
export const JSONL_TEXT_FIELD = 'text';

/** The format of the file at `url`, from its name (a query string or fragment is ignored). */
export function fileFormat(url: string): FileFormat {
  let name = url.replace(/[?#].*$/, '').toLowerCase();
  let compression: Compression | undefined;
  if (name.endsWith('.gz')) compression = 'gzip';
  else if (name.endsWith('.zst')) compression = 'zstd';
  if (compression !== undefined) name = name.slice(0, name.lastIndexOf('.'));
  return { compression, jsonl: name.endsWith('.jsonl') || name.endsWith('.ndjson') };
}

/** Whether the file at `url` must be read whole, from its start (it cannot be cut into byte ranges). */
export function isWholeFile(url: string): boolean {
  return fileFormat(url).compression !== undefined;
}

/**
 * The decompressed bytes of `chunks`. A truncated or corrupt stream throws
 * zlib's error (for example "unexpected end of file"; for zstd, the frame
 * check of zstd-frames.ts) after the bytes that could be decompressed.
 * Concatenated gzip members and zstd frames are read one after another.
 */
export async function* decompressed(chunks: AsyncIterable<Uint8Array>, compression: Compression): AsyncGenerator<Uint8Array> {
  if (compression === 'gzip') return yield* inflated(chunks, createGunzip());
  const frames = new ZstdFrameTracker();
  const pieces = framePieces(chunks, frames)[Symbol.asyncIterator]();
  let more = true;
  async function* frame(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const r = await pieces.next();
      if (r.done === true) {
        more = false;
        return;
      }
      if (r.value === FRAME_END) return;
      yield r.value;
    }
  }
  while (more) yield* inflated(frame(), createZstdDecompress());
  if (!frames.complete()) throw new Error('unexpected end of file (the zstd stream ends inside a frame)');
}

/** The bytes of `chunks` through one decoder. */
async function* inflated(chunks: AsyncIterable<Uint8Array>, inflate: Transform): AsyncGenerator<Uint8Array> {
  const feeding = pipeline(Readable.from(chunks), inflate);
  feeding.catch(() => {}); // its error also destroys `inflate`, which the loop below throws
  try {
    for await (const c of inflate) yield c as Buffer;
    await feeding;
  } finally {
    inflate.destroy();
  }
}

const FRAME_END = Symbol('zstd frame end');

/** `chunks` cut at the ends of zstd frames, each end marked by FRAME_END. */
async function* framePieces(chunks: AsyncIterable<Uint8Array>, frames: ZstdFrameTracker): AsyncGenerator<Uint8Array | typeof FRAME_END> {
  for await (const c of chunks) {
    let from = 0;
    for (const end of frames.feed(c)) {
      if (end > from) yield c.subarray(from, end);
      yield FRAME_END;
      from = end;
    }
    if (from < c.length) yield c.subarray(from);
  }
}

/**
 * The document of one JSON Lines line: its text field. A blank line is kept
 * blank (dropped later, like blank text lines). Throws an Error saying what
 * is wrong with the line; the caller names the unit and the line.
 */
export function jsonlText(line: string, field: string = JSONL_TEXT_FIELD): string {
  if (line.trim() === '') return '';
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    throw new Error(`not JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`not a JSON object`);
  const text = (v as Record<string, unknown>)[field];
  if (typeof text !== 'string') throw new Error(`no string field "${field}"`);
  return text;
}
