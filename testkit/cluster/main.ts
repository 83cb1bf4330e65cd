/**
 * npm run cluster:up -- [--name dc1] [--data-dir DIR] [--nodes N --gpus G]
 *
 * Starts one control plane (and, with --nodes, the test kubelet with N fake
 * GPU nodes), prints the kubeconfig, and stops everything on Ctrl-C/SIGTERM.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startKubelet, type Kubelet } from '../kubelet/index.ts';
import { startControlPlane } from './controlplane.ts';
import { makeLogger } from './log.ts';

const { values } = parseArgs({
  options: {
    name: { type: 'string', default: 'spotswarm' },
    'data-dir': { type: 'string' },
    nodes: { type: 'string', default: '0' },
    gpus: { type: 'string', default: '4' },
    'log-level': { type: 'string', default: 'info' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    'usage: npm run cluster:up -- [--name NAME] [--data-dir DIR] [--nodes N] [--gpus G] [--log-level info]\n' +
      '  Starts etcd, kube-apiserver, kube-scheduler, kube-controller-manager on free 127.0.0.1 ports.\n' +
      '  --nodes N also runs the test kubelet with N fake nodes of G GPUs each (named <name>-gpu-<i>).\n' +
      '  The data dir (default: a temp dir) is removed on exit.\n',
  );
  process.exit(0);
}

const log = makeLogger(`cluster ${values.name}`, values['log-level']);
const repoRoot = resolve(import.meta.dirname, '..', '..');
const cp = await startControlPlane({ name: values.name, log, ...(values['data-dir'] ? { dataDir: resolve(values['data-dir']) } : {}) });
let kubelet: Kubelet | undefined;
let stopping = false;

async function shutdown(signal: string): Promise<void> {
  if (stopping) {
    log.warn(`${signal} again: exiting now (children are killed on exit)`);
    process.exit(130);
  }
  stopping = true;
  log.info(`${signal}: stopping`);
  try {
    await kubelet?.stop();
    await cp.stop();
    process.exit(0);
  } catch (err) {
    log.error(`stop failed: ${(err as Error).message}`);
    process.exit(1);
  }
}
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, () => void shutdown(s));

try {
  const n = Number(values.nodes);
  if (n > 0) {
    const gpus = Number(values.gpus);
    kubelet = await startKubelet({
      kubeconfigPath: cp.kubeconfigPath,
      nodes: Array.from({ length: n }, (_, i) => ({ name: `${values.name}-gpu-${i}`, gpus })),
      repoRoot,
      logDir: join(repoRoot, '.tmp', 'cluster', values.name, 'pods'),
      log,
    });
  }
} catch (err) {
  log.error(`kubelet failed to start: ${(err as Error).message}`);
  await cp.stop();
  process.exit(1);
}

process.stdout.write(`kubeconfig: ${cp.kubeconfigPath}\nexport KUBECONFIG=${cp.kubeconfigPath}\n`);
log.info('running; Ctrl-C stops everything');
