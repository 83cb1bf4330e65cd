import { Env } from '../api/index.ts';
import { ConfigError, parseConfig, quantityBytes } from './config.ts';

describe('parseConfig', () => {
  it('applies defaults and freezes the result', () => {
    const c = parseConfig({}, false);
    expect(c.clusterName).toBe('local');
    expect(c.leaderElect).toBe(true);
    expect(c.metricsPort).toBe(8080);
    expect(c.logFormat).toBe('json');
    expect(c.trainerMetricsPort).toBeUndefined();
    expect(Object.isFrozen(c)).toBe(true);
  });
  it('reads every setting from its variable in the Env map', () => {
    const c = parseConfig({
      [Env.Kubeconfig]: '/k', [Env.ClusterName]: 'east', [Env.OperatorNamespace]: 'ops', [Env.LeaseName]: 'l', [Env.OperatorPodName]: 'op-0',
      [Env.LeaderElect]: 'false', [Env.LeaseDurationSeconds]: '30', [Env.RenewDeadlineSeconds]: '20', [Env.RetryPeriodSeconds]: '5',
      [Env.MetricsPort]: '9090', [Env.MetricsHost]: '127.0.0.1', [Env.Concurrency]: '4', [Env.NatsToken]: 't', [Env.NatsAuthSecret]: 'nats-auth',
      [Env.NatsCredentialsTtlHours]: '2', [Env.LogFormat]: 'text', [Env.LogLevel]: 'debug', [Env.DefaultTrainerImage]: 'ghcr.io/spotswarm/trainer:0.1.0',
      [Env.InClusterRoot]: '/pod/root', [Env.DefaultNatsUrl]: 'nats://r-nats.ns.svc:4222', [Env.NatsStoreSize]: '16Gi', [Env.TrainerMetricsPort]: '9400',
    }, false);
    expect(c).toEqual({
      kubeconfig: '/k', clusterName: 'east', leaseNamespace: 'ops', leaseName: 'l', identity: 'op-0', leaderElect: false,
      leaseDurationMs: 30_000, renewDeadlineMs: 20_000, retryPeriodMs: 5_000, metricsPort: 9090, metricsHost: '127.0.0.1', concurrency: 4,
      natsToken: 't', natsAuthSecret: 'nats-auth', natsCredentialsTtlSeconds: 7200, logFormat: 'text', logLevel: 'debug',
      defaultTrainerImage: 'ghcr.io/spotswarm/trainer:0.1.0',
      inClusterRoot: '/pod/root', defaultNatsUrl: 'nats://r-nats.ns.svc:4222', natsStoreBytes: 16 * 2 ** 30, trainerMetricsPort: 9400,
    });
  });
  it.each([
    [{ SPOTSWARM_METRICS_PORT: 'abc' }, 'SPOTSWARM_METRICS_PORT'],
    [{ SPOTSWARM_LEADER_ELECT: 'maybe' }, 'SPOTSWARM_LEADER_ELECT'],
    [{ SPOTSWARM_LOG_FORMAT: 'xml' }, 'SPOTSWARM_LOG_FORMAT'],
    [{ SPOTSWARM_LOG_LEVEL: 'loud' }, 'SPOTSWARM_LOG_LEVEL'],
    [{ SPOTSWARM_CLUSTER_NAME: 'Not_A_Label' }, 'SPOTSWARM_CLUSTER_NAME'],
    [{ SPOTSWARM_RENEW_DEADLINE_SECONDS: '20' }, 'SPOTSWARM_RENEW_DEADLINE_SECONDS'],
    [{ SPOTSWARM_NATS_AUTH_SECRET: 'Bad/Name' }, 'SPOTSWARM_NATS_AUTH_SECRET'],
    [{ SPOTSWARM_TRAINER_IMAGE: 'ghcr.io/x/trainer: 1' }, 'SPOTSWARM_TRAINER_IMAGE'],
    [{ SPOTSWARM_DEFAULT_NATS_URL: 'http://nats:4222' }, 'SPOTSWARM_DEFAULT_NATS_URL'],
    [{ SPOTSWARM_NATS_STORE_SIZE: '16 GB' }, 'SPOTSWARM_NATS_STORE_SIZE'],
    [{ SPOTSWARM_NATS_STORE_SIZE: '0' }, 'SPOTSWARM_NATS_STORE_SIZE'],
    [{ SPOTSWARM_TRAINER_METRICS_PORT: '-1' }, 'SPOTSWARM_TRAINER_METRICS_PORT'],
  ])('rejects %j naming the variable', (env, name) => {
    expect(() => parseConfig(env, false)).toThrow(ConfigError);
    expect(() => parseConfig(env, false)).toThrow(name);
    expect(() => parseConfig(env, false)).toThrow(expect.objectContaining({ variable: name }));
  });
});

describe('quantityBytes', () => {
  it('reads binary and decimal suffixes, and refuses what is not a quantity', () => {
    expect(quantityBytes('16Gi')).toBe(16 * 2 ** 30);
    expect(quantityBytes('500M')).toBe(500e6);
    expect(quantityBytes('1.5Ki')).toBe(1536);
    expect(quantityBytes('1073741824')).toBe(2 ** 30);
    expect(quantityBytes('16GB')).toBeUndefined();
    expect(quantityBytes('-1Gi')).toBeUndefined();
  });
});

describe('ConfigError', () => {
  it('names its variable, in the field and at the start of the message, with the value when given', () => {
    const withValue = new ConfigError('SPOTSWARM_CONCURRENCY', 'must be an integer in [1, 256]', '0');
    expect(withValue.variable).toBe('SPOTSWARM_CONCURRENCY');
    expect(withValue.message).toBe('SPOTSWARM_CONCURRENCY=0: must be an integer in [1, 256]');
    expect(withValue.name).toBe('ConfigError');
    expect(new ConfigError('KUBECONFIG', 'no current cluster').message).toBe('KUBECONFIG: no current cluster');
  });
  it('keeps the messages the operator printed before the field existed', () => {
    expect(() => parseConfig({ SPOTSWARM_METRICS_PORT: 'abc' }, false)).toThrow('SPOTSWARM_METRICS_PORT=abc: must be an integer in [0, 65535]');
    expect(() => parseConfig({ SPOTSWARM_CLUSTER_NAME: 'A' }, false)).toThrow('SPOTSWARM_CLUSTER_NAME=A: must be a DNS label');
  });
});
