import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMPLETE_MARKER, ensureVenv, VenvError, venvKey } from './index.ts';

const dirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'venv-test-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('venvKey', () => {
  it('is 16 hex digits of the sha256 of the bytes: equal pins share a venv, a changed pin does not', () => {
    expect(venvKey('numpy==2.1.3\n')).toMatch(/^[0-9a-f]{16}$/);
    expect(venvKey('numpy==2.1.3\n')).toBe(venvKey(new TextEncoder().encode('numpy==2.1.3\n')));
    expect(venvKey('numpy==2.1.3\n')).not.toBe(venvKey('numpy==2.1.2\n'));
    // sha256("") starts with e3b0c44298fc1c14.
    expect(venvKey('')).toBe('e3b0c44298fc1c14');
  });
});

describe('ensureVenv', () => {
  it('builds a venv from a requirements file (nothing to install here), marks it finished, and reuses it on the next call', async () => {
    const root = await tmp();
    const reqs = join(root, 'requirements.txt');
    await writeFile(reqs, '# no packages: the venv and pip only\n');
    const lines: string[] = [];
    const first = await ensureVenv({ requirements: reqs, root, log: (l) => lines.push(l) });
    expect(first.created).toBe(true);
    expect(first.dir).toBe(join(root, venvKey('# no packages: the venv and pip only\n')));
    expect(existsSync(first.python)).toBe(true);
    expect(existsSync(join(first.dir, COMPLETE_MARKER))).toBe(true);
    expect(lines.some((l) => l.includes('creating'))).toBe(true);
    expect((await readdir(root)).filter((n) => n.endsWith('.partial'))).toEqual([]);
    const second = await ensureVenv({ requirements: reqs, root });
    expect(second).toEqual({ dir: first.dir, python: first.python, created: false });
  }, 120_000);

  it('a failed build leaves no finished venv and names the failing command', async () => {
    const root = await tmp();
    const reqs = join(root, 'requirements.txt');
    await writeFile(reqs, 'numpy==2.1.3\n');
    const e = await ensureVenv({ requirements: reqs, root, python: join(root, 'no-such-python') }).then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(VenvError);
    expect((e as VenvError).command).toContain('no-such-python -m venv');
    expect(existsSync(join(root, venvKey('numpy==2.1.3\n')))).toBe(false);
  });
});
