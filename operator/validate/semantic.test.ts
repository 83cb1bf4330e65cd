import { LOCAL_PLACEMENT } from '../../api/index.ts';
import { reconcileOne, tinySwarm } from '../reconcile/testing.ts';
import { applySpecProblems, semanticProblems } from './semantic.ts';

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
  ])('names %s', (_what, swarm, facts, reason, field, message, blocking) => {
    const ps = semanticProblems(swarm, facts);
    expect(ps).toHaveLength(1);
    expect(ps[0]).toMatchObject({ reason, field, blocking });
    expect(ps[0]!.message).toMatch(message);
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
