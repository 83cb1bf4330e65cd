import { ConfigError, parseConfig } from './config.ts';

describe('parseConfig', () => {
  it('applies defaults and freezes the result', () => {
    const c = parseConfig({}, false);
    expect(c.clusterName).toBe('local');
    expect(c.leaderElect).toBe(true);
    expect(c.metricsPort).toBe(8080);
    expect(c.logFormat).toBe('json');
    expect(Object.isFrozen(c)).toBe(true);
  });
  it.each([
    [{ KUBESWARM_METRICS_PORT: 'abc' }, 'KUBESWARM_METRICS_PORT'],
    [{ KUBESWARM_LEADER_ELECT: 'maybe' }, 'KUBESWARM_LEADER_ELECT'],
    [{ KUBESWARM_LOG_FORMAT: 'xml' }, 'KUBESWARM_LOG_FORMAT'],
    [{ KUBESWARM_CLUSTER_NAME: 'Not_A_Label' }, 'KUBESWARM_CLUSTER_NAME'],
    [{ KUBESWARM_RENEW_DEADLINE_SECONDS: '20' }, 'KUBESWARM_RENEW_DEADLINE_SECONDS'],
  ])('rejects %j naming the variable', (env, name) => {
    expect(() => parseConfig(env, false)).toThrow(ConfigError);
    expect(() => parseConfig(env, false)).toThrow(name);
  });
});
