/**
 * One pod's life on the test kubelet: prepare (credentials, volumes, env),
 * run the first container as a local process, report status, restart per
 * restartPolicy, and on deletion stop the process within the grace period
 * and finish the deletion.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CoreV1Api, PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { Env } from '../../api/index.ts';
import type { Logger } from '../cluster/index.ts';
import { ContainerConfigError, expand, resolveEnv, type ObjectReader } from './env.ts';
import { IMAGE_APP_DIR, processFor, rewritePath } from './image.ts';
import { runProcess, type RunningProcess } from './runtime.ts';
import { hostsFile, sandboxed } from './sandbox.ts';
import { requestPodToken, wantsToken, writeServiceAccountFiles } from './serviceaccount.ts';
import { type ContainerInfo, restartDelayMs, runningPatch, shouldRestart, type Terminated, terminalPatch, waitingPatch } from './status.ts';
import { mountVolumes } from './volumes.ts';

const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

/** What every pod on this kubelet shares. */
export interface PodContext {
  core: CoreV1Api;
  log: Logger;
  repoRoot: string;
  nodeBin: string;
  /** The built nats-server, which the official `nats` image runs as. */
  natsServerBin: string;
  /** Run pods in a user + mount namespace (own /etc/hosts, readOnlyRootFilesystem); see sandbox.ts. */
  sandbox: boolean;
  logDir: string;
  stateDir: string;
  /** API server URL and CA, for the pods' in-cluster config. */
  server: string;
  caPem: string;
  /** Env given to every pod process first (PATH etc.); pod env overrides it. */
  baseEnv: Record<string, string>;
}

export function podKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export function logFileName(namespace: string, name: string): string {
  return `${namespace}_${name}.log`;
}

/** Kubernetes' default container terminationMessagePath. */
const DEFAULT_TERMINATION_MESSAGE_PATH = '/dev/termination-log';
/** The kubelet keeps at most this much of a termination message. */
const TERMINATION_MESSAGE_MAX_BYTES = 4096;

function apiCode(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

function errorText(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string };
  if (typeof e.body === 'string') {
    try {
      return (JSON.parse(e.body) as { message?: string }).message ?? e.body;
    } catch {
      return e.body;
    }
  }
  return e.message ?? String(err);
}

/** Reads ConfigMaps and Secrets through the API, once per object per start attempt. */
function apiReader(core: CoreV1Api): ObjectReader {
  const cache = new Map<string, Promise<Record<string, string> | undefined>>();
  const get = (kind: 'cm' | 'secret', namespace: string, name: string) => {
    const key = `${kind}/${namespace}/${name}`;
    let p = cache.get(key);
    if (!p) {
      p = (async () => {
        try {
          if (kind === 'cm') {
            const cm = await core.readNamespacedConfigMap({ name, namespace });
            const bin = Object.fromEntries(Object.entries(cm.binaryData ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
            return { ...bin, ...cm.data };
          }
          const s = await core.readNamespacedSecret({ name, namespace });
          return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
        } catch (err) {
          if (apiCode(err) === 404) return undefined;
          throw err;
        }
      })();
      cache.set(key, p);
    }
    return p;
  };
  return { configMap: (ns, n) => get('cm', ns, n), secret: (ns, n) => get('secret', ns, n) };
}

export class PodWorker {
  pod: V1Pod;
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly node: string;
  readonly logFile: string;
  restartCount = 0;
  /** 'terminal' once Succeeded/Failed; 'deleting' once deletion began. */
  phase: 'new' | 'pending' | 'running' | 'backoff' | 'terminal' | 'deleting' = 'new';
  private proc: RunningProcess | undefined;
  private readonly ctx: PodContext;
  private readonly podDir: string;
  private readonly wake = new AbortController();
  private statusQueue: Promise<void> = Promise.resolve();
  private token: string | undefined;
  private startTime = new Date();
  private lastTerminated: Terminated | undefined;
  private runDone: Promise<void> = Promise.resolve();
  private lastStartError = '';

  constructor(pod: V1Pod, ctx: PodContext) {
    this.pod = pod;
    this.ctx = ctx;
    this.uid = pod.metadata?.uid ?? '';
    this.namespace = pod.metadata?.namespace ?? 'default';
    this.name = pod.metadata?.name ?? '';
    this.node = pod.spec?.nodeName ?? '';
    this.logFile = join(ctx.logDir, logFileName(this.namespace, this.name));
    this.podDir = join(ctx.stateDir, 'pods', `${this.namespace}_${this.name}_${this.uid.slice(0, 8)}`);
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') this.phase = 'terminal';
  }

  /** A method, not a field test, so TypeScript does not narrow it across awaits. */
  deleting(): boolean {
    return this.phase === 'deleting';
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  private get key(): string {
    return podKey(this.namespace, this.name);
  }

  private get container() {
    const c = this.pod.spec?.containers?.[0];
    if (!c) throw new ContainerConfigError('pod has no containers');
    return c;
  }

  private info(): ContainerInfo {
    return {
      name: this.container.name,
      image: this.container.image ?? '',
      restartCount: this.restartCount,
      ...(this.proc?.pid ? { containerID: `spotswarm://${this.uid}/${this.proc.pid}` } : {}),
      ...(this.lastTerminated ? { lastTerminated: this.lastTerminated } : {}),
    };
  }

  /** Starts the pod's life (no-op unless new). */
  start(): void {
    if (this.phase !== 'new') return;
    this.phase = 'pending';
    this.runDone = this.run().catch((err: unknown) => {
      this.ctx.log.error(`pod ${this.key}: ${(err as Error).stack ?? String(err)}`);
    });
  }

  private async run(): Promise<void> {
    const { log } = this.ctx;
    const spec = this.pod.spec ?? { containers: [] };
    if ((spec.initContainers?.length ?? 0) > 0 || spec.containers.length > 1) {
      log.warn(`pod ${this.key}: only the first container runs here (init containers and sidecars are ignored)`);
    }
    this.startTime = new Date();
    await this.patch(waitingPatch({ now: new Date(), startTime: this.startTime, container: this.info(), reason: 'ContainerCreating', phase: 'Pending' }));
    while (!this.deleting()) {
      let prepared: { argv: [string, ...string[]]; cwd: string; env: Record<string, string> };
      try {
        prepared = await this.prepare();
      } catch (err) {
        if (this.deleting()) return;
        const message = errorText(err);
        // say it once per distinct problem, not every retry
        if (message !== this.lastStartError) log.warn(`pod ${this.key}: cannot start container: ${message}; retrying every 2 s`);
        this.lastStartError = message;
        await this.patch(
          waitingPatch({
            now: new Date(),
            startTime: this.startTime,
            container: this.info(),
            reason: 'CreateContainerConfigError',
            message,
            phase: this.restartCount > 0 ? 'Running' : 'Pending',
          }),
        );
        await this.pause(2_000);
        continue;
      }
      if (this.deleting()) return;
      const proc = runProcess({ argv: prepared.argv, cwd: prepared.cwd }, prepared.env, this.logFile);
      this.proc = proc;
      if (proc.pid !== undefined) {
        this.phase = 'running';
        log.info(`pod ${this.key} on ${this.node}: started pid ${proc.pid}: ${prepared.argv.join(' ')}`);
        await this.patch(runningPatch({ now: new Date(), startTime: this.startTime, startedAt: proc.startedAt, container: this.info() }));
      }
      const exit = await proc.exited;
      const written = this.terminationMessage();
      const containerID = proc.pid ? `spotswarm://${this.uid}/${proc.pid}` : undefined;
      this.proc = undefined;
      if (this.deleting()) return; // the deletion path reports nothing more
      const terminated: Terminated = {
        exitCode: exit.exitCode,
        ...(exit.signal !== undefined ? { signal: exit.signal } : {}),
        reason: exit.startError ? 'StartError' : exit.exitCode === 0 ? 'Completed' : 'Error',
        ...(exit.startError ? { message: exit.startError } : written ? { message: written } : {}),
        startedAt: proc.startedAt,
        finishedAt: exit.finishedAt,
        ...(containerID ? { containerID } : {}),
      };
      if (!shouldRestart(spec.restartPolicy, exit.exitCode)) {
        this.phase = 'terminal';
        log.info(`pod ${this.key}: exited with code ${exit.exitCode} -> ${exit.exitCode === 0 ? 'Succeeded' : 'Failed'}`);
        await this.patch(terminalPatch({ now: new Date(), startTime: this.startTime, container: this.info(), terminated }));
        return;
      }
      this.lastTerminated = terminated;
      const delay = restartDelayMs(this.restartCount);
      this.restartCount++;
      this.phase = 'backoff';
      log.info(`pod ${this.key}: exited with code ${exit.exitCode}; restarting in ${delay} ms (restartPolicy ${spec.restartPolicy ?? 'Always'})`);
      await this.patch(
        waitingPatch({
          now: new Date(),
          startTime: this.startTime,
          container: this.info(),
          reason: 'CrashLoopBackOff',
          message: `back-off ${delay}ms restarting failed container=${this.container.name} pod=${this.name}`,
          phase: 'Running',
        }),
      );
      await this.pause(delay);
    }
  }

  /** Resolves what to run: credentials, volumes, env, command. Throws ContainerConfigError (or API errors) to be retried. */
  private async prepare(): Promise<{ argv: [string, ...string[]]; cwd: string; env: Record<string, string> }> {
    const c = this.container;
    const { core, server } = this.ctx;
    mkdirSync(this.podDir, { recursive: true });
    const reader = apiReader(core);
    const base: Record<string, string> = {
      ...this.ctx.baseEnv,
      HOME: this.podDir,
      HOSTNAME: this.name,
      KUBERNETES_SERVICE_HOST: new URL(server).hostname,
      KUBERNETES_SERVICE_PORT: new URL(server).port || '443',
    };
    if (wantsToken(this.pod)) {
      this.token ??= await requestPodToken(core, this.pod);
      const root = join(this.podDir, 'root');
      writeServiceAccountFiles(root, { caPem: this.ctx.caPem, token: this.token, namespace: this.namespace });
      base[Env.InClusterRoot] = root;
    }
    const mounts = await mountVolumes(this.pod, c, this.podDir, {
      reader, log: this.ctx.log, claimsDir: join(this.ctx.stateDir, 'claims'), ...(this.token ? { token: this.token } : {}),
    });
    // The container's termination message file is a file in the pod's directory; env values naming its path point there.
    // It starts empty (a restart's new message replaces the old) and exists, so the sandbox can keep it writable.
    writeFileSync(this.terminationFile, '');
    const termination = [c.terminationMessagePath ?? DEFAULT_TERMINATION_MESSAGE_PATH, this.terminationFile] as const;
    const all: Array<readonly [string, string]> = [[IMAGE_APP_DIR, this.ctx.repoRoot], ...mounts, termination];
    const env = await resolveEnv(this.pod, c, reader, base);
    for (const k of Object.keys(env)) env[k] = rewritePath(env[k] ?? '', all);
    const spec = processFor(
      { ...c, ...(c.command ? { command: c.command.map((a) => expand(a, env)) } : {}), ...(c.args ? { args: c.args.map((a) => expand(a, env)) } : {}) },
      { repoRoot: this.ctx.repoRoot, nodeBin: this.ctx.nodeBin, natsServerBin: this.ctx.natsServerBin, mounts },
    );
    if (this.ctx.sandbox) {
      const services = await core.listServiceForAllNamespaces();
      const hosts = join(this.podDir, 'hosts');
      writeFileSync(hosts, hostsFile(this.name, this.namespace, services.items.map((x) => ({ name: x.metadata?.name ?? '', namespace: x.metadata?.namespace ?? '' }))));
      spec.argv = sandboxed(spec.argv, { hostsFile: hosts, volumes: [...mounts, termination], keepVisible: [this.ctx.repoRoot, this.ctx.stateDir, dirname(this.ctx.nodeBin)], readOnlyRoot: c.securityContext?.readOnlyRootFilesystem === true });
    }
    return { ...spec, env };
  }

  private get terminationFile(): string {
    return join(this.podDir, 'termination-log');
  }

  /** What the process wrote to its termination message file (as a kubelet does, at most 4 KiB), if anything. */
  private terminationMessage(): string | undefined {
    try {
      const text = readFileSync(this.terminationFile).subarray(0, TERMINATION_MESSAGE_MAX_BYTES).toString('utf8');
      return text === '' ? undefined : text;
    } catch {
      return undefined;
    }
  }

  /** Sleeps, waking early when deletion starts. */
  private async pause(ms: number): Promise<void> {
    try {
      await sleep(ms, undefined, { signal: this.wake.signal });
    } catch {
      // woken
    }
  }

  /** Strategic-merge status patch, in order, retried a few times. */
  private patch(body: object): Promise<void> {
    const next = this.statusQueue.then(async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.ctx.core.patchNamespacedPodStatus({ name: this.name, namespace: this.namespace, body }, strategic);
          return;
        } catch (err) {
          if (apiCode(err) === 404 || this.deleting()) return; // pod gone or going
          if (attempt >= 5) {
            this.ctx.log.warn(`pod ${this.key}: status update failed: ${errorText(err)}`);
            return;
          }
          await sleep(200 * attempt);
        }
      }
    });
    this.statusQueue = next;
    return next;
  }

  /**
   * Deletion was requested (deletionTimestamp set): SIGTERM the process group,
   * SIGKILL after the grace period, then delete the pod with grace 0, which is
   * what lets the API object go away.
   */
  async terminate(): Promise<void> {
    if (this.deleting()) return;
    const wasRunning = this.proc !== undefined;
    this.phase = 'deleting';
    this.wake.abort();
    const graceS = this.pod.metadata?.deletionGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30;
    if (wasRunning) {
      this.ctx.log.info(`pod ${this.key}: deleting; SIGTERM to pid ${this.proc?.pid} (grace ${graceS}s)`);
      const exit = await this.proc?.stop(graceS * 1000);
      if (exit) this.ctx.log.info(`pod ${this.key}: stopped (exit code ${exit.exitCode})`);
    }
    await this.runDone;
    try {
      // With a body the API server ignores query parameters, so the grace period goes in the body.
      await this.ctx.core.deleteNamespacedPod({ name: this.name, namespace: this.namespace, body: { gracePeriodSeconds: 0, preconditions: { uid: this.uid } } });
    } catch (err) {
      const code = apiCode(err);
      if (code !== 404) this.ctx.log.warn(`pod ${this.key}: final delete failed: ${errorText(err)}`);
    }
    this.cleanup();
  }

  /** The pod vanished from the API (or its node was removed): stop the process, report nothing. */
  async abandon(graceMs: number): Promise<void> {
    this.phase = 'deleting';
    this.wake.abort();
    await this.proc?.stop(graceMs);
    await this.runDone;
    this.cleanup();
  }

  /** SIGKILL now (a machine losing power); resolves once the process is gone. */
  async kill(): Promise<void> {
    this.phase = 'deleting';
    this.wake.abort();
    this.proc?.kill();
    await this.runDone;
  }

  private cleanup(): void {
    rmSync(this.podDir, { recursive: true, force: true });
  }
}
