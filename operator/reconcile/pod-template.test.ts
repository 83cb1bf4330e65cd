import { GPU_RESOURCE, LABEL_SWARM_UID } from '../../api/index.ts';
import { trainerPod, withDefaultImage } from './pod-template.ts';
import { ACCOUNTING_FINALIZER, viewPod } from './pods.ts';
import { tinySwarm } from './testing.ts';

describe('trainerPod', () => {
  const swarm = tinySwarm((s) => {
    s.spec.nats.credentialsSecretRef = { name: 'tiny-nats', key: 'nats.creds' };
    s.spec.trainer.env = [{ name: 'EXTRA', value: '1' }];
  });
  const local = { name: 'local', weight: 1, network: { mode: 'PodNetwork' as const } };
  const p = trainerPod(swarm, { placement: local, remote: false });
  const c = p.spec!.containers[0]!;

  it('is owned by the swarm, labelled with its uid and holds the accounting finalizer', () => {
    expect(p.metadata!.ownerReferences).toEqual([expect.objectContaining({ kind: 'TrainingSwarm', uid: 'uid-1', controller: true })]);
    expect(p.metadata!.labels![LABEL_SWARM_UID]).toBe('uid-1');
    expect(p.metadata!.finalizers).toEqual([ACCOUNTING_FINALIZER]);
    expect(p.metadata!.generateName).toBe('tiny-peer-');
  });

  it('requests GPUs as requests and limits, with the swarm priority class', () => {
    expect(c.resources!.requests![GPU_RESOURCE]).toBe('1');
    expect(c.resources!.limits![GPU_RESOURCE]).toBe('1');
    expect(p.spec!.priorityClassName).toBe('spotswarm-preemptible');
  });

  it('tells the trainer who it is, where NATS is, and what to train', () => {
    const env = new Map(c.env!.map((e) => [e.name, e]));
    expect(env.get('SPOTSWARM_SWARM')!.value).toBe('tiny');
    expect(env.get('SPOTSWARM_POD_IP')!.valueFrom!.fieldRef!.fieldPath).toBe('status.podIP');
    expect(env.get('SPOTSWARM_NATS_URL')!.value).toBe('nats://127.0.0.1:4222');
    expect(env.get('SPOTSWARM_NATS_CREDENTIALS')!.valueFrom!.secretKeyRef).toEqual({ name: 'tiny-nats', key: 'nats.creds' });
    expect(JSON.parse(env.get('SPOTSWARM_TRAINING')!.value!).targetBatchSize).toBe(64);
    expect(env.get('EXTRA')!.value).toBe('1');
    expect(env.get('SPOTSWARM_BACKEND')!.value).toBe('auto');
    // The trainer writes why it exits where the kubelet reads the termination message.
    expect(env.get('SPOTSWARM_TERMINATION_LOG')!.value).toBe(c.terminationMessagePath);
    expect(c.terminationMessagePath).toBe('/dev/termination-log');
  });

  it('leaves out the ownerReference in remote clusters, and applies placement overrides', () => {
    const remote = trainerPod(swarm, { remote: true, placement: { name: 'dc2', weight: 1, priorityClassName: 'dc2-low', nodeSelector: { pool: 'a100' }, network: { mode: 'HostPort', hostPort: 30400 } } });
    expect(remote.metadata!.ownerReferences).toBeUndefined();
    expect(remote.metadata!.labels!['spotswarm.dev/placement']).toBe('dc2');
    expect(remote.spec!.priorityClassName).toBe('dc2-low');
    expect(remote.spec!.nodeSelector).toEqual({ pool: 'a100' });
    expect(remote.spec!.containers[0]!.ports).toEqual([{ name: 'p2p', containerPort: 30400, hostPort: 30400, protocol: 'TCP' }]);
    const env = new Map(remote.spec!.containers[0]!.env!.map((e) => [e.name, e]));
    expect(env.get('SPOTSWARM_NETWORK_MODE')!.value).toBe('HostPort');
    expect(env.get('SPOTSWARM_P2P_PORT')!.value).toBe('30400');
    expect(env.get('SPOTSWARM_ANNOUNCE_HOST')!.valueFrom!.fieldRef!.fieldPath).toBe('status.hostIP');
    expect(env.get('SPOTSWARM_CLUSTER')!.value).toBe('dc2');
  });

  it('serves /metrics on the trainer metrics port of the operator: env and a containerPort named metrics; 0 = a free port, no containerPort', () => {
    expect(c.ports).toBeUndefined();
    expect(c.env!.some((e) => e.name === 'SPOTSWARM_METRICS_PORT')).toBe(false);
    const withPort = trainerPod(swarm, { placement: local, remote: false, metricsPort: 9400 }).spec!.containers[0]!;
    expect(withPort.ports).toEqual([{ name: 'metrics', containerPort: 9400, protocol: 'TCP' }]);
    expect(withPort.env!.find((e) => e.name === 'SPOTSWARM_METRICS_PORT')!.value).toBe('9400');
    const anyPort = trainerPod(swarm, { placement: local, remote: false, metricsPort: 0 }).spec!.containers[0]!;
    expect(anyPort.ports).toBeUndefined();
    expect(anyPort.env!.find((e) => e.name === 'SPOTSWARM_METRICS_PORT')!.value).toBe('0');
  });

  it('passes relays in Relay mode', () => {
    const r = trainerPod(swarm, { remote: true, placement: { name: 'nat', weight: 1, network: { mode: 'Relay', relays: ['/ip4/1.2.3.4/tcp/4001/p2p/12D3KooWA', '/ip4/5.6.7.8/tcp/4001/p2p/12D3KooWB'] } } });
    const env = new Map(r.spec!.containers[0]!.env!.map((e) => [e.name, e.value]));
    expect(env.get('SPOTSWARM_RELAYS')).toBe('/ip4/1.2.3.4/tcp/4001/p2p/12D3KooWA,/ip4/5.6.7.8/tcp/4001/p2p/12D3KooWB');
  });

  it('runs the operator\'s default trainer image when the swarm names none, and the swarm\'s own otherwise', () => {
    expect(swarm.spec.trainer.image).toBeUndefined();
    expect(c.image).toBeUndefined();
    const filled = withDefaultImage(swarm, 'ghcr.io/spotswarm/trainer:0.1.0');
    expect(trainerPod(filled, { placement: local, remote: false }).spec!.containers[0]!.image).toBe('ghcr.io/spotswarm/trainer:0.1.0');
    const own = tinySwarm((s) => { s.spec.trainer.image = 'registry.example/team/trainer:7'; });
    expect(withDefaultImage(own, 'ghcr.io/spotswarm/trainer:0.1.0')).toBe(own);
    expect(withDefaultImage(swarm, '')).toBe(swarm);
  });

  it('sets the swarm\'s image pull Secrets on the pod, and none when it has none', () => {
    expect(p.spec!.imagePullSecrets).toBeUndefined();
    const withSecrets = trainerPod(tinySwarm((s) => { s.spec.trainer.imagePullSecrets = [{ name: 'regcred' }, { name: 'mirror' }]; }), { placement: local, remote: true });
    expect(withSecrets.spec!.imagePullSecrets).toEqual([{ name: 'regcred' }, { name: 'mirror' }]);
  });

  it('runs locked down', () => {
    expect(p.spec!.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
  });
});

describe('viewPod', () => {
  it('classifies DisruptionTarget as preempted even when the pod also failed', () => {
    const v = viewPod({ metadata: { name: 'a', uid: 'u', deletionTimestamp: new Date() }, spec: { containers: [], nodeName: 'n' }, status: { phase: 'Failed', conditions: [{ type: 'DisruptionTarget', status: 'True', reason: 'PreemptionByScheduler' }] } });
    expect(v.ending).toBe('preempted');
    expect(v.running).toBe(false);
  });
  it('classifies a non-zero exit as failed and a deleted running pod as deleted', () => {
    expect(viewPod({ metadata: { name: 'a' }, status: { phase: 'Failed' } }).ending).toBe('failed');
    expect(viewPod({ metadata: { name: 'a', deletionTimestamp: new Date() }, status: { phase: 'Running' } }).ending).toBe('deleted');
    expect(viewPod({ metadata: { name: 'a' }, spec: { containers: [], nodeName: 'n' }, status: { phase: 'Running' } })).toMatchObject({ running: true, scheduled: true });
  });
});
