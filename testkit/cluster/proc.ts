/**
 * Starting and stopping the control-plane binaries. Each runs in its own
 * process group (so a terminal's Ctrl-C reaches only our CLI, which then stops
 * them in order) with its output appended to a log file. Stopping is by PID:
 * SIGTERM, then SIGKILL after a timeout.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';

export interface ManagedProcess {
  /** Short name used in messages, e.g. "kube-apiserver". */
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Set once the process has exited. */
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
  readonly exited: Promise<void>;
  /** True until the process has exited. */
  alive(): boolean;
  /** SIGTERM, wait up to `timeoutMs`, then SIGKILL; resolves when the process is gone. */
  stop(timeoutMs?: number): Promise<void>;
}

// Every process started here, so a crashing parent still kills them on exit.
const live = new Set<ManagedProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous; process.kill is.
  process.on('exit', () => {
    for (const p of live) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** The last `lines` lines of a log file ('' when it cannot be read). */
export function tailFile(file: string, lines = 30): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.split('\n').slice(-lines - 1).join('\n').trimEnd();
  } catch {
    return '';
  }
}

/** Starts `bin args...` with stdout and stderr appended to `logFile`. */
export function startProcess(name: string, bin: string, args: string[], logFile: string, opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ManagedProcess {
  installExitHook();
  const fd = openSync(logFile, 'a');
  let child;
  try {
    child = spawn(bin, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', fd, fd], detached: true });
  } finally {
    closeSync(fd); // the child holds its own copy
  }
  const pid = child.pid;
  if (pid === undefined) {
    throw new Error(`${name}: could not start ${basename(bin)} (${bin}); is it built and executable?`);
  }
  let done = false;
  let resolveExited!: () => void;
  const exited = new Promise<void>((r) => (resolveExited = r));
  const p: ManagedProcess = {
    name,
    pid,
    logFile,
    exitCode: null,
    exitSignal: null,
    exited,
    alive: () => !done,
    async stop(timeoutMs = 10_000) {
      if (done) return;
      signal(pid, 'SIGTERM');
      const killer = setTimeout(() => signal(pid, 'SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(killer);
    },
  };
  child.on('exit', (code, sig) => {
    done = true;
    p.exitCode = code;
    p.exitSignal = sig;
    live.delete(p);
    resolveExited();
  });
  child.on('error', () => {
    // spawn errors (ENOENT, EACCES) also emit 'exit' or leave pid undefined; nothing else to do
  });
  live.add(p);
  return p;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/**
 * True when a process with this PID exists and is not a zombie. (An orphan
 * that has exited stays a zombie until PID 1 reaps it; it runs nothing.)
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..."; comm may contain spaces, so split after the last ')'
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (not Linux): kill(0) succeeded
  }
}
