/** Runs a command of reference.py with the venv's interpreter: settings as a JSON file, progress lines to `log`. */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'reference.py');

export interface PythonRun {
  python: string;
  workDir: string;
  log: (line: string) => void;
}

/**
 * Starts the command at once (synchronously: the settings file is written
 * and the process spawned before this returns, so it runs while the caller
 * computes) and resolves when it exited 0.
 */
export function runReference(py: PythonRun, command: 'check' | 'train' | 'speed' | 'plot', config: unknown, files: Record<string, string>): Promise<void> {
  const cfg = join(py.workDir, `${command}-${Date.now()}.json`);
  writeFileSync(cfg, JSON.stringify(config));
  const args = [SCRIPT, command, '--config', cfg, ...Object.entries(files).flatMap(([k, v]) => [`--${k}`, v])];
  return new Promise<void>((resolve, reject) => {
    const child = spawn(py.python, args, { stdio: ['ignore', 'inherit', 'pipe'], cwd: dirname(SCRIPT) });
    const tail: string[] = [];
    createInterface({ input: child.stderr }).on('line', (l) => {
      tail.push(l);
      if (tail.length > 30) tail.shift();
      py.log(`[torch] ${l}`);
    });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`reference.py ${command} exited with ${code}\n${tail.join('\n')}`))));
  });
}
