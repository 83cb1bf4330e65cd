/**
 * Command lines for the control-plane binaries. Kept apart from the process
 * plumbing so the choices (and the reasons for them) read in one place.
 */

export function etcdArgs(o: { dataDir: string; clientPort: number; peerPort: number }): string[] {
  const client = `http://127.0.0.1:${o.clientPort}`;
  const peer = `http://127.0.0.1:${o.peerPort}`;
  return [
    '--name=default',
    `--data-dir=${o.dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    // the peer port defaults to 2380 and would collide between control planes
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=default=${peer}`,
    // throwaway test data: fsync only costs time on shared disks
    '--unsafe-no-fsync',
    '--log-level=warn',
  ];
}

/**
 * Follows envtest's defaults (controller-runtime
 * pkg/internal/testing/controlplane/apiserver.go): token auth with an admin in
 * system:masters, self-signed serving certs in --cert-dir, service-account key
 * flags. Unlike envtest we keep the ServiceAccount admission plugin, because a
 * controller-manager runs here and creates the default ServiceAccounts, as in a
 * real cluster.
 */
export function apiserverArgs(o: { etcdPort: number; port: number; certDir: string; tokenFile: string; saKey: string; saPub: string; server: string }): string[] {
  return [
    `--etcd-servers=http://127.0.0.1:${o.etcdPort}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${o.port}`,
    `--cert-dir=${o.certDir}`,
    `--token-auth-file=${o.tokenFile}`,
    '--authorization-mode=Node,RBAC',
    // Priority resolves spec.priorityClassName into spec.priority, which
    // scheduler preemption needs. It is on by default; listing it keeps it on.
    '--enable-admission-plugins=Priority,ServiceAccount,NamespaceLifecycle,DefaultTolerationSeconds,TaintNodesByCondition',
    `--service-account-issuer=${o.server}`,
    `--service-account-key-file=${o.saPub}`,
    `--service-account-signing-key-file=${o.saKey}`,
    '--service-cluster-ip-range=10.0.0.0/24',
    // there is no Service network behind the kubernetes Service; do not publish endpoints for it
    '--endpoint-reconciler-type=none',
    '--allow-privileged=true',
    // fake nodes are all 127.0.0.1; their Hostname address (the node name) does not resolve
    '--kubelet-preferred-address-types=InternalIP,Hostname',
    '--profiling=false',
  ];
}

/** The health/metrics port must be free (defaults 10259/10257 collide); leader election is pointless with one replica. */
function componentArgs(o: { kubeconfig: string; port: number; certDir: string }): string[] {
  return [
    `--kubeconfig=${o.kubeconfig}`,
    `--authentication-kubeconfig=${o.kubeconfig}`,
    `--authorization-kubeconfig=${o.kubeconfig}`,
    // no client-cert auth here, so do not look up (and log errors about) the
    // extension-apiserver-authentication ConfigMap that only exists with --client-ca-file
    '--authentication-skip-lookup',
    '--bind-address=127.0.0.1',
    `--secure-port=${o.port}`,
    `--cert-dir=${o.certDir}`,
    '--leader-elect=false',
  ];
}

export function schedulerArgs(o: { kubeconfig: string; port: number; certDir: string }): string[] {
  return componentArgs(o);
}

/**
 * The controllers that make sense without real kubelets. node-lifecycle stays
 * on: the test kubelet renews node Leases, so a kubelet that stops (a
 * "datacenter" failing) turns its nodes NotReady and taints them, as in a real
 * cluster. Left out: attach/detach and expansion of volumes, service load
 * balancers, CSR signing, cloud and IPAM controllers.
 */
export const CONTROLLERS = [
  'garbage-collector-controller', // ownerReference cascade deletes
  'namespace-controller',
  'serviceaccount-controller', // the "default" ServiceAccount in every namespace
  'serviceaccount-token-controller',
  'root-ca-certificate-publisher-controller', // kube-root-ca.crt ConfigMaps
  'clusterrole-aggregation-controller', // admin/edit/view roles
  'deployment-controller',
  'replicaset-controller',
  'statefulset-controller',
  'daemonset-controller',
  'job-controller',
  'disruption-controller', // PodDisruptionBudgets
  'endpointslice-controller',
  'resourcequota-controller',
  'node-lifecycle-controller',
  'taint-eviction-controller',
  'pod-garbage-collector-controller', // pods of deleted nodes, terminated pods
  'ttl-after-finished-controller',
  // PersistentVolumeClaims bind to PersistentVolumes a test creates (static provisioning), so the
  // scheduler places StatefulSet pods with volumeClaimTemplates; the kubelet gives each claim a directory.
  'persistentvolume-binder-controller',
  'persistentvolume-protection-controller',
  'persistentvolumeclaim-protection-controller',
] as const;

export function controllerManagerArgs(o: { kubeconfig: string; port: number; certDir: string; saKey: string; rootCa: string }): string[] {
  return [
    ...componentArgs(o),
    `--controllers=${CONTROLLERS.join(',')}`,
    `--service-account-private-key-file=${o.saKey}`,
    `--root-ca-file=${o.rootCa}`,
  ];
}
