/**
 * Credentials for a pod: a TokenRequest for its ServiceAccount, bound to the
 * pod (so it dies with it), written as a kubeconfig. The kubelet points
 * KUBECONFIG at it, which client libraries (client-node's loadFromDefault,
 * kubectl, client-go) read before in-cluster config. A pod therefore talks to
 * the API server with exactly the RBAC its ServiceAccount has.
 */
import { writeFileSync } from 'node:fs';
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { kubeconfigYaml } from '../cluster/index.ts';

/** Token lifetime; long, because a client reads its kubeconfig once at start. */
export const POD_TOKEN_SECONDS = 7 * 24 * 3600;

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

export function writePodKubeconfig(path: string, o: { server: string; caPem: string; token: string; namespace: string }): void {
  writeFileSync(path, kubeconfigYaml({ name: 'in-cluster', ...o }), { mode: 0o600 });
}
