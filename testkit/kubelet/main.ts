/**
 * node testkit/kubelet/main.ts --kubeconfig PATH [--nodes 2] [--gpus 4] [--prefix gpu]
 *   [--cpu 8] [--memory 64Gi] [--labels k=v,k2=v2] [--log-dir DIR]
 *
 * Runs the test kubelet against a cluster until Ctrl-C. Stopping it kills its
 * pods and stops the heartbeats but leaves the Node objects, so the cluster
 * sees the nodes go NotReady, as when a datacenter drops out.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { makeLogger } from '../cluster/index.ts';
import { startKubelet } from './kubelet.ts';

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string', default: process.env.KUBECONFIG },
    nodes: { type: 'string', default: '1' },
    gpus: { type: 'string', default: '4' },
    prefix: { type: 'string', default: 'gpu' },
    cpu: { type: 'string', default: '8' },
    memory: { type: 'string', default: '64Gi' },
    labels: { type: 'string', default: '' },
    'log-dir': { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help || !values.kubeconfig) {
  process.stdout.write(
    'usage: node testkit/kubelet/main.ts --kubeconfig PATH [--nodes N] [--gpus G] [--prefix gpu] [--cpu 8] [--memory 64Gi]\n' +
      '         [--labels k=v,...] [--log-dir DIR] [--log-level info]\n' +
      '  --kubeconfig defaults to $KUBECONFIG. Pod logs go to --log-dir (default .tmp/kubelet/<prefix>/pods).\n',
  );
  process.exit(values.help ? 0 : 2);
}

const repoRoot = resolve(import.meta.dirname, '..', '..');
const log = makeLogger(`kubelet ${values.prefix}`, values['log-level']);
const labels = Object.fromEntries(
  values.labels
    .split(',')
    .filter((kv) => kv.includes('='))
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);
const kubelet = await startKubelet({
  kubeconfigPath: resolve(values.kubeconfig),
  nodes: Array.from({ length: Number(values.nodes) }, (_, i) => ({
    name: `${values.prefix}-${i}`,
    gpus: Number(values.gpus),
    cpu: values.cpu,
    memory: values.memory,
    labels,
  })),
  repoRoot,
  logDir: values['log-dir'] ? resolve(values['log-dir']) : join(repoRoot, '.tmp', 'kubelet', values.prefix, 'pods'),
  log,
});

let stopping = false;
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(s, () => {
    if (stopping) process.exit(130);
    stopping = true;
    log.info(`${s}: stopping pods`);
    kubelet.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error(String(err));
        process.exit(1);
      },
    );
  });
}
