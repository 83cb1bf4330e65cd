/**
 * Honest status, end to end: real trainer processes (run by the test kubelet)
 * against a real control plane and nats-server. Ready means the swarm trains,
 * so `kubectl wait --for=condition=Ready` waits for an advancing epoch; swarms
 * whose trainers cannot reach NATS, cannot read their data, or are forced onto
 * a GPU this machine does not have are not Ready, and say why.
 */
import type { TrainingSwarm } from '../../api/index.ts';
import { startSwarmEnv, type SwarmEnv, waitFor } from '../../testkit/harness/index.ts';

let env: SwarmEnv;

beforeAll(async () => {
  env = await startSwarmEnv({ name: 'honest', nodes: [{ name: 'gpu-0', gpus: 1 }, { name: 'gpu-1', gpus: 1 }, { name: 'gpu-2', gpus: 1 }] });
  env.startOperator('op');
}, 180_000);

afterAll(() => env?.stop(), 120_000);

type Cond = NonNullable<NonNullable<TrainingSwarm['status']>['conditions']>[number];
const condition = async (swarm: string, type: string): Promise<Cond | undefined> => (await env.status(swarm)).conditions?.find((c) => c.type === type);

/** The tiny example with `peers` peers, changed by `patch`, applied. */
async function applySwarm(name: string, peers: number, patch: (s: TrainingSwarm) => void = () => {}): Promise<void> {
  const s = env.tinySwarm(name);
  s.spec.peers = { min: 1, max: peers, maxPending: 0 };
  delete s.spec.stopAfter;
  patch(s);
  await env.apply(s);
}

async function deleteSwarm(name: string): Promise<void> {
  await env.c.kubectl(['delete', 'trainingswarm', name, '--wait=true', '--timeout=90s']);
}

/** Waits until Ready is False with `reason`, and returns Ready and Degraded. */
async function waitNotReady(swarm: string, reason: string, timeoutMs: number): Promise<{ ready: Cond; degraded: Cond }> {
  return waitFor(async () => {
    const ready = await condition(swarm, 'Ready');
    const degraded = await condition(swarm, 'Degraded');
    return ready?.status === 'False' && ready.reason === reason && degraded ? { ready, degraded } : false;
  }, { what: `${swarm}: Ready False with reason ${reason}`, timeoutMs });
}

async function events(swarm: string, reason: string): Promise<string> {
  const r = await env.c.kubectl(['get', 'events', '--field-selector', `involvedObject.name=${swarm},reason=${reason}`, '-o', 'jsonpath={.items[*].message}']);
  return r.stdout;
}

describe('honest status on a real control plane', () => {
  it('a healthy swarm passes kubectl wait --for=condition=Ready, reports its backends, and is Degraded BackendFallback on GPU nodes it does not use', async () => {
    await applySwarm('healthy', 2);
    // Not Ready while the pods merely run: the first epoch has not advanced yet.
    await waitFor(async () => (await env.status('healthy')).peers?.running === 2, { what: 'two running pods', timeoutMs: 120_000 });
    const early = await env.status('healthy');
    if ((early.epoch ?? 0) === 0) expect(early.conditions!.find((c) => c.type === 'Ready')!.status).toBe('False');
    const wait = await env.c.kubectl(['wait', '--for=condition=Ready', 'trainingswarm/healthy', '--timeout=240s'], { timeoutMs: 250_000 });
    expect(wait.code).toBe(0);
    const st = await env.status('healthy');
    expect(st.epoch).toBeGreaterThanOrEqual(1);
    expect(st.lastEpochTime).toBeDefined();
    expect(st.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'Training' });
    // auto on this machine (no libtensorflow) computes on wasm or pure JS, and says so.
    const b = await waitFor(async () => {
      const backends = (await env.status('healthy')).backends ?? {};
      return (backends['wasm'] ?? 0) + (backends['cpu'] ?? 0) === 2 ? backends : false;
    }, { what: 'status.backends counting both peers', timeoutMs: 60_000 });
    expect(b['gpu']).toBe(0);
    // The swarm asks for GPUs (the fake GPU nodes) but no peer computes on one: the user sees it in describe.
    const degraded = await waitFor(async () => {
      const d = await condition('healthy', 'Degraded');
      return d?.reason === 'BackendFallback' ? d : false;
    }, { what: 'Degraded BackendFallback', timeoutMs: 60_000 });
    expect(degraded.message).toMatch(/spec.trainer.resources.gpus is 1, but every reporting peer computes without a GPU/);
    const describe = await env.c.kubectl(['describe', 'trainingswarm', 'healthy']);
    expect(describe.stdout).toContain('BackendFallback');
    expect(await events('healthy', 'Training')).toMatch(/peers running; epoch \d+ reached/);
    await deleteSwarm('healthy');
  }, 420_000);

  it('trainers that cannot reach NATS exit with NatsUnreachable; the swarm is Ready False and Degraded with that reason', async () => {
    await applySwarm('nonats', 1, (s) => { s.spec.nats.url = 'nats://127.0.0.1:9'; });
    const { ready, degraded } = await waitNotReady('nonats', 'NatsUnreachable', 180_000);
    expect(ready.message).toMatch(/cannot connect to spec.nats.url nats:\/\/127.0.0.1:9 within 20s/);
    expect(degraded).toMatchObject({ status: 'True', reason: 'NatsUnreachable' });
    const st = await env.status('nonats');
    expect(st.failures).toBeGreaterThanOrEqual(1);
    expect(st.lastFailureReason).toBe('NatsUnreachable');
    // The trainer's termination message is the channel, read from the pod's status.
    expect(await events('nonats', 'PodFailed')).toMatch(/NatsUnreachable: cannot connect to spec.nats.url/);
    expect(await events('nonats', 'NatsUnreachable')).not.toBe('');
    await deleteSwarm('nonats');
  }, 300_000);

  it('trainers that cannot read their data keep running and report DataUnreadable; the swarm is Ready False with that reason', async () => {
    const missing = '/nonexistent/spotswarm-honest/corpus.txt';
    await applySwarm('nodata', 1, (s) => { s.spec.training.data.urls = [missing]; });
    const { ready, degraded } = await waitNotReady('nodata', 'DataUnreadable', 180_000);
    expect(ready.message).toContain(missing);
    expect(ready.message).toMatch(/ENOENT/);
    expect(degraded.reason).toBe('DataUnreadable');
    const st = await env.status('nodata');
    // Not a crash loop: the trainer stays up and retries.
    expect(st.failures ?? 0).toBe(0);
    expect(st.peers?.running).toBe(1);
    const pod = (await env.pods('nodata'))[0]!;
    const retries = (log: string): number => log.match(/cannot read the training data; retrying/g)?.length ?? 0;
    const log = await waitFor(() => {
      const l = env.c.podLog(pod.metadata!.name!);
      return retries(l) >= 2 ? l : false;
    }, { what: 'two retries in the trainer log', timeoutMs: 60_000 });
    // Retries back off (2 s, 4 s, 8 s, ...): a handful of lines, not a tight loop.
    expect(retries(log)).toBeLessThan(10);
    await deleteSwarm('nodata');
  }, 300_000);

  it('a forced gpu backend on a machine without a GPU fails with a clear message naming the field', async () => {
    await applySwarm('forcegpu', 1, (s) => { s.spec.trainer.backend = 'gpu'; });
    const { degraded } = await waitNotReady('forcegpu', 'BackendUnavailable', 180_000);
    expect(degraded.reason).toBe('BackendUnavailable');
    expect(degraded.message).toMatch(/spec.trainer.backend is gpu, but it cannot be used here: .*tfjs-node-gpu/);
    const st = await env.status('forcegpu');
    expect(st.lastFailureMessage).toMatch(/^spec.trainer.backend is gpu/);
    await deleteSwarm('forcegpu');
  }, 300_000);
});
