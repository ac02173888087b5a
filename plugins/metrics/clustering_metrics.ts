/**
 * Clustering scores against ground truth: accuracy under the best
 * one-to-one cluster-to-class mapping (ACC), normalised mutual information
 * (NMI) and the adjusted Rand index (ARI), as defined by scikit-learn.
 *
 * @module
 */
import type { PluginDef } from "../../core/registry.ts";
import type { Metric } from "../../core/interfaces.ts";
import type { Scores } from "../../core/events.ts";
import { DataError } from "../../core/errors.ts";
import { hungarian } from "./hungarian.ts";

/** Counts of samples per (cluster, class) pair. */
export interface Contingency {
  /** The distinct predicted labels, ascending; row i of `counts` is `clusters[i]`. */
  clusters: number[];
  /** The distinct true labels, ascending; column j of `counts` is `classes[j]`. */
  classes: number[];
  /** `counts[i][j]`: samples in cluster `clusters[i]` with class `classes[j]`. */
  counts: number[][];
  /** Total number of samples. */
  n: number;
}

function distinct(labels: ArrayLike<number>): Map<number, number> {
  const values = [...new Set(Array.from(labels))].sort((a, b) => a - b);
  return new Map(values.map((v, i) => [v, i]));
}

/** The contingency table of predicted clusters against true classes. Throws a DataError when the lengths differ. */
export function contingency(
  pred: ArrayLike<number>,
  truth: ArrayLike<number>,
): Contingency {
  if (pred.length !== truth.length) {
    throw new DataError(
      `Cannot score ${pred.length} predictions against ${truth.length} labels; give one prediction per labelled sample`,
    );
  }
  const rows = distinct(pred);
  const cols = distinct(truth);
  const counts = Array.from(
    { length: rows.size },
    () => new Array<number>(cols.size).fill(0),
  );
  for (let i = 0; i < pred.length; i++) {
    counts[rows.get(pred[i])!][cols.get(truth[i])!]++;
  }
  return {
    clusters: [...rows.keys()],
    classes: [...cols.keys()],
    counts,
    n: pred.length,
  };
}

/** For each row of the contingency table, the matched column (or -1), maximising matched samples. */
function bestMatch(t: Contingency): Int32Array {
  let max = 0;
  for (const row of t.counts) for (const v of row) max = Math.max(max, v);
  return hungarian(t.counts.map((row) => row.map((v) => max - v)));
}

/**
 * Share of samples whose cluster maps to their class under the best
 * one-to-one mapping of clusters to classes (Hungarian algorithm). With
 * more clusters than classes the extra clusters match nothing and their
 * samples count as wrong; 0 for empty input.
 */
export function clusteringAccuracy(
  pred: ArrayLike<number>,
  truth: ArrayLike<number>,
): number {
  const t = contingency(pred, truth);
  if (t.n === 0) return 0;
  const match = bestMatch(t);
  let hit = 0;
  match.forEach((j, i) => {
    if (j >= 0) hit += t.counts[i][j];
  });
  return hit / t.n;
}

function entropyOf(sizes: number[], n: number): number {
  let h = 0;
  for (const s of sizes) if (s > 0) h -= (s / n) * Math.log(s / n);
  return h;
}

/**
 * Normalised mutual information with the arithmetic-mean normaliser,
 * `MI / ((H(pred) + H(truth)) / 2)` (scikit-learn's default). As in
 * scikit-learn, two single-cluster labelings score 1 and a zero mutual
 * information scores 0.
 */
export function normalizedMutualInfo(
  pred: ArrayLike<number>,
  truth: ArrayLike<number>,
): number {
  const t = contingency(pred, truth);
  const r = t.clusters.length;
  const c = t.classes.length;
  if ((r === 1 && c === 1) || (r === 0 && c === 0)) return 1;
  const rowSum = t.counts.map((row) => row.reduce((a, b) => a + b, 0));
  const colSum = t.classes.map((_, j) =>
    t.counts.reduce((a, row) => a + row[j], 0)
  );
  let mi = 0;
  for (let i = 0; i < r; i++) {
    for (let j = 0; j < c; j++) {
      const nij = t.counts[i][j];
      if (nij > 0) {
        mi += (nij / t.n) * Math.log((t.n * nij) / (rowSum[i] * colSum[j]));
      }
    }
  }
  if (mi <= 0) return 0;
  const norm = (entropyOf(rowSum, t.n) + entropyOf(colSum, t.n)) / 2;
  return mi / Math.max(norm, Number.EPSILON);
}

const pairs = (x: number) => (x * (x - 1)) / 2;

/**
 * Adjusted Rand index (Hubert and Arabie), chance-corrected pair agreement:
 * 1 for identical partitions (up to renaming), about 0 for random ones, and
 * 1 when both partitions are trivial in the same way (scikit-learn's rule).
 */
export function adjustedRandIndex(
  pred: ArrayLike<number>,
  truth: ArrayLike<number>,
): number {
  const t = contingency(pred, truth);
  let index = 0;
  let sumRows = 0;
  const colSum = new Array<number>(t.classes.length).fill(0);
  for (const row of t.counts) {
    let rs = 0;
    row.forEach((v, j) => {
      index += pairs(v);
      rs += v;
      colSum[j] += v;
    });
    sumRows += pairs(rs);
  }
  const sumCols = colSum.reduce((a, v) => a + pairs(v), 0);
  const all = pairs(t.n);
  const expected = all === 0 ? 0 : (sumRows * sumCols) / all;
  const max = (sumRows + sumCols) / 2;
  if (max === expected) return 1;
  return (index - expected) / (max - expected);
}

/** ACC, NMI and ARI of `pred` against `truth`, each in [0, 1] (ARI can dip below 0). */
export function evaluate(
  pred: ArrayLike<number>,
  truth: ArrayLike<number>,
): Scores {
  return {
    acc: clusteringAccuracy(pred, truth),
    nmi: normalizedMutualInfo(pred, truth),
    ari: adjustedRandIndex(pred, truth),
  };
}

/** A confusion matrix whose columns follow the Hungarian cluster-to-class matching. */
export interface MatchedConfusion {
  /** The distinct true labels, ascending: one row each. */
  classes: number[];
  /**
   * The cluster label of each column: column j < classes.length holds the
   * cluster matched to `classes[j]` (or -1 if none was left), then any
   * unmatched clusters in ascending order.
   */
  clusters: number[];
  /** `matrix[i][j]`: samples of class `classes[i]` in cluster `clusters[j]`; a -1 column is all zeros. */
  matrix: number[][];
}

/**
 * The confusion matrix of classes (rows) against clusters (columns), with
 * clusters reordered so the matched cluster of each class sits on the
 * diagonal; the dashboard draws it.
 */
export function confusionAfterMatching(
  pred: ArrayLike<number>,
  truth: ArrayLike<number>,
): MatchedConfusion {
  const t = contingency(pred, truth);
  const match = bestMatch(t);
  const clusterOfClass = new Array<number>(t.classes.length).fill(-1);
  const rowOfClass = new Array<number>(t.classes.length).fill(-1);
  const extra: number[] = [];
  match.forEach((j, i) => {
    if (j >= 0) {
      clusterOfClass[j] = t.clusters[i];
      rowOfClass[j] = i;
    } else extra.push(i);
  });
  const columns = [...rowOfClass, ...extra];
  return {
    classes: t.classes,
    clusters: [...clusterOfClass, ...extra.map((i) => t.clusters[i])],
    matrix: t.classes.map((_, ci) =>
      columns.map((row) => (row < 0 ? 0 : t.counts[row][ci]))
    ),
  };
}

/** `acc`: clustering accuracy under the Hungarian mapping. */
export const acc: PluginDef<Metric, Record<string, never>> = {
  name: "acc",
  description:
    "Clustering accuracy under the best one-to-one cluster-to-class mapping (Hungarian)",
  options: {},
  create: () => ({ name: "acc", compute: clusteringAccuracy }),
};

/** `nmi`: normalised mutual information, arithmetic normalisation (scikit-learn's default). */
export const nmi: PluginDef<Metric, Record<string, never>> = {
  name: "nmi",
  description:
    "Normalised mutual information (arithmetic mean of entropies, as scikit-learn)",
  options: {},
  create: () => ({ name: "nmi", compute: normalizedMutualInfo }),
};

/** `ari`: adjusted Rand index. */
export const ari: PluginDef<Metric, Record<string, never>> = {
  name: "ari",
  description: "Adjusted Rand index (as scikit-learn)",
  options: {},
  create: () => ({ name: "ari", compute: adjustedRandIndex }),
};
