/**
 * Credentials for a pod, as a real kubelet projects them: a TokenRequest for
 * its ServiceAccount, bound to the pod (so it dies with it), with the cluster
 * CA and the namespace, in the files of
 * /var/run/secrets/kubernetes.io/serviceaccount. Without a mount namespace
 * that path cannot be the pod's own, so the files live under a per-pod root
 * directory and the pod gets its path in SPOTSWARM_IN_CLUSTER_ROOT, the
 * prefix client-node's `loadFromCluster(prefix)` takes. Together with
 * KUBERNETES_SERVICE_HOST/PORT that is in-cluster config: a pod talks to the
 * API server with exactly the RBAC its ServiceAccount has.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';

/** Token lifetime; long, because a client may read its token once at start. */
export const POD_TOKEN_SECONDS = 7 * 24 * 3600;

/** Where in-cluster clients look for the token, ca.crt and namespace files. */
export const SERVICEACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export function wantsToken(pod: V1Pod): boolean {
  return pod.spec?.automountServiceAccountToken !== false;
}

export async function requestPodToken(core: CoreV1Api, pod: V1Pod): Promise<string> {
  const md = pod.metadata ?? {};
  const tr = await core.createNamespacedServiceAccountToken({
    name: pod.spec?.serviceAccountName || 'default',
    namespace: md.namespace ?? 'default',
    body: {
      spec: {
        audiences: [],
        expirationSeconds: POD_TOKEN_SECONDS,
        boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: md.name, uid: md.uid },
      },
    },
  });
  const token = tr.status?.token;
  if (!token) throw new Error(`TokenRequest for ${md.namespace}/${md.name} returned no token`);
  return token;
}

/** Writes token, ca.crt and namespace under `<root>/var/run/secrets/kubernetes.io/serviceaccount`. */
export function writeServiceAccountFiles(root: string, o: { caPem: string; token: string; namespace: string }): void {
  const dir = join(root, SERVICEACCOUNT_DIR);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'token'), o.token, { mode: 0o600 });
  writeFileSync(join(dir, 'ca.crt'), o.caPem, { mode: 0o644 });
  writeFileSync(join(dir, 'namespace'), o.namespace, { mode: 0o644 });
}
