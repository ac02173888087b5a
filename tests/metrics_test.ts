import assert from "node:assert/strict";
import { Rng } from "../core/random.ts";
import { DataError } from "../core/errors.ts";
import { hungarian } from "../plugins/metrics/hungarian.ts";
import {
  acc,
  adjustedRandIndex,
  ari,
  clusteringAccuracy,
  confusionAfterMatching,
  contingency,
  evaluate,
  nmi,
  normalizedMutualInfo,
} from "../plugins/metrics/clustering_metrics.ts";

const i32 = (xs: number[]) => Int32Array.from(xs);

function close(actual: number, expected: number, tol = 1e-12) {
  assert.ok(
    Math.abs(actual - expected) <= tol,
    `got ${actual}, expected ${expected}`,
  );
}

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  const out: number[][] = [];
  for (const p of permutations(n - 1)) {
    for (let i = 0; i <= p.length; i++) {
      out.push([...p.slice(0, i), n - 1, ...p.slice(i)]);
    }
  }
  return out;
}

/** Brute-force minimum over all injective row-to-column maps (rows <= cols) or the transpose. */
function bruteForce(cost: number[][]): number {
  const r = cost.length;
  const c = cost[0].length;
  let best = Infinity;
  for (const p of permutations(Math.max(r, c))) {
    let s = 0;
    for (let i = 0; i < r; i++) if (p[i] < c) s += cost[i][p[i]];
    best = Math.min(best, s);
  }
  return best;
}

function costOf(cost: number[][], rowToCol: Int32Array): number {
  let s = 0;
  rowToCol.forEach((j, i) => {
    if (j >= 0) s += cost[i][j];
  });
  return s;
}

Deno.test("hungarian finds the brute-force optimum on random square and rectangular costs", () => {
  const rng = new Rng(11);
  for (const [r, c] of [[5, 5], [6, 6], [4, 6], [6, 4], [1, 3], [3, 1]]) {
    for (let trial = 0; trial < 20; trial++) {
      const cost = Array.from(
        { length: r },
        () => Array.from({ length: c }, () => rng.uniform(-5, 10)),
      );
      const match = hungarian(cost);
      assert.equal(match.length, r);
      const cols = [...match].filter((j) => j >= 0);
      assert.equal(cols.length, Math.min(r, c));
      assert.equal(new Set(cols).size, cols.length, "a column used twice");
      close(costOf(cost, match), bruteForce(cost), 1e-9);
    }
  }
});

Deno.test("hungarian reads a row-major Float64Array with a given row count", () => {
  // [[4, 1, 3], [2, 0, 5]]: best is row0->1 (1) + row1->0 (2) = 3
  const match = hungarian(Float64Array.from([4, 1, 3, 2, 0, 5]), 2);
  assert.deepEqual([...match], [1, 0]);
  assert.deepEqual([...hungarian([[4, 1], [2, 3]])], [1, 0]);
  assert.deepEqual([...hungarian([])], []);
});

Deno.test("contingency counts clusters against classes with sorted labels", () => {
  const t = contingency(i32([5, 5, 7, 7, 7]), i32([1, 0, 0, 0, 1]));
  assert.deepEqual(t.clusters, [5, 7]);
  assert.deepEqual(t.classes, [0, 1]);
  assert.deepEqual(t.counts, [[1, 1], [2, 1]]);
  assert.equal(t.n, 5);
  assert.throws(() => contingency(i32([0]), i32([0, 1])), DataError);
});

Deno.test("scores of a hand-computed example match the arithmetic", () => {
  const truth = i32([0, 0, 0, 1, 1, 1]);
  const pred = i32([0, 0, 1, 1, 1, 1]);
  // Contingency: cluster 0 = [2, 0], cluster 1 = [1, 3]; n = 6.
  // ACC: cluster 0 -> class 0 (2) + cluster 1 -> class 1 (3) = 5 / 6.
  close(clusteringAccuracy(pred, truth), 5 / 6);
  // ARI: index = C(2,2) + C(1,2) + C(3,2) = 1 + 0 + 3 = 4;
  // rows: C(2,2) + C(4,2) = 7; cols: C(3,2) + C(3,2) = 6; C(6,2) = 15;
  // expected = 7 * 6 / 15 = 2.8; max = (7 + 6) / 2 = 6.5;
  // ARI = (4 - 2.8) / (6.5 - 2.8) = 1.2 / 3.7.
  close(adjustedRandIndex(pred, truth), 1.2 / 3.7);
  // MI = 2/6 ln(6*2/(2*3)) + 1/6 ln(6*1/(4*3)) + 3/6 ln(6*3/(4*3))
  //    = 1/3 ln 2 - 1/6 ln 2 + 1/2 ln 1.5;
  // H(pred) = -(1/3 ln 1/3 + 2/3 ln 2/3); H(truth) = ln 2.
  const mi = Math.log(2) / 6 + Math.log(1.5) / 2;
  const hp = -(Math.log(1 / 3) / 3 + (2 / 3) * Math.log(2 / 3));
  close(normalizedMutualInfo(pred, truth), mi / ((hp + Math.log(2)) / 2));
  // Rounded: NMI 0.478708..., ARI 0.324324...
  close(normalizedMutualInfo(pred, truth), 0.4787, 1e-4);
});

Deno.test("a second hand example: three clusters against two classes", () => {
  const truth = i32([0, 0, 1, 1]);
  const pred = i32([0, 1, 2, 2]);
  // Contingency: c0 = [1, 0], c1 = [1, 0], c2 = [0, 2].
  // ACC: c0 (or c1) -> 0 (1) + c2 -> 1 (2) = 3 / 4.
  close(clusteringAccuracy(pred, truth), 0.75);
  // ARI: index = 1 (the pair in c2); rows: 0 + 0 + 1 = 1; cols: 1 + 1 = 2;
  // C(4,2) = 6; expected = 1 * 2 / 6 = 1/3; max = 1.5;
  // ARI = (1 - 1/3) / (1.5 - 1/3) = (2/3) / (7/6) = 4/7.
  close(adjustedRandIndex(pred, truth), 4 / 7);
  // MI = 1/4 ln(4/(1*2)) * 2 + 2/4 ln(4*2/(2*2)) = ln 2;
  // H(pred) = -(2 * 1/4 ln 1/4 + 1/2 ln 1/2) = 1.5 ln 2; H(truth) = ln 2;
  // NMI = ln 2 / (1.25 ln 2) = 0.8.
  close(normalizedMutualInfo(pred, truth), 0.8);
});

Deno.test("a relabelled perfect clustering scores ACC, NMI and ARI of 1", () => {
  const rng = new Rng(12);
  const truth = new Int32Array(200).map(() => rng.int(7));
  const perm = rng.permutation(7);
  const pred = truth.map((t) => perm[t] + 10);
  const s = evaluate(pred, truth);
  close(s.acc, 1);
  close(s.nmi, 1);
  close(s.ari, 1);
});

Deno.test("a single cluster scores NMI 0 and ARI 0 against several classes", () => {
  const truth = i32([0, 1, 2, 0, 1, 2, 2]);
  const pred = new Int32Array(7);
  close(normalizedMutualInfo(pred, truth), 0);
  close(adjustedRandIndex(pred, truth), 0);
  // ACC = the largest class share, 3 / 7.
  close(clusteringAccuracy(pred, truth), 3 / 7);
  // Both labelings trivial: scikit-learn calls that a perfect match.
  close(normalizedMutualInfo(pred, new Int32Array(7)), 1);
  close(adjustedRandIndex(pred, new Int32Array(7)), 1);
});

Deno.test("random labels score near 0 NMI and ARI on many samples", () => {
  const rng = new Rng(13);
  const truth = new Int32Array(20000).map(() => rng.int(10));
  const pred = new Int32Array(20000).map(() => rng.int(10));
  const s = evaluate(pred, truth);
  assert.ok(Math.abs(s.ari) < 0.005, `ari ${s.ari}`);
  assert.ok(s.nmi < 0.005, `nmi ${s.nmi}`);
  assert.ok(s.acc > 0.1 && s.acc < 0.12, `acc ${s.acc}`);
});

Deno.test("more clusters than classes leaves the extra clusters unmatched", () => {
  const truth = i32([0, 0, 1, 1, 0, 0]);
  const pred = i32([0, 1, 2, 3, 0, 1]);
  // c0 = [2, 0], c1 = [2, 0], c2 = [0, 1], c3 = [0, 1]: best 2 + 1 = 3 of 6.
  close(clusteringAccuracy(pred, truth), 0.5);
  const m = confusionAfterMatching(pred, truth);
  assert.deepEqual(m.classes, [0, 1]);
  assert.equal(m.clusters.length, 4);
  assert.equal(m.matrix[0][0] + m.matrix[1][1], 3);
  assert.deepEqual(m.matrix.flat().reduce((a, b) => a + b, 0), 6);
});

Deno.test("confusionAfterMatching puts each class's matched cluster on the diagonal", () => {
  const truth = i32([0, 0, 1, 1, 1, 2, 2]);
  const pred = i32([2, 2, 0, 0, 1, 1, 1]);
  // c2 -> class 0 (2), c0 -> class 1 (2), c1 -> class 2 (2).
  const m = confusionAfterMatching(pred, truth);
  assert.deepEqual(m.clusters, [2, 0, 1]);
  assert.deepEqual(m.matrix, [[2, 0, 0], [0, 2, 1], [0, 0, 2]]);
  // Fewer clusters than classes: an unmatched class gets a -1 column of zeros.
  const few = confusionAfterMatching(i32([0, 0, 0, 1]), i32([0, 0, 1, 2]));
  assert.equal(few.clusters.filter((c) => c === -1).length, 1);
  assert.equal(few.matrix[0][0], 2);
});

Deno.test("the acc, nmi and ari metric plugins compute the scoring functions", () => {
  const truth = i32([0, 0, 0, 1, 1, 1]);
  const pred = i32([0, 0, 1, 1, 1, 1]);
  close(acc.create({}).compute(pred, truth), 5 / 6);
  close(ari.create({}).compute(pred, truth), 1.2 / 3.7);
  close(
    nmi.create({}).compute(pred, truth),
    normalizedMutualInfo(pred, truth),
  );
  assert.deepEqual(
    [acc.name, nmi.name, ari.name],
    ["acc", "nmi", "ari"],
  );
});
