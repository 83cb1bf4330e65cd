/**
 * Bad input on the operator side, against a real control plane:
 *  - the one table of bad specs the API server rejects (CRD schema and CEL),
 *    each naming its field;
 *  - semantic errors the schema cannot catch (a missing credentials Secret,
 *    an unreadable kubeconfig Secret, a model this operator does not know):
 *    a Degraded condition whose reason and message name the problem, a
 *    Warning Event and the spotswarm_swarm_spec_problems gauge, no pods and
 *    no crash loop;
 *  - operator-issued NATS credentials (SPOTSWARM_NATS_AUTH_SECRET, as the
 *    chart runs it): the operator creates the auth Secret, nats-server runs
 *    in operator mode with its auth.conf, the swarm's pods get the swarm's own
 *    .creds Secret, run locked down, and train; telemetry reaches status
 *    through the operator's reader.
 */
import { stringify } from 'yaml';
import { Env, type TrainingSwarm } from '../../api/index.ts';
import { join } from 'node:path';
import { REPO_ROOT, startNats, startRemoteCluster, startSwarmEnv, type NatsServer, type OperatorProcess, type SwarmEnv, type TestCluster, waitFor } from '../../testkit/harness/index.ts';

const AUTH_SECRET = 'spotswarm-nats-auth';
let env: SwarmEnv;
let c: TestCluster;
let op: OperatorProcess;
let authNats: NatsServer;

/** A swarm of this file: the example, named, on the NATS in operator mode. */
const swarm = (name: string, patch: (s: TrainingSwarm) => void = () => {}): TrainingSwarm => {
  const s = env.tinySwarm(name);
  s.spec.nats.url = authNats.url;
  patch(s);
  return s;
};
const degraded = async (name: string): Promise<{ reason: string; message: string } | false> => {
  const d = (await env.status(name)).conditions?.find((x) => x.type === 'Degraded');
  return d?.status === 'True' ? d : false;
};
const events = async (name: string, reason: string): Promise<string[]> => {
  const r = await c.kubectl(['get', 'events', '--field-selector', `involvedObject.name=${name},reason=${reason}`, '-o', 'jsonpath={range .items[*]}{.type}:{.message}{"\\n"}{end}']);
  return r.stdout.split('\n').filter(Boolean);
};
const metrics = async (): Promise<string> => {
  const port = /"metricsPort":(\d+)/.exec(op.log())![1];
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
};

beforeAll(async () => {
  env = await startSwarmEnv({
    name: 'validation',
    nodes: [{ name: 'gpu-0', gpus: 1 }, { name: 'gpu-1', gpus: 1 }, { name: 'gpu-2', gpus: 1 }],
  });
  c = env.c;
  op = env.startOperator('op-v', { env: { SPOTSWARM_NATS_AUTH_SECRET: AUTH_SECRET } });
}, 180_000);

afterAll(async () => {
  await env?.stop();
  await authNats?.stop();
}, 120_000);

describe('operator-issued NATS credentials (operator mode)', () => {
  it('creates the auth Secret on first start; nats-server runs with its auth.conf', async () => {
    const secret = await waitFor(() => c.core.readNamespacedSecret({ namespace: 'spotswarm-system', name: AUTH_SECRET }), { what: 'the NATS auth Secret', timeoutMs: 60_000 });
    expect(Object.keys(secret.data ?? {}).sort()).toEqual(['auth.conf', 'claims.creds', 'operator.jwt', 'signing.seed', 'sys.jwt']);
    const conf = Buffer.from(secret.data!['auth.conf']!, 'base64').toString();
    expect(conf).toMatch(/^operator: ey/m);
    authNats = await startNats({ authConf: conf });
    expect(authNats.output()).toMatch(/Trusted Operators/);
  }, 90_000);
});

describe('the API server rejects bad specs, naming the field', () => {
  it.each([
    ['min > max', (s: any) => { s.spec.peers = { min: 5, max: 2 }; }, 'spec.peers.min'],
    ['negative GPUs', (s: any) => { s.spec.trainer.resources.gpus = -1; }, 'spec.trainer.resources.gpus'],
    ['unknown field', (s: any) => { s.spec.peers.maximum = 3; }, 'spec.peers.maximum'],
    ['empty image', (s: any) => { s.spec.trainer.image = ''; }, 'spec.trainer.image'],
    ['pull Secret without a name', (s: any) => { s.spec.trainer.imagePullSecrets = [{}]; }, 'spec.trainer.imagePullSecrets[0].name'],
    ['unknown compression', (s: any) => { s.spec.training.averaging.compression = 'zip'; }, 'spec.training.averaging.compression'],
    ['zero learning rate', (s: any) => { s.spec.training.optimizer.learningRate = 0; }, 'spec.training.optimizer.learningRate'],
    ['reserved env name', (s: any) => { s.spec.trainer.env = [{ name: 'SPOTSWARM_SWARM', value: 'x' }]; }, 'spec.trainer.env[0]'],
    ['env with both value and valueFrom', (s: any) => { s.spec.trainer.env = [{ name: 'X', value: 'x', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }]; }, 'spec.trainer.env[0]'],
    ['relative data path', (s: any) => { s.spec.training.data.urls = ['data/train.txt']; }, 'spec.training.data.urls[0]'],
    ['nats url without scheme', (s: any) => { s.spec.nats.url = '127.0.0.1:4222'; }, 'spec.nats.url'],
    ['nats replicas 2', (s: any) => { s.spec.nats.replicas = 2; }, 'spec.nats.replicas'],
    ['diloco without innerSteps', (s: any) => { s.spec.training.averaging.mode = 'diloco'; }, 'spec.training.averaging.innerSteps'],
    ['stopAfter beyond the schedule', (s: any) => { s.spec.training.optimizer.totalEpochs = 10; s.spec.stopAfter.epochs = 20; }, 'spec.stopAfter.epochs'],
    ['warm-up as long as the schedule', (s: any) => { s.spec.training.optimizer.totalEpochs = 10; s.spec.training.optimizer.warmupEpochs = 10; s.spec.stopAfter.epochs = 5; }, 'spec.training.optimizer.warmupEpochs'],
    ['group of one', (s: any) => { s.spec.training.averaging.maxGroupSize = 1; }, 'spec.training.averaging.maxGroupSize'],
    ['robust aggregation in groups of two', (s: any) => { s.spec.training.averaging.maxGroupSize = 2; s.spec.training.averaging.robust = { method: 'centered-clip' }; }, 'spec.training.averaging.maxGroupSize'],
    ['a trimmed mean that trims nothing', (s: any) => { s.spec.training.averaging.robust = { method: 'trimmed-mean', trimFraction: 0 }; }, 'spec.training.averaging.robust.trimFraction'],
    ['trimming half of the weight', (s: any) => { s.spec.training.averaging.robust = { method: 'trimmed-mean', trimFraction: 0.5 }; }, 'spec.training.averaging.robust.trimFraction'],
    ['toleration Exists with a value', (s: any) => { s.spec.tolerations = [{ key: 'k', operator: 'Exists', value: 'v' }]; }, 'spec.tolerations[0]'],
    ['unknown model size', (s: any) => { s.spec.training.model.size = 'huge'; }, 'spec.training.model.size'],
    ['sequence length 4', (s: any) => { s.spec.training.model.seqLength = 4; }, 'spec.training.model.seqLength'],
    ['zero target batch', (s: any) => { s.spec.training.targetBatchSize = 0; }, 'spec.training.targetBatchSize'],
    ['mask probability 0.9', (s: any) => { s.spec.training.data.maskProbability = 0.9; }, 'spec.training.data.maskProbability'],
    ['memory that is not a quantity', (s: any) => { s.spec.trainer.resources.memory = 'lots'; }, 'spec.trainer.resources.memory'],
    ['pull policy Sometimes', (s: any) => { s.spec.trainer.imagePullPolicy = 'Sometimes'; }, 'spec.trainer.imagePullPolicy'],
    ['placement name not a DNS label', (s: any) => { s.spec.placements = [{ name: 'DC_1' }]; }, 'spec.placements[0].name'],
    ['two placements in the own cluster', (s: any) => { s.spec.placements = [{ name: 'a' }, { name: 'b' }]; }, 'spec.placements'],
    ['HostPort without a port', (s: any) => { s.spec.placements = [{ name: 'a', network: { mode: 'HostPort' } }]; }, 'spec.placements[0]'],
    // Relay without relays is valid: the operator runs the relay. Its settings are checked instead.
    ['NodePort relay without an address', (s: any) => { s.spec.placements = [{ name: 'a', kubeconfigSecretRef: { name: 'k' }, network: { mode: 'Relay', relay: { serviceType: 'NodePort' } } }]; }, 'spec.placements[0].network.relay'],
    ['relay settings outside Relay mode', (s: any) => { s.spec.placements = [{ name: 'a', network: { mode: 'PodNetwork', relay: { port: 4001 } } }]; }, 'spec.placements[0]'],
  ])('%s', async (_name, mutate, field) => {
    const s = swarm('bad') as any;
    mutate(s);
    const r = await c.kubectl(['create', '--dry-run=server', '-f', '-'], { input: stringify(s) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(field);
  }, 30_000);
});

describe('semantic errors become a Degraded reason, an Event and a metric, never a crash loop', () => {
  it('a missing credentials Secret: CredentialsSecretMissing naming it, no pods; creating the Secret clears it', async () => {
    await env.apply(swarm('nocreds', (s) => { s.spec.nats.credentialsSecretRef = { name: 'nocreds-creds', key: 'nats.creds' }; }));
    const d = await waitFor(() => degraded('nocreds'), { what: 'nocreds Degraded', timeoutMs: 60_000 });
    expect(d.reason).toBe('CredentialsSecretMissing');
    expect(d.message).toContain('spec.nats.credentialsSecretRef: Secret default/nocreds-creds not found');
    expect((await env.status('nocreds')).phase).toBe('Degraded');
    expect(await env.pods('nocreds')).toEqual([]);
    expect(await waitFor(async () => (await events('nocreds', 'CredentialsSecretMissing')).length > 0 && events('nocreds', 'CredentialsSecretMissing'), { what: 'the Warning Event' })).toEqual([expect.stringMatching(/^Warning:spec\.nats\.credentialsSecretRef: Secret default\/nocreds-creds not found/)]);
    expect(await metrics()).toMatch(/spotswarm_swarm_spec_problems\{namespace="default",swarm="nocreds",reason="CredentialsSecretMissing"\} 1/);
    expect(op.log()).not.toMatch(/fatal/);

    await c.core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'nocreds-creds' }, stringData: { 'nats.creds': 'token' } } });
    await waitFor(async () => (await env.pods('nocreds')).length > 0, { what: 'pods once the Secret exists', timeoutMs: 60_000 });
    expect((await env.status('nocreds')).conditions!.find((x) => x.type === 'Degraded')!.reason).not.toBe('CredentialsSecretMissing');
    expect(await metrics()).toMatch(/spotswarm_swarm_spec_problems\{namespace="default",swarm="nocreds",reason="CredentialsSecretMissing"\} 0/);
    await c.kubectl(['delete', 'trainingswarm', 'nocreds', '--wait=false']);
    await waitFor(async () => (await env.pods('nocreds')).length === 0, { what: 'nocreds pods gone', timeoutMs: 60_000 });
  }, 180_000);

  it('an unreadable kubeconfig Secret: KubeconfigSecretInvalid naming the placement field and the Secret', async () => {
    await c.core.createNamespacedSecret({ namespace: 'spotswarm-system', body: { metadata: { name: 'dc2-kubeconfig' }, stringData: { kubeconfig: 'this: [is not a kubeconfig' } } });
    await env.apply(swarm('remote', (s) => {
      s.spec.peers = { min: 0, max: 1, maxPending: 1 };
      s.spec.placements = [{ name: 'dc2', weight: 1, kubeconfigSecretRef: { name: 'dc2-kubeconfig', key: 'kubeconfig' }, network: { mode: 'PodNetwork' } }];
    }));
    const d = await waitFor(async () => { const x = await degraded('remote'); return x && x.reason === 'KubeconfigSecretInvalid' ? x : false; }, { what: 'remote Degraded', timeoutMs: 60_000 });
    expect(d.message).toContain('spec.placements[0].kubeconfigSecretRef (placement dc2): kubeconfig Secret spotswarm-system/dc2-kubeconfig key kubeconfig:');
    // The message goes on with the YAML parser's multi-line excerpt; its first line names the field.
    expect((await waitFor(() => events('remote', 'KubeconfigSecretInvalid').then((e) => e.length > 0 && e), { what: 'the Warning Event' }))[0]).toMatch(/^Warning:spec\.placements\[0\]\.kubeconfigSecretRef/);
    expect(await metrics()).toMatch(/spotswarm_swarm_spec_problems\{namespace="default",swarm="remote",reason="KubeconfigSecretInvalid"\} 1/);
    await c.kubectl(['delete', 'trainingswarm', 'remote', '--wait=false']);
  }, 120_000);

  it('a model size this operator does not know (a newer CRD): UnknownModel naming the field, no pods', async () => {
    // Simulate a CRD upgraded ahead of the operator: its enum allows a size the operator does not know.
    const patch = await c.kubectl(['patch', 'crd', 'trainingswarms.spotswarm.dev', '--type=json', '-p',
      JSON.stringify([{ op: 'add', path: '/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/training/properties/model/properties/size/enum/-', value: 'huge' }])]);
    expect(patch.code).toBe(0);
    try {
      await waitFor(async () => (await c.kubectl(['create', '--dry-run=server', '-f', '-'], { input: stringify(swarm('huge', (s) => { (s.spec.training.model as { size: string }).size = 'huge'; })) })).code === 0, { what: 'the patched CRD in effect' });
      await env.apply(swarm('huge', (s) => { (s.spec.training.model as { size: string }).size = 'huge'; }));
      const d = await waitFor(() => degraded('huge'), { what: 'huge Degraded', timeoutMs: 60_000 });
      expect(d.reason).toBe('UnknownModel');
      expect(d.message).toBe('spec.training.model.size: unknown size "huge" (this operator knows tiny, base, large, xlarge)');
      expect(await env.pods('huge')).toEqual([]);
      expect(await waitFor(() => events('huge', 'UnknownModel').then((e) => e.length > 0 && e), { what: 'the Warning Event' })).toHaveLength(1);
      expect(await metrics()).toMatch(/spotswarm_swarm_spec_problems\{namespace="default",swarm="huge",reason="UnknownModel"\} 1/);
      await c.kubectl(['delete', 'trainingswarm', 'huge']);
    } finally {
      await c.kubectl(['apply', '-f', join(REPO_ROOT, 'crds/trainingswarm.yaml')]);
    }
  }, 120_000);
});

describe('a swarm with operator-issued credentials', () => {
  it('gets its own .creds Secret (owned by the swarm), locked-down pods that connect with it, and telemetry in status', async () => {
    await env.apply(swarm('secure'));
    const secret = await waitFor(() => c.core.readNamespacedSecret({ namespace: 'default', name: 'secure-nats' }), { what: 'the secure-nats Secret', timeoutMs: 60_000 });
    expect(secret.metadata!.ownerReferences).toEqual([expect.objectContaining({ kind: 'TrainingSwarm', name: 'secure', controller: true })]);
    expect(Buffer.from(secret.data!['nats.creds']!, 'base64').toString()).toContain('-----BEGIN NATS USER JWT-----');
    const st = await waitFor(async () => { const s = await env.status('secure'); return s.phase === 'Running' && (s.epoch ?? 0) >= 1 && s.peers?.active === 3 ? s : false; }, { what: 'secure Running with 3 active peers past epoch 1', timeoutMs: 180_000 });
    expect(st.peers!.running).toBe(3);
    for (const p of await env.pods('secure')) {
      const ctr = p.spec!.containers[0]!;
      expect(ctr.env!.find((e) => e.name === Env.NatsCredentials)!.valueFrom!.secretKeyRef).toEqual({ name: 'secure-nats', key: 'nats.creds' });
      expect(p.spec!.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(ctr.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      expect(c.podLog(p.metadata!.name!)).not.toContain('NATS permission denied');
    }
    expect(await metrics()).toMatch(/spotswarm_nats_credentials_issued_total\{reason="missing"\} [1-9]/);
    expect(await metrics()).toMatch(/spotswarm_nats_account_pushes_total\{result="ok"\} [1-9]/);
  }, 240_000);

  it('placed in a second cluster: that cluster gets a copy of the .creds Secret (not owned), its pod connects with it, and the copy goes with the swarm', async () => {
    const dc2 = await startRemoteCluster(env, { name: 'validation-dc2', nodes: [{ name: 'dc2-gpu-0', gpus: 1 }], secretName: 'dc2-ok-kubeconfig' });
    try {
      await env.apply(swarm('abroad', (s) => {
        s.spec.peers = { min: 1, max: 1, maxPending: 0 };
        s.spec.placements = [{ name: 'dc2', weight: 1, kubeconfigSecretRef: { name: 'dc2-ok-kubeconfig', key: 'kubeconfig' }, network: { mode: 'PodNetwork' } }];
      }));
      const copy = await waitFor(() => dc2.core.readNamespacedSecret({ namespace: 'default', name: 'abroad-nats' }), { what: 'the copy of abroad-nats in dc2', timeoutMs: 60_000 });
      const home = await c.core.readNamespacedSecret({ namespace: 'default', name: 'abroad-nats' });
      expect(copy.metadata!.ownerReferences ?? []).toEqual([]);
      expect(copy.metadata!.labels!['spotswarm.dev/swarm-uid']).toBe(home.metadata!.labels!['spotswarm.dev/swarm-uid']);
      expect(Buffer.from(copy.data!['nats.creds']!, 'base64').toString()).toContain('-----BEGIN NATS USER JWT-----');
      // The pod in dc2 trains with it: its telemetry (through the swarm's NATS account) reaches status.
      await waitFor(async () => { const st = await env.status('abroad'); return st.peers?.running === 1 && (st.epoch ?? 0) >= 1; }, { what: 'abroad running in dc2 past epoch 1', timeoutMs: 180_000 });
      const [pod] = (await dc2.core.listNamespacedPod({ namespace: 'default', labelSelector: 'spotswarm.dev/swarm=abroad' })).items;
      expect(dc2.podLog(pod!.metadata!.name!)).not.toMatch(/NATS permission denied|Authorization Violation/);

      expect((await c.kubectl(['delete', 'trainingswarm', 'abroad', '--timeout=120s'])).code).toBe(0);
      expect((await dc2.core.listNamespacedPod({ namespace: 'default', labelSelector: 'spotswarm.dev/swarm=abroad' })).items.filter((p) => !p.metadata?.deletionTimestamp)).toEqual([]);
      await expect(dc2.core.readNamespacedSecret({ namespace: 'default', name: 'abroad-nats' })).rejects.toMatchObject({ code: 404 });
    } finally {
      await dc2.stop();
    }
  }, 360_000);
});
