import type { V1Secret } from '@kubernetes/client-node';
import { LABEL_SWARM, LABEL_SWARM_UID } from '../../api/index.ts';
import { isCopyOf, isPullSecretCopy, planPullSecretCopy, pullSecretCopy } from './pull-secrets.ts';
import { tinySwarm } from './testing.ts';

const dockercfg = (auth: string): Record<string, string> => ({ '.dockerconfigjson': Buffer.from(JSON.stringify({ auths: { 'registry.example': { auth } } })).toString('base64') });
const source: V1Secret = {
  metadata: { name: 'regcred', namespace: 'default', uid: 'home-uid', resourceVersion: '42', labels: { team: 'ml' }, ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'x', uid: 'y' }] },
  type: 'kubernetes.io/dockerconfigjson',
  data: dockercfg('dXNlcjpwYXNz'),
};
const swarm = tinySwarm((s) => { s.spec.trainer.imagePullSecrets = [{ name: 'regcred' }]; });

describe('copies of image pull Secrets for remote clusters', () => {
  const copy = pullSecretCopy(swarm, source);

  it('copy the type and data, not the home cluster\'s metadata, and carry the swarm\'s labels', () => {
    expect(copy).toEqual({
      metadata: {
        name: 'regcred',
        namespace: 'default',
        labels: { [LABEL_SWARM]: 'tiny', [LABEL_SWARM_UID]: 'uid-1', 'app.kubernetes.io/managed-by': 'spotswarm', 'app.kubernetes.io/component': 'image-pull-secret' },
      },
      type: 'kubernetes.io/dockerconfigjson',
      data: source.data,
    });
    expect(isPullSecretCopy(copy)).toBe(true);
  });

  it('are created where the name is free, kept when current, replaced when the home Secret was rotated', () => {
    expect(planPullSecretCopy(undefined, copy)).toBe('create');
    const there: V1Secret = { ...copy, metadata: { ...copy.metadata, resourceVersion: '7' } };
    expect(planPullSecretCopy(there, copy)).toBe('current');
    expect(planPullSecretCopy(there, pullSecretCopy(swarm, { ...source, data: dockercfg('bmV3OnBhc3M=') }))).toBe('replace');
    expect(planPullSecretCopy({ ...there, type: 'Opaque' }, copy)).toBe('replace');
  });

  it('made for another swarm of the namespace (the same home Secret) count as current', () => {
    const other = pullSecretCopy(tinySwarm((s) => { s.metadata.name = 'other'; s.metadata.uid = 'uid-2'; }), source);
    expect(planPullSecretCopy(other, copy)).toBe('current');
    expect(isCopyOf(other, swarm)).toBe(false);
  });

  it('leave a Secret of that name that spotswarm did not make alone: it is used as it is and never deleted', () => {
    const own: V1Secret = { metadata: { name: 'regcred', namespace: 'default' }, type: 'kubernetes.io/dockerconfigjson', data: dockercfg('cmVtb3RlOnBhc3M=') };
    expect(planPullSecretCopy(own, copy)).toBe('foreign');
    expect(isCopyOf(own, swarm)).toBe(false);
    const labelledOnly: V1Secret = { ...own, metadata: { ...own.metadata, labels: { [LABEL_SWARM_UID]: 'uid-1' } } };
    expect(isCopyOf(labelledOnly, swarm)).toBe(false);
  });

  it('are deleted with the swarm that made them', () => {
    expect(isCopyOf(copy, swarm)).toBe(true);
  });
});
