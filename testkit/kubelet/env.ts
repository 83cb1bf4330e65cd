/**
 * A container's environment, resolved the way the kubelet does it: envFrom
 * first, then env in order (later wins), with $(VAR) references expanded
 * against what is already defined. Downward-API values describe this fake
 * node: every pod shares the host's loopback, so podIP and hostIP are both
 * 127.0.0.1.
 */
import type { V1Container, V1Pod } from '@kubernetes/client-node';

export const POD_IP = '127.0.0.1';
export const HOST_IP = '127.0.0.1';

/** Reads ConfigMaps and Secrets (decoded); undefined when the object does not exist. */
export interface ObjectReader {
  configMap(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  secret(namespace: string, name: string): Promise<Record<string, string> | undefined>;
}

/** A problem the kubelet reports as CreateContainerConfigError and retries. */
export class ContainerConfigError extends Error {
  override name = 'ContainerConfigError';
}

/** Expands $(NAME) from `vars`; $$ escapes; unknown references stay as written (Kubernetes semantics). */
export function expand(value: string, vars: Readonly<Record<string, string>>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    return name !== undefined && Object.hasOwn(vars, name) ? (vars[name] as string) : m;
  });
}

/** The value of a downward-API fieldRef path for this pod. */
export function fieldValue(pod: V1Pod, path: string): string {
  const md = pod.metadata ?? {};
  const mapKey = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (mapKey) return (mapKey[1] === 'labels' ? md.labels : md.annotations)?.[mapKey[2] ?? ''] ?? '';
  switch (path) {
    case 'metadata.name':
      return md.name ?? '';
    case 'metadata.namespace':
      return md.namespace ?? '';
    case 'metadata.uid':
      return md.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.podIP':
    case 'status.podIPs':
      return POD_IP;
    case 'status.hostIP':
    case 'status.hostIPs':
      return HOST_IP;
    default:
      throw new ContainerConfigError(`unsupported fieldRef path ${path}`);
  }
}

const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/** Resolves envFrom and env of `container`; `base` (e.g. KUBECONFIG) is defined first and can be overridden. */
export async function resolveEnv(pod: V1Pod, container: V1Container, reader: ObjectReader, base: Record<string, string> = {}): Promise<Record<string, string>> {
  const ns = pod.metadata?.namespace ?? 'default';
  const env: Record<string, string> = { ...base };
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    if (!ref?.name) continue;
    const kind = from.configMapRef ? 'configmap' : 'secret';
    const data = from.configMapRef ? await reader.configMap(ns, ref.name) : await reader.secret(ns, ref.name);
    if (data === undefined) {
      if (ref.optional) continue;
      throw new ContainerConfigError(`${kind} "${ref.name}" not found`);
    }
    for (const [k, v] of Object.entries(data)) {
      const name = `${from.prefix ?? ''}${k}`;
      if (ENV_NAME.test(name)) env[name] = v;
    }
  }
  for (const e of container.env ?? []) {
    env[e.name] = await valueOf(pod, container, e, env, reader, ns);
  }
  return env;
}

async function valueOf(
  pod: V1Pod,
  container: V1Container,
  e: NonNullable<V1Container['env']>[number],
  defined: Record<string, string>,
  reader: ObjectReader,
  ns: string,
): Promise<string> {
  const from = e.valueFrom;
  if (!from) return expand(e.value ?? '', defined);
  if (from.fieldRef) return fieldValue(pod, from.fieldRef.fieldPath);
  if (from.resourceFieldRef) {
    const r = from.resourceFieldRef.resource;
    const [kind, res] = r.split('.') as ['limits' | 'requests', string];
    const q = container.resources?.[kind]?.[res];
    return q === undefined ? '' : String(q);
  }
  const ref = from.secretKeyRef ?? from.configMapKeyRef;
  if (ref) {
    const kind = from.secretKeyRef ? 'secret' : 'configmap';
    const data = from.secretKeyRef ? await reader.secret(ns, ref.name ?? '') : await reader.configMap(ns, ref.name ?? '');
    const v = data?.[ref.key];
    if (v !== undefined) return v;
    if (ref.optional) return '';
    throw new ContainerConfigError(data === undefined ? `${kind} "${ref.name}" not found` : `couldn't find key ${ref.key} in ${kind} ${ns}/${ref.name}`);
  }
  return '';
}
