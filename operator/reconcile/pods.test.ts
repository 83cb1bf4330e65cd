import { withExpectedPods } from './pods.ts';
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
