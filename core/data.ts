/**
 * Moving images between a Dataset's bytes and tensors, and running models
 * over a whole dataset in batches.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Dataset } from "./interfaces.ts";

/** The images at `indices` as a float batch `[B, H, W, C]` in [0, 1]. */
export function readBatch(
  dataset: Dataset,
  indices: ArrayLike<number>,
): tf.Tensor4D {
  const bytes = dataset.read(indices);
  const floats = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) floats[i] = bytes[i] / 255;
  const [h, w, c] = dataset.shape;
  return tf.tensor4d(floats, [indices.length, h, w, c]);
}

/**
 * Runs `fn` over `indices` in batches of `batchSize`; `fn` returns rows
 * `[B, D]` that are copied into one `[n, D]` array. Rows are read with
 * `await data()` because a GPU backend (webgpu under Deno) cannot read them
 * synchronously.
 */
export async function mapBatches(
  dataset: Dataset,
  indices: ArrayLike<number>,
  batchSize: number,
  fn: (images: tf.Tensor4D) => tf.Tensor2D,
): Promise<{ data: Float32Array; dim: number }> {
  let out: Float32Array | undefined;
  let dim = 0;
  for (let start = 0; start < indices.length; start += batchSize) {
    const end = Math.min(indices.length, start + batchSize);
    const idx = Array.from(
      { length: end - start },
      (_, i) => indices[start + i],
    );
    const rows = tf.tidy(() => fn(readBatch(dataset, idx)));
    dim = rows.shape[1];
    out ??= new Float32Array(indices.length * dim);
    out.set(await rows.data() as Float32Array, start * dim);
    rows.dispose();
  }
  return { data: out ?? new Float32Array(0), dim };
}

/** Row-wise argmax and max of a `[n, c]` probability matrix. */
export function argmaxRows(
  probs: Float32Array,
  c: number,
): { labels: Int32Array; confidence: Float32Array } {
  const n = probs.length / c;
  const labels = new Int32Array(n);
  const confidence = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < c; j++) {
      if (probs[i * c + j] > probs[i * c + best]) best = j;
    }
    labels[i] = best;
    confidence[i] = probs[i * c + best];
  }
  return { labels, confidence };
}

/** 0..n-1 */
export function range(n: number): Int32Array {
  const r = new Int32Array(n);
  for (let i = 0; i < n; i++) r[i] = i;
  return r;
}

/** Number of members of each cluster. */
export function clusterSizes(labels: Int32Array, c: number): number[] {
  const sizes = new Array<number>(c).fill(0);
  for (const l of labels) sizes[l]++;
  return sizes;
}
