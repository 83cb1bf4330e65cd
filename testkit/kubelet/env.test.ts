import { describe, expect, it } from '@jest/globals';
import type { V1Pod } from '@kubernetes/client-node';
import { ContainerConfigError, expand, resolveEnv, type ObjectReader } from './env.ts';

const pod: V1Pod = {
  metadata: { name: 'p1', namespace: 'ns1', uid: 'u-1', labels: { app: 'x' } },
  spec: { nodeName: 'gpu-0', containers: [] },
};
const reader: ObjectReader = {
  configMap: async (ns, name) => (ns === 'ns1' && name === 'cm' ? { A: '1', 'bad key': 'x' } : undefined),
  secret: async (ns, name) => (ns === 'ns1' && name === 's' ? { token: 'sekret' } : undefined),
};

describe('expand', () => {
  it('expands known references, keeps unknown ones and honours $$', () => {
    expect(expand('$(A)-$(B)-$$(A)', { A: 'x' })).toBe('x-$(B)-$(A)');
  });
});

describe('resolveEnv', () => {
  it('resolves literals, downward API, secrets and configmaps in order', async () => {
    const env = await resolveEnv(
      pod,
      {
        name: 'c',
        envFrom: [{ configMapRef: { name: 'cm' }, prefix: 'CM_' }],
        env: [
          { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
          { name: 'UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
          { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
          { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
          { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 's', key: 'token' } } },
          { name: 'A', valueFrom: { configMapKeyRef: { name: 'cm', key: 'A' } } },
          { name: 'URL', value: 'http://$(IP):4222/$(POD)' },
        ],
      },
      reader,
      { KUBECONFIG: '/k' },
    );
    expect(env).toEqual({
      KUBECONFIG: '/k',
      CM_A: '1',
      POD: 'p1',
      NS: 'ns1',
      UID: 'u-1',
      IP: '127.0.0.1',
      NODE: 'gpu-0',
      APP: 'x',
      TOKEN: 'sekret',
      A: '1',
      URL: 'http://127.0.0.1:4222/p1',
    });
  });

  it('fails with a config error naming a missing secret or key, unless optional', async () => {
    await expect(resolveEnv(pod, { name: 'c', env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'nope', key: 'k' } } }] }, reader)).rejects.toThrow(
      new ContainerConfigError('secret "nope" not found'),
    );
    await expect(resolveEnv(pod, { name: 'c', env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cm', key: 'B' } } }] }, reader)).rejects.toThrow(
      "couldn't find key B in configmap ns1/cm",
    );
    expect(await resolveEnv(pod, { name: 'c', env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'nope', key: 'k', optional: true } } }] }, reader)).toEqual({ X: '' });
  });
});
