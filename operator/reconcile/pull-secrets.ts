/**
 * Copies of a swarm's image pull Secrets (spec.trainer.imagePullSecrets) in
 * its remote clusters, as pure functions: the copy's body, what to do given
 * what a remote cluster holds under that name, and which copies are the
 * swarm's to delete. The I/O is operator/kube/pull-secrets.ts.
 *
 * A copy has no ownerReference (its owner lives in another cluster); it
 * carries the swarm's labels, so it is deleted with the swarm. A Secret of
 * that name that spotswarm did not make is the remote cluster's own: it is
 * used as it is and never written or deleted.
 */
import { isDeepStrictEqual } from 'node:util';
import type { V1Secret } from '@kubernetes/client-node';
import { LABEL_SWARM, LABEL_SWARM_UID, type TrainingSwarm } from '../../api/index.ts';

/** app.kubernetes.io/component of the copies. */
export const PULL_SECRET_COMPONENT = 'image-pull-secret';

/** The copy of the home cluster's Secret `source` for a remote cluster. */
export function pullSecretCopy(swarm: TrainingSwarm, source: V1Secret): V1Secret {
  return {
    metadata: {
      name: source.metadata?.name,
      namespace: swarm.metadata.namespace ?? 'default',
      labels: {
        [LABEL_SWARM]: swarm.metadata.name ?? '',
        [LABEL_SWARM_UID]: swarm.metadata.uid ?? '',
        'app.kubernetes.io/managed-by': 'spotswarm',
        'app.kubernetes.io/component': PULL_SECRET_COMPONENT,
      },
    },
    type: source.type ?? 'Opaque',
    data: source.data ?? {},
  };
}

/** True for a copy spotswarm made (for any swarm); false for the remote cluster's own Secret. */
export function isPullSecretCopy(s: V1Secret): boolean {
  return s.metadata?.labels?.['app.kubernetes.io/managed-by'] === 'spotswarm' && s.metadata.labels['app.kubernetes.io/component'] === PULL_SECRET_COMPONENT;
}

/**
 * What to do in a remote cluster that holds `existing` under the copy's name:
 * - create: nothing there;
 * - current: a copy with the same type and data (another swarm's of the same
 *   namespace counts: both copy the same home Secret);
 * - replace: a copy that is out of date (the home Secret was rotated);
 * - foreign: the remote cluster's own Secret, used as it is.
 */
export function planPullSecretCopy(existing: V1Secret | undefined, wanted: V1Secret): 'create' | 'current' | 'replace' | 'foreign' {
  if (!existing) return 'create';
  if (!isPullSecretCopy(existing)) return 'foreign';
  return existing.type === wanted.type && isDeepStrictEqual(existing.data ?? {}, wanted.data ?? {}) ? 'current' : 'replace';
}

/** True for a copy made for this swarm (by uid): deleted when the swarm goes. */
export function isCopyOf(existing: V1Secret, swarm: TrainingSwarm): boolean {
  return isPullSecretCopy(existing) && existing.metadata?.labels?.[LABEL_SWARM_UID] === swarm.metadata.uid;
}
