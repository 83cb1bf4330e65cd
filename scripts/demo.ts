/**
 * npm run demo [-- --exit] [--epochs 3] [--timeout 600] [--chaos] [--chaos-interval 30] [--nodes 3] [--gpus 1] [--plot out.png]
 *
 * The whole system on one machine: a real control plane, a nats-server with
 * JetStream, the test kubelet with fake GPU nodes, the operator (with leader
 * election) and the tiny example swarm. Waits (at most `--timeout` seconds)
 * until the swarm has trained `--epochs` epochs and reports loss and
 * samples/s, then prints `kubectl get trainingswarms -o wide`, the pods and
 * the swarm's Events.
 * Without --exit it then prints a live table until Ctrl-C, and stops every
 * process it started. `--chaos` evicts a random running trainer pod every
 * `--chaos-interval` seconds; with --exit, two evictions and the recovery
 * from them happen before the printout. `--plot out.png` writes a PNG of
 * the loss and the running peers over time, from the statuses the demo read
 * until the printout (scripts/demo/plot.ts).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { GROUP, PLURAL, VERSION, type TrainingSwarm } from '../api/index.ts';
import { startControlPlane, type ControlPlane, makeLogger, toolPath, toolsDir } from '../testkit/cluster/index.ts';
import { runKubectl, waitFor, startNats, type NatsServer, startOperator, type OperatorProcess } from '../testkit/harness/index.ts';
import { startKubelet, type Kubelet } from '../testkit/kubelet/index.ts';
import { chaosUntilRecovered, evictRandomPeer, runChaos } from './demo/chaos.ts';
import { renderPlot, sampleOf, type StatusSample } from './demo/plot.ts';
import { liveView, waitForTraining, type ReadStatus } from './demo/watch.ts';

const { values } = parseArgs({
  options: {
    exit: { type: 'boolean', default: false },
    nodes: { type: 'string', default: '3' },
    gpus: { type: 'string', default: '1' },
    epochs: { type: 'string', default: '3' },
    // Generous for a loaded 2-core machine, where the tiny swarm needs a few minutes.
    timeout: { type: 'string', default: '600' },
    chaos: { type: 'boolean', default: false },
    'chaos-interval': { type: 'string', default: '30' },
    plot: { type: 'string' },
  },
});
function positiveInt(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`--${flag} must be a positive integer, not ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return n;
}
const nodes = positiveInt('nodes', values.nodes);
const gpus = positiveInt('gpus', values.gpus);
const wantEpochs = positiveInt('epochs', values.epochs);
const chaosIntervalMs = positiveInt('chaos-interval', values['chaos-interval']) * 1000;
const timeoutMs = positiveInt('timeout', values.timeout) * 1000;
/** Evictions `--exit --chaos` waits for before it prints. */
const EXIT_CHAOS_EVICTIONS = 2;
const SWARM = 'tiny';

const root = resolve(import.meta.dirname, '..');
const swarm = parse(readFileSync(join(root, 'crds/examples/tiny.yaml'), 'utf8')) as TrainingSwarm;
const stopAt = swarm.spec.stopAfter?.epochs;
// The swarm completes and removes its pods there, so a later epoch never comes.
if (stopAt !== undefined && wantEpochs >= stopAt) {
  process.stderr.write(`--epochs must be below the example's spec.stopAfter.epochs (${stopAt}), not ${wantEpochs}\n`);
  process.exit(2);
}
const logDir = join(root, '.tmp', 'demo');
rmSync(logDir, { recursive: true, force: true });
mkdirSync(logDir, { recursive: true });
const log = makeLogger('demo', 'info');

let cp: ControlPlane | undefined;
let nats: NatsServer | undefined;
let kubelet: Kubelet | undefined;
let operator: OperatorProcess | undefined;
/** Aborted when the demo stops, so that chaos and the live table end first. */
const stopping = new AbortController();

async function stopAll(code: number): Promise<never> {
  if (stopping.signal.aborted) process.exit(130);
  stopping.abort();
  log.info('stopping everything the demo started');
  await operator?.stop().catch(() => {});
  await kubelet?.stop().catch(() => {});
  await nats?.stop().catch(() => {});
  await cp?.stop().catch(() => {});
  process.exit(code);
}
for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, () => void stopAll(0));

async function kubectl(...args: string[]): Promise<string> {
  const r = await runKubectl(cp!.kubeconfigPath, args);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** The Events section of `kubectl describe`, the part that tells what the operator did. */
function eventsSection(describe: string): string {
  const at = describe.search(/^Events:/m);
  return at < 0 ? '(no Events section in kubectl describe)\n' : describe.slice(at);
}

async function main(): Promise<void> {
  log.info('building or locating the control-plane tools (cached after the first run)');
  // Only what the demo runs: Prometheus and helm are for tests, and would lengthen a first run.
  toolsDir(['etcd', 'kubernetes', 'nats-server']);
  cp = await startControlPlane({ name: 'demo', log, logDir: join(logDir, 'controlplane') });
  nats = await startNats();
  log.info(`nats-server with JetStream at ${nats.url}`);
  await kubectl('apply', '-f', join(root, 'crds/'));
  await kubectl('wait', '--for', 'condition=established', 'crd/trainingswarms.spotswarm.dev', '--timeout=60s');
  await kubectl('create', 'namespace', 'spotswarm-system');
  kubelet = await startKubelet({
    kubeconfigPath: cp.kubeconfigPath,
    nodes: Array.from({ length: nodes }, (_, i) => ({ name: `gpu-${i}`, gpus })),
    repoRoot: root,
    logDir: join(logDir, 'pods'),
    log,
  });
  operator = startOperator({ kubeconfigPath: cp.kubeconfigPath, identity: 'spotswarm-operator-0', logDir });
  log.info(`operator started (pid ${operator.pid}, log ${operator.logFile})`);

  swarm.spec.nats = { ...swarm.spec.nats, url: nats.url };
  const applied = spawn(toolPath('kubectl'), ['--kubeconfig', cp.kubeconfigPath, 'apply', '-f', '-'], { stdio: ['pipe', 'inherit', 'inherit'] });
  applied.stdin.end(stringify(swarm));
  await new Promise((r) => applied.once('exit', r));

  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const appliedAt = Date.now();
  // Every status read until the printout, for --plot.
  let samples: StatusSample[] | undefined = values.plot ? [] : undefined;
  const read: ReadStatus = async () => {
    const st = ((await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: 'default', name: SWARM })) as TrainingSwarm).status ?? {};
    samples?.push(sampleOf((Date.now() - appliedAt) / 1000, st));
    return st;
  };

  const want = Math.min(swarm.spec.peers.max, nodes * gpus);
  await waitFor(async () => ((await read()).peers?.running ?? 0) >= want, { what: `${want} running peers`, timeoutMs: 120_000 });
  log.info(`${want} trainer pods run; they now find each other over NATS and libp2p and start training`);
  await waitForTraining({ read, wantEpochs, timeoutMs, progressEveryMs: 5_000, log });

  const chaos = { evict: () => evictRandomPeer(core, SWARM), intervalMs: chaosIntervalMs, log, signal: stopping.signal };
  if (values.chaos && values.exit) {
    log.info(`chaos: evicting a random running trainer pod every ${chaosIntervalMs / 1000}s, ${EXIT_CHAOS_EVICTIONS} times`);
    await chaosUntilRecovered({ ...chaos, read, evictions: EXIT_CHAOS_EVICTIONS, timeoutMs });
  }
  if (values.plot && samples) {
    writeFileSync(values.plot, await renderPlot(samples, `${SWARM}: loss and peers running, ${samples.length} status reads${values.chaos ? ', with chaos' : ''}`));
    log.info(`wrote the plot of ${samples.length} status reads to ${values.plot}`);
    samples = undefined;
  }
  process.stdout.write(`\n$ kubectl get trainingswarms -o wide\n${await kubectl('get', 'trainingswarms', '-o', 'wide')}`);
  process.stdout.write(`\n$ kubectl get pods -o wide\n${await kubectl('get', 'pods', '-o', 'wide')}`);
  process.stdout.write(`\n$ kubectl describe trainingswarm ${SWARM}   # the Events section\n${eventsSection(await kubectl('describe', 'trainingswarm', SWARM))}`);
  if (values.exit) await stopAll(0);
  process.stdout.write([
    '',
    'The swarm is training. In another terminal:',
    `  export KUBECONFIG=${cp.kubeconfigPath}`,
    `  ${toolPath('kubectl')} get trainingswarms -o wide -w`,
    `  kubectl describe trainingswarm ${SWARM}`,
    `  kubectl scale trainingswarm ${SWARM} --replicas=1`,
    `Logs: ${logDir}`,
    'Ctrl-C stops everything.',
    '',
    '',
  ].join('\n'));
  if (values.chaos) {
    log.info(`chaos: evicting a random running trainer pod every ${chaosIntervalMs / 1000}s until Ctrl-C`);
    void runChaos(chaos);
  }
  await liveView({ read, everyMs: 5_000, write: (line) => process.stdout.write(`${line}\n`), signal: stopping.signal });
}

main().catch(async (err: unknown) => {
  log.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  log.error(`logs of every process are in ${logDir}`);
  await stopAll(1);
});
