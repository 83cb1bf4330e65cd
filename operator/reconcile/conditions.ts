/** metav1.Condition bookkeeping: lastTransitionTime moves only when status does. */
import type { Condition } from '../../api/index.ts';

export type ConditionInput = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

export function setConditions(existing: Condition[] | undefined, wanted: ConditionInput[], generation: number, now: Date): Condition[] {
  const byType = new Map((existing ?? []).map((c) => [c.type, c]));
  return wanted.map((w) => {
    const old = byType.get(w.type);
    const lastTransitionTime = old && old.status === w.status ? old.lastTransitionTime : now.toISOString();
    return { ...w, observedGeneration: generation, lastTransitionTime };
  });
}
