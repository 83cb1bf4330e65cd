/**
 * The Dockerfiles match the repo's layout: every path they COPY from the
 * build context exists and is let through by .dockerignore, and the
 * entrypoint is a file the image holds. (Building them needs a builder: see
 * images.int.test.ts and docs/releasing.md.)
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IMAGES } from './images-plan.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const allowed = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').filter((l) => l.startsWith('!')).map((l) => l.slice(1));

describe.each(IMAGES.map((i) => [i.dockerfile]))('%s', (dockerfile) => {
  const text = readFileSync(join(root, dockerfile), 'utf8');
  /** COPY lines from the build context: their sources and destination. */
  const copies = text.split('\n').filter((l) => /^COPY\s/.test(l) && !l.includes('--from=')).map((l) => {
    const parts = l.trim().split(/\s+/);
    return { sources: parts.slice(1, -1), to: parts.at(-1)! };
  });

  it('copies only paths that exist and that .dockerignore lets through', () => {
    expect(copies.length).toBeGreaterThan(0);
    for (const src of copies.flatMap((c) => c.sources)) {
      expect([src, existsSync(join(root, src))]).toEqual([src, true]);
      expect([src, allowed.includes(src)]).toEqual([src, true]);
    }
  });

  it('installs with npm ci from the lockfile, without devDependencies, and runs as a non-root user', () => {
    expect(text).toMatch(/npm ci --omit=dev/);
    expect(text).toMatch(/^USER 65532:65532$/m);
  });

  it('starts a .ts entrypoint under /app that the image holds, with Node', () => {
    const entry = JSON.parse(/^ENTRYPOINT (.*)$/m.exec(text)![1]!) as string[];
    expect(entry[0]).toBe('node');
    const file = entry[1]!;
    expect(file).toMatch(/^\/app\/.*\.ts$/);
    const rel = file.slice('/app/'.length);
    expect(existsSync(join(root, rel))).toBe(true);
    // The file's folder was copied to the same place under /app (WORKDIR /app).
    expect(copies.some((c) => c.sources.some((src) => rel.startsWith(`${src}/`) && `./${src}` === c.to))).toBe(true);
  });
});
