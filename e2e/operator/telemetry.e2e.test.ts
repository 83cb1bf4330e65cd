/**
 * Peer telemetry → TrainingSwarm status, end to end: real trainer processes
 * (run by the test kubelet) publish on NATS, the operator writes epoch,
 * samples/s, active peers and ETA, kubectl shows them updating, bad reports
 * are counted, and stopAfter ends the swarm.
 */
import { connect } from '@nats-io/transport-node';
import { LABEL_SWARM, Subjects } from '../../api/index.ts';
import { httpGet } from '../../testkit/cluster/index.ts';
import { startSwarmEnv, type OperatorProcess, type SwarmEnv, waitFor } from '../../testkit/harness/index.ts';

let env: SwarmEnv;
let op: OperatorProcess;
const status = () => env.status('tele');

beforeAll(async () => {
  env = await startSwarmEnv({ name: 'telemetry', nodes: [{ name: 'gpu-0', gpus: 1 }, { name: 'gpu-1', gpus: 1 }] });
  op = env.startOperator('op');
}, 180_000);

afterAll(() => env?.stop(), 120_000);

describe('telemetry in status', () => {
  it('shows epoch, samples/s and active peers updating in kubectl get', async () => {
    const s = env.tinySwarm('tele');
    s.spec.peers = { min: 1, max: 2, maxPending: 0 };
    delete s.spec.stopAfter;
    await env.apply(s);
    const first = await waitFor(async () => {
      const st = await status();
      return st.peers?.active === 2 && (st.samplesPerSecond ?? 0) > 0 && st.epoch !== undefined ? st : false;
    }, { what: 'two active peers reporting throughput', timeoutMs: 120_000 });
    const later = await waitFor(async () => {
      const st = await status();
      return (st.epoch ?? 0) > first.epoch! ? st : false;
    }, { what: 'the epoch advancing', timeoutMs: 120_000 });
    expect(later.epoch).toBeGreaterThan(first.epoch!);
    const wide = await env.c.kubectl(['get', 'trainingswarms', '-o', 'wide']);
    const row = wide.stdout.split('\n').find((l) => l.startsWith('tele '))!;
    const header = wide.stdout.split('\n')[0]!;
    expect(header).toMatch(/EPOCH\s+SAMPLES\/S\s+LOSS\s+PREEMPTIONS\s+MAX\s+SCHEDULED\s+ACTIVE\s+ETA/);
    expect(row).toMatch(new RegExp(`^tele\\s+Running\\s+2/2\\s+\\d+\\s+[0-9.]+`));
  }, 300_000);

  it('counts and ignores malformed telemetry without losing the good reports', async () => {
    const port = /"metricsPort":(\d+)/.exec(op.log())![1];
    const nc = await connect({ servers: env.nats.url });
    const subject = Subjects.telemetry({ namespace: 'default', name: 'tele' });
    nc.publish(subject, 'not json');
    nc.publish(subject, JSON.stringify({ v: 1, peerId: 'evil', pod: 'x', epoch: -5, samplesAccumulated: 0, samplesPerSecond: 1e9, time: 0 }));
    nc.publish(subject, new Uint8Array(64 * 1024));
    await nc.flush();
    await nc.close();
    const metrics = await waitFor(async () => {
      const body = (await httpGet(`http://127.0.0.1:${port}/metrics`)).body;
      const n = (reason: string) => Number(new RegExp(`spotswarm_telemetry_rejected_total\\{reason="${reason}"\\} (\\d+)`).exec(body)?.[1] ?? 0);
      return n('not-json') >= 1 && n('epoch') >= 1 && n('too-large') >= 1 ? body : false;
    }, { what: 'rejections counted by reason' });
    expect(metrics).toContain('spotswarm_telemetry_reports_total');
    expect(op.log()).toContain('rejected a telemetry report');
    const st = await status();
    expect(st.peers?.active).toBe(2);
    expect(st.samplesPerSecond).toBeLessThan(1e9);
  }, 60_000);

  it('stops at spec.stopAfter: phase Succeeded and every pod removed', async () => {
    const epoch = (await status()).epoch!;
    const patch = await env.c.kubectl(['patch', 'trainingswarm', 'tele', '--type', 'merge', '-p', JSON.stringify({ spec: { stopAfter: { epochs: epoch + 1 } } })]);
    expect(patch.code).toBe(0);
    await waitFor(async () => (await status()).phase === 'Succeeded', { what: 'phase Succeeded', timeoutMs: 120_000 });
    await waitFor(async () => (await env.c.core.listNamespacedPod({ namespace: 'default', labelSelector: `${LABEL_SWARM}=tele` })).items.length === 0, { what: 'pods removed', timeoutMs: 90_000 });
    const st = await status();
    expect(st.epoch).toBeGreaterThanOrEqual(epoch + 1);
    expect(st.conditions!.find((x) => x.type === 'Progressing')!.reason).toBe('StopAfterReached');
  }, 240_000);
});
