/**
 * A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver,
 * kube-scheduler and kube-controller-manager, built by build-tools.sh. Every
 * port is picked free at start, and all state lives in a throwaway directory,
 * so several control planes (one per simulated datacenter) run side by side.
 *
 * There is no kubelet here; testkit/kubelet registers fake GPU nodes and runs
 * the pods bound to them as local processes.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { controllerManagerArgs, etcdArgs, apiserverArgs, schedulerArgs } from './flags.ts';
import { httpGet, pollUntil } from './http.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { makeLogger, type Logger } from './log.ts';
import { freePorts } from './ports.ts';
import { startProcess, tailFile, type ManagedProcess } from './proc.ts';
import { toolPath } from './tools.ts';

export interface ControlPlaneOptions {
  /** Names the kubeconfig context and the temp dir; default "spotswarm". */
  name?: string;
  /** Where etcd data, certificates and kubeconfigs go; default a fresh mkdtemp dir. Removed by stop(). */
  dataDir?: string;
  /** Keep the data dir after stop() (for debugging). */
  keepDataDir?: boolean;
  /** Where the binaries' logs go; default `<dataDir>/logs`. A logDir given here is kept by stop(). */
  logDir?: string;
  log?: Logger;
  /** Extra flags per binary, appended after ours (later flags win). */
  extraArgs?: { etcd?: string[]; apiserver?: string[]; scheduler?: string[]; controllerManager?: string[] };
  /** Per-step readiness timeout; default 90 s (2 shared cores can be slow). */
  startTimeoutMs?: number;
}

export interface ControlPlane {
  readonly name: string;
  /** Admin kubeconfig (token auth, CA embedded). */
  readonly kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  readonly server: string;
  /** Admin bearer token (group system:masters). */
  readonly token: string;
  /** PEM file of the CA that signed the API server's serving certificate. */
  readonly caFile: string;
  readonly dataDir: string;
  readonly logDir: string;
  /** PIDs by binary name. */
  readonly pids: Record<'etcd' | 'kube-apiserver' | 'kube-scheduler' | 'kube-controller-manager', number>;
  /** Stops every process (controllers first, etcd last) and removes the data dir. Idempotent. */
  stop(): Promise<void>;
}

/** A binary failed to start or to become ready. The message names it and shows its log tail. */
export class ControlPlaneStartError extends Error {
  override name = 'ControlPlaneStartError';
  /** The binary that failed. */
  readonly binary: string;
  /** PIDs of every process this attempt started (all stopped by the time this is thrown). */
  pids: number[] = [];
  constructor(binary: string, message: string) {
    super(message);
    this.binary = binary;
  }
}

/** Starts a control plane. Retries once on a port lost to another process between pick and bind. */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  try {
    return await startOnce(opts);
  } catch (err) {
    if (!/address already in use/i.test((err as Error).message)) throw err;
    (opts.log ?? makeLogger('controlplane')).warn('a picked port was taken meanwhile; retrying with new ports');
    return startOnce(opts);
  }
}

async function startOnce(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const name = opts.name ?? 'spotswarm';
  const log = opts.log ?? makeLogger(`controlplane ${name}`);
  const timeoutMs = opts.startTimeoutMs ?? 90_000;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), `spotswarm-${name}-`));
  const logDir = opts.logDir ?? join(dataDir, 'logs');
  const pki = join(dataDir, 'pki');
  for (const d of [dataDir, logDir, pki]) mkdirSync(d, { recursive: true });
  const started = Date.now();
  const procs: ManagedProcess[] = [];
  let stopped = false;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // Controllers first so they do not log errors about a vanished apiserver; etcd last.
    for (const p of [...procs].reverse()) await p.stop();
    // Logs survive only when the caller put them outside the data dir.
    if (!opts.keepDataDir) rmSync(dataDir, { recursive: true, force: true });
    log.info(`stopped (${procs.map((p) => `${p.name} ${p.pid}`).join(', ')})`);
  };

  try {
    const bins = {
      etcd: toolPath('etcd'),
      apiserver: toolPath('kube-apiserver'),
      scheduler: toolPath('kube-scheduler'),
      controllerManager: toolPath('kube-controller-manager'),
    };
    const [etcdPort, etcdPeerPort, apiPort, schedPort, cmPort] = (await freePorts(5)) as [number, number, number, number, number];
    const server = `https://127.0.0.1:${apiPort}`;

    // Token auth: one admin in system:masters, like envtest. The scheduler and
    // controller-manager use it too; they are trusted parts of the control plane.
    const token = randomBytes(24).toString('hex');
    const tokenFile = join(pki, 'tokens.csv');
    writeFileSync(tokenFile, `${token},admin,admin,"system:masters"\n`, { mode: 0o600 });

    // Service-account token signing key (TokenRequest, legacy token secrets).
    const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const saKey = join(pki, 'sa.key');
    const saPub = join(pki, 'sa.pub');
    writeFileSync(saKey, sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(saPub, sa.publicKey.export({ type: 'spki', format: 'pem' }));

    const extra = opts.extraArgs ?? {};
    const launch = (label: string, bin: string, args: string[]): ManagedProcess => {
      const p = startProcess(label, bin, args, join(logDir, `${label}.log`));
      procs.push(p);
      return p;
    };
    const failure = (p: ManagedProcess) => (why: string, lastError: string) =>
      new ControlPlaneStartError(
        p.name,
        `${p.name} (pid ${p.pid}) ${why}${p.exitCode !== null ? ` with exit code ${p.exitCode}` : ''}` +
          `${lastError ? `; last probe error: ${lastError}` : ''}\n--- last lines of ${p.logFile} ---\n${tailFile(p.logFile)}`,
      );

    // etcd
    const etcd = launch('etcd', bins.etcd, [...etcdArgs({ dataDir: join(dataDir, 'etcd'), clientPort: etcdPort, peerPort: etcdPeerPort }), ...(extra.etcd ?? [])]);
    log.info(`etcd starting (pid ${etcd.pid}, 127.0.0.1:${etcdPort})`);
    await pollUntil(async () => (await httpGet(`http://127.0.0.1:${etcdPort}/health`)).body.includes('"health":"true"'), {
      timeoutMs,
      gone: () => !etcd.alive(),
      describe: failure(etcd),
    });
    log.info(`etcd ready (${secs(started)})`);

    // kube-apiserver
    const api = launch('kube-apiserver', bins.apiserver, [
      ...apiserverArgs({ etcdPort, port: apiPort, certDir: pki, tokenFile, saKey, saPub, server }),
      ...(extra.apiserver ?? []),
    ]);
    log.info(`kube-apiserver starting (pid ${api.pid}, ${server})`);
    // The apiserver writes its self-signed serving cert (leaf + its CA) before it serves.
    const certFile = join(pki, 'apiserver.crt');
    await pollUntil(async () => existsSync(certFile) && readFileSync(certFile, 'utf8').includes('END CERTIFICATE'), {
      timeoutMs,
      gone: () => !api.alive(),
      describe: failure(api),
    });
    const caPem = caOf(readFileSync(certFile, 'utf8'));
    const caFile = join(pki, 'ca.crt');
    writeFileSync(caFile, caPem);
    await pollUntil(async () => (await httpGet(`${server}/readyz`, { ca: caPem, token })).body === 'ok', {
      timeoutMs,
      gone: () => !api.alive(),
      describe: failure(api),
    });
    log.info(`kube-apiserver ready (${secs(started)})`);

    const kubeconfigPath = join(dataDir, 'kubeconfig');
    writeKubeconfig(kubeconfigPath, { name, server, token, caPem });

    // kube-scheduler and kube-controller-manager, in parallel.
    const sched = launch('kube-scheduler', bins.scheduler, [
      ...schedulerArgs({ kubeconfig: kubeconfigPath, port: schedPort, certDir: join(pki, 'scheduler') }),
      ...(extra.scheduler ?? []),
    ]);
    const cm = launch('kube-controller-manager', bins.controllerManager, [
      ...controllerManagerArgs({ kubeconfig: kubeconfigPath, port: cmPort, certDir: join(pki, 'controller-manager'), saKey, rootCa: caFile }),
      ...(extra.controllerManager ?? []),
    ]);
    log.info(`kube-scheduler (pid ${sched.pid}) and kube-controller-manager (pid ${cm.pid}) starting`);
    const healthy = (p: ManagedProcess, port: number) =>
      pollUntil(async () => (await httpGet(`https://127.0.0.1:${port}/healthz`, { insecure: true })).body === 'ok', {
        timeoutMs,
        gone: () => !p.alive(),
        describe: failure(p),
      });
    await Promise.all([healthy(sched, schedPort), healthy(cm, cmPort)]);

    // Pods need their namespace's "default" ServiceAccount (the ServiceAccount
    // admission plugin is on, as in real clusters); the controller-manager makes it.
    await pollUntil(async () => (await httpGet(`${server}/api/v1/namespaces/default/serviceaccounts/default`, { ca: caPem, token })).status === 200, {
      timeoutMs,
      gone: () => !cm.alive(),
      describe: failure(cm),
    });
    log.info(`control plane "${name}" ready at ${server} in ${secs(started)}; KUBECONFIG=${kubeconfigPath}`);

    return {
      name,
      kubeconfigPath,
      server,
      token,
      caFile,
      dataDir,
      logDir,
      pids: { etcd: etcd.pid, 'kube-apiserver': api.pid, 'kube-scheduler': sched.pid, 'kube-controller-manager': cm.pid },
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined);
    if (err instanceof ControlPlaneStartError) err.pids = procs.map((p) => p.pid);
    throw err;
  }
}

/** The CA certificate from the apiserver's self-signed bundle: the last PEM block (the first is the leaf). */
export function caOf(bundle: string): string {
  const blocks = bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const ca = blocks[blocks.length - 1];
  if (ca === undefined) throw new Error('kube-apiserver wrote no certificate');
  return `${ca}\n`;
}

function secs(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)}s`;
}
