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
    [{ SPOTSWARM_METRICS_PORT: 'abc' }, 'SPOTSWARM_METRICS_PORT'],
    [{ SPOTSWARM_LEADER_ELECT: 'maybe' }, 'SPOTSWARM_LEADER_ELECT'],
    [{ SPOTSWARM_LOG_FORMAT: 'xml' }, 'SPOTSWARM_LOG_FORMAT'],
    [{ SPOTSWARM_CLUSTER_NAME: 'Not_A_Label' }, 'SPOTSWARM_CLUSTER_NAME'],
    [{ SPOTSWARM_RENEW_DEADLINE_SECONDS: '20' }, 'SPOTSWARM_RENEW_DEADLINE_SECONDS'],
  ])('rejects %j naming the variable', (env, name) => {
    expect(() => parseConfig(env, false)).toThrow(ConfigError);
    expect(() => parseConfig(env, false)).toThrow(name);
  });
});
