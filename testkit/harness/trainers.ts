/**
 * Real trainer processes for integration tests: `node trainer-image/src/main.ts`
 * (Node 22 from the node@22 devDependency) with an environment built from a
 * few knobs, JSON log lines parsed as they arrive, and kill by PID. Tests
 * must stop what they spawn: `fleet.stopAll()` in afterEach/afterAll.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Env } from '../../api/index.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const NODE_BIN = join(repo, 'node_modules', '.bin', 'node');
export const TRAINER_MAIN = join(repo, 'trainer-image', 'src', 'main.ts');

/** One parsed JSON log line of a trainer. */
export type LogLine = Record<string, unknown> & { message: string; level: string };

export interface TrainerSpec {
  /** Pod name; also the log and dump file prefix. */
  name: string;
  natsUrl: string;
  swarm: { namespace: string; name: string; uid?: string };
  /** spec.training (targetBatchSize and averaging are what the data plane reads). */
  training: { targetBatchSize: number; averaging?: Record<string, unknown> };
  /** Extra env vars (SPOTSWARM_SYNTHETIC_*, SPOTSWARM_STOP_AFTER_EPOCHS, ...). */
  env?: Record<string, string>;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class Trainer {
  readonly name: string;
  readonly pid: number;
  readonly lines: LogLine[] = [];
  readonly exited: Promise<Exit>;
  #raw = '';
  #stderr = '';
  #exit: Exit | undefined;
  #waiters = new Set<() => void>();

  constructor(spec: TrainerSpec) {
    this.name = spec.name;
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: process.env['HOME'] ?? '/tmp',
      [Env.SwarmName]: spec.swarm.name,
      [Env.SwarmNamespace]: spec.swarm.namespace,
      [Env.PodName]: spec.name,
      [Env.PodIp]: '127.0.0.1',
      [Env.NatsUrl]: spec.natsUrl,
      [Env.TrainingSpec]: JSON.stringify(spec.training),
      [Env.LogFormat]: 'json',
      [Env.LogLevel]: 'info',
      // The data-plane tests run the synthetic averaging workload; training tests pass SPOTSWARM_WORKLOAD=train.
      [Env.Workload]: 'averaging',
      ...(spec.swarm.uid !== undefined ? { [Env.SwarmUid]: spec.swarm.uid } : {}),
      ...spec.env,
    };
    const child = spawn(NODE_BIN, [TRAINER_MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid === undefined) throw new Error(`could not spawn trainer ${spec.name}`);
    this.pid = child.pid;
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => this.#onData(d));
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => (this.#stderr += d));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        this.#notify();
        resolve(this.#exit);
      }),
    );
  }

  #onData(d: string): void {
    this.#raw += d;
    let nl: number;
    while ((nl = this.#raw.indexOf('\n')) >= 0) {
      const line = this.#raw.slice(0, nl);
      this.#raw = this.#raw.slice(nl + 1);
      if (line.trim() === '') continue;
      try {
        const j = JSON.parse(line) as LogLine;
        if (typeof j === 'object' && j !== null && typeof j.message === 'string') this.lines.push(j);
        else this.#stderr += `${line}\n`;
      } catch {
        this.#stderr += `${line}\n`;
      }
    }
    this.#notify();
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  /** Non-JSON output (stderr and stray stdout), for failure messages. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Lines with this message (and matching `where`, if given). */
  find(message: string, where: (l: LogLine) => boolean = () => true): LogLine[] {
    return this.lines.filter((l) => l.message === message && where(l));
  }

  /**
   * Resolves with the first line (from index `from`) with this message that
   * matches `where`; rejects if the process exits first. No time limit: the
   * test's timeout bounds it.
   */
  waitFor(message: string, where: (l: LogLine) => boolean = () => true, from = 0): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        for (let i = from; i < this.lines.length; i++) {
          const l = this.lines[i] as LogLine;
          if (l.message === message && where(l)) {
            this.#waiters.delete(check);
            resolve(l);
            return;
          }
        }
        if (this.#exit) {
          this.#waiters.delete(check);
          reject(new Error(`trainer ${this.name} exited (${JSON.stringify(this.#exit)}) before logging "${message}"\n${this.#tail()}`));
        }
      };
      this.#waiters.add(check);
      check();
    });
  }

  #tail(): string {
    return [...this.lines.slice(-15).map((l) => JSON.stringify(l)), this.#stderr.slice(-3000)].join('\n');
  }

  /** Sends a signal to the process by PID (no-op once it exited). */
  kill(signal: NodeJS.Signals): void {
    if (this.#exit) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // already gone
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it exited. */
  async stop(graceMs = 10_000): Promise<Exit> {
    if (this.#exit) return this.#exit;
    this.kill('SIGTERM');
    const t = setTimeout(() => this.kill('SIGKILL'), graceMs);
    const e = await this.exited;
    clearTimeout(t);
    return e;
  }
}

/** The trainers of one test; stopAll() in afterEach. */
export class Fleet {
  readonly trainers: Trainer[] = [];

  spawn(spec: TrainerSpec): Trainer {
    const t = new Trainer(spec);
    this.trainers.push(t);
    return t;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.trainers.splice(0).map((t) => t.stop()));
  }
}

/** Waits until every trainer logged `message` (matching `where`). */
export async function allLogged(trainers: readonly Trainer[], message: string, where?: (l: LogLine) => boolean): Promise<LogLine[]> {
  return Promise.all(trainers.map((t) => t.waitFor(message, where)));
}

