/** The chart, checked with the real helm binary: lint, render, schema, and that it ships the same CRD as crds/. */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';
import { toolPath } from '../../testkit/cluster/index.ts';

const run = promisify(execFile);
const chart = dirname(fileURLToPath(import.meta.url));
const root = join(chart, '../..');
const KUBE_VERSION = '1.35.4';

async function helm(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await run(toolPath('helm'), args, { cwd: chart });
    return { ...r, code: 0 };
  } catch (e) {
    const err = e as { stdout: string; stderr: string; code: number };
    return { stdout: err.stdout, stderr: err.stderr, code: err.code };
  }
}

async function render(...set: string[]): Promise<any[]> {
  const r = await helm('template', 'ks', '.', '--namespace', 'spotswarm-system', '--kube-version', KUBE_VERSION, ...set.flatMap((s) => ['--set', s]));
  expect(r.stderr).toBe('');
  return parseAllDocuments(r.stdout).map((d) => d.toJS()).filter(Boolean);
}

describe('helm chart', () => {
  it('passes helm lint', async () => {
    const r = await helm('lint', '.', '--kube-version', KUBE_VERSION);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('0 chart(s) failed');
  });

  it('renders the operator, least-privilege RBAC, PriorityClass, NATS and the metrics Service', async () => {
    const kinds = (await render()).map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(kinds).toEqual([
      'ClusterRole/ks-operator', 'ClusterRoleBinding/ks-operator', 'ConfigMap/ks-nats-config', 'Deployment/ks-operator',
      'PriorityClass/spotswarm-preemptible', 'Role/ks-operator-leader-election', 'RoleBinding/ks-operator-leader-election',
      'Service/ks-nats', 'Service/ks-operator-metrics', 'ServiceAccount/ks-operator', 'StatefulSet/ks-nats',
    ]);
  });

  it('grants the operator exactly these permissions', async () => {
    const objs = await render();
    const rules = objs.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role')
      .flatMap((o) => o.rules.map((r: any) => `${o.kind}: ${r.apiGroups.join(',') || 'core'} ${r.resources.join(',')} [${r.verbs.join(',')}]`));
    expect(rules).toEqual([
      'ClusterRole: spotswarm.dev trainingswarms [get,list,watch,patch]',
      'ClusterRole: spotswarm.dev trainingswarms/status [get,update,patch]',
      'ClusterRole: spotswarm.dev trainingswarms/finalizers [update]',
      'ClusterRole: core pods [get,list,watch,create,delete,patch]',
      'ClusterRole: core nodes [list,watch]',
      'ClusterRole: core events [create,patch]',
      'ClusterRole: core secrets [get,create,update]',
      'ClusterRole: core secrets [create]',
      'ClusterRole: core services [get,create,update]',
      'ClusterRole: apps deployments [get,create,update]',
      'Role: coordination.k8s.io leases [get,create,update]',
    ]);
    // Without NATS auth the operator reads Secrets by name (credentials and kubeconfig Secrets) and creates relay key Secrets; it never updates one.
    const off = (await render('nats.auth.enabled=false')).filter((o) => o.kind === 'ClusterRole').flatMap((o) => o.rules.filter((r: any) => r.resources.includes('secrets')).map((r: any) => r.verbs.join(',')));
    expect(off).toEqual(['get', 'create']);
  });

  it('turns NATS operator mode on: the operator makes the auth Secret, NATS loads its auth.conf with a full resolver', async () => {
    const objs = await render();
    const env = objs.find((o) => o.kind === 'Deployment').spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'SPOTSWARM_NATS_AUTH_SECRET', value: 'ks-nats-auth' });
    const sts = objs.find((o) => o.kind === 'StatefulSet');
    expect(sts.spec.template.spec.containers[0].args[0]).toBe('--config=/etc/nats/nats.conf');
    expect(sts.spec.template.spec.volumes[0].projected.sources).toContainEqual({ secret: { name: 'ks-nats-auth', items: [{ key: 'auth.conf', path: 'auth/auth.conf' }] } });
    expect(objs.find((o) => o.kind === 'ConfigMap').data['nats.conf']).toMatch(/resolver: \{ type: full, dir: \$NATS_RESOLVER_DIR/);
    expect(sts.spec.template.spec.containers[0].env).toContainEqual({ name: 'NATS_RESOLVER_DIR', value: '/data/jwt' });
    const off = await render('nats.auth.enabled=false');
    expect(off.find((o) => o.kind === 'Deployment').spec.template.spec.containers[0].env.map((e: any) => e.name)).not.toContain('SPOTSWARM_NATS_AUTH_SECRET');
    expect(off.some((o) => o.kind === 'ConfigMap')).toBe(false);
  });

  it('runs the operator with leader election, non-root and locked down', async () => {
    const dep = (await render('operator.replicas=2')).find((o) => o.kind === 'Deployment');
    expect(dep.spec.replicas).toBe(2);
    const c = dep.spec.template.spec.containers[0];
    expect(c.env).toContainEqual({ name: 'SPOTSWARM_LEADER_ELECT', value: 'true' });
    expect(dep.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
  });

  it('gives the operator the trainer image at the chart appVersion as its default, and pull Secrets for its own image', async () => {
    const appVersion = parse(readFileSync(join(chart, 'Chart.yaml'), 'utf8')).appVersion as string;
    const spec = (objs: any[]) => objs.find((o) => o.kind === 'Deployment').spec.template.spec;
    const byDefault = spec(await render());
    expect(byDefault.containers[0].env).toContainEqual({ name: 'SPOTSWARM_TRAINER_IMAGE', value: `ghcr.io/spotswarm/trainer:${appVersion}` });
    expect(byDefault.containers[0].image).toBe(`ghcr.io/spotswarm/operator:${appVersion}`);
    expect(byDefault.imagePullSecrets).toBeUndefined();
    const mirrored = spec(await render('trainer.image.repository=registry.example/ml/trainer', 'trainer.image.tag=v7', 'operator.imagePullSecrets[0].name=regcred'));
    expect(mirrored.containers[0].env).toContainEqual({ name: 'SPOTSWARM_TRAINER_IMAGE', value: 'registry.example/ml/trainer:v7' });
    expect(mirrored.imagePullSecrets).toEqual([{ name: 'regcred' }]);
  });

  it("points swarms without spec.nats.url at the chart's NATS Service, on its port, and tells the operator the JetStream volume size", async () => {
    const objs = await render('nats.port=4300', 'nats.monitorPort=8300');
    const env = objs.find((o) => o.kind === 'Deployment').spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'SPOTSWARM_DEFAULT_NATS_URL', value: 'nats://ks-nats.spotswarm-system.svc:4300' });
    expect(env).toContainEqual({ name: 'SPOTSWARM_NATS_STORE_SIZE', value: '16Gi' });
    expect(objs.find((o) => o.kind === 'Service' && o.metadata.name === 'ks-nats').spec.ports).toEqual([{ name: 'client', port: 4300, targetPort: 'client' }]);
    const sts = objs.find((o) => o.kind === 'StatefulSet');
    expect(sts.spec.template.spec.containers[0].args).toEqual(expect.arrayContaining(['--port=4300', '--http_port=8300']));
    expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('16Gi');
    const external = (await render('nats.deploy=false', 'nats.url=nats://nats.example:4222')).find((o) => o.kind === 'Deployment').spec.template.spec.containers[0].env;
    expect(external).toContainEqual({ name: 'SPOTSWARM_DEFAULT_NATS_URL', value: 'nats://nats.example:4222' });
    expect(external.map((e: any) => e.name)).not.toContain('SPOTSWARM_NATS_STORE_SIZE');
  });

  it('runs NATS as a 3-server JetStream cluster with routes between the servers', async () => {
    const objs = await render('nats.replicas=3');
    const sts = objs.find((o) => o.kind === 'StatefulSet');
    expect(sts.spec.replicas).toBe(3);
    expect(sts.spec.serviceName).toBe('ks-nats-headless');
    const args: string[] = sts.spec.template.spec.containers[0].args;
    expect(args).toContain('--cluster_name=ks-nats');
    expect(args.find((a) => a.startsWith('--routes='))!.split(',')).toHaveLength(3);
    expect(objs.some((o) => o.kind === 'Service' && o.spec.clusterIP === 'None')).toBe(true);
  });

  it('uses an existing NATS instead of deploying one', async () => {
    const objs = await render('nats.deploy=false', 'nats.url=nats://nats.example:4222');
    expect(objs.some((o) => o.kind === 'StatefulSet')).toBe(false);
  });

  it.each([
    ['priorityClass.value=5', '/priorityClass/value'],
    ['operator.replicas=0', '/operator/replicas'],
    ['nats.deploy=false', '/nats/url'],
    ['operator.logLevel=loud', '/operator/logLevel'],
    ['nats.replicas=2', '/nats/replicas'],
    ['unknown=1', 'unknown'],
    ['trainer.image.repository=', '/trainer/image/repository'],
    ['operator.imagePullSecrets[0].nam=regcred', '/operator/imagePullSecrets/0'],
    ['monitoring.serviceMonitor.interval=soon', '/monitoring/serviceMonitor/interval'],
    ['monitoring.trainerMetrics.port=0', '/monitoring/trainerMetrics/port'],
    ['monitoring.podMonitor.extra=1', 'extra'],
  ])('values.schema.json rejects %s', async (set, field) => {
    const r = await helm('template', 'ks', '.', '--kube-version', KUBE_VERSION, '--set', set);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(field);
  });

  it('ships the same CRD as crds/, and the same PriorityClass', async () => {
    expect(readFileSync(join(chart, 'crds/trainingswarm.yaml'), 'utf8')).toBe(readFileSync(join(root, 'crds/trainingswarm.yaml'), 'utf8'));
    const pc = (await render()).find((o) => o.kind === 'PriorityClass');
    const shipped = parse(readFileSync(join(root, 'crds/priorityclass.yaml'), 'utf8'));
    expect({ name: pc.metadata.name, value: pc.value, preemptionPolicy: pc.preemptionPolicy }).toEqual({ name: shipped.metadata.name, value: shipped.value, preemptionPolicy: shipped.preemptionPolicy });
  });
});

describe('helm chart: monitoring', () => {
  const dashboardFile = join(chart, 'dashboards/spotswarm.json');

  it('renders no monitors, no dashboard and no trainer metrics port by default', async () => {
    const objs = await render();
    expect(objs.some((o) => o.kind === 'ServiceMonitor' || o.kind === 'PodMonitor' || o.metadata.labels?.grafana_dashboard)).toBe(false);
    expect(objs.find((o) => o.kind === 'Deployment').spec.template.spec.containers[0].env.map((e: any) => e.name)).not.toContain('SPOTSWARM_TRAINER_METRICS_PORT');
  });

  it('renders a ServiceMonitor that selects the operator metrics Service and keeps its per-swarm labels', async () => {
    const objs = await render('monitoring.serviceMonitor.enabled=true', 'monitoring.serviceMonitor.labels.release=kps');
    const sm = objs.find((o) => o.kind === 'ServiceMonitor');
    expect(sm.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(sm.metadata.labels.release).toBe('kps');
    const svc = objs.find((o) => o.kind === 'Service' && o.metadata.name === 'ks-operator-metrics');
    expect(svc.metadata.labels).toMatchObject(sm.spec.selector.matchLabels);
    const nats = objs.filter((o) => o.kind === 'Service' && o.metadata.name !== 'ks-operator-metrics');
    for (const s of nats) expect(s.metadata.labels).not.toMatchObject(sm.spec.selector.matchLabels);
    expect(sm.spec.namespaceSelector).toEqual({ matchNames: ['spotswarm-system'] });
    expect(sm.spec.endpoints).toEqual([{ port: svc.spec.ports[0].name, path: '/metrics', interval: '30s', honorLabels: true }]);
    const r = await helm('template', 'ks', '.', '--kube-version', KUBE_VERSION, '--set', 'monitoring.serviceMonitor.enabled=true', '--set', 'metrics.service=false');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('monitoring.serviceMonitor.enabled needs metrics.service=true');
  });

  it('renders a PodMonitor for trainer pods in every namespace, and the operator gives trainer pods the metrics port', async () => {
    const objs = await render('monitoring.podMonitor.enabled=true', 'monitoring.podMonitor.interval=15s');
    const pm = objs.find((o) => o.kind === 'PodMonitor');
    expect(pm.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(pm.spec.selector).toEqual({ matchLabels: { 'spotswarm.dev/role': 'trainer' } });
    expect(pm.spec.namespaceSelector).toEqual({ any: true });
    expect(pm.spec.podMetricsEndpoints[0]).toMatchObject({ port: 'metrics', path: '/metrics', interval: '15s' });
    expect(pm.spec.podMetricsEndpoints[0].relabelings).toContainEqual({ sourceLabels: ['__meta_kubernetes_pod_label_spotswarm_dev_swarm'], targetLabel: 'swarm' });
    const env = objs.find((o) => o.kind === 'Deployment').spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'SPOTSWARM_TRAINER_METRICS_PORT', value: '9400' });
    const only = await render('monitoring.trainerMetrics.enabled=true', 'monitoring.trainerMetrics.port=9500');
    expect(only.some((o) => o.kind === 'PodMonitor')).toBe(false);
    expect(only.find((o) => o.kind === 'Deployment').spec.template.spec.containers[0].env).toContainEqual({ name: 'SPOTSWARM_TRAINER_METRICS_PORT', value: '9500' });
  });

  it('ships the dashboard JSON unchanged in a ConfigMap labelled grafana_dashboard: "1", and the same file in docs/', async () => {
    const objs = await render('monitoring.dashboard.enabled=true', 'monitoring.dashboard.namespace=grafana', 'monitoring.dashboard.annotations.grafana_folder=spotswarm');
    const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.labels?.grafana_dashboard === '1');
    expect(cm.metadata).toMatchObject({ name: 'ks-dashboard', namespace: 'grafana', annotations: { grafana_folder: 'spotswarm' } });
    expect(cm.data['spotswarm.json']).toBe(readFileSync(dashboardFile, 'utf8').trimEnd());
    expect(JSON.parse(cm.data['spotswarm.json']).uid).toBe('spotswarm-swarm');
    expect(readFileSync(join(root, 'docs/grafana/spotswarm-dashboard.json'), 'utf8')).toBe(readFileSync(dashboardFile, 'utf8'));
  });
});
