/**
 * Python virtual environments that benches create for themselves from a
 * pinned requirements.txt, never by hand. Each lives outside the repository
 * under `<cacheRoot>/<key>`, where the key is the sha256 of the
 * requirements file's bytes: a later run with the same pins reuses it, a
 * changed pin builds a new one. A venv is built in `<key>.partial` and
 * renamed only after `pip install` succeeded, so an interrupted build is
 * never taken for a finished one (the next run starts it again; pip's own
 * download cache keeps that cheap). pip's output is streamed to `log`, line
 * by line, so a long download (torch's wheels are hundreds of MB) shows
 * progress.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** Where venvs live unless the caller says otherwise. */
export const DEFAULT_VENV_ROOT = join(homedir(), '.cache', 'spotswarm', 'venvs');
/** Written last into a finished venv; its content is the key. */
export const COMPLETE_MARKER = '.spotswarm-complete';

/** The cache key of a requirements file: 16 hex digits of the sha256 of its bytes. */
export function venvKey(requirements: string | Uint8Array): string {
  return createHash('sha256').update(requirements).digest('hex').slice(0, 16);
}

export interface VenvOptions {
  /** Path of the pinned requirements.txt. */
  requirements: string;
  /** @default DEFAULT_VENV_ROOT */
  root?: string;
  /** Interpreter that creates the venv. @default 'python3' */
  python?: string;
  /** Progress lines (pip's output included). @default none */
  log?: (line: string) => void;
}

export interface Venv {
  dir: string;
  /** The venv's interpreter. */
  python: string;
  /** Whether this call built it (false: reused). */
  created: boolean;
}

/** Thrown when a command of the venv build fails; `command` names it. */
export class VenvError extends Error {
  readonly command: string;
  constructor(command: string, message: string) {
    super(`${command}: ${message}`);
    this.name = 'VenvError';
    this.command = command;
  }
}

function run(cmd: string, args: readonly string[], log: (line: string) => void): Promise<void> {
  const label = [cmd, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    const read = (s: NodeJS.ReadableStream): void => {
      createInterface({ input: s }).on('line', (l) => {
        tail.push(l);
        if (tail.length > 20) tail.shift();
        log(l);
      });
    };
    read(child.stdout);
    read(child.stderr);
    child.once('error', (e) => reject(new VenvError(label, e.message)));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new VenvError(label, `exited with ${code ?? signal}\n${tail.join('\n')}`));
    });
  });
}

/** The venv for `requirements`: reused when a finished one exists, built otherwise. */
export async function ensureVenv(o: VenvOptions): Promise<Venv> {
  const log = o.log ?? ((): void => {});
  const reqs = await readFile(o.requirements);
  const key = venvKey(reqs);
  const dir = join(o.root ?? DEFAULT_VENV_ROOT, key);
  const python = join(dir, 'bin', 'python');
  const marker = join(dir, COMPLETE_MARKER);
  if (existsSync(marker) && (await readFile(marker, 'utf8')).trim() === key && existsSync(python)) {
    log(`venv ${dir}: reused`);
    return { dir, python, created: false };
  }
  const partial = `${dir}.partial`;
  await rm(partial, { recursive: true, force: true });
  await rm(dir, { recursive: true, force: true });
  const t0 = performance.now();
  log(`venv ${dir}: creating from ${o.requirements}`);
  await run(o.python ?? 'python3', ['-m', 'venv', partial], log);
  // `python -m pip`, not bin/pip: the scripts' shebangs name the .partial path, the interpreter symlink does not.
  await run(join(partial, 'bin', 'python'), ['-m', 'pip', 'install', '--disable-pip-version-check', '--progress-bar', 'off', '-r', o.requirements], log);
  await writeFile(join(partial, COMPLETE_MARKER), `${key}\n`);
  await rename(partial, dir);
  log(`venv ${dir}: ready in ${Math.round((performance.now() - t0) / 1000)} s`);
  return { dir, python, created: true };
}
