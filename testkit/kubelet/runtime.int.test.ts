import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pidAlive } from '../cluster/index.ts';
import { runProcess } from './runtime.ts';

const dir = mkdtempSync(join(tmpdir(), 'spotswarm-runtime-'));
const env = { PATH: '/usr/bin:/bin' };
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function waitForLine(file: string, text: string): Promise<void> {
  for (let i = 0; i < 100 && !readFileSync(file, 'utf8').includes(text); i++) await sleep(50);
}

describe('runProcess', () => {
  it('reports the exit code and appends output to the log file', async () => {
    const log = join(dir, 'exit.log');
    const p = runProcess({ argv: ['sh', '-c', 'echo out; echo err >&2; exit 3'], cwd: dir }, env, log);
    expect((await p.exited).exitCode).toBe(3);
    await runProcess({ argv: ['sh', '-c', 'echo again'], cwd: dir }, env, log).exited;
    expect(readFileSync(log, 'utf8')).toBe('out\nerr\nagain\n');
  });

  it('passes exactly the env it is given', async () => {
    const log = join(dir, 'env.log');
    await runProcess({ argv: ['sh', '-c', 'echo "$FOO|$HOME"'], cwd: dir }, { ...env, FOO: 'bar' }, log).exited;
    expect(readFileSync(log, 'utf8')).toBe('bar|\n');
  });

  it('reports a command that cannot start as StartError with code 128', async () => {
    const log = join(dir, 'enoent.log');
    const e = await runProcess({ argv: ['/no/such/binary'], cwd: dir }, env, log).exited;
    expect(e.exitCode).toBe(128);
    expect(e.startError).toMatch(/ENOENT/);
    expect(readFileSync(log, 'utf8')).toContain('cannot start /no/such/binary');
  });

  it('stop() SIGTERMs the whole process group', async () => {
    const log = join(dir, 'group.log');
    // the child sleeps in the background; both must go
    const p = runProcess({ argv: ['sh', '-c', 'sleep 300 & echo child=$!; wait'], cwd: dir }, env, log);
    await waitForLine(log, 'child=');
    const child = Number(/child=(\d+)/.exec(readFileSync(log, 'utf8'))?.[1]);
    expect(pidAlive(child)).toBe(true);
    const e = await p.stop(5_000);
    expect(e.exitCode).toBe(143); // 128 + SIGTERM
    for (let i = 0; i < 40 && pidAlive(child); i++) await sleep(50); // the orphan dies asynchronously
    expect(pidAlive(child)).toBe(false);
  });

  it('stop() escalates to SIGKILL after the grace period for a process ignoring SIGTERM', async () => {
    const log = join(dir, 'stubborn.log');
    const p = runProcess({ argv: ['sh', '-c', 'trap "echo ignored" TERM; echo ready; while :; do sleep 0.1; done'], cwd: dir }, env, log);
    await waitForLine(log, 'ready');
    const e = await p.stop(300);
    expect(e.exitCode).toBe(137); // 128 + SIGKILL
    expect(e.signal).toBe(9);
    expect(pidAlive(p.pid!)).toBe(false);
  });
});
