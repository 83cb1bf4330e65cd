/**
 * npm run demo [-- --exit] [--nodes 3] [--gpus 1]
 *
 * The whole system on one machine: a real control plane, a nats-server with
 * JetStream, the test kubelet with fake GPU nodes, the operator (with leader
 * election) and the tiny example swarm. Prints `kubectl get trainingswarms`
 * once the peers run. Without --exit it stays up until Ctrl-C, then stops
 * every process it started.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { parse, stringify } from 'yaml';
import { startControlPlane, type ControlPlane, makeLogger, toolPath, toolsDir } from '../testkit/cluster/index.ts';
import { runKubectl, waitFor, startNats, type NatsServer, startOperator, type OperatorProcess } from '../testkit/harness/index.ts';
import { startKubelet, type Kubelet } from '../testkit/kubelet/index.ts';

const { values } = parseArgs({
  options: {
    exit: { type: 'boolean', default: false },
    nodes: { type: 'string', default: '3' },
    gpus: { type: 'string', default: '1' },
  },
});
const root = resolve(import.meta.dirname, '..');
const logDir = join(root, '.tmp', 'demo');
rmSync(logDir, { recursive: true, force: true });
mkdirSync(logDir, { recursive: true });
const log = makeLogger('demo', 'info');

let cp: ControlPlane | undefined;
let nats: NatsServer | undefined;
let kubelet: Kubelet | undefined;
let operator: OperatorProcess | undefined;
let stopping = false;

async function stopAll(code: number): Promise<never> {
  if (stopping) process.exit(130);
  stopping = true;
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

async function main(): Promise<void> {
  log.info('building or locating the control-plane tools (cached after the first run)');
  toolsDir();
  cp = await startControlPlane({ name: 'demo', log, logDir: join(logDir, 'controlplane') });
  nats = await startNats();
  log.info(`nats-server with JetStream at ${nats.url}`);
  await kubectl('apply', '-f', join(root, 'crds/'));
  await kubectl('wait', '--for', 'condition=established', 'crd/trainingswarms.spotswarm.dev', '--timeout=60s');
  await kubectl('create', 'namespace', 'spotswarm-system');
  const n = Number(values.nodes);
  kubelet = await startKubelet({
    kubeconfigPath: cp.kubeconfigPath,
    nodes: Array.from({ length: n }, (_, i) => ({ name: `gpu-${i}`, gpus: Number(values.gpus) })),
    repoRoot: root,
    logDir: join(logDir, 'pods'),
    log,
  });
  operator = startOperator({ kubeconfigPath: cp.kubeconfigPath, identity: 'spotswarm-operator-0', logDir });
  log.info(`operator started (pid ${operator.pid}, log ${operator.logFile})`);

  const swarm = parse(readFileSync(join(root, 'crds/examples/tiny-cpu.yaml'), 'utf8'));
  swarm.spec.nats.url = nats.url;
  const applied = spawn(toolPath('kubectl'), ['--kubeconfig', cp.kubeconfigPath, 'apply', '-f', '-'], { stdio: ['pipe', 'inherit', 'inherit'] });
  applied.stdin.end(stringify(swarm));
  await new Promise((r) => applied.once('exit', r));

  const want = Math.min(swarm.spec.peers.max as number, n * Number(values.gpus));
  await waitFor(async () => {
    const running = await kubectl('get', 'trainingswarm', 'tiny', '-o', 'jsonpath={.status.peers.running}');
    return Number(running) >= want;
  }, { what: `${want} running peers`, timeoutMs: 120_000 });

  process.stdout.write(`\n$ kubectl get trainingswarms\n${await kubectl('get', 'trainingswarms')}`);
  process.stdout.write(`\n$ kubectl get pods -o wide\n${await kubectl('get', 'pods', '-o', 'wide')}`);
  if (values.exit) await stopAll(0);
  process.stdout.write([
    '',
    'The swarm is running. In another terminal:',
    `  export KUBECONFIG=${cp.kubeconfigPath}`,
    `  ${toolPath('kubectl')} get trainingswarms -w`,
    '  kubectl describe trainingswarm tiny',
    '  kubectl scale trainingswarm tiny --replicas=1',
    `Logs: ${logDir}`,
    'Ctrl-C stops everything.',
    '',
  ].join('\n'));
  for (;;) await sleep(60_000);
}

main().catch(async (err: unknown) => {
  log.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll(1);
});
