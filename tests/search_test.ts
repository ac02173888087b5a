import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../core/random.ts";
import { ConfigError, DataError, UserError } from "../core/errors.ts";
import { readOptions } from "../core/options.ts";
import {
  exactCosine,
  exactCosineSearch,
  neighbourPurity,
  normalizeRows,
  topKExcluding,
} from "../plugins/search/exact_cosine.ts";

await tf.setBackend("cpu");

function randomFeatures(rng: Rng, n: number, dim: number): Float32Array {
  return new Float32Array(n * dim).map(() => rng.normal());
}

/** Brute force: every pair's cosine in float64, full sort of each row. */
function naiveNeighbours(f: Float32Array, n: number, dim: number, k: number) {
  const norm = (i: number) => {
    let s = 0;
    for (let d = 0; d < dim; d++) s += f[i * dim + d] ** 2;
    return Math.sqrt(s);
  };
  const out: { index: number; sim: number }[][] = [];
  for (let i = 0; i < n; i++) {
    const row: { index: number; sim: number }[] = [];
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += f[i * dim + d] * f[j * dim + d];
      row.push({ index: j, sim: dot / (norm(i) * norm(j)) });
    }
    row.sort((a, b) => b.sim - a.sim);
    out.push(row.slice(0, k));
  }
  return out;
}

async function checkAgainstNaive(
  n: number,
  dim: number,
  k: number,
  block: number,
  seed: number,
) {
  const rng = new Rng(seed);
  const f = randomFeatures(rng, n, dim);
  const got = await exactCosineSearch(f, n, dim, k, block);
  const ref = naiveNeighbours(f, n, dim, k);
  assert.equal(got.k, k);
  assert.equal(got.indices.length, n * k);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      assert.equal(
        got.indices[i * k + j],
        ref[i][j].index,
        `n=${n} block=${block} row ${i} rank ${j}`,
      );
      assert.ok(Math.abs(got.similarities[i * k + j] - ref[i][j].sim) < 1e-5);
    }
  }
}

Deno.test("exactCosineSearch matches a brute-force reference on random data", async () => {
  await checkAgainstNaive(40, 16, 5, 1024, 21);
  await checkAgainstNaive(25, 3, 4, 1024, 22);
});

Deno.test("exactCosineSearch gives the same neighbours when n is not a multiple of the block size", async () => {
  await checkAgainstNaive(37, 8, 6, 10, 23);
  await checkAgainstNaive(37, 8, 6, 1, 24);
  await checkAgainstNaive(37, 8, 6, 36, 25);
});

Deno.test("exactCosineSearch with k = n - 1 lists every other row once", async () => {
  const n = 12;
  await checkAgainstNaive(n, 5, n - 1, 5, 26);
  const got = await exactCosineSearch(
    randomFeatures(new Rng(27), n, 5),
    n,
    5,
    n - 1,
  );
  for (let i = 0; i < n; i++) {
    const row = [...got.indices.subarray(i * (n - 1), (i + 1) * (n - 1))];
    assert.ok(!row.includes(i));
    assert.equal(new Set(row).size, n - 1);
  }
});

Deno.test("exactCosineSearch ignores feature scale: only the direction counts", async () => {
  // Row 0 = (1, 0); row 1 = (10, 1) is closer in angle than row 2 = (0.1, 0.1).
  const f = Float32Array.from([1, 0, 10, 1, 0.1, 0.1, -1, 0]);
  const got = await exactCosineSearch(f, 4, 2, 2);
  assert.deepEqual([...got.indices.subarray(0, 2)], [1, 2]);
  assert.ok(Math.abs(got.similarities[0] - 10 / Math.sqrt(101)) < 1e-6);
  assert.ok(Math.abs(got.similarities[1] - Math.SQRT1_2) < 1e-6);
});

Deno.test("k >= n or k < 1 fails with a UserError naming k and n", async () => {
  const f = randomFeatures(new Rng(28), 5, 3);
  for (const k of [5, 6, 0, 2.5]) {
    await assert.rejects(
      () => exactCosineSearch(f, 5, 3, k),
      (e: unknown) =>
        e instanceof ConfigError && e instanceof UserError &&
        e.message.includes(`k is ${k}`) && e.message.includes("n = 5"),
    );
  }
  await assert.rejects(() => exactCosineSearch(f, 6, 3, 2), DataError);
});

Deno.test("topKExcluding keeps the k largest, largest first, skipping self and breaking ties by index", () => {
  const row = Float32Array.from([0.5, 0.9, 0.1, 0.9, 1.0, 0.7]);
  const idx = new Int32Array(3);
  const val = new Float32Array(3);
  topKExcluding(row, 4, 3, idx, val, 0);
  assert.deepEqual([...idx], [1, 3, 5]);
  assert.deepEqual([...val], [row[1], row[3], row[5]]);
});

Deno.test("normalizeRows scales rows to unit length and leaves zero rows at zero", () => {
  const out = normalizeRows(Float32Array.from([3, 4, 0, 0]), 2, 2);
  assert.deepEqual([...out], [0.6, 0.8, 0, 0].map(Math.fround));
});

Deno.test("neighbourPurity is the mean share of neighbours with the anchor's label", () => {
  // k = 2; anchors 0..3 have neighbours [1, 2], [0, 3], [3, 0], [2, 1].
  const neighbours = {
    k: 2,
    indices: Int32Array.from([1, 2, 0, 3, 3, 0, 2, 1]),
    similarities: new Float32Array(8),
  };
  // Labels [0, 0, 0, 1]: a0 {0, 0} -> 1; a1 {0, 1} -> 1/2;
  // a2 {1, 0} vs 0 -> 1/2; a3 {0, 0} vs 1 -> 0. Mean (1 + .5 + .5 + 0) / 4.
  assert.equal(neighbourPurity(neighbours, [0, 0, 0, 1]), 0.5);
  // Labels [0, 1, 1, 0]: every anchor's two neighbours carry the other label.
  assert.equal(neighbourPurity(neighbours, [0, 1, 1, 0]), 0);
  // k = 1 over labels [0, 0, 1]: a0 -> row 1 (same label) -> 1;
  // a1 -> row 2 (label 1, anchor 0) -> 0. Mean 0.5.
  const one = {
    k: 1,
    indices: Int32Array.from([1, 2]),
    similarities: new Float32Array(2),
  };
  assert.equal(neighbourPurity(one, [0, 0, 1]), 0.5);
  assert.equal(neighbourPurity(neighbours, [3, 3, 3, 3]), 1);
});

Deno.test("the exact-cosine plugin checks block_size and searches with it", async () => {
  assert.throws(
    () => readOptions("search", { block_size: 0 }, exactCosine.options),
    (e: unknown) =>
      e instanceof ConfigError && e.message.includes("block_size"),
  );
  const search = exactCosine.create(
    readOptions("search", { block_size: 3 }, exactCosine.options),
  );
  const f = randomFeatures(new Rng(29), 10, 4);
  const a = await search.search(f, 10, 4, 3);
  const b = await exactCosineSearch(f, 10, 4, 3, 1024);
  assert.deepEqual(a.indices, b.indices);
});
