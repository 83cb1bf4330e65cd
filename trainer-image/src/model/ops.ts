/**
 * The model's building blocks as plain tfjs functions of tensors.
 *
 * Two of them carry a custom gradient because of the wasm backend (measured
 * on 2-core x86 machines with tfjs-backend-wasm 4.22, SIMD on, threads off):
 *  - `matMul`: tfjs' built-in matMul gradient multiplies with
 *    `transposeA`/`transposeB`, which the wasm backend runs 13–70× slower
 *    than a plain matMul. Ours transposes explicitly, then multiplies plainly.
 *  - `gatherRows`: the built-in gather gradient needs `UnsortedSegmentSum`,
 *    which the wasm backend does not register. Ours scatters with
 *    `scatterND`, which sums rows of repeated indices.
 */
import * as tf from '@tensorflow/tfjs';

/** Swaps the last two axes of a rank-2 or rank-3 tensor with an explicit transpose. */
function swapLast(x: tf.Tensor): tf.Tensor {
  return x.rank === 2 ? tf.transpose(x) : tf.transpose(x, [0, 2, 1]);
}

const matMulImpl = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor, tf.Tensor];
      return [matMul(dy, swapLast(sb)), matMul(swapLast(sa), dy)];
    },
  };
});

/**
 * a·b for rank-2 [m,k]·[k,n] or batched rank-3 [B,m,k]·[B,k,n], with a
 * gradient that uses no transpose flags (see the file comment).
 */
export function matMul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (a.rank !== b.rank || (a.rank !== 2 && a.rank !== 3)) {
    throw new Error(`matMul: ranks ${a.rank} and ${b.rank}; expected both 2 or both 3`);
  }
  return matMulImpl(a, b);
}

/**
 * x·w + b over the last axis of x (any rank ≥ 2): reshapes to 2-D, multiplies
 * with `matMul`, and reshapes back.
 */
export function dense(x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor {
  const inDim = x.shape[x.rank - 1]!;
  const outDim = w.shape[1]!;
  const flat = x.reshape([-1, inDim]);
  let y = matMul(flat, w);
  if (b !== undefined) y = tf.add(y, b);
  return y.reshape([...x.shape.slice(0, -1), outDim]);
}

const gatherRowsImpl = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [table, idx, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([idx]);
  const shape = table.shape;
  return {
    value: tf.gather(table, idx as tf.Tensor1D),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const i = saved[0]!;
      const dTable = tf.scatterND(i.reshape([-1, 1]), dy, shape);
      return [dTable, tf.zerosLike(i)];
    },
  };
});

/** Rows `idx` (int32, rank 1) of a rank-2 table, with a wasm-friendly gradient. */
export function gatherRows(table: tf.Tensor, idx: tf.Tensor): tf.Tensor {
  if (table.rank !== 2 || idx.rank !== 1) throw new Error('gatherRows: expected a rank-2 table and rank-1 indices');
  return gatherRowsImpl(table, idx);
}

/** LayerNorm over the last axis: (x − mean) / sqrt(var + eps) · gamma + beta. */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  const mean = tf.mean(x, -1, true);
  const centred = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centred), -1, true);
  return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, eps))), gamma), beta);
}

const GELU_C = Math.sqrt(2 / Math.PI);

/** GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (BERT/ALBERT "gelu_new"). */
export function gelu(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), GELU_C);
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

/**
 * GEGLU feed-forward (Shazeer 2020, "GLU Variants Improve Transformer"):
 * out = (gelu(x·wGate + bGate) ⊙ (x·wValue + bValue))·wOut + bOut.
 * wGate and wValue are [H, I], wOut is [I, H]. (Two input matrices rather
 * than one [H, 2I] split in halves: a split of the activations is slow on
 * the cpu backend, and the maths is the same.)
 */
export function geglu(
  x: tf.Tensor,
  wGate: tf.Tensor, bGate: tf.Tensor,
  wValue: tf.Tensor, bValue: tf.Tensor,
  wOut: tf.Tensor, bOut: tf.Tensor,
): tf.Tensor {
  return dense(tf.mul(gelu(dense(x, wGate, bGate)), dense(x, wValue, bValue)), wOut, bOut);
}

/**
 * Rotary tables for positions 0..seqLen-1 and head size `dim` (even):
 * angle[t][j] = t · base^(−2(j mod dim/2)/dim), the half-split ("GPT-NeoX")
 * layout that LeanALBERT uses. Returns cos and sin, each [seqLen, dim].
 */
export function rotaryTables(seqLen: number, dim: number, base = 10_000): { cos: Float32Array; sin: Float32Array } {
  if (dim % 2 !== 0) throw new Error(`rotary: head size ${dim} is odd`);
  const half = dim / 2;
  const cos = new Float32Array(seqLen * dim);
  const sin = new Float32Array(seqLen * dim);
  for (let t = 0; t < seqLen; t++) {
    for (let j = 0; j < dim; j++) {
      const invFreq = Math.pow(base, (-2 * (j % half)) / dim);
      cos[t * dim + j] = Math.cos(t * invFreq);
      sin[t * dim + j] = Math.sin(t * invFreq);
    }
  }
  return { cos, sin };
}

/**
 * The constant [dim, dim] matrix R with x·R = rotate(x) = [−r | l] for
 * x = [l | r] (halves of the last axis).
 */
export function rotationMatrix(dim: number): Float32Array {
  const half = dim / 2;
  const r = new Float32Array(dim * dim);
  for (let c = 0; c < half; c++) {
    r[(c + half) * dim + c] = -1; // out[c] = −x[c + half]
    r[c * dim + c + half] = 1; // out[c + half] = x[c]
  }
  return r;
}

/**
 * Rotary position embedding (Su et al. 2021, RoFormer) of x [..., T, dim]:
 * x·cos + rotate(x)·sin with rotate([l | r]) = [−r | l]. Each pair
 * (x[j], x[j + dim/2]) turns by the angle of its position and frequency, so
 * q·k depends only on the positions' difference. cos/sin are [T, dim];
 * `rotation` is `rotationMatrix(dim)` as a tensor (rotate(x) = x·R, which
 * avoids splitting the activations).
 */
export function applyRotary(x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor, rotation: tf.Tensor): tf.Tensor {
  const dim = x.shape[x.rank - 1]!;
  const rotated = matMul(x.reshape([-1, dim]), rotation).reshape(x.shape);
  return tf.add(tf.mul(x, cos), tf.mul(rotated, sin));
}
