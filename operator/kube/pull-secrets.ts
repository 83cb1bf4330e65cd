/**
 * The I/O half of reconcile/pull-secrets.ts: keeps copies of a swarm's image
 * pull Secrets in a remote cluster where its pods are about to be created,
 * and deletes them (only this swarm's copies) when the swarm goes.
 */
import { ApiException, type V1Secret } from '@kubernetes/client-node';
import type { TrainingSwarm } from '../../api/index.ts';
import type { Logger } from '../log.ts';
import { isCopyOf, isPullSecretCopy, planPullSecretCopy, pullSecretCopy } from '../reconcile/pull-secrets.ts';
import type { ClusterCache } from './cluster.ts';

const notFound = (err: unknown): boolean => err instanceof ApiException && err.code === 404;

async function readSecret(c: ClusterCache, namespace: string, name: string): Promise<V1Secret | undefined> {
  try {
    return await c.request('get', 'secrets', () => c.core.readNamespacedSecret({ namespace, name }));
  } catch (err) {
    if (notFound(err)) return undefined;
    throw err;
  }
}

/**
 * Makes `remote` hold every Secret of spec.trainer.imagePullSecrets, copied
 * from `home`. Returns one problem per Secret that could not be made
 * available there (a Secret missing at home, a write the remote cluster
 * refused); API errors other than 404 reject.
 */
export async function copyPullSecrets(home: ClusterCache, remote: ClusterCache, swarm: TrainingSwarm, log: Logger): Promise<string[]> {
  const namespace = swarm.metadata.namespace ?? 'default';
  const problems: string[] = [];
  for (const { name } of swarm.spec.trainer.imagePullSecrets ?? []) {
    const existing = await readSecret(remote, namespace, name);
    if (existing && !isPullSecretCopy(existing)) continue; // the remote cluster's own, used as it is
    const source = await readSecret(home, namespace, name);
    if (!source) {
      problems.push(`image pull Secret ${namespace}/${name} (spec.trainer.imagePullSecrets) not found`);
      continue;
    }
    const wanted = pullSecretCopy(swarm, source);
    const plan = planPullSecretCopy(existing, wanted);
    try {
      if (plan === 'create') await remote.request('create', 'secrets', () => remote.core.createNamespacedSecret({ namespace, body: wanted }));
      else if (plan === 'replace') await remote.request('update', 'secrets', () => remote.core.replaceNamespacedSecret({ namespace, name, body: { ...wanted, metadata: { ...wanted.metadata, resourceVersion: existing!.metadata?.resourceVersion } } }));
      else continue;
    } catch (err) {
      if (!(err instanceof ApiException)) throw err;
      problems.push(`cannot ${plan} the copy of image pull Secret ${namespace}/${name}: ${err.code} ${String(err.body).slice(0, 200)}`);
      continue;
    }
    log.info(`${plan === 'create' ? 'copied' : 'updated the copy of'} an image pull Secret`, { swarm: `${namespace}/${swarm.metadata.name}`, secret: `${namespace}/${name}` });
  }
  return problems;
}

/** Deletes this swarm's copies of its image pull Secrets in `remote` (a Secret that is another's stays). */
export async function removePullSecretCopies(remote: ClusterCache, swarm: TrainingSwarm, log: Logger): Promise<void> {
  const namespace = swarm.metadata.namespace ?? 'default';
  for (const { name } of swarm.spec.trainer.imagePullSecrets ?? []) {
    const existing = await readSecret(remote, namespace, name);
    if (!existing || !isCopyOf(existing, swarm)) continue;
    try {
      await remote.request('delete', 'secrets', () => remote.core.deleteNamespacedSecret({ namespace, name }));
      log.info('removed the copy of an image pull Secret', { swarm: `${namespace}/${swarm.metadata.name}`, secret: `${namespace}/${name}` });
    } catch (err) {
      if (!notFound(err)) throw err;
    }
  }
}
