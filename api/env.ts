/**
 * Environment variables the operator sets on trainer pods and the trainer
 * reads at start-up (only in its main.ts).
 */
export const Env = {
  /** Name of the TrainingSwarm this pod belongs to. */
  SwarmName: 'KUBESWARM_SWARM',
  SwarmNamespace: 'KUBESWARM_NAMESPACE',
  SwarmUid: 'KUBESWARM_SWARM_UID',
  /** The pod's own name (downward API). */
  PodName: 'KUBESWARM_POD_NAME',
  /** The pod's IP, which the trainer announces to peers (downward API). */
  PodIp: 'KUBESWARM_POD_IP',
  /** Cluster (placement) the pod runs in. */
  Cluster: 'KUBESWARM_CLUSTER',
  NatsUrl: 'KUBESWARM_NATS_URL',
  /** NATS credentials: a token, or the contents of a .creds file. */
  NatsCredentials: 'KUBESWARM_NATS_CREDENTIALS',
  /** The swarm's spec.training, as JSON. */
  TrainingSpec: 'KUBESWARM_TRAINING',
  /** The swarm's spec.stopAfter.epochs, when set. */
  StopAfterEpochs: 'KUBESWARM_STOP_AFTER_EPOCHS',
  /** Port for the trainer's libp2p host (0 = any free port). */
  P2pPort: 'KUBESWARM_P2P_PORT',
  /** Port for the trainer's /metrics and /healthz (0 = off). */
  MetricsPort: 'KUBESWARM_METRICS_PORT',
  /** "json" in pods, "text" on a terminal. */
  LogFormat: 'KUBESWARM_LOG_FORMAT',
  LogLevel: 'KUBESWARM_LOG_LEVEL',
} as const;
export type EnvName = (typeof Env)[keyof typeof Env];
