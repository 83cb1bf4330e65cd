/** Writes and reads the kubeconfig files the control plane hands out (token auth). */
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

export interface KubeconfigSpec {
  /** Cluster, user and context name. */
  name: string;
  server: string;
  token: string;
  /** PEM of the CA that signed the API server's serving certificate. */
  caPem: string;
  namespace?: string;
}

/** The kubeconfig as YAML text; the CA is embedded so the file can be copied anywhere. */
export function kubeconfigYaml(spec: KubeconfigSpec): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: spec.name, cluster: { server: spec.server, 'certificate-authority-data': Buffer.from(spec.caPem).toString('base64') } }],
    users: [{ name: spec.name, user: { token: spec.token } }],
    contexts: [{ name: spec.name, context: { cluster: spec.name, user: spec.name, ...(spec.namespace ? { namespace: spec.namespace } : {}) } }],
    'current-context': spec.name,
    preferences: {},
  });
}

export function writeKubeconfig(path: string, spec: KubeconfigSpec): void {
  writeFileSync(path, kubeconfigYaml(spec), { mode: 0o600 });
}
