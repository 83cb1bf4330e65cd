import type { V1Pod } from '@kubernetes/client-node';
import { ACCOUNTING_FINALIZER, viewPod, withExpectedPods } from './pods.ts';
import { pod } from './testing.ts';

describe('withExpectedPods', () => {
  it('leaves the cache\'s pods alone when nothing is expected', () => {
    const views = [pod(), pod({ running: false, scheduled: false })];
    expect(withExpectedPods(views, { created: [], deleting: new Set() })).toEqual(views);
  });
  it('adds pods created but not shown yet as pending, unscheduled, holding the finalizer', () => {
    const out = withExpectedPods([], { created: [{ name: 'new-1', at: 1_000 }], deleting: new Set() });
    expect(out).toEqual([{ name: 'new-1', uid: 'pending:new-1', scheduled: false, running: false, holdsFinalizer: true, createdAt: 1_000 }]);
  });
  it('marks pods deleted but still shown as deleted and not running', () => {
    const running = pod({ name: 'going' });
    const [out] = withExpectedPods([running], { created: [], deleting: new Set(['going']) });
    expect(out).toEqual({ ...running, ending: 'deleted', running: false });
  });
  it('keeps the ending a deleted pod already has', () => {
    const failed = pod({ name: 'failed', running: false, ending: 'failed' });
    expect(withExpectedPods([failed], { created: [], deleting: new Set(['failed']) })).toEqual([failed]);
  });
});

describe('viewPod', () => {
  const failedWith = (message: string | undefined): V1Pod => ({
    metadata: { name: 'p', uid: 'u', finalizers: [ACCOUNTING_FINALIZER] },
    spec: { nodeName: 'n', containers: [] },
    status: { phase: 'Failed', containerStatuses: [{ name: 'trainer', image: 'i', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 1, ...(message !== undefined ? { message } : {}) } } }] },
  });
  it('reads the problem a failed trainer named in its termination message', () => {
    expect(viewPod(failedWith('NatsUnreachable: cannot connect to nats://127.0.0.1:1 within 5s: ECONNREFUSED'))).toMatchObject({
      ending: 'failed',
      problem: { reason: 'NatsUnreachable', message: 'cannot connect to nats://127.0.0.1:1 within 5s: ECONNREFUSED' },
    });
  });
  it('ignores a termination message that names no known problem', () => {
    expect(viewPod(failedWith('Segmentation fault')).problem).toBeUndefined();
    expect(viewPod(failedWith(undefined)).problem).toBeUndefined();
  });
});
