/**
 * The circuit relay the operator runs for a swarm whose Relay placements list
 * no `relays` (clusters behind NAT): pure templates of its key Secret,
 * Service and Deployment, in the swarm's namespace of the operator's own
 * cluster and owned by the swarm, and the multiaddr that those placements'
 * trainers get in SPOTSWARM_RELAYS.
 *
 * One relay serves the whole swarm. It runs the trainer image with
 * SPOTSWARM_WORKLOAD=relay (trainer-image/src/relay/); its libp2p key is
 * generated once by the operator and kept in the Secret, so the relay's peer
 * id, and with it the multiaddr, is known before the relay starts and stays
 * the same across restarts. The Deployment has no priority class: the relay
 * carries a whole NAT placement's traffic and must not be the first pod a
 * scheduler evicts, as the preemptible trainers are.
 */
import { createHash } from 'node:crypto';
import type { V1Deployment, V1EnvVar, V1Secret, V1Service } from '@kubernetes/client-node';
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import {
  API_VERSION, DEFAULT_RELAY_METRICS_PORT, DEFAULT_RELAY_PORT, Env, KIND, LABEL_ROLE, LABEL_SWARM, LABEL_SWARM_UID, RELAY_KEY_SECRET_KEY, ROLE_RELAY,
  type OperatorRelaySpec, type Placement, type TrainingSwarm,
} from '../../api/index.ts';
import { pullSecrets, swarmNatsEnv } from './pod-template.ts';

/** Annotation with a hash of what the operator wants an object to be; a different hash means "update it". */
export const RELAY_SPEC_HASH_ANNOTATION = 'spotswarm.dev/relay-spec-hash';
/** Unprivileged uid of the trainer image (as for trainer pods). */
const RELAY_UID = 65532;

/** A Relay placement that lists no relays gets the operator's relay. */
export function needsOperatorRelay(pl: Placement): boolean {
  return pl.network.mode === 'Relay' && (pl.network.relays ?? []).length === 0;
}

/** The relay's settings: those of the first placement that uses it and sets them, else the defaults. */
export function relaySettings(placements: readonly Placement[]): OperatorRelaySpec {
  const set = placements.find((p) => needsOperatorRelay(p) && p.network.relay)?.network.relay;
  return {
    serviceType: set?.serviceType ?? 'ClusterIP',
    port: set?.port ?? DEFAULT_RELAY_PORT,
    metricsPort: set?.metricsPort ?? DEFAULT_RELAY_METRICS_PORT,
    ...(set?.nodePort !== undefined ? { nodePort: set.nodePort } : {}),
    ...(set?.address !== undefined ? { address: set.address } : {}),
  };
}

function shortHash(s: string, n: number): string {
  return createHash('sha256').update(s).digest('hex').slice(0, n);
}

/**
 * Name of the relay's Secret, Service and Deployment: `<swarm>-relay`, a
 * DNS-1035 label (Service names must start with a letter and fit in 63
 * characters); longer or digit-led swarm names are cut and get a hash.
 */
export function relayName(swarm: TrainingSwarm): string {
  const name = swarm.metadata.name ?? '';
  const plain = `${name}-relay`;
  if (plain.length <= 63 && /^[a-z]/.test(plain)) return plain;
  const head = `r-${name}`.slice(0, 63 - '-relay-'.length - 8).replace(/-+$/, '');
  return `${head}-relay-${shortHash(name, 8)}`;
}

function labels(swarm: TrainingSwarm): Record<string, string> {
  const name = swarm.metadata.name ?? '';
  return {
    [LABEL_SWARM]: name,
    [LABEL_SWARM_UID]: swarm.metadata.uid ?? '',
    [LABEL_ROLE]: ROLE_RELAY,
    'app.kubernetes.io/name': 'spotswarm-relay',
    'app.kubernetes.io/instance': name,
    'app.kubernetes.io/managed-by': 'spotswarm',
  };
}

/** Pods of the relay Deployment; also the Service's selector. */
export function relaySelector(swarm: TrainingSwarm): Record<string, string> {
  return { [LABEL_SWARM]: swarm.metadata.name ?? '', [LABEL_ROLE]: ROLE_RELAY };
}

function ownerReferences(swarm: TrainingSwarm) {
  return [{ apiVersion: API_VERSION, kind: KIND, name: swarm.metadata.name ?? '', uid: swarm.metadata.uid ?? '', controller: true, blockOwnerDeletion: true }];
}

/** True when the object is owned by this swarm (same uid): the operator only ever changes its own. */
export function ownedBy(obj: { metadata?: { ownerReferences?: { uid?: string }[] } }, swarm: TrainingSwarm): boolean {
  return (obj.metadata?.ownerReferences ?? []).some((o) => o.uid === swarm.metadata.uid);
}

/** The Secret with the relay's libp2p private key (base64 of its protobuf encoding). */
export function relaySecret(swarm: TrainingSwarm, privateKeyBase64: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: { name: relayName(swarm), namespace: swarm.metadata.namespace ?? 'default', labels: labels(swarm), ownerReferences: ownerReferences(swarm) },
    data: { [RELAY_KEY_SECRET_KEY]: Buffer.from(privateKeyBase64, 'utf8').toString('base64') },
  };
}

/** The relay key (base64 protobuf, as the relay reads it) held in a relay Secret, if any. */
export function relayKeyOf(secret: V1Secret): string | undefined {
  const d = secret.data?.[RELAY_KEY_SECRET_KEY];
  return d === undefined ? undefined : Buffer.from(d, 'base64').toString('utf8');
}

/** The peer id of a relay key; throws on a key that is not one. */
export function relayPeerId(privateKeyBase64: string): string {
  return peerIdFromPrivateKey(privateKeyFromProtobuf(Buffer.from(privateKeyBase64, 'base64'))).toString();
}

function withHash<T extends { metadata?: { annotations?: Record<string, string> } }>(obj: T, hashed: unknown): T {
  obj.metadata = { ...obj.metadata, annotations: { ...obj.metadata?.annotations, [RELAY_SPEC_HASH_ANNOTATION]: shortHash(JSON.stringify(hashed), 16) } };
  return obj;
}

/** The spec hash the operator put on an object (undefined if none). */
export function specHashOf(obj: { metadata?: { annotations?: Record<string, string> } }): string | undefined {
  return obj.metadata?.annotations?.[RELAY_SPEC_HASH_ANNOTATION];
}

export function relayService(swarm: TrainingSwarm, s: OperatorRelaySpec): V1Service {
  const port = { name: 'p2p', protocol: 'TCP', port: s.port, targetPort: s.port, ...(s.nodePort !== undefined && s.serviceType !== 'ClusterIP' ? { nodePort: s.nodePort } : {}) } as const;
  const spec = { type: s.serviceType, selector: relaySelector(swarm), ports: [port] };
  return withHash<V1Service>({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: relayName(swarm), namespace: swarm.metadata.namespace ?? 'default', labels: labels(swarm), ownerReferences: ownerReferences(swarm) },
    spec,
  }, spec);
}

/**
 * Where trainers dial the relay: `address` if set, else the Service's cluster
 * IP (ClusterIP) or load balancer ingress (LoadBalancer); at the node port for
 * NodePort, else at `port`. A reason instead while it is not known yet.
 */
export function relayEndpoint(s: OperatorRelaySpec, svc: V1Service | undefined): { host: string; port: number } | { problem: string } {
  const nodePort = svc?.spec?.ports?.find((p) => p.name === 'p2p')?.nodePort;
  const port = s.serviceType === 'NodePort' ? nodePort : s.port;
  if (port === undefined) return { problem: 'the relay Service has no node port yet' };
  if (s.address !== undefined) return { host: s.address, port };
  if (s.serviceType === 'NodePort') return { problem: 'a NodePort relay needs network.relay.address (the address of a node trainers can reach)' };
  if (s.serviceType === 'LoadBalancer') {
    const ingress = svc?.status?.loadBalancer?.ingress?.[0];
    const host = ingress?.ip ?? ingress?.hostname;
    return host ? { host, port } : { problem: 'waiting for the relay load balancer to get an address' };
  }
  const ip = svc?.spec?.clusterIP;
  return ip && ip !== 'None' ? { host: ip, port } : { problem: 'the relay Service has no cluster IP yet' };
}

/** A TCP multiaddr of host:port (ip4, ip6 or a DNS name). */
export function tcpMultiaddr(host: string, port: number): string {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) return `/ip4/${host}/tcp/${port}`;
  if (host.includes(':')) return `/ip6/${host}/tcp/${port}`;
  return `/dns/${host}/tcp/${port}`;
}

/** The relay multiaddr trainers get: where to dial it, and who it is. */
export function relayMultiaddr(endpoint: { host: string; port: number }, peerId: string): string {
  return `${tcpMultiaddr(endpoint.host, endpoint.port)}/p2p/${peerId}`;
}

export function relayDeployment(swarm: TrainingSwarm, s: OperatorRelaySpec, endpoint: { host: string; port: number }): V1Deployment {
  const { trainer } = swarm.spec;
  const name = relayName(swarm);
  const env: V1EnvVar[] = [
    { name: Env.Workload, value: 'relay' },
    { name: Env.RelayPrivateKey, valueFrom: { secretKeyRef: { name, key: RELAY_KEY_SECRET_KEY } } },
    { name: Env.PodIp, valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    { name: Env.PodName, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: Env.P2pPort, value: String(s.port) },
    // Announce where trainers dial it, not the pod IP, which peers elsewhere cannot reach.
    { name: Env.RelayAnnounce, value: tcpMultiaddr(endpoint.host, endpoint.port) },
    { name: Env.MetricsPort, value: String(s.metricsPort) },
    { name: Env.LogFormat, value: 'json' },
    // The relay admits only the swarm's registered members (read from its membership bucket).
    ...swarmNatsEnv(swarm),
  ];
  const ports = [{ name: 'p2p', containerPort: s.port, protocol: 'TCP' }, ...(s.metricsPort > 0 ? [{ name: 'metrics', containerPort: s.metricsPort, protocol: 'TCP' }] : [])];
  const spec = {
    replicas: 1,
    // Never two relays with one identity at once.
    strategy: { type: 'Recreate' },
    selector: { matchLabels: relaySelector(swarm) },
    template: {
      metadata: {
        labels: labels(swarm),
        ...(s.metricsPort > 0 ? { annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(s.metricsPort), 'prometheus.io/path': '/metrics' } } : {}),
      },
      spec: {
        enableServiceLinks: false,
        automountServiceAccountToken: false,
        ...pullSecrets(swarm),
        terminationGracePeriodSeconds: 10,
        securityContext: { runAsNonRoot: true, runAsUser: RELAY_UID, runAsGroup: RELAY_UID, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [{
          name: 'relay',
          image: trainer.image,
          imagePullPolicy: trainer.imagePullPolicy,
          ...(trainer.command?.length ? { command: trainer.command } : {}),
          ...(trainer.args?.length ? { args: trainer.args } : {}),
          env,
          ports,
          ...(s.metricsPort > 0 ? { readinessProbe: { httpGet: { path: '/healthz', port: s.metricsPort }, periodSeconds: 5 } } : {}),
          // The relay is CPU-bound under bulk traffic (two noise sessions per byte): request some, cap memory only.
          resources: { requests: { cpu: '500m', memory: '128Mi' }, limits: { memory: '1Gi' } },
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
          volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
        }],
        volumes: [{ name: 'tmp', emptyDir: {} }],
      },
    },
  };
  return withHash<V1Deployment>({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: swarm.metadata.namespace ?? 'default', labels: labels(swarm), ownerReferences: ownerReferences(swarm) },
    spec,
  }, spec);
}

/**
 * The placement a Relay placement's trainer pods are built from: with the
 * operator's relay as its `relays`. Placements that do not use the operator's
 * relay come back unchanged; undefined while the relay's address is unknown
 * (no pods for that placement yet).
 */
export function placementWithRelay(pl: Placement, relayAddr: string | undefined): Placement | undefined {
  if (!needsOperatorRelay(pl)) return pl;
  if (relayAddr === undefined) return undefined;
  return { ...pl, network: { ...pl.network, relays: [relayAddr] } };
}
