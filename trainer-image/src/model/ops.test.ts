import * as tf from '@tensorflow/tfjs';
import { loadBackend } from '../backend/index.ts';
import { applyRotary, gatherRows, geglu, gelu, layerNorm, matMul, rotaryTables, rotationMatrix } from './ops.ts';

const close = (actual: ArrayLike<number>, expected: readonly number[], digits = 5): void => {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => expect(actual[i]).toBeCloseTo(e, digits));
};

describe.each(['wasm', 'cpu'] as const)('model ops on the %s backend', (backend) => {
  beforeAll(async () => {
    const choice = await loadBackend({ order: [backend] });
    expect(choice.kind).toBe(backend);
  });

  it('rotary: rotates each (x[j], x[j+d/2]) pair by t·base^(-2j/d), hand-computed for d = 4', async () => {
    const { cos, sin } = rotaryTables(3, 4);
    // Frequencies for d = 4: j = 0 → 1, j = 1 → 10000^(-1/2) = 0.01.
    close(cos.subarray(4, 8), [Math.cos(1), Math.cos(0.01), Math.cos(1), Math.cos(0.01)], 6);
    const x = tf.tensor2d([1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4], [3, 4]);
    const out = applyRotary(x, tf.tensor2d(cos, [3, 4]), tf.tensor2d(sin, [3, 4]), tf.tensor2d(rotationMatrix(4), [4, 4]));
    const v = await out.data();
    // t = 0: unchanged. t = 1: (1,3) turns by 1 rad, (2,4) by 0.01 rad. t = 2: by 2 and 0.02.
    close(v.subarray(0, 4), [1, 2, 3, 4]);
    close(v.subarray(4, 8), [-1.9841106, 1.9599007, 2.4623779, 4.0197997]);
    close(v.subarray(8, 12), [-3.1440391, 1.9196053, -0.3391431, 4.0391974]);
  });

  it('rotary: q·k depends only on the distance between positions, and norms are kept', async () => {
    const d = 8;
    const T = 6;
    const { cos, sin } = rotaryTables(T, d);
    const rot = (vec: number[]): tf.Tensor =>
      applyRotary(tf.tensor2d(Array.from({ length: T }, () => vec).flat(), [T, d]), tf.tensor2d(cos, [T, d]), tf.tensor2d(sin, [T, d]), tf.tensor2d(rotationMatrix(d), [d, d]));
    const q = await rot([0.3, -1.2, 0.5, 2.0, 0.1, 0.7, -0.4, 1.1]).array() as number[][];
    const k = await rot([1.0, 0.2, -0.6, 0.3, 0.9, -1.5, 0.25, 0.4]).array() as number[][];
    const dot = (a: number[], b: number[]): number => a.reduce((s, x, i) => s + x * b[i]!, 0);
    expect(dot(q[1]!, k[3]!)).toBeCloseTo(dot(q[2]!, k[4]!), 4);
    expect(dot(q[0]!, k[2]!)).toBeCloseTo(dot(q[3]!, k[5]!), 4);
    expect(Math.abs(dot(q[1]!, k[3]!) - dot(q[1]!, k[4]!))).toBeGreaterThan(1e-3);
    const norm0 = Math.hypot(...q[0]!);
    for (const row of q) expect(Math.hypot(...row)).toBeCloseTo(norm0, 4);
  });

  it('gelu: tanh approximation, hand-computed', async () => {
    close(await gelu(tf.tensor1d([1, -1, 0, 0.5, 2])).data(), [0.841192, -0.158808, 0, 0.345714, 1.954598]);
  });

  it('GEGLU: (gelu(x·Wg) ⊙ x·Wv)·Wo + bo, hand-computed', async () => {
    const x = tf.tensor2d([[1, -1]]);
    const eye = tf.tensor2d([[1, 0], [0, 1]]);
    const zeros = tf.zeros([2]);
    const out = geglu(x, eye, zeros, tf.tensor2d([[2, 0], [0, 3]]), zeros, eye, tf.tensor1d([0.5, 0]));
    // gate = [1, -1] → gelu = [0.841192, -0.158808]; value = [2, -3]; product + bias.
    close(await out.data(), [2.182384, 0.476424]);
  });

  it('layerNorm: (x − mean)/sqrt(var + eps)·gamma + beta, hand-computed', async () => {
    const out = layerNorm(tf.tensor2d([[1, 2, 3]]), tf.tensor1d([1, 2, 1]), tf.tensor1d([0, 0, 1]), 1e-12);
    close(await out.data(), [-1.224745, 0, 2.224745]);
  });

  it('matMul: custom gradient (explicit transposes) equals tfjs’ built-in gradient, rank 2 and rank 3', async () => {
    for (const [sa, sb] of [[[3, 4], [4, 5]], [[2, 3, 4], [2, 4, 5]]] as const) {
      const a = tf.randomNormal([...sa], 0, 1, 'float32', 1);
      const b = tf.randomNormal([...sb], 0, 1, 'float32', 2);
      const w = tf.randomNormal([...sa.slice(0, -1), 5], 0, 1, 'float32', 3);
      const f = (mm: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor) => (x: tf.Tensor, y: tf.Tensor): tf.Scalar => tf.sum(tf.mul(mm(x, y), w));
      const ours = tf.grads(f(matMul))([a, b]);
      const builtin = tf.grads(f((x, y) => tf.matMul(x as tf.Tensor3D, y as tf.Tensor3D)))([a, b]);
      for (let i = 0; i < 2; i++) close(await ours[i]!.data(), Array.from(await builtin[i]!.data()), 4);
      close(await matMul(a, b).data(), Array.from(await tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D).data()), 4);
    }
    expect(() => matMul(tf.zeros([2, 2]), tf.zeros([1, 2, 2]))).toThrow(/ranks/);
  });

  it('gatherRows: picks rows, and its gradient sums the rows of repeated indices', async () => {
    const table = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
    const idx = tf.tensor1d([1, 1, 0], 'int32');
    close(await gatherRows(table, idx).data(), [3, 4, 3, 4, 1, 2]);
    const weights = tf.tensor2d([[1, 10], [100, 1000], [7, 7]]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gatherRows(t, idx), weights)))(table);
    // row 0 ← weights row 2; row 1 ← weights rows 0 + 1; row 2 unused.
    close(await g.data(), [7, 7, 101, 1010, 0, 0]);
  });
});
