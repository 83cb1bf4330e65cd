/**
 * A real nats-server with JetStream for integration tests: a free port on
 * 127.0.0.1 and a temporary store directory. restart() brings the server
 * back on the same port and store, so JetStream state (KV buckets) survives,
 * as it does in a pod with a persistent volume. stop() kills the process by
 * its PID and removes the store.
 *
 * With `authConf` (operator/natsauth serverAuthConf: the operator JWT, the
 * system account and its preload) the server runs in NATS operator mode with
 * a full account resolver in the store directory, as the chart's NATS does:
 * only clients with JWTs of accounts pushed to it can connect.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, toolPath } from '../cluster/index.ts';
import { sleep } from './wait.ts';

export interface NatsServer {
  /** nats://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** PID of the running server, undefined while stopped. */
  pid(): number | undefined;
  /** Everything the server printed so far (for failure messages). */
  output(): string;
  /** Stops the server (SIGTERM, then SIGKILL after graceMs) without removing its store. */
  kill(graceMs?: number): Promise<void>;
  /** Starts the server again on the same port and store; waits until it accepts connections. */
  start(): Promise<void>;
  /** kill() then start(). */
  restart(): Promise<void>;
  /** Stops the server and removes its store directory. */
  stop(): Promise<void>;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Starts a nats-server with JetStream; the caller must stop() it (afterAll). */
export async function startNats(opts: {
  readyTimeoutMs?: number;
  /** Extra nats-server flags, e.g. ['--auth', 'token']. */
  args?: string[];
  /** A nats-server config fragment that turns on operator mode (see above). */
  authConf?: string;
} = {}): Promise<NatsServer> {
  const bin = toolPath('nats-server');
  const storeDir = mkdtempSync(join(tmpdir(), 'spotswarm-nats-'));
  const configArgs: string[] = [];
  if (opts.authConf !== undefined) {
    const confDir = join(storeDir, 'conf');
    mkdirSync(confDir);
    writeFileSync(join(confDir, 'auth.conf'), opts.authConf);
    // Account JWTs pushed at run time live in the store, so they survive restart() like the chart's volume.
    writeFileSync(join(confDir, 'nats.conf'), `include ./auth.conf\nresolver: { type: full, dir: ${JSON.stringify(join(storeDir, 'jwt'))}, allow_delete: false }\n`);
    configArgs.push('-c', join(confDir, 'nats.conf'));
  }
  const port = await freePort();
  const readyTimeoutMs = opts.readyTimeoutMs ?? 20_000;
  let child: ChildProcess | undefined;
  let out = '';

  const start = async (): Promise<void> => {
    if (child) throw new Error('nats-server already running');
    const c = spawn(bin, [...configArgs, '-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, '-n', `spotswarm-test-${port}`, ...(opts.args ?? [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = c;
    c.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    c.once('exit', () => {
      if (child === c) child = undefined;
    });
    // Ready means JetStream is up, not only the port: the server prints this line last.
    const t0 = Date.now();
    for (;;) {
      if (child !== c) throw new Error(`nats-server exited during start-up:\n${out}`);
      if (out.includes('Server is ready') && (await canConnect(port))) return;
      if (Date.now() - t0 > readyTimeoutMs) throw new Error(`nats-server not ready after ${readyTimeoutMs} ms:\n${out}`);
      await sleep(50);
    }
  };

  const kill = async (graceMs = 5_000): Promise<void> => {
    const c = child;
    if (!c || c.pid === undefined) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    process.kill(c.pid, 'SIGTERM');
    const timer = setTimeout(() => {
      if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) process.kill(c.pid, 'SIGKILL');
    }, graceMs);
    await exited;
    clearTimeout(timer);
    if (child === c) child = undefined;
  };

  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    pid: () => child?.pid,
    output: () => out,
    kill,
    start,
    restart: async () => {
      await kill();
      out += '\n--- restart ---\n';
      await start();
    },
    stop: async () => {
      await kill();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}
