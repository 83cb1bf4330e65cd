/**
 * Environment variables the operator sets on trainer pods and the trainer
 * reads at start-up (only in its main.ts).
 */
export const Env = {
  /** Name of the TrainingSwarm this pod belongs to. */
  SwarmName: 'SPOTSWARM_SWARM',
  SwarmNamespace: 'SPOTSWARM_NAMESPACE',
  SwarmUid: 'SPOTSWARM_SWARM_UID',
  /** The pod's own name (downward API). */
  PodName: 'SPOTSWARM_POD_NAME',
  /** The pod's IP, which the trainer announces to peers (downward API). */
  PodIp: 'SPOTSWARM_POD_IP',
  /** Cluster (placement) the pod runs in. */
  Cluster: 'SPOTSWARM_CLUSTER',
  NatsUrl: 'SPOTSWARM_NATS_URL',
  /** Replicas of the swarm's JetStream buckets (1, or 3/5 on a clustered NATS). */
  NatsReplicas: 'SPOTSWARM_NATS_REPLICAS',
  /** NATS credentials: a token, or the contents of a .creds file. */
  NatsCredentials: 'SPOTSWARM_NATS_CREDENTIALS',
  /** The swarm's spec.training, as JSON. */
  TrainingSpec: 'SPOTSWARM_TRAINING',
  /** The swarm's spec.stopAfter.epochs, when set. */
  StopAfterEpochs: 'SPOTSWARM_STOP_AFTER_EPOCHS',
  /** How peers elsewhere reach this one: PodNetwork, HostPort or Relay (a placement's network.mode). */
  NetworkMode: 'SPOTSWARM_NETWORK_MODE',
  /** The address to announce in HostPort mode: the node's IP (downward API status.hostIP). */
  AnnounceHost: 'SPOTSWARM_ANNOUNCE_HOST',
  /**
   * Comma-separated circuit-relay multiaddrs, each with /p2p/<relay peer id>
   * (Relay mode): the trainer listens only through these relays.
   */
  Relays: 'SPOTSWARM_RELAYS',
  /** Relay workload: its libp2p private key, base64 of the protobuf encoding (from the relay's Secret). */
  RelayPrivateKey: 'SPOTSWARM_RELAY_PRIVATE_KEY',
  /** Relay workload: comma-separated multiaddrs (without /p2p/) the relay announces; peers dial these. Default: its listen address. */
  RelayAnnounce: 'SPOTSWARM_RELAY_ANNOUNCE',
  /** Relay workload: most reservations (trainers listening through it) at once. */
  RelayMaxReservations: 'SPOTSWARM_RELAY_MAX_RESERVATIONS',
  /** Port for the trainer's libp2p host (0 = any free port). */
  P2pPort: 'SPOTSWARM_P2P_PORT',
  /** Port for the trainer's /metrics and /healthz (unset = off; 0 = a free port, logged as metricsPort). The relay reads it too, with 0 = off. */
  MetricsPort: 'SPOTSWARM_METRICS_PORT',
  /** "json" in pods, "text" on a terminal. */
  LogFormat: 'SPOTSWARM_LOG_FORMAT',
  LogLevel: 'SPOTSWARM_LOG_LEVEL',
  /** Seconds a membership entry lives after its last refresh (default 10). */
  MembershipTtlSeconds: 'SPOTSWARM_MEMBERSHIP_TTL_SECONDS',
  /**
   * What the trainer runs: "train" (the default: LeanALBERT with the
   * collaborative optimizer), "averaging" (a synthetic averaging workload, for
   * data-plane tests), or "relay" (a libp2p circuit relay for peers behind NAT; no NATS).
   */
  Workload: 'SPOTSWARM_WORKLOAD',
  /** Training workload: held-out batches evaluated on the global parameters after every epoch (default 0 = off; tests). */
  EvalBatches: 'SPOTSWARM_EVAL_BATCHES',
  /** Training workload: TensorFlow.js backend preference, comma-separated (default tfjs-node-gpu,tfjs-node,wasm,cpu). */
  Backends: 'SPOTSWARM_BACKENDS',
  /** Training workload: spec.trainer.backend (auto, gpu, cpu, wasm); gpu fails when no GPU is usable. SPOTSWARM_BACKENDS applies with auto only. */
  Backend: 'SPOTSWARM_BACKEND',
  /** The container's terminationMessagePath: a fatal problem is written there before exiting (default /dev/termination-log). */
  TerminationLog: 'SPOTSWARM_TERMINATION_LOG',
  /** Seconds the trainer tries to reach NATS at start before it exits with NatsUnreachable (default 60). */
  NatsConnectTimeoutSeconds: 'SPOTSWARM_NATS_CONNECT_TIMEOUT_SECONDS',
  /** Training workload, fault injection for tests: epochs at which this peer sends a NaN gradient to its group. */
  FaultNanGradientEpochs: 'SPOTSWARM_FAULT_NAN_GRADIENT_EPOCHS',
  /**
   * Training workload, fault injection for tests: a Byzantine peer that tampers with every
   * gradient it sends. "scale:<factor>" multiplies it (e.g. scale:1000, scale:-100),
   * "random:<std>" replaces it with Gaussian noise of that standard deviation, "nan" fills it with NaN.
   */
  FaultByzantine: 'SPOTSWARM_FAULT_BYZANTINE',
  /**
   * Training workload, fault injection for tests: a Byzantine reducer that tampers with every
   * result it computes for its shard before sending it (same syntax as SPOTSWARM_FAULT_BYZANTINE).
   */
  FaultByzantineResults: 'SPOTSWARM_FAULT_BYZANTINE_RESULTS',
  /** Averaging workload: size of the synthetic vector in MiB (decimal, e.g. "64" or "0.25"). */
  SyntheticVectorMb: 'SPOTSWARM_SYNTHETIC_VECTOR_MB',
  /** Averaging workload: seed of the synthetic vector's content (default: the peer id). */
  SyntheticSeed: 'SPOTSWARM_SYNTHETIC_SEED',
  /** Averaging workload: synthetic samples per second this peer accumulates. */
  SyntheticSamplesPerSecond: 'SPOTSWARM_SYNTHETIC_SAMPLES_PER_SECOND',
  /** Averaging workload: stop accumulating at this many samples per epoch (0 or unset = no cap). */
  SyntheticSamplesPerEpoch: 'SPOTSWARM_SYNTHETIC_SAMPLES_PER_EPOCH',
  /** Averaging workload: directory to write each round's resulting vector to (for tests). */
  SyntheticDumpDir: 'SPOTSWARM_SYNTHETIC_DUMP_DIR',

  // The operator's own settings (operator/config.ts), set in its Deployment. It also reads
  // MetricsPort, LogFormat and LogLevel above, with the same meaning.
  /** Path of a kubeconfig; unset means the in-cluster service account. */
  Kubeconfig: 'KUBECONFIG',
  /**
   * Path prefix of the in-cluster service-account files (token, ca.crt, namespace under
   * /var/run/secrets/kubernetes.io/serviceaccount), as client-node's loadFromCluster takes it.
   * Unset on a real node; a runtime without mount namespaces (the test kubelet) sets it to the pod's root.
   */
  InClusterRoot: 'SPOTSWARM_IN_CLUSTER_ROOT',
  /** NATS URL of swarms that leave out spec.nats.url: the chart sets its NATS Service (or nats.url). */
  DefaultNatsUrl: 'SPOTSWARM_DEFAULT_NATS_URL',
  /** Size of the JetStream file store (a Kubernetes quantity, e.g. 16Gi): swarms whose checkpoints do not fit are Degraded. */
  NatsStoreSize: 'SPOTSWARM_NATS_STORE_SIZE',
  /** Name of the operator's cluster in placements and pod env. */
  ClusterName: 'SPOTSWARM_CLUSTER_NAME',
  /** The operator's namespace (downward API): its leader-election Lease and kubeconfig Secrets live there. */
  OperatorNamespace: 'POD_NAMESPACE',
  /** The operator replica's pod name (downward API): its leader-election identity. */
  OperatorPodName: 'POD_NAME',
  LeaseName: 'SPOTSWARM_LEASE_NAME',
  LeaderElect: 'SPOTSWARM_LEADER_ELECT',
  LeaseDurationSeconds: 'SPOTSWARM_LEASE_DURATION_SECONDS',
  RenewDeadlineSeconds: 'SPOTSWARM_RENEW_DEADLINE_SECONDS',
  RetryPeriodSeconds: 'SPOTSWARM_RETRY_PERIOD_SECONDS',
  MetricsHost: 'SPOTSWARM_METRICS_HOST',
  /** Swarms the operator reconciles at once. */
  Concurrency: 'SPOTSWARM_CONCURRENCY',
  /** Token of the operator's own NATS user (reads telemetry). */
  NatsToken: 'SPOTSWARM_NATS_TOKEN',
  /** Secret with the NATS operator-mode auth bundle; set, the operator issues each swarm its credentials. */
  NatsAuthSecret: 'SPOTSWARM_NATS_AUTH_SECRET',
  /** Lifetime of the trainer credentials the operator issues. */
  NatsCredentialsTtlHours: 'SPOTSWARM_NATS_CREDENTIALS_TTL_HOURS',
  /** The trainer image for swarms that leave out spec.trainer.image (the chart sets it from trainer.image). */
  DefaultTrainerImage: 'SPOTSWARM_TRAINER_IMAGE',
  /** Port the trainer pods serve /metrics on (their SPOTSWARM_METRICS_PORT, and a containerPort named `metrics` when above 0); unset = no trainer metrics. */
  TrainerMetricsPort: 'SPOTSWARM_TRAINER_METRICS_PORT',
} as const;
export type EnvName = (typeof Env)[keyof typeof Env];

/** Key in the relay's Secret that holds its private key (see Env.RelayPrivateKey). */
export const RELAY_KEY_SECRET_KEY = 'privateKey';
