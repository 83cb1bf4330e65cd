import { capacity, eligible, freeGpusPerNode, type NodeView } from './free-gpus.ts';
import { gpuHolder, gpuRequest, viewNode } from './views.ts';

const node = (name: string, gpus: number, over: Partial<NodeView> = {}): NodeView => ({ name, gpus, ready: true, unschedulable: false, taints: [], labels: {}, ...over });

describe('free GPU capacity', () => {
  it('subtracts bound requests per node and never goes negative', () => {
    const free = freeGpusPerNode([node('a', 8), node('b', 2)], [{ node: 'a', gpus: 3 }, { node: 'a', gpus: 1 }, { node: 'b', gpus: 5 }]);
    expect(free).toEqual(new Map([['a', 4], ['b', 0]]));
  });

  it('counts peers per node: fragments smaller than one peer do not add up across nodes', () => {
    const c = capacity([node('a', 3), node('b', 3)], [], { gpus: 2 });
    expect(c).toEqual({ slots: 2, freeGpus: 6 });
  });

  it('skips cordoned, NotReady and untolerated-tainted nodes, and honours nodeSelector', () => {
    const nodes = [
      node('cordoned', 4, { unschedulable: true }),
      node('notready', 4, { ready: false }),
      node('tainted', 4, { taints: [{ key: 'nvidia.com/gpu', effect: 'NoSchedule' }] }),
      node('soft', 4, { taints: [{ key: 'x', effect: 'PreferNoSchedule' }] }),
      node('other-pool', 4, { labels: { pool: 'b' } }),
      node('good', 4, { labels: { pool: 'a' } }),
    ];
    expect(capacity(nodes, [], { gpus: 1, nodeSelector: { pool: 'a' } }).slots).toBe(4);
    expect(capacity(nodes, [], { gpus: 1 }).slots).toBe(12); // soft + other-pool + good
    const tolerant = { gpus: 1, tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists' as const, effect: 'NoSchedule' as const }] };
    expect(eligible(nodes[2]!, tolerant)).toBe(true);
    expect(eligible(nodes[2]!, { gpus: 1, tolerations: [{ key: 'nvidia.com/gpu', operator: 'Equal', value: 'yes', effect: 'NoSchedule' }] })).toBe(false);
  });

  it('does not limit CPU-only peers', () => {
    expect(capacity([node('a', 0)], [], { gpus: 0 }).slots).toBe(Number.POSITIVE_INFINITY);
  });

  it('reads nodes and pods from API objects', () => {
    const n = viewNode({ metadata: { name: 'n', labels: { a: 'b' } }, spec: { unschedulable: true, taints: [{ key: 'k', effect: 'NoSchedule' }] }, status: { allocatable: { 'nvidia.com/gpu': '8' }, conditions: [{ type: 'Ready', status: 'True' }] } });
    expect(n).toEqual({ name: 'n', gpus: 8, ready: true, unschedulable: true, taints: [{ key: 'k', effect: 'NoSchedule' }], labels: { a: 'b' } });
    const pod = (phase: string, nodeName?: string) => ({ spec: { ...(nodeName ? { nodeName } : {}), containers: [{ name: 'c', resources: { requests: { 'nvidia.com/gpu': '2' } } }] }, status: { phase } });
    expect(gpuHolder(pod('Running', 'n'))).toEqual({ node: 'n', gpus: 2 });
    expect(gpuHolder(pod('Pending'))).toBeUndefined();
    expect(gpuRequest(pod('Pending'))).toBe(2);
    expect(gpuHolder(pod('Succeeded', 'n'))).toBeUndefined();
  });
});
