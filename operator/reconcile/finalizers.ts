/**
 * JSON patches that add or remove one finalizer. A removal names the index it
 * saw and tests the value there first, so a list that changed since is
 * refused (422) rather than losing someone else's finalizer.
 */

export interface JsonPatchOp {
  op: 'add' | 'remove' | 'test';
  path: string;
  value?: unknown;
}

/** The patch that adds `finalizer`, or undefined when it is there already. */
export function addFinalizerPatch(finalizers: readonly string[] | undefined, finalizer: string): JsonPatchOp[] | undefined {
  const list = finalizers ?? [];
  if (list.includes(finalizer)) return undefined;
  // An absent list is created whole; '-' appends only to a list that exists.
  return [list.length ? { op: 'add', path: '/metadata/finalizers/-', value: finalizer } : { op: 'add', path: '/metadata/finalizers', value: [finalizer] }];
}

/** The patch that removes `finalizer` where it is now, or undefined when it is not there. */
export function removeFinalizerPatch(finalizers: readonly string[] | undefined, finalizer: string): JsonPatchOp[] | undefined {
  const i = (finalizers ?? []).indexOf(finalizer);
  if (i < 0) return undefined;
  return [{ op: 'test', path: `/metadata/finalizers/${i}`, value: finalizer }, { op: 'remove', path: `/metadata/finalizers/${i}` }];
}
