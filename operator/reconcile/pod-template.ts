/** The trainer Pod the operator creates for a swarm: a pure function of the swarm. */
import type { V1ContainerPort, V1EnvVar, V1Pod } from '@kubernetes/client-node';
import {
  API_VERSION, Env, GPU_RESOURCE, KIND, LABEL_PLACEMENT, LABEL_ROLE, LABEL_SWARM, LABEL_SWARM_UID, ROLE_TRAINER,
  type Placement, type TrainingSwarm,
} from '../../api/index.ts';
import { ACCOUNTING_FINALIZER } from './pods.ts';

/** Long enough for a trainer to finish or hand off the shard it is reducing. */
export const TERMINATION_GRACE_SECONDS = 30;
/** Where the trainer writes why it exits (Kubernetes' default terminationMessagePath); the operator reads it from the pod's status. */
export const TERMINATION_MESSAGE_PATH = '/dev/termination-log';
/** Unprivileged uid of the trainer image. */
const TRAINER_UID = 65532;

export interface PodTemplateOptions {
  /** The placement (cluster) the pod goes to. */
  placement: Placement;
  /** A pod in another cluster than the swarm: no ownerReference (it cannot cross clusters). */
  remote: boolean;
  /** Port of the trainer's /metrics (a containerPort named `metrics` when above 0; 0 = a free port the trainer logs); unset = none. */
  metricsPort?: number;
}

function fieldEnv(name: string, fieldPath: string): V1EnvVar {
  return { name, valueFrom: { fieldRef: { fieldPath } } };
}

/** Which swarm a pod serves and how it reaches the swarm's NATS (trainers, and the relay that admits their members). */
export function swarmNatsEnv(swarm: TrainingSwarm): V1EnvVar[] {
  const { nats } = swarm.spec;
  const env: V1EnvVar[] = [
    { name: Env.SwarmName, value: swarm.metadata.name ?? '' },
    { name: Env.SwarmNamespace, value: swarm.metadata.namespace ?? 'default' },
    { name: Env.SwarmUid, value: swarm.metadata.uid ?? '' },
    { name: Env.NatsUrl, value: nats.url },
    { name: Env.NatsReplicas, value: String(nats.replicas) },
  ];
  if (nats.credentialsSecretRef) {
    env.push({ name: Env.NatsCredentials, valueFrom: { secretKeyRef: { name: nats.credentialsSecretRef.name, key: nats.credentialsSecretRef.key } } });
  }
  return env;
}

/** spec.trainer.imagePullSecrets as a pod spec's imagePullSecrets (trainers and the relay, which runs the same image). */
export function pullSecrets(swarm: TrainingSwarm): { imagePullSecrets?: { name: string }[] } {
  const refs = swarm.spec.trainer.imagePullSecrets ?? [];
  return refs.length ? { imagePullSecrets: refs.map(({ name }) => ({ name })) } : {};
}

/** The swarm with spec.trainer.image filled from the operator's default when it leaves it out; unchanged otherwise. */
export function withDefaultImage(swarm: TrainingSwarm, defaultImage: string): TrainingSwarm {
  if (swarm.spec.trainer.image || !defaultImage) return swarm;
  return { ...swarm, spec: { ...swarm.spec, trainer: { ...swarm.spec.trainer, image: defaultImage } } };
}

export function trainerPod(swarm: TrainingSwarm, opts: PodTemplateOptions): V1Pod {
  const name = swarm.metadata.name ?? '';
  const uid = swarm.metadata.uid ?? '';
  const { trainer, training, stopAfter } = swarm.spec;
  const pl = opts.placement;
  const net = pl.network;
  const env: V1EnvVar[] = [
    ...swarmNatsEnv(swarm),
    { name: Env.Cluster, value: pl.name },
    { name: Env.NetworkMode, value: net.mode },
    fieldEnv(Env.PodName, 'metadata.name'),
    fieldEnv(Env.PodIp, 'status.podIP'),
    { name: Env.TrainingSpec, value: JSON.stringify(training) },
    { name: Env.LogFormat, value: 'json' },
    { name: Env.Backend, value: trainer.backend ?? 'auto' },
    { name: Env.TerminationLog, value: TERMINATION_MESSAGE_PATH },
  ];
  if (stopAfter) env.push({ name: Env.StopAfterEpochs, value: String(stopAfter.epochs) });
  if (net.mode === 'HostPort') {
    env.push({ name: Env.P2pPort, value: String(net.hostPort) }, fieldEnv(Env.AnnounceHost, 'status.hostIP'));
  }
  if (net.mode === 'Relay') env.push({ name: Env.Relays, value: (net.relays ?? []).join(',') });
  if (opts.metricsPort !== undefined) env.push({ name: Env.MetricsPort, value: String(opts.metricsPort) });
  env.push(...((trainer.env ?? []) as V1EnvVar[]));

  const ports: V1ContainerPort[] = [];
  if (net.mode === 'HostPort') ports.push({ name: 'p2p', containerPort: net.hostPort!, hostPort: net.hostPort!, protocol: 'TCP' });
  if (opts.metricsPort) ports.push({ name: 'metrics', containerPort: opts.metricsPort, protocol: 'TCP' });

  const quantities: Record<string, string> = {};
  if (trainer.resources.gpus > 0) quantities[GPU_RESOURCE] = String(trainer.resources.gpus);
  if (trainer.resources.cpu) quantities['cpu'] = trainer.resources.cpu;
  if (trainer.resources.memory) quantities['memory'] = trainer.resources.memory;

  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: `${name}-peer-`,
      namespace: swarm.metadata.namespace,
      labels: {
        [LABEL_SWARM]: name,
        [LABEL_SWARM_UID]: uid,
        [LABEL_ROLE]: ROLE_TRAINER,
        [LABEL_PLACEMENT]: pl.name,
        'app.kubernetes.io/name': 'spotswarm-trainer',
        'app.kubernetes.io/instance': name,
        'app.kubernetes.io/managed-by': 'spotswarm',
      },
      // Remote pods are cleaned up through the swarm's remote-pods finalizer instead.
      ...(opts.remote ? {} : { ownerReferences: [{ apiVersion: API_VERSION, kind: KIND, name, uid, controller: true, blockOwnerDeletion: true }] }),
      finalizers: [ACCOUNTING_FINALIZER],
    },
    spec: {
      restartPolicy: 'Never',
      priorityClassName: pl.priorityClassName ?? swarm.spec.priorityClassName,
      terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
      enableServiceLinks: false,
      automountServiceAccountToken: false,
      ...pullSecrets(swarm),
      ...(pl.nodeSelector ?? swarm.spec.nodeSelector ? { nodeSelector: pl.nodeSelector ?? swarm.spec.nodeSelector } : {}),
      ...(pl.tolerations ?? swarm.spec.tolerations ? { tolerations: pl.tolerations ?? swarm.spec.tolerations } : {}),
      securityContext: {
        runAsNonRoot: true,
        runAsUser: TRAINER_UID,
        runAsGroup: TRAINER_UID,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [{
        name: 'trainer',
        image: trainer.image,
        imagePullPolicy: trainer.imagePullPolicy,
        ...(trainer.command?.length ? { command: trainer.command } : {}),
        ...(trainer.args?.length ? { args: trainer.args } : {}),
        env,
        terminationMessagePath: TERMINATION_MESSAGE_PATH,
        terminationMessagePolicy: 'File',
        resources: { requests: quantities, limits: quantities },
        ...(ports.length > 0 ? { ports } : {}),
        securityContext: {
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        },
        volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
      }],
      volumes: [{ name: 'tmp', emptyDir: {} }],
    },
  };
}
