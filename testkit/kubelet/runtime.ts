/**
 * The "container runtime": one local process per container start, in its own
 * process group (the stand-in for a cgroup), so stopping a pod reaches every
 * process it started. Output is appended to the pod's log file.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { constants } from 'node:os';
import type { ProcessSpec } from './image.ts';

export interface Exit {
  /** As a container runtime reports it: the exit code, or 128 + signal number. */
  exitCode: number;
  signal?: number;
  /** Set when the process could not be started at all (StartError). */
  startError?: string;
  finishedAt: Date;
}

export interface RunningProcess {
  /** PID of the main process, which leads the process group. Undefined if the start failed. */
  readonly pid: number | undefined;
  readonly startedAt: Date;
  readonly exited: Promise<Exit>;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves once the main process has exited. */
  stop(graceMs: number): Promise<Exit>;
  /** SIGKILL to the group now. */
  kill(): void;
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // group already gone
  }
}

/** Starts `spec` with exactly `env` (nothing inherited), output appended to `logFile`. */
export function runProcess(spec: ProcessSpec, env: Record<string, string>, logFile: string): RunningProcess {
  const startedAt = new Date();
  const fd = openSync(logFile, 'a');
  const [bin, ...args] = spec.argv;
  let resolveExit!: (e: Exit) => void;
  const exited = new Promise<Exit>((r) => (resolveExit = r));
  let done = false;
  const finish = (e: Exit): void => {
    if (done) return;
    done = true;
    resolveExit(e);
  };
  let child;
  try {
    child = spawn(bin, args, { cwd: spec.cwd, env, stdio: ['ignore', fd, fd], detached: true });
  } catch (err) {
    writeSync(fd, `spotswarm kubelet: cannot start ${bin}: ${(err as Error).message}\n`);
    closeSync(fd);
    finish({ exitCode: 128, startError: (err as Error).message, finishedAt: new Date() });
    return { pid: undefined, startedAt, exited, stop: async () => exited, kill: () => undefined };
  }
  closeSync(fd); // the child has its own copy
  const pid = child.pid;
  child.on('error', (err) => {
    // ENOENT and friends: the container "failed to start" (runc reports 128)
    try {
      const efd = openSync(logFile, 'a');
      writeSync(efd, `spotswarm kubelet: cannot start ${bin}: ${err.message}\n`);
      closeSync(efd);
    } catch {
      // log dir gone
    }
    finish({ exitCode: 128, startError: err.message, finishedAt: new Date() });
  });
  child.on('exit', (code, sig) => {
    // The main process is gone; like a cgroup teardown, nothing it left behind survives it.
    if (pid !== undefined) signalGroup(pid, 'SIGKILL');
    const signum = sig ? constants.signals[sig] : undefined;
    finish({ exitCode: code ?? 128 + (signum ?? 0), ...(signum !== undefined ? { signal: signum } : {}), finishedAt: new Date() });
  });
  return {
    pid,
    startedAt,
    exited,
    async stop(graceMs: number) {
      if (pid === undefined || done) return exited;
      signalGroup(pid, 'SIGTERM');
      const killer = setTimeout(() => signalGroup(pid, 'SIGKILL'), Math.max(0, graceMs));
      const e = await exited;
      clearTimeout(killer);
      return e;
    },
    kill() {
      if (pid !== undefined && !done) signalGroup(pid, 'SIGKILL');
    },
  };
}
