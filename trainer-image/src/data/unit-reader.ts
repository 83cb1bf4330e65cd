/**
 * The documents of one data unit (units.ts): the lines of a whole file, or
 * the lines that start inside a byte range of it. Local files (absolute path
 * or file://) are read from the range's offset; http(s) with a Range request
 * (a server that ignores it sends the whole body, which is skipped up to the
 * range). A compressed file (formats.ts) is one unit, decompressed as it is
 * read; a JSON Lines file yields the text field of each line.
 *
 * Lines are checked as they are read: they must be UTF-8 and at most
 * MAX_LINE_BYTES long (in a compressed file, offsets count decompressed
 * bytes); a JSON Lines line must be an object with the text field. A unit
 * that breaks any of these, is a truncated or corrupt compressed stream, or
 * cannot be opened, throws a DataUnitError naming the unit and the byte or
 * line.
 */
import { createReadStream } from 'node:fs';
import { errorMessage } from '../common/index.ts';
import { type Compression, decompressed, fileFormat, jsonlText } from './formats.ts';
import { sourceKind, type ReadOptions } from './source.ts';
import { type Unit, unitName } from './units.ts';

/** Longest line (document) accepted: 8 MiB, far above any document a 2,048-token model sees, far below what would exhaust a pod's memory. */
export const MAX_LINE_BYTES = 8 * 1024 * 1024;

/** A unit that cannot be read: the message names it (URL and byte range) and says why. */
export class DataUnitError extends Error {
  readonly code = 'ERR_DATA_UNIT';
  readonly unit: string;
  constructor(unit: Unit, message: string) {
    super(`data unit ${unitName(unit)}: ${message}`);
    this.name = 'DataUnitError';
    this.unit = unitName(unit);
  }
}

const NL = 0x0a;

/**
 * The lines starting in [unit.start, unit.end) of a byte stream that begins
 * at offset `bodyStart` of the file. A range that does not start the file
 * begins after the first newline at or after start − 1 (the line before it
 * belongs to the previous range); `\r\n` endings are handled. The stream
 * must begin at start − 1 (or 0 for the first range).
 */
export async function* rangeLines(chunks: AsyncIterable<Uint8Array>, bodyStart: number, unit: Unit): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const end = unit.end ?? Infinity;
  let offset = bodyStart; // file offset of the next byte of `chunks`
  let lineStart = bodyStart; // file offset of the line being collected
  let skipping = unit.start > 0; // inside the line that belongs to the previous range
  let parts: Uint8Array[] = [];
  let partBytes = 0;
  const emit = (): string | undefined => {
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    parts = [];
    partBytes = 0;
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      throw new DataUnitError(unit, `not UTF-8 text (the line at byte ${lineStart})`);
    }
    return text.endsWith('\r') ? text.slice(0, -1) : text;
  };
  for await (const chunk of chunks) {
    let i = 0;
    while (i < chunk.length) {
      if (!skipping && lineStart >= end) return;
      const nl = chunk.indexOf(NL, i);
      const stop = nl < 0 ? chunk.length : nl;
      if (!skipping) {
        partBytes += stop - i;
        if (partBytes > MAX_LINE_BYTES) throw new DataUnitError(unit, `the line at byte ${lineStart} is longer than ${MAX_LINE_BYTES} bytes`);
        parts.push(chunk.subarray(i, stop));
      }
      if (nl < 0) break;
      if (skipping) skipping = false;
      else yield emit()!;
      lineStart = offset + nl + 1;
      i = nl + 1;
    }
    offset += chunk.length;
  }
  if (!skipping && partBytes > 0 && lineStart < end) yield emit()!;
}

async function* fileChunks(path: string, start: number, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  const stream = createReadStream(path, { start, highWaterMark: 256 * 1024, ...(signal ? { signal } : {}) });
  try {
    for await (const c of stream) yield c as Buffer;
  } finally {
    stream.destroy();
  }
}

/**
 * The body of `unit` from byte `from`, decompressed when `compression` is set. A server that sends the file with
 * `Content-Encoding: gzip` (or zstd), as object stores do for objects stored with that metadata, has it decoded by
 * fetch already.
 */
async function* httpChunks(unit: Unit, from: number, compression: Compression | undefined, opts: ReadOptions): AsyncGenerator<Uint8Array, void, undefined> {
  const headers: Record<string, string> = from > 0 ? { range: `bytes=${from}-` } : {};
  const res = await (opts.fetch ?? fetch)(unit.url, { headers, ...(opts.signal ? { signal: opts.signal } : {}) });
  if (!res.ok || res.body === null) {
    await res.body?.cancel().catch(() => {});
    throw new Error(`HTTP ${res.status} ${res.statusText}`);
  }
  const encoding = res.headers.get('content-encoding')?.toLowerCase() ?? '';
  if (compression !== undefined) yield* encoding.includes(compression) ? res.body : decompressed(res.body, compression);
  // 200 instead of 206: the server sent the whole body; rangeLines skips to the range.
  else if (res.status !== 206 && from > 0) yield* skipTo(res.body, from);
  else yield* res.body;
}

async function* skipTo(body: AsyncIterable<Uint8Array>, from: number): AsyncGenerator<Uint8Array> {
  let seen = 0;
  for await (const c of body) {
    if (seen + c.length > from) yield seen >= from ? c : c.subarray(from - seen);
    seen += c.length;
  }
}

/** The documents of `unit` (lines, or JSON Lines texts), blank ones included. Throws DataUnitError (naming the unit) when it cannot be read. */
export async function* unitLines(unit: Unit, opts: ReadOptions = {}): AsyncGenerator<string> {
  const format = fileFormat(unit.url);
  if (format.compression !== undefined && (unit.start > 0 || unit.end !== undefined)) throw new DataUnitError(unit, 'a compressed file cannot be read from a byte range');
  const from = Math.max(0, unit.start - 1);
  let chunks: AsyncIterable<Uint8Array>;
  switch (sourceKind(unit.url)) {
    case 'file':
      chunks = fileChunks(unit.url.startsWith('file://') ? new URL(unit.url).pathname : unit.url, from, opts.signal);
      if (format.compression !== undefined) chunks = decompressed(chunks, format.compression);
      break;
    case 'http':
      chunks = httpChunks(unit, from, format.compression, opts);
      break;
    case 'generated':
      throw new DataUnitError(unit, 'a generated corpus is endless and has no units');
  }
  try {
    if (!format.jsonl) return yield* rangeLines(chunks, from, unit);
    let n = 0;
    for await (const line of rangeLines(chunks, from, unit)) {
      n++;
      let text: string;
      try {
        text = jsonlText(line);
      } catch (e) {
        throw new DataUnitError(unit, `JSON Lines line ${n}${unit.start > 0 ? ' of the range' : ''}: ${errorMessage(e)}`);
      }
      yield text;
    }
  } catch (e) {
    if (e instanceof DataUnitError || opts.signal?.aborted) throw e;
    throw new DataUnitError(unit, errorMessage(e));
  }
}
