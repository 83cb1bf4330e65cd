import { LOCAL_PLACEMENT } from '../../api/index.ts';
import { reconcileOne, tinySwarm } from '../reconcile/testing.ts';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { applySpecProblems, kubeconfigAuthProblem, semanticProblems } from './semantic.ts';

const now = new Date('2026-01-01T00:00:00Z');
const later = new Date('2026-01-01T00:01:00Z');

describe('semanticProblems', () => {
  it('finds nothing wrong with the example swarm', () => {
    expect(semanticProblems(tinySwarm(), {})).toEqual([]);
    expect(semanticProblems(tinySwarm((s) => { s.spec.nats.credentialsSecretRef = { name: 'c', key: 'nats.creds' }; }), { credentialsSecret: { found: true, keys: ['nats.creds'] } })).toEqual([]);
    // The example names no image: the operator's default serves it; a swarm's own image needs no default.
    expect(semanticProblems(tinySwarm(), { defaultTrainerImage: 'ghcr.io/spotswarm/trainer:0.1.0' })).toEqual([]);
    expect(semanticProblems(tinySwarm((s) => { s.spec.trainer.image = 'registry.example/trainer:1'; }), { defaultTrainerImage: '' })).toEqual([]);
  });

  it.each([
    ['a missing credentials Secret', tinySwarm((s) => { s.spec.nats.credentialsSecretRef = { name: 'tiny-creds', key: 'nats.creds' }; }), { credentialsSecret: { found: false as const } },
      'CredentialsSecretMissing', 'spec.nats.credentialsSecretRef', /Secret default\/tiny-creds not found/, true],
    ['a credentials Secret without the key', tinySwarm((s) => { s.spec.nats.credentialsSecretRef = { name: 'tiny-creds', key: 'nats.creds' }; }), { credentialsSecret: { found: true as const, keys: ['token'] } },
      'CredentialsSecretMissing', 'spec.nats.credentialsSecretRef.key', /has no key "nats.creds"/, true],
    ['an unknown model size', tinySwarm((s) => { (s.spec.training.model as { size: string }).size = 'huge'; }), {},
      'UnknownModel', 'spec.training.model.size', /unknown size "huge" \(this operator knows tiny, base, large, xlarge\)/, true],
    ['an unknown architecture', tinySwarm((s) => { (s.spec.training.model as { architecture: string }).architecture = 'gpt'; }), {},
      'UnknownModel', 'spec.training.model.architecture', /unknown architecture "gpt"/, true],
    ['an unreadable kubeconfig', tinySwarm((s) => { s.spec.placements = [{ name: 'here', weight: 1, network: { mode: 'PodNetwork' } }, { name: 'dc2', weight: 1, kubeconfigSecretRef: { name: 'dc2', key: 'kubeconfig' }, network: { mode: 'PodNetwork' } }]; }),
      { placementProblems: { dc2: 'kubeconfig Secret spotswarm-system/dc2 key kubeconfig: not found' } },
      'KubeconfigSecretInvalid', 'spec.placements[1].kubeconfigSecretRef', /spec\.placements\[1\]\.kubeconfigSecretRef \(placement dc2\): kubeconfig Secret spotswarm-system\/dc2 key kubeconfig: not found/, false],
    ['credentials the operator cannot issue', tinySwarm(), { credentialsIssue: 'NATS at nats://x:4222 does not accept account JWTs' },
      'NatsCredentialsUnavailable', 'spec.nats', /cannot issue the swarm's NATS credentials: NATS at/, true],
    ['no trainer image and no default', tinySwarm(), { defaultTrainerImage: '' },
      'TrainerImageMissing', 'spec.trainer.image', /spec\.trainer\.image: not set, and the operator has no default trainer image \(the Helm chart's trainer\.image, SPOTSWARM_TRAINER_IMAGE\)/, true],
    ['no NATS URL and no default', tinySwarm((s) => { delete s.spec.nats.url; }), {},
      'NatsUrlMissing', 'spec.nats.url', /not set, and the operator has no default NATS URL \(SPOTSWARM_DEFAULT_NATS_URL/, true],
    // xlarge, gradient mode: 4 x (64 + 3 x 272911920 x 4) bytes = 12.20 GiB
    ['checkpoints larger than the JetStream store', tinySwarm((s) => { s.spec.training.model.size = 'xlarge'; }), { natsStoreBytes: 2 ** 30 },
      'CheckpointTooLarge', 'spec.training.model.size', /xlarge model \(gradient mode\) take 12\.20 GiB in NATS JetStream \(3 kept \+ 1 being written, 3\.05 GiB each\), more than its 1\.00 GiB store \(SPOTSWARM_NATS_STORE_SIZE/, false],
  ])('names %s', (_what, swarm, facts, reason, field, message, blocking) => {
    const ps = semanticProblems(swarm, facts);
    expect(ps).toHaveLength(1);
    expect(ps[0]).toMatchObject({ reason, field, blocking });
    expect(ps[0]!.message).toMatch(message);
  });

  it('lets checkpoints that fit the store pass: xlarge in the default 16Gi, diloco mode needing a third less', () => {
    const xlarge = tinySwarm((s) => { s.spec.training.model.size = 'xlarge'; });
    expect(semanticProblems(xlarge, { natsStoreBytes: 16 * 2 ** 30 })).toEqual([]);
    const diloco = tinySwarm((s) => { s.spec.training.model.size = 'xlarge'; s.spec.training.averaging.mode = 'diloco'; });
    expect(semanticProblems(diloco, { natsStoreBytes: 9 * 2 ** 30 })).toEqual([]);
    expect(semanticProblems(xlarge, { natsStoreBytes: 9 * 2 ** 30 }).map((p) => p.reason)).toEqual(['CheckpointTooLarge']);
  });

  it('names an exec-plugin kubeconfig ExecKubeconfigUnsupported, with the Secret, the cluster and the supported way', () => {
    const kc = new KubeConfig();
    kc.loadFromString(stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'gke',
      clusters: [{ name: 'gke_proj_europe-west4_train', cluster: { server: 'https://34.1.2.3' } }],
      users: [{ name: 'gke-user', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: 'gke-gcloud-auth-plugin' } } }],
      contexts: [{ name: 'gke', context: { cluster: 'gke_proj_europe-west4_train', user: 'gke-user' } }],
    }));
    const problem = kubeconfigAuthProblem({ user: kc.getCurrentUser(), cluster: kc.getCurrentCluster() });
    expect(problem).toMatch(/user "gke-user" of cluster "gke_proj_europe-west4_train" \(https:\/\/34\.1\.2\.3\) needs a credential plugin \(the exec plugin "gke-gcloud-auth-plugin"\)/);
    expect(problem).toContain('scripts/remote-kubeconfig.sh');
    const swarm = tinySwarm((s) => { s.spec.placements = [{ name: 'gke', weight: 1, kubeconfigSecretRef: { name: 'gke-kubeconfig', key: 'kubeconfig' }, network: { mode: 'PodNetwork' } }]; });
    const ps = semanticProblems(swarm, { placementProblems: { gke: `kubeconfig Secret spotswarm-system/gke-kubeconfig key kubeconfig: ${problem}` } });
    expect(ps).toHaveLength(1);
    expect(ps[0]).toMatchObject({ reason: 'ExecKubeconfigUnsupported', field: 'spec.placements[0].kubeconfigSecretRef', blocking: false });
    expect(ps[0]!.message).toMatch(/^spec\.placements\[0\]\.kubeconfigSecretRef \(placement gke\): kubeconfig Secret spotswarm-system\/gke-kubeconfig key kubeconfig: user "gke-user"/);
    // a token kubeconfig is fine
    expect(kubeconfigAuthProblem({ user: { name: 'sa', token: 't' } as never, cluster: { name: 'c', server: 'https://x' } })).toBeUndefined();
    expect(kubeconfigAuthProblem({ user: { name: 'old', authProvider: { name: 'gcp' } }, cluster: null })).toMatch(/the auth-provider "gcp"/);
  });

  it('never throws on values that are not swarms', () => {
    for (const v of [null, 1, 'x', [], {}, { spec: null }, { spec: { training: { model: [] } } }, { spec: { nats: { credentialsSecretRef: { name: {} } } } }]) {
      expect(Array.isArray(semanticProblems(v, { credentialsSecret: { found: false }, placementProblems: { a: 'b' } }))).toBe(true);
    }
  });
});

describe('applySpecProblems', () => {
  const swarm = tinySwarm((s) => { s.spec.nats.credentialsSecretRef = { name: 'tiny-creds', key: 'nats.creds' }; });
  const problems = semanticProblems(swarm, { credentialsSecret: { found: false } });

  it('turns a blocking problem into Degraded with its reason, creates no pods, and emits one Warning', () => {
    const r = reconcileOne({ swarm, pods: [], now });
    expect(r.create).toBe(3);
    const { result, events } = applySpecProblems(r, swarm.status, problems, 1, now);
    expect(result.actions[LOCAL_PLACEMENT]!.create).toBe(0);
    expect(result.events.map((e) => e.reason)).not.toContain('ScaledUp');
    expect(result.status.phase).toBe('Degraded');
    expect(result.status.conditions!.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'CredentialsSecretMissing', observedGeneration: 1, lastTransitionTime: now.toISOString() });
    expect(result.status.conditions!.find((c) => c.type === 'Degraded')!.message).toMatch(/spec\.nats\.credentialsSecretRef: Secret default\/tiny-creds not found/);
    expect(events).toEqual([{ type: 'Warning', reason: 'CredentialsSecretMissing', message: problems[0]!.message }]);

    // The same problem next time: no new Event, transition time kept.
    const again = applySpecProblems(reconcileOne({ swarm: { ...swarm, status: result.status }, pods: [], now: later }), result.status, problems, 1, later);
    expect(again.events).toEqual([]);
    expect(again.result.status.conditions!.find((c) => c.type === 'Degraded')!.lastTransitionTime).toBe(now.toISOString());

    // Fixed: the reconciler's own Degraded comes back, with a Normal Event saying so.
    const fixed = applySpecProblems(reconcileOne({ swarm: { ...swarm, status: result.status }, pods: [], now: later }), result.status, [], 1, later);
    expect(fixed.result.actions[LOCAL_PLACEMENT]!.create).toBe(3);
    expect(fixed.events.map((e) => e.reason)).toEqual(['SpecProblemsResolved']);
    expect(fixed.result.status.conditions!.find((c) => c.type === 'Degraded')!.reason).not.toBe('CredentialsSecretMissing');
  });

  it('lets pods be created when the problem only concerns one placement', () => {
    const r = reconcileOne({ swarm, pods: [], now });
    const { result } = applySpecProblems(r, undefined, [{ reason: 'KubeconfigSecretInvalid', field: 'spec.placements[1].kubeconfigSecretRef', message: 'm', blocking: false }], 1, now);
    expect(result.actions[LOCAL_PLACEMENT]!.create).toBe(3);
    expect(result.status.conditions!.find((c) => c.type === 'Degraded')!.reason).toBe('KubeconfigSecretInvalid');
  });
});
