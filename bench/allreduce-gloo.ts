/**
 * The gloo baseline of bench:allreduce (BENCH_GLOO=1): torch.distributed's
 * gloo all-reduce of the same vector between the same number of processes on
 * 127.0.0.1, run by allreduce-gloo.py in a pinned torch venv. The venv is the
 * one bench:reference uses (same requirements file, so the same cached venv):
 * built once under the testkit's venv cache, reused by later runs.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ensureVenv } from '../testkit/python/index.ts';

const SCRIPT = fileURLToPath(new URL('./allreduce-gloo.py', import.meta.url));
const REQUIREMENTS = fileURLToPath(new URL('./reference/requirements.txt', import.meta.url));

export interface GlooResult {
  torch: string;
  peers: number;
  sizeMiB: number;
  rounds: number;
  /** Median round (slowest rank's all_reduce), seconds. */
  seconds: number;
  roundSeconds: number[];
}

/**
 * The result in allreduce-gloo.py's output: its last non-empty line, one JSON
 * object. Throws naming the field that is missing or not what it should be.
 */
export function parseGlooOutput(stdout: string): GlooResult {
  const last = stdout.split('\n').map((l) => l.trim()).filter(Boolean).at(-1);
  if (last === undefined) throw new Error('gloo baseline: no output');
  let o: unknown;
  try {
    o = JSON.parse(last);
  } catch {
    throw new Error(`gloo baseline: last line is not JSON: ${last.slice(0, 200)}`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error('gloo baseline: last line is not a JSON object');
  const r = o as Record<string, unknown>;
  if (r.backend !== 'gloo') throw new Error(`gloo baseline: backend is ${JSON.stringify(r.backend)}, not "gloo"`);
  const positive = (k: string): number => {
    const v = r[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new Error(`gloo baseline: ${k} is ${JSON.stringify(v)}, not a positive number`);
    return v;
  };
  const rounds = r.roundSeconds;
  if (!Array.isArray(rounds) || rounds.length === 0 || !rounds.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0)) {
    throw new Error('gloo baseline: roundSeconds is not a non-empty list of positive numbers');
  }
  if (typeof r.torch !== 'string') throw new Error('gloo baseline: torch is not a version string');
  return { torch: r.torch, peers: positive('peers'), sizeMiB: positive('sizeMiB'), rounds: positive('rounds'), seconds: positive('seconds'), roundSeconds: rounds as number[] };
}

/** The gloo figures of one bench row: gloo's seconds and the project's time over it. */
export function glooColumns(projectSeconds: number, gloo: GlooResult | undefined): { glooSeconds: number; ratioGloo: number } | undefined {
  if (gloo === undefined) return undefined;
  return { glooSeconds: gloo.seconds, ratioGloo: projectSeconds / gloo.seconds };
}

/** The venv's interpreter: built on first use (torch from PyPI, a few GB), reused afterwards. */
export async function glooPython(log: (line: string) => void): Promise<{ python: string; created: boolean }> {
  const v = await ensureVenv({ requirements: REQUIREMENTS, log });
  return { python: v.python, created: v.created };
}

/** Runs allreduce-gloo.py for `peers` × `sizeMiB` and `rounds` timed rounds; its stderr goes to `log`. */
export function runGloo(python: string, peers: number, sizeMiB: number, rounds: number, log: (line: string) => void): Promise<GlooResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [SCRIPT, '--peers', String(peers), '--mib', String(sizeMiB), '--rounds', String(rounds)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
    });
    const tail: string[] = [];
    createInterface({ input: child.stderr }).on('line', (l) => {
      tail.push(l);
      if (tail.length > 20) tail.shift();
      log(`[gloo] ${l}`);
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code !== 0) {
        reject(new Error(`allreduce-gloo.py --peers ${peers} --mib ${sizeMiB} exited with ${code ?? signal}\n${tail.join('\n')}`));
        return;
      }
      try {
        resolve(parseGlooOutput(out));
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}
