/**
 * The TrainingSwarm custom resource: the contract between a user, the
 * operator and the trainer. crds/trainingswarm.yaml is the single source of
 * the schema; these types mirror it, and api/trainingswarm.test.ts keeps the
 * two in step by validating every example against both.
 */

export const GROUP = 'spotswarm.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'TrainingSwarm';
export const PLURAL = 'trainingswarms';

/** PriorityClass shipped beside the CRD; below cluster-autoscaler's −10 cutoff. */
export const DEFAULT_PRIORITY_CLASS = 'spotswarm-preemptible';
export const DEFAULT_PRIORITY_VALUE = -100;
/** The extended resource that GPU device plugins advertise. */
export const GPU_RESOURCE = 'nvidia.com/gpu';

/** Name of the implicit placement in the operator's own cluster when spec.placements is unset. */
export const LOCAL_PLACEMENT = 'local';
/** Finalizer on a swarm whose pods live in remote clusters, which ownerReferences cannot reach. */
export const REMOTE_PODS_FINALIZER = 'spotswarm.dev/remote-pods';

/** Labels the operator puts on every pod it creates. */
export const LABEL_SWARM = 'spotswarm.dev/swarm';
export const LABEL_SWARM_UID = 'spotswarm.dev/swarm-uid';
export const LABEL_ROLE = 'spotswarm.dev/role';
export const LABEL_PLACEMENT = 'spotswarm.dev/placement';
/** Namespace of the swarm that owns a (possibly remote) pod. */
export const LABEL_SWARM_NAMESPACE = 'spotswarm.dev/swarm-namespace';
export const ROLE_TRAINER = 'trainer';
/** Role label of the circuit relay the operator runs for a swarm with a Relay placement. */
export const ROLE_RELAY = 'relay';

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string | Date;
  deletionTimestamp?: string | Date;
  finalizers?: string[];
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: Record<string, unknown>;
}

export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  tolerationSeconds?: number;
}

export interface TrainerResources {
  /** GPUs (nvidia.com/gpu) each peer requests. 0 runs on CPU. */
  gpus: number;
  /** CPU request and limit per peer, as a Kubernetes quantity. */
  cpu?: string;
  /** Memory request and limit per peer, as a Kubernetes quantity. */
  memory?: string;
}

/** Where the trainer computes (crds/trainingswarm.yaml's enum lists the same); auto is the fallback chain gpu → cpu → wasm. */
export const TRAINER_BACKENDS = ['auto', 'gpu', 'cpu', 'wasm'] as const;
export type TrainerBackend = (typeof TRAINER_BACKENDS)[number];

/**
 * The device a trainer reports it really computes on (status.backends keys):
 * gpu (libtensorflow found a GPU), cpu-fallback (the GPU build of
 * libtensorflow loaded but runs on the CPU), cpu (libtensorflow or pure JS on
 * the CPU) or wasm.
 */
export const BACKEND_DEVICES = ['gpu', 'cpu-fallback', 'cpu', 'wasm'] as const;
export type BackendDevice = (typeof BACKEND_DEVICES)[number];

export interface TrainerSpec {
  /** Unset: the operator's default trainer image (the chart's trainer.image). */
  image?: string;
  /** Where the trainer computes (defaulted to auto by the CRD). */
  backend: TrainerBackend;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /** Secrets (in the swarm's namespace) for pulling the image; copied to remote clusters with the swarm's other Secrets. */
  imagePullSecrets?: { name: string }[];
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  resources: TrainerResources;
}

export interface PeersSpec {
  /** Fewest peers the swarm keeps placed. */
  min: number;
  /** Most peers the swarm places; the scale subresource drives this field. */
  max: number;
  /** Pods allowed to wait in Pending per cluster beyond those that fit on free GPUs. */
  maxPending: number;
}

/** Model size presets the trainer knows (crds/trainingswarm.yaml's enum lists the same). */
export const MODEL_SIZES = ['tiny', 'base', 'large', 'xlarge'] as const;
export type ModelPreset = (typeof MODEL_SIZES)[number];
/** Model architectures the trainer knows. */
export const MODEL_ARCHITECTURES = ['lean-albert'] as const;

export interface ModelSpec {
  /** Architecture; only the LeanALBERT encoder exists today. */
  architecture: (typeof MODEL_ARCHITECTURES)[number];
  /** Size preset, see trainer-image/src/model for the numbers. */
  size: ModelPreset;
  /** Sequence length in tokens. */
  seqLength: number;
}

export interface DataSpec {
  /** Text files or http(s) URLs, read line by line and sharded across peers. */
  urls: string[];
  /** A tokenizer.json path or URL; empty trains one from the data. */
  tokenizer?: string;
  /** Fraction of words masked for MLM. */
  maskProbability: number;
  /** Sequences per local micro-batch. */
  microBatchSize: number;
}

/** Optimizers the trainer knows (crds/trainingswarm.yaml's enum lists the same). */
export const OPTIMIZER_NAMES = ['lamb', 'adam'] as const;
export type OptimizerName = (typeof OPTIMIZER_NAMES)[number];

export interface OptimizerSpec {
  name: OptimizerName;
  learningRate: number;
  warmupEpochs: number;
  totalEpochs?: number;
  weightDecay: number;
  clipGradNorm?: number;
}

/** How peers average (crds/trainingswarm.yaml's enum lists the same). */
export const AVERAGING_MODES = ['gradient', 'diloco'] as const;
export type AveragingMode = (typeof AVERAGING_MODES)[number];
/** Wire compressions of averaged vectors (crds/trainingswarm.yaml's enum lists the same). */
export const COMPRESSIONS = ['auto', 'none', 'fp16', 'int8'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

/** Robust aggregation methods (crds/trainingswarm.yaml's enum lists the same). */
export const ROBUST_METHODS = ['none', 'trimmed-mean', 'centered-clip'] as const;
export type RobustMethod = (typeof ROBUST_METHODS)[number];

/**
 * Robust aggregation: how a reducer bounds the influence of one faulty or
 * malicious peer on its shard (docs/robust-aggregation.md).
 */
export interface RobustAggregation {
  /** none: the sample-weighted mean. trimmed-mean: coordinate-wise, trimmed by weight. centered-clip: BTARD's CenteredClip. */
  method: RobustMethod;
  /** trimmed-mean: fraction of the weight trimmed from each end, per element (whole peers, at least one). */
  trimFraction: number;
  /** centered-clip: clipping radius, as a multiple of the median distance of the parts from their coordinate-wise median. */
  clipTau: number;
  /** centered-clip: iterations from the coordinate-wise median. */
  clipIterations: number;
  /** With a robust method: other peers' claimed samples count at most this multiple of the median measured throughput × their time in the epoch, and a round weight at most this multiple of its group's median weight. */
  maxSamplesRatio: number;
  /** With a robust method: every shard is reduced by three peers (two in a pair), and the result two agree on is applied. */
  verifyReducers: boolean;
}

export interface AveragingSpec {
  mode: AveragingMode;
  /** Largest all-reduce group; larger swarms split into several groups. */
  maxGroupSize: number;
  compression: Compression;
  /** averaging workload: seconds before the ETA at which peers start forming groups (training forms them at the target). */
  matchmakingWindowSeconds: number;
  /** Hard upper bound on one all-reduce round. */
  timeoutSeconds: number;
  /** DiLoCo inner steps between outer steps (mode diloco only). */
  innerSteps?: number;
  /** Average parameters every N epochs to stop drift (0 = never). */
  stateAveragingEvery: number;
  /** Parameter averaging also averages the optimizer's moments. */
  averageOptimizerState: boolean;
  robust: RobustAggregation;
}

export interface TrainingSpec {
  model: ModelSpec;
  data: DataSpec;
  optimizer: OptimizerSpec;
  /** Samples the whole swarm accumulates per optimizer step (one epoch). */
  targetBatchSize: number;
  averaging: AveragingSpec;
  /** Write a checkpoint every N epochs. */
  checkpointEvery: number;
}

export interface SecretKeyRef {
  name: string;
  key: string;
}

export interface NatsSpec {
  /** nats:// URL the trainers connect to; unset, the operator's default (the chart's NATS). */
  url?: string;
  /** Secret holding the swarm's NATS credentials (a .creds file or a token). */
  credentialsSecretRef?: SecretKeyRef;
  /** Replicas of the swarm's JetStream buckets: 1 on a single server, 3 or 5 on a JetStream cluster. */
  replicas: number;
}

export interface StopAfterSpec {
  /** Stop when the swarm reaches this epoch. */
  epochs: number;
}

/** How peers in a placement are reached by peers elsewhere. */
export type NetworkMode = 'PodNetwork' | 'HostPort' | 'Relay';

export interface PlacementNetwork {
  /**
   * PodNetwork: pod IPs are routable between clusters (flat network).
   * HostPort: peers listen on a host port and announce the node's address.
   * Relay: peers behind NAT announce circuit addresses through relays.
   */
  mode: NetworkMode;
  /** Host port for HostPort mode. */
  hostPort?: number;
  /**
   * libp2p multiaddrs of circuit relays (Relay mode), e.g. /dns4/relay.dc1.example/tcp/4001/p2p/12D3...
   * Unset or empty in Relay mode: the operator runs a relay for the swarm in its own cluster.
   */
  relays?: string[];
  /** How the operator exposes the relay it runs (Relay mode without `relays`). */
  relay?: OperatorRelaySpec;
}

export type RelayServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer';

/** Default TCP port of the operator-run relay (container and Service port). */
export const DEFAULT_RELAY_PORT = 4001;
/** Default port of the operator-run relay's /metrics and /healthz. */
export const DEFAULT_RELAY_METRICS_PORT = 9090;

/**
 * The circuit relay the operator runs in its own cluster for a swarm whose
 * Relay placements list no `relays`: one relay per swarm, exposed by a Service.
 */
export interface OperatorRelaySpec {
  /** Service type that exposes the relay. */
  serviceType: RelayServiceType;
  /** The relay's TCP port: container port and Service port. */
  port: number;
  /** Node port (NodePort or LoadBalancer); unset lets Kubernetes pick one. */
  nodePort?: number;
  /**
   * Host (IP or DNS name) trainers dial to reach the relay, in every placement.
   * Unset: the Service's cluster IP (ClusterIP) or its load balancer ingress
   * (LoadBalancer). Required for NodePort.
   */
  address?: string;
  /** Port of the relay's /metrics and /healthz; 0 = off. */
  metricsPort: number;
}

export interface SecretKeySelector {
  name: string;
  key: string;
}

/** One cluster (datacenter) the swarm may place peers in. */
export interface Placement {
  /** Unique name; it is the cluster's name in status and pod env. */
  name: string;
  /** Secret (in the operator's namespace) with a kubeconfig for a remote cluster; unset = the operator's own cluster. */
  kubeconfigSecretRef?: SecretKeySelector;
  /** Most peers in this placement. */
  maxPeers?: number;
  /** Share of the swarm's peers this placement gets when several have free GPUs. */
  weight: number;
  priorityClassName?: string;
  nodeSelector?: Record<string, string>;
  tolerations?: Toleration[];
  network: PlacementNetwork;
}

export interface TrainingSwarmSpec {
  trainer: TrainerSpec;
  peers: PeersSpec;
  priorityClassName: string;
  nodeSelector?: Record<string, string>;
  tolerations?: Toleration[];
  /** Clusters to place peers in; unset places them in the operator's own cluster. */
  placements?: Placement[];
  training: TrainingSpec;
  nats: NatsSpec;
  stopAfter?: StopAfterSpec;
}

export type Phase = 'Pending' | 'Running' | 'Degraded' | 'Succeeded' | 'Failed';

export const CONDITION_READY = 'Ready';
export const CONDITION_PROGRESSING = 'Progressing';
export const CONDITION_DEGRADED = 'Degraded';
export type ConditionType = typeof CONDITION_READY | typeof CONDITION_PROGRESSING | typeof CONDITION_DEGRADED;

/** Condition reasons, a closed set so that tools can match on them. */
export const Reasons = {
  WaitingForPeers: 'WaitingForPeers',
  BelowMinPeers: 'BelowMinPeers',
  Scaling: 'Scaling',
  Stable: 'Stable',
  PeersFailing: 'PeersFailing',
  AsExpected: 'AsExpected',
  Completed: 'Completed',
  Paused: 'Paused',
  StopAfterReached: 'StopAfterReached',
  ClusterUnreachable: 'ClusterUnreachable',
  /** spec.nats.credentialsSecretRef names a Secret (or key) that does not exist. */
  CredentialsSecretMissing: 'CredentialsSecretMissing',
  /** A placement's kubeconfig Secret is missing or holds no usable kubeconfig. */
  KubeconfigSecretInvalid: 'KubeconfigSecretInvalid',
  /** spec.training.model names a size or architecture this operator does not know. */
  UnknownModel: 'UnknownModel',
  /** The operator could not issue the swarm's NATS credentials. */
  NatsCredentialsUnavailable: 'NatsCredentialsUnavailable',
  /** spec.trainer.image is unset and the operator has no default trainer image. */
  TrainerImageMissing: 'TrainerImageMissing',
  /** spec.nats.url is unset and the operator has no default NATS URL. */
  NatsUrlMissing: 'NatsUrlMissing',
  /** The swarm's checkpoints would not fit the NATS JetStream store (api/checkpoints.ts). */
  CheckpointTooLarge: 'CheckpointTooLarge',
  /** A placement's kubeconfig needs an exec credential plugin (cloud CLI), which the operator image does not have. */
  ExecKubeconfigUnsupported: 'ExecKubeconfigUnsupported',
  /** Ready: an epoch advanced within the progress window. */
  Training: 'Training',
  /** Ready False: peers run but no epoch has advanced yet (starting, building the model). */
  WaitingForProgress: 'WaitingForProgress',
  /** Peers run, but no epoch advanced within the progress window. */
  NoProgress: 'NoProgress',
  /** A trainer reports that it cannot read spec.training.data. */
  DataUnreadable: 'DataUnreadable',
  /** Trainers exited because they could not connect to spec.nats.url. */
  NatsUnreachable: 'NatsUnreachable',
  /** Trainers exited because spec.trainer.backend cannot be used on their node. */
  BackendUnavailable: 'BackendUnavailable',
  /** A GPU swarm whose reporting peers all compute on the CPU. */
  BackendFallback: 'BackendFallback',
  /** Progressing: a peer is downloading the swarm's state. */
  DownloadingState: 'DownloadingState',
} as const;
export type Reason = (typeof Reasons)[keyof typeof Reasons];

/** metav1.Condition. */
export interface Condition {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface PeerCounts {
  desired: number;
  scheduled: number;
  running: number;
  /** Peers alive in the swarm (reporting telemetry), not merely Running pods. */
  active?: number;
  /** "running/desired", for the Peers printer column. */
  summary: string;
}

/** Per-cluster counts. */
export interface ClusterStatus {
  name: string;
  running: number;
  /** Pods waiting to be scheduled. */
  pending: number;
  /** Free GPUs on nodes this swarm may use. */
  freeGpus?: number;
  reachable: boolean;
  /** Pods last seen in the cluster while it cannot be reached. */
  unknown?: number;
  unreachableSince?: string;
}

export interface TrainingSwarmStatus {
  phase?: Phase;
  observedGeneration?: number;
  peers?: PeerCounts;
  preemptions?: number;
  failures?: number;
  /** Trainer failures since the last pod that ran healthily; drives the backoff. */
  consecutiveFailures?: number;
  lastFailureTime?: string;
  /** The reason a failed trainer gave in its termination message (NatsUnreachable, BackendUnavailable), if any. */
  lastFailureReason?: string;
  /** The last failed trainer's termination message. */
  lastFailureMessage?: string;
  /** When the operator last saw the swarm's epoch advance. */
  lastEpochTime?: string;
  /** Live peers by the device they compute on (gpu, cpu-fallback, cpu, wasm). */
  backends?: Record<string, number>;
  /** UIDs of ended pods already counted whose accounting finalizer is being released. */
  accountedPods?: string[];
  conditions?: Condition[];
  selector?: string;
  epoch?: number;
  samplesPerSecond?: number;
  loss?: number;
  /** Seconds until the swarm reaches targetBatchSize at its current rate. */
  etaSeconds?: number;
  /** Latest checkpoint a peer wrote (the final one once Succeeded). */
  checkpoint?: string;
  /** The swarm's pass over its corpus (0: the first); absent for a generated corpus. */
  dataPass?: number;
  /** Percent of the corpus read in that pass. */
  dataDonePercent?: number;
  clusters?: ClusterStatus[];
}

export interface TrainingSwarm {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: ObjectMeta;
  spec: TrainingSwarmSpec;
  status?: TrainingSwarmStatus;
}

/** The label selector string of a swarm's pods, as the scale subresource wants it. */
export function podSelector(swarmName: string): string {
  return `${LABEL_SWARM}=${swarmName},${LABEL_ROLE}=${ROLE_TRAINER}`;
}
