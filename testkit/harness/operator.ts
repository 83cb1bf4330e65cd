/**
 * Runs the operator as a local process against a test cluster, the way a
 * user runs it during development (`node operator/main.ts`). Stopped by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './cluster.ts';

export interface OperatorProcess {
  readonly identity: string;
  readonly pid: number;
  readonly logFile: string;
  log(): string;
  /** SIGTERM (graceful: releases the lease), then SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL: a crash, nothing released. */
  kill(): Promise<void>;
}

export interface OperatorOptions {
  kubeconfigPath: string;
  identity: string;
  logDir: string;
  leaseNamespace?: string;
  env?: Record<string, string>;
}

/** The default trainer image, as the chart sets it: the test kubelet runs any tag of spotswarm/trainer as this repo's trainer. */
export const DEFAULT_TRAINER_IMAGE = `ghcr.io/spotswarm/trainer:${(JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version}`;

function exited(child: ChildProcess): Promise<void> {
  return new Promise((r) => {
    if (child.exitCode !== null || child.signalCode !== null) r();
    else child.once('exit', () => r());
  });
}

export function startOperator(o: OperatorOptions): OperatorProcess {
  const logFile = join(o.logDir, `operator-${o.identity}.log`);
  const out = createWriteStream(logFile);
  const child = spawn(join(REPO_ROOT, 'node_modules/.bin/node'), [join(REPO_ROOT, 'operator/main.ts')], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      KUBECONFIG: o.kubeconfigPath,
      POD_NAME: o.identity,
      POD_NAMESPACE: o.leaseNamespace ?? 'spotswarm-system',
      SPOTSWARM_METRICS_PORT: '0',
      SPOTSWARM_METRICS_HOST: '127.0.0.1',
      SPOTSWARM_LOG_FORMAT: 'json',
      // Short lease timings keep failover tests quick.
      SPOTSWARM_LEASE_DURATION_SECONDS: '6',
      SPOTSWARM_RENEW_DEADLINE_SECONDS: '4',
      SPOTSWARM_RETRY_PERIOD_SECONDS: '1',
      SPOTSWARM_TRAINER_IMAGE: DEFAULT_TRAINER_IMAGE,
      ...o.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(out, { end: false });
  child.stderr!.pipe(out, { end: false });
  const done = exited(child);
  return {
    identity: o.identity,
    pid: child.pid!,
    logFile,
    log: () => readFileSync(logFile, 'utf8'),
    async stop(graceMs = 5_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await done;
      clearTimeout(t);
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await done;
    },
  };
}
