/**
 * k-means (Lloyd's algorithm with k-means++ seeding), the classic
 * clustering baseline: run on raw pixels or on learnt features.
 *
 * @module
 */
import type { Rng } from "../../core/random.ts";
import { ConfigError, DataError } from "../../core/errors.ts";

/** Settings of {@linkcode kmeans}; every field has a default. */
export interface KMeansOptions {
  /** Lloyd iterations per restart at most (default 100). */
  maxIter?: number;
  /** Independent k-means++ starts; the lowest inertia wins (default 3). */
  restarts?: number;
  /**
   * Stop when the summed squared centroid shift is at most
   * `tol * mean per-feature variance` (scikit-learn's rule; default 1e-4),
   * or when no assignment changes.
   */
  tol?: number;
  /** Called after each assignment step with the restart, iteration and inertia (for progress events). */
  onIteration?: (restart: number, iteration: number, inertia: number) => void;
}

/** What {@linkcode kmeans} returns: the best restart. */
export interface KMeansResult {
  /** `[n]`, the centroid index of every row, consistent with `centroids`. */
  assignments: Int32Array;
  /** `[k, dim]` row-major. */
  centroids: Float32Array;
  /** Sum of squared distances of rows to their centroid. */
  inertia: number;
  /** Lloyd iterations (centroid updates) the best restart ran. */
  iterations: number;
  /** Inertia at every assignment step of the best restart, the final one last. */
  history: number[];
}

/** Squared L2 norm of every row. */
export function rowSquaredNorms(
  data: Float32Array,
  n: number,
  dim: number,
): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    const o = i * dim;
    for (let d = 0; d < dim; d++) s += data[o + d] * data[o + d];
    out[i] = s;
  }
  return out;
}

/**
 * The assignment step: every row goes to its nearest centroid by
 * `||x||^2 - 2 x.c + ||c||^2` (one dot product per row and centroid,
 * accumulated in float64, clamped at 0). Writes `assignments` and the
 * squared distances `dist`; returns the inertia. Ties go to the lower
 * centroid index.
 */
export function assignNearest(
  data: Float32Array,
  n: number,
  dim: number,
  rowNorms: Float64Array,
  centroids: Float64Array,
  k: number,
  assignments: Int32Array,
  dist: Float64Array,
): number {
  const cNorms = new Float64Array(k);
  for (let c = 0; c < k; c++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += centroids[c * dim + d] ** 2;
    cNorms[c] = s;
  }
  let inertia = 0;
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    let best = 0;
    let bestD = Infinity;
    for (let c = 0; c < k; c++) {
      const co = c * dim;
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += data[o + d] * centroids[co + d];
      const dd = rowNorms[i] - 2 * dot + cNorms[c];
      if (dd < bestD) {
        bestD = dd;
        best = c;
      }
    }
    assignments[i] = best;
    dist[i] = bestD > 0 ? bestD : 0;
    inertia += dist[i];
  }
  return inertia;
}

/**
 * The update step: each centroid becomes the mean of its rows. A centroid
 * with no rows is moved onto the row farthest from its own centroid (by
 * `dist`), a different row for each empty cluster, as scikit-learn does.
 * Returns the summed squared centroid shift.
 */
export function updateCentroids(
  data: Float32Array,
  n: number,
  dim: number,
  k: number,
  assignments: Int32Array,
  dist: Float64Array,
  centroids: Float64Array,
): number {
  const sums = new Float64Array(k * dim);
  const counts = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    const c = assignments[i];
    counts[c]++;
    const o = i * dim;
    const so = c * dim;
    for (let d = 0; d < dim; d++) sums[so + d] += data[o + d];
  }
  const taken = new Set<number>();
  let shift = 0;
  for (let c = 0; c < k; c++) {
    let src: number[] | Float64Array;
    if (counts[c] > 0) {
      for (let d = 0; d < dim; d++) sums[c * dim + d] /= counts[c];
      src = sums.subarray(c * dim, (c + 1) * dim);
    } else {
      let far = -1;
      for (let i = 0; i < n; i++) {
        if (!taken.has(i) && (far < 0 || dist[i] > dist[far])) far = i;
      }
      taken.add(far);
      src = Array.from(data.subarray(far * dim, (far + 1) * dim));
    }
    for (let d = 0; d < dim; d++) {
      shift += (centroids[c * dim + d] - src[d]) ** 2;
      centroids[c * dim + d] = src[d];
    }
  }
  return shift;
}

/**
 * k-means++ seeding (Arthur and Vassilvitskii): the first centre uniformly,
 * each next one with probability proportional to the squared distance to
 * the nearest centre chosen so far. (scikit-learn's greedy variant tries
 * several candidates per centre; this one does not.)
 */
export function kmeansPlusPlus(
  data: Float32Array,
  n: number,
  dim: number,
  k: number,
  rng: Rng,
): Float64Array {
  const centroids = new Float64Array(k * dim);
  const d2 = new Float64Array(n).fill(Infinity);
  let pick = rng.int(n);
  for (let c = 0; c < k; c++) {
    const po = pick * dim;
    for (let d = 0; d < dim; d++) centroids[c * dim + d] = data[po + d];
    let total = 0;
    for (let i = 0; i < n; i++) {
      const o = i * dim;
      let s = 0;
      for (let d = 0; d < dim; d++) {
        const diff = data[o + d] - data[po + d];
        s += diff * diff;
      }
      if (s < d2[i]) d2[i] = s;
      total += d2[i];
    }
    if (c === k - 1) break;
    if (total > 0) {
      let r = rng.next() * total;
      pick = n - 1;
      for (let i = 0; i < n; i++) {
        r -= d2[i];
        if (r < 0) {
          pick = i;
          break;
        }
      }
    } else {
      // Every row coincides with a chosen centre: any row will do.
      pick = rng.int(n);
    }
  }
  return centroids;
}

function meanFeatureVariance(
  data: Float32Array,
  n: number,
  dim: number,
): number {
  const mean = new Float64Array(dim);
  const sq = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) {
      const v = data[i * dim + d];
      mean[d] += v;
      sq[d] += v * v;
    }
  }
  let total = 0;
  for (let d = 0; d < dim; d++) {
    const m = mean[d] / n;
    total += Math.max(0, sq[d] / n - m * m);
  }
  return total / dim;
}

/**
 * Clusters the `n` rows of `data` (`[n, dim]` row-major) into `k` groups
 * with Lloyd's algorithm from k-means++ seeds, keeping the restart of
 * lowest inertia. All randomness comes from `rng`, so the same seed gives
 * the same result. Plain JS loops over typed arrays (faster here than tfjs
 * for small k, see the project notes), single-threaded.
 *
 * @throws ConfigError when k is not an integer in [1, n] or an option is
 *   out of range; DataError when data has not n * dim values.
 */
export function kmeans(
  data: Float32Array,
  n: number,
  dim: number,
  k: number,
  rng: Rng,
  options: KMeansOptions = {},
): KMeansResult {
  const { maxIter = 100, restarts = 3, tol = 1e-4, onIteration } = options;
  if (data.length !== n * dim) {
    throw new DataError(
      `k-means got ${data.length} values for ${n} rows of ${dim}; expected ${
        n * dim
      }`,
    );
  }
  if (!Number.isInteger(k) || k < 1 || k > n) {
    throw new ConfigError(
      `k-means: k is ${k} but there are n = ${n} rows; k must be an integer from 1 to ${n}`,
    );
  }
  if (!Number.isInteger(maxIter) || maxIter < 1) {
    throw new ConfigError(
      `k-means: maxIter is ${maxIter}; expected an integer >= 1`,
    );
  }
  if (!Number.isInteger(restarts) || restarts < 1) {
    throw new ConfigError(
      `k-means: restarts is ${restarts}; expected an integer >= 1`,
    );
  }
  if (!(tol >= 0)) {
    throw new ConfigError(`k-means: tol is ${tol}; expected a number >= 0`);
  }
  const rowNorms = rowSquaredNorms(data, n, dim);
  const tolAbs = tol * meanFeatureVariance(data, n, dim);
  let best: KMeansResult | undefined;
  for (let r = 0; r < restarts; r++) {
    const centroids = kmeansPlusPlus(data, n, dim, k, rng);
    const assignments = new Int32Array(n).fill(-1);
    const previous = new Int32Array(n);
    const dist = new Float64Array(n);
    const history: number[] = [];
    let iterations = 0;
    while (true) {
      previous.set(assignments);
      const inertia = assignNearest(
        data,
        n,
        dim,
        rowNorms,
        centroids,
        k,
        assignments,
        dist,
      );
      history.push(inertia);
      onIteration?.(r, iterations, inertia);
      let changed = false;
      for (let i = 0; i < n && !changed; i++) {
        changed = assignments[i] !== previous[i];
      }
      if (!changed || iterations === maxIter) break;
      const shift = updateCentroids(
        data,
        n,
        dim,
        k,
        assignments,
        dist,
        centroids,
      );
      iterations++;
      if (shift <= tolAbs) {
        // Converged: one last assignment so rows match the final centroids.
        history.push(
          assignNearest(
            data,
            n,
            dim,
            rowNorms,
            centroids,
            k,
            assignments,
            dist,
          ),
        );
        break;
      }
    }
    const inertia = history[history.length - 1];
    if (!best || inertia < best.inertia) {
      best = {
        assignments,
        centroids: Float32Array.from(centroids),
        inertia,
        iterations,
        history,
      };
    }
  }
  return best!;
}
