import assert from "node:assert/strict";
import { Rng } from "../core/random.ts";
import { ConfigError, DataError } from "../core/errors.ts";
import {
  assignNearest,
  kmeans,
  kmeansPlusPlus,
  rowSquaredNorms,
  updateCentroids,
} from "../plugins/baselines/kmeans.ts";
import { clusteringAccuracy } from "../plugins/metrics/clustering_metrics.ts";

/** `perBlob` points around each of `centres` (rows of length dim), N(0, sigma^2) noise. */
function blobs(
  rng: Rng,
  centres: number[][],
  perBlob: number,
  sigma: number,
) {
  const dim = centres[0].length;
  const n = centres.length * perBlob;
  const data = new Float32Array(n * dim);
  const labels = new Int32Array(n);
  // Interleave blobs so that row order says nothing about the label.
  for (let i = 0; i < n; i++) {
    const b = i % centres.length;
    labels[i] = b;
    for (let d = 0; d < dim; d++) {
      data[i * dim + d] = centres[b][d] + sigma * rng.normal();
    }
  }
  return { data, labels, n, dim };
}

function naiveAssign(
  data: Float32Array,
  n: number,
  dim: number,
  centroids: Float64Array,
  k: number,
) {
  const out = new Int32Array(n);
  let inertia = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestD = Infinity;
    for (let c = 0; c < k; c++) {
      let s = 0;
      for (let d = 0; d < dim; d++) {
        s += (data[i * dim + d] - centroids[c * dim + d]) ** 2;
      }
      if (s < bestD) {
        bestD = s;
        best = c;
      }
    }
    out[i] = best;
    inertia += bestD;
  }
  return { assignments: out, inertia };
}

Deno.test("kmeans recovers well-separated Gaussian blobs exactly", () => {
  const rng = new Rng(31);
  const centres = [
    [0, 0, 0, 0, 0],
    [20, 0, 0, 0, 0],
    [0, 20, 0, 0, 0],
    [0, 0, 20, 20, 0],
  ];
  const { data, labels, n, dim } = blobs(rng, centres, 60, 1);
  const res = kmeans(data, n, dim, 4, new Rng(1));
  assert.equal(clusteringAccuracy(res.assignments, labels), 1);
  // Each centroid sits near one true centre (noise mean over 60 points).
  for (let c = 0; c < 4; c++) {
    const row = [...res.centroids.subarray(c * dim, (c + 1) * dim)];
    const nearest = Math.min(
      ...centres.map((t) => Math.hypot(...t.map((v, d) => v - row[d]))),
    );
    assert.ok(nearest < 1, `centroid ${c} is ${nearest} from every centre`);
  }
});

Deno.test("kmeans inertia never increases across iterations", () => {
  const rng = new Rng(32);
  const n = 400;
  const dim = 6;
  const data = new Float32Array(n * dim).map(() => rng.uniform(0, 1));
  for (const seed of [1, 2, 3]) {
    const res = kmeans(data, n, dim, 8, new Rng(seed), { restarts: 1, tol: 0 });
    assert.ok(res.history.length >= 3, "too few iterations to say anything");
    for (let t = 1; t < res.history.length; t++) {
      assert.ok(
        res.history[t] <= res.history[t - 1] * (1 + 1e-12),
        `inertia rose from ${res.history[t - 1]} to ${res.history[t]}`,
      );
    }
    // The reported inertia is that of the returned assignments and centroids.
    const check = naiveAssign(
      data,
      n,
      dim,
      Float64Array.from(res.centroids),
      8,
    );
    assert.deepEqual(check.assignments, res.assignments);
    assert.ok(Math.abs(check.inertia - res.inertia) < 1e-6 * res.inertia);
  }
});

Deno.test("kmeans with the same seed gives the same result, another seed may differ", () => {
  const rng = new Rng(33);
  const n = 300;
  const dim = 4;
  const data = new Float32Array(n * dim).map(() => rng.normal());
  const a = kmeans(data, n, dim, 5, new Rng(7));
  const b = kmeans(data, n, dim, 5, new Rng(7));
  assert.deepEqual(a.assignments, b.assignments);
  assert.deepEqual(a.centroids, b.centroids);
  assert.equal(a.inertia, b.inertia);
  const c = kmeans(data, n, dim, 5, new Rng(8), { restarts: 1 });
  const d = kmeans(data, n, dim, 5, new Rng(7), { restarts: 1 });
  assert.notDeepEqual(c.centroids, d.centroids);
});

Deno.test("more restarts never give a higher inertia than the first one alone", () => {
  const rng = new Rng(34);
  const n = 300;
  const dim = 3;
  const data = new Float32Array(n * dim).map(() => rng.normal());
  const one = kmeans(data, n, dim, 6, new Rng(5), { restarts: 1 });
  const five = kmeans(data, n, dim, 6, new Rng(5), { restarts: 5 });
  assert.ok(five.inertia <= one.inertia);
});

Deno.test("assignNearest matches a naive squared-distance argmin", () => {
  const rng = new Rng(35);
  for (const [n, dim, k] of [[50, 3, 4], [100, 17, 10], [20, 784, 3]]) {
    const data = new Float32Array(n * dim).map(() => rng.uniform(-2, 2));
    const centroids = new Float64Array(k * dim).map(() => rng.uniform(-2, 2));
    const assignments = new Int32Array(n);
    const dist = new Float64Array(n);
    const inertia = assignNearest(
      data,
      n,
      dim,
      rowSquaredNorms(data, n, dim),
      centroids,
      k,
      assignments,
      dist,
    );
    const ref = naiveAssign(data, n, dim, centroids, k);
    assert.deepEqual(assignments, ref.assignments);
    assert.ok(Math.abs(inertia - ref.inertia) < 1e-9 * ref.inertia);
  }
});

Deno.test("updateCentroids takes means and re-seeds an empty cluster at the farthest row", () => {
  // Rows 0, 1, 2 on a line; all assigned to cluster 0; cluster 1 is empty.
  const data = Float32Array.from([0, 0, 1, 0, 5, 0]);
  const assignments = Int32Array.from([0, 0, 0]);
  const centroids = Float64Array.from([0, 0, 9, 9]);
  // Squared distances to centroid 0 at the origin: 0, 1, 25.
  const dist = Float64Array.from([0, 1, 25]);
  const shift = updateCentroids(data, 3, 2, 2, assignments, dist, centroids);
  // Cluster 0 -> mean (2, 0); cluster 1 -> row 2 = (5, 0).
  assert.deepEqual([...centroids], [2, 0, 5, 0]);
  // Shift: (2-0)^2 + (5-9)^2 + (0-9)^2 = 4 + 16 + 81.
  assert.equal(shift, 101);
});

Deno.test("kmeansPlusPlus picks k distinct rows as seeds when the rows are distinct", () => {
  const rng = new Rng(36);
  const n = 30;
  const data = new Float32Array(n * 2).map(() => rng.normal());
  const seeds = kmeansPlusPlus(data, n, 2, 30, new Rng(1));
  const rows = new Set<string>();
  for (let c = 0; c < 30; c++) {
    const key = `${seeds[2 * c]},${seeds[2 * c + 1]}`;
    rows.add(key);
    let found = false;
    for (let i = 0; i < n; i++) {
      found ||= data[2 * i] === seeds[2 * c] &&
        data[2 * i + 1] === seeds[2 * c + 1];
    }
    assert.ok(found, "a seed is not a data row");
  }
  assert.equal(rows.size, 30);
});

Deno.test("kmeans rejects a bad k, bad options and data of the wrong length", () => {
  const data = new Float32Array(10);
  const rng = new Rng(1);
  for (const k of [0, 6, 1.5]) {
    assert.throws(
      () => kmeans(data, 5, 2, k, rng),
      (e: unknown) =>
        e instanceof ConfigError && e.message.includes(`k is ${k}`),
    );
  }
  assert.throws(() => kmeans(data, 5, 2, 2, rng, { maxIter: 0 }), /maxIter/);
  assert.throws(() => kmeans(data, 5, 2, 2, rng, { restarts: 0 }), /restarts/);
  assert.throws(() => kmeans(data, 5, 2, 2, rng, { tol: -1 }), /tol/);
  assert.throws(() => kmeans(data, 4, 2, 2, rng), DataError);
  // k = n puts each row in its own cluster with zero inertia.
  const pts = Float32Array.from([0, 0, 1, 1, 5, 5, 9, 0, 3, 7]);
  const all = kmeans(pts, 5, 2, 5, rng);
  assert.equal(new Set(all.assignments).size, 5);
  assert.equal(all.inertia, 0);
});
