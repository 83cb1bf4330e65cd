import { addFinalizerPatch, removeFinalizerPatch } from './finalizers.ts';

describe('addFinalizerPatch', () => {
  it('creates the list when there is none, or an empty one', () => {
    expect(addFinalizerPatch(undefined, 'f')).toEqual([{ op: 'add', path: '/metadata/finalizers', value: ['f'] }]);
    expect(addFinalizerPatch([], 'f')).toEqual([{ op: 'add', path: '/metadata/finalizers', value: ['f'] }]);
  });
  it('appends to a list that has others', () => {
    expect(addFinalizerPatch(['a'], 'f')).toEqual([{ op: 'add', path: '/metadata/finalizers/-', value: 'f' }]);
  });
  it('is undefined when the finalizer is there', () => {
    expect(addFinalizerPatch(['a', 'f'], 'f')).toBeUndefined();
  });
});

describe('removeFinalizerPatch', () => {
  it('tests the value at the index it saw, then removes it', () => {
    expect(removeFinalizerPatch(['a', 'f', 'b'], 'f')).toEqual([
      { op: 'test', path: '/metadata/finalizers/1', value: 'f' },
      { op: 'remove', path: '/metadata/finalizers/1' },
    ]);
  });
  it('is undefined when the finalizer is not there', () => {
    expect(removeFinalizerPatch(undefined, 'f')).toBeUndefined();
    expect(removeFinalizerPatch(['a'], 'f')).toBeUndefined();
  });
});
