/**
 * Pod volumes, materialized as local directories under the pod's state dir.
 * Processes cannot see a container's mount paths, so the kubelet rewrites
 * arguments, env values and workingDir that point under a mountPath (see
 * image.ts rewritePath). Programs should therefore take file paths from
 * args or env, not hard-code them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { V1Container, V1KeyToPath, V1Pod, V1Volume } from '@kubernetes/client-node';
import type { Logger } from '../cluster/index.ts';
import { ContainerConfigError, fieldValue, type ObjectReader } from './env.ts';

/** Things a volume may need from the kubelet besides ConfigMaps and Secrets. */
export interface VolumeContext {
  reader: ObjectReader;
  /** The pod's service-account token (for projected serviceAccountToken sources). */
  token?: string;
  /** PersistentVolumeClaims live in `<claimsDir>/<namespace>_<claim>`, kept across pods like a real volume. */
  claimsDir: string;
  log: Logger;
}

function writeFiles(dir: string, data: Record<string, string>, items: V1KeyToPath[] | undefined, what: string): void {
  mkdirSync(dir, { recursive: true });
  const pick: V1KeyToPath[] = items && items.length > 0 ? items : Object.keys(data).map((key) => ({ key, path: key }));
  for (const it of pick) {
    const v = data[it.key];
    if (v === undefined) throw new ContainerConfigError(`${what} has no key ${it.key}`);
    const file = join(dir, it.path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, v, { mode: it.mode ?? 0o644 });
  }
}

async function fill(pod: V1Pod, vol: V1Volume, dir: string, ctx: VolumeContext): Promise<void> {
  const ns = pod.metadata?.namespace ?? 'default';
  mkdirSync(dir, { recursive: true });
  if (vol.emptyDir) return;
  if (vol.configMap || vol.secret) {
    const isCm = vol.configMap !== undefined;
    const name = (isCm ? vol.configMap?.name : vol.secret?.secretName) ?? '';
    const optional = (isCm ? vol.configMap?.optional : vol.secret?.optional) ?? false;
    const data = isCm ? await ctx.reader.configMap(ns, name) : await ctx.reader.secret(ns, name);
    if (data === undefined) {
      if (optional) return;
      throw new ContainerConfigError(`${isCm ? 'configmap' : 'secret'} "${name}" not found (volume ${vol.name})`);
    }
    writeFiles(dir, data, isCm ? vol.configMap?.items : vol.secret?.items, `${isCm ? 'configmap' : 'secret'} ${ns}/${name}`);
    return;
  }
  if (vol.downwardAPI) {
    for (const it of vol.downwardAPI.items ?? []) {
      if (it.fieldRef) writeFiles(dir, { v: fieldValue(pod, it.fieldRef.fieldPath) }, [{ key: 'v', path: it.path }], 'downwardAPI');
    }
    return;
  }
  if (vol.projected) {
    for (const src of vol.projected.sources ?? []) {
      if (src.configMap || src.secret) {
        const isCm = src.configMap !== undefined;
        const name = (isCm ? src.configMap?.name : src.secret?.name) ?? '';
        const data = isCm ? await ctx.reader.configMap(ns, name) : await ctx.reader.secret(ns, name);
        if (data === undefined) {
          if ((isCm ? src.configMap?.optional : src.secret?.optional) ?? false) continue;
          throw new ContainerConfigError(`${isCm ? 'configmap' : 'secret'} "${name}" not found (volume ${vol.name})`);
        }
        writeFiles(dir, data, isCm ? src.configMap?.items : src.secret?.items, `${isCm ? 'configmap' : 'secret'} ${ns}/${name}`);
      } else if (src.downwardAPI) {
        for (const it of src.downwardAPI.items ?? []) {
          if (it.fieldRef) writeFiles(dir, { v: fieldValue(pod, it.fieldRef.fieldPath) }, [{ key: 'v', path: it.path }], 'downwardAPI');
        }
      } else if (src.serviceAccountToken && ctx.token !== undefined) {
        writeFiles(dir, { t: ctx.token }, [{ key: 't', path: src.serviceAccountToken.path }], 'serviceAccountToken');
      }
    }
    return;
  }
  ctx.log.warn(`pod ${ns}/${pod.metadata?.name}: volume ${vol.name} has an unsupported type; it is an empty directory`);
}

/**
 * Materializes the volumes `container` mounts and returns [mountPath, localPath]
 * pairs for path rewriting. hostPath volumes map to the host path itself; a
 * persistentVolumeClaim to a directory per claim that outlives the pod (the
 * scheduler only binds a pod whose claims are bound to a PersistentVolume).
 */
export async function mountVolumes(pod: V1Pod, container: V1Container, podDir: string, ctx: VolumeContext): Promise<Array<[string, string]>> {
  const mounts: Array<[string, string]> = [];
  const volumes = new Map((pod.spec?.volumes ?? []).map((v) => [v.name, v]));
  const done = new Set<string>();
  for (const m of container.volumeMounts ?? []) {
    const vol = volumes.get(m.name);
    if (!vol) throw new ContainerConfigError(`volumeMount ${m.name} names no volume`);
    let base: string;
    if (vol.hostPath) {
      base = vol.hostPath.path;
    } else if (vol.persistentVolumeClaim) {
      base = join(ctx.claimsDir, `${pod.metadata?.namespace ?? 'default'}_${vol.persistentVolumeClaim.claimName}`);
      mkdirSync(base, { recursive: true });
    } else {
      base = join(podDir, 'volumes', vol.name);
      if (!done.has(vol.name)) {
        await fill(pod, vol, base, ctx);
        done.add(vol.name);
      }
    }
    mounts.push([m.mountPath, m.subPath ? join(base, m.subPath) : base]);
  }
  return mounts;
}
