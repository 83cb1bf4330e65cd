/**
 * The bench's real text: the README and other Markdown documentation that
 * `npm ci` installs under node_modules, prose none of us wrote. Each file
 * becomes paragraphs (one document per line, the trainer's format) without
 * fenced code, HTML, tables, headings' marks, badges and link targets; files
 * are sorted by path and every `heldOutEvery`-th goes to the held-out part,
 * so no paragraph of a held-out file is trained on.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Paragraphs of prose in a Markdown file, one per element, whitespace collapsed. */
export function paragraphs(markdown: string, minWords = 6): string[] {
  const out: string[] = [];
  let cur: string[] = [];
  let fenced = false;
  const flush = (): void => {
    const text = cur.join(' ').replace(/\s+/g, ' ').trim();
    if (text.split(' ').filter((w) => /[a-z]/i.test(w)).length >= minWords) out.push(text);
    cur = [];
  };
  for (const raw of markdown.split(/\r?\n/)) {
    const line = raw.trim();
    if (/^(```|~~~)/.test(line)) {
      fenced = !fenced;
      flush();
      continue;
    }
    if (fenced) continue;
    if (line === '' || line.startsWith('|') || line.startsWith('<') || /^([-*_=]\s*){3,}$/.test(line) || raw.startsWith('    ')) {
      flush();
      continue;
    }
    const text = line
      .replace(/^#+\s*/, '')
      .replace(/^([-*+]|\d+\.)\s+/, '')
      .replace(/^>\s*/, '')
      .replace(/!\[[^\]]*\]\([^)]*\)/g, '') // images and badges
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1') // links keep their text
      .replace(/<[^>]+>/g, '')
      .replace(/[`*_]/g, '');
    if (/^#/.test(line)) {
      flush();
      cur.push(text);
      flush();
      continue;
    }
    cur.push(text);
  }
  flush();
  return out;
}

/** Markdown files under `root` (node_modules included, any depth), sorted by path. */
export async function markdownFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && /\.(md|markdown)$/i.test(e.name) && !/^(changelog|history|license)/i.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

export interface Corpus {
  trainPath: string;
  heldOutPath: string;
  files: { train: number; heldOut: number };
  bytes: { train: number; heldOut: number };
  paragraphs: { train: number; heldOut: number };
}

/** Writes train.txt and held-out.txt into `dir` from up to `maxBytes` of Markdown under `root`. */
export async function buildCorpus(root: string, dir: string, o: { heldOutEvery: number; maxBytes: number }): Promise<Corpus> {
  const parts = { train: [] as string[], heldOut: [] as string[] };
  const files = { train: 0, heldOut: 0 };
  let bytes = 0;
  let i = 0;
  for (const f of await markdownFiles(root)) {
    if (bytes >= o.maxBytes) break;
    const ps = paragraphs(await readFile(f, 'utf8'));
    if (ps.length === 0) continue;
    const side = i++ % o.heldOutEvery === o.heldOutEvery - 1 ? 'heldOut' : 'train';
    parts[side].push(...ps);
    files[side]++;
    bytes += ps.reduce((a, p) => a + Buffer.byteLength(p) + 1, 0);
  }
  const trainPath = join(dir, 'train.txt');
  const heldOutPath = join(dir, 'held-out.txt');
  await writeFile(trainPath, `${parts.train.join('\n')}\n`);
  await writeFile(heldOutPath, `${parts.heldOut.join('\n')}\n`);
  const size = (xs: string[]): number => xs.reduce((a, p) => a + Buffer.byteLength(p) + 1, 0);
  return { trainPath, heldOutPath, files, bytes: { train: size(parts.train), heldOut: size(parts.heldOut) }, paragraphs: { train: parts.train.length, heldOut: parts.heldOut.length } };
}
