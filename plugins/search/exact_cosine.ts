/**
 * Exact cosine K-nearest-neighbour search, as SCAN mines neighbours: rows
 * are L2-normalised and compared by inner product, block by block.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { PluginDef } from "../../core/registry.ts";
import type { Neighbours, NeighbourSearch } from "../../core/interfaces.ts";
import { ConfigError, DataError } from "../../core/errors.ts";

/** Copies `features` (`[n, dim]` row-major) with every row scaled to unit L2 norm; all-zero rows stay zero. */
export function normalizeRows(
  features: Float32Array,
  n: number,
  dim: number,
): Float32Array {
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    let sq = 0;
    for (let d = 0; d < dim; d++) sq += features[i * dim + d] ** 2;
    const scale = sq > 0 ? 1 / Math.sqrt(sq) : 0;
    for (let d = 0; d < dim; d++) {
      out[i * dim + d] = features[i * dim + d] * scale;
    }
  }
  return out;
}

/**
 * Writes the `k` largest entries of `row` other than `self` into
 * `indices`/`values` at `offset`, largest first; equal values keep the
 * lower index first. A bounded insertion list: O(n) compares, plus O(k)
 * work only for the few entries that enter the list.
 */
export function topKExcluding(
  row: Float32Array,
  self: number,
  k: number,
  indices: Int32Array,
  values: Float32Array,
  offset: number,
): void {
  let size = 0;
  for (let j = 0; j < row.length; j++) {
    if (j === self) continue;
    const v = row[j];
    if (size === k && !(v > values[offset + k - 1])) continue;
    // Shift smaller entries down; ties stay ahead since j grows.
    let p = size < k ? size++ : k - 1;
    while (p > 0 && values[offset + p - 1] < v) {
      values[offset + p] = values[offset + p - 1];
      indices[offset + p] = indices[offset + p - 1];
      p--;
    }
    values[offset + p] = v;
    indices[offset + p] = j;
  }
}

/**
 * The `k` most cosine-similar rows of every row of `features` (`[n, dim]`
 * row-major), never the row itself. Similarities of a block of
 * `blockSize` rows against all n rows are computed at once with tfjs
 * (`[blockSize, n]` floats in memory, never the full n x n), the other
 * operand transposed once up front (matMul with transposeB is ~12x slower
 * on wasm). Runs on tfjs's current backend.
 *
 * Limits: exact, so O(n^2 dim) time; an all-zero row has similarity 0 to
 * everything. Duplicated rows tie at similarity 1; ties are broken by the
 * lower index.
 *
 * @throws ConfigError when k is not an integer in [1, n - 1];
 *   DataError when features has not n * dim entries.
 */
export async function exactCosineSearch(
  features: Float32Array,
  n: number,
  dim: number,
  k: number,
  blockSize = 1024,
): Promise<Neighbours> {
  if (features.length !== n * dim) {
    throw new DataError(
      `Neighbour search got ${features.length} feature values for ${n} rows of ${dim}; expected ${
        n * dim
      }`,
    );
  }
  if (!Number.isInteger(k) || k < 1 || k > n - 1) {
    throw new ConfigError(
      `Neighbour search: k is ${k} but there are n = ${n} rows; k must be an integer from 1 to n - 1 = ${
        n - 1
      } (lower k or use more data)`,
    );
  }
  const normed = normalizeRows(features, n, dim);
  const indices = new Int32Array(n * k);
  const similarities = new Float32Array(n * k);
  const allT = tf.tidy(() => tf.transpose(tf.tensor2d(normed, [n, dim]))); // [dim, n]
  try {
    for (let start = 0; start < n; start += blockSize) {
      const rows = Math.min(blockSize, n - start);
      const sim = tf.tidy(() =>
        tf.matMul(
          tf.tensor2d(
            normed.subarray(start * dim, (start + rows) * dim),
            [rows, dim],
          ),
          allT,
        )
      ); // [rows, n]
      const block = (await sim.data()) as Float32Array;
      sim.dispose();
      for (let r = 0; r < rows; r++) {
        const i = start + r;
        topKExcluding(
          block.subarray(r * n, (r + 1) * n),
          i,
          k,
          indices,
          similarities,
          i * k,
        );
      }
    }
  } finally {
    allT.dispose();
  }
  return { k, indices, similarities };
}

/**
 * Share of neighbours that carry their anchor's label, averaged over
 * anchors: SCAN's neighbour-purity diagnostic.
 */
export function neighbourPurity(
  neighbours: Neighbours,
  labels: ArrayLike<number>,
): number {
  const { k, indices } = neighbours;
  const n = indices.length / k;
  if (n === 0) return 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    let same = 0;
    for (let j = 0; j < k; j++) {
      if (labels[indices[i * k + j]] === labels[i]) same++;
    }
    sum += same / k;
  }
  return sum / n;
}

const schema = {
  block_size: {
    type: "number",
    default: 1024,
    min: 1,
    integer: true,
    doc:
      "rows compared against all rows at once (memory: block_size x n floats)",
  },
} as const;

/** `exact-cosine`: exact K-nearest neighbours by cosine similarity (SCAN's mining). */
export const exactCosine: PluginDef<NeighbourSearch, typeof schema> = {
  name: "exact-cosine",
  description:
    "Exact K nearest neighbours by cosine similarity, in row blocks (SCAN's mining)",
  options: schema,
  create({ block_size }) {
    return {
      name: "exact-cosine",
      search: (features, n, dim, k) =>
        exactCosineSearch(features, n, dim, k, block_size),
    };
  },
};
