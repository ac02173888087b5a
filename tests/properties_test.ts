/**
 * Property-based tests (fast-check): the clustering metrics, the exact
 * neighbour search and the config parser hold their invariants on inputs
 * nobody wrote by hand. Each property runs on a fixed seed so a failure
 * reproduces; fast-check prints the shrunk counterexample.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import * as tf from "@tensorflow/tfjs";
import {
  adjustedRandIndex,
  clusteringAccuracy,
  normalizedMutualInfo,
} from "../plugins/metrics/clustering_metrics.ts";
import { exactCosineSearch } from "../plugins/search/exact_cosine.ts";
import { configToYaml } from "../core/config.ts";
import { resolveConfig } from "../core/resolve.ts";

await tf.setBackend("cpu");
// the cpu backend's first write prints an advert for tfjs-node
(tf.backend() as unknown as { firstUse: boolean }).firstUse = false;

const SEED = 20261204;
const RUNS = { seed: SEED, numRuns: 200 };

/** A labelling of n items into at most `max` labels. */
const labelling = (max: number) =>
  fc.integer({ min: 1, max: 120 }).chain((n) =>
    fc.tuple(
      fc.array(fc.integer({ min: 0, max: max - 1 }), {
        minLength: n,
        maxLength: n,
      }),
      fc.array(fc.integer({ min: 0, max: max - 1 }), {
        minLength: n,
        maxLength: n,
      }),
    )
  );

/** Renames labels through a random injective map onto other integers. */
const renaming = fc.shuffledSubarray(
  Array.from({ length: 40 }, (_, i) => 100 + 7 * i),
  { minLength: 12, maxLength: 12 },
);
const rename = (xs: number[], to: number[]) => xs.map((x) => to[x]);

/** ACC by trying every one-to-one map of clusters to classes (few labels only). */
function naiveAccuracy(pred: number[], truth: number[]): number {
  const clusters = [...new Set(pred)];
  const classes = [...new Set(truth)];
  let best = 0;
  const used = new Set<number>();
  const map = new Map<number, number>();
  const visit = (i: number) => {
    if (i === clusters.length) {
      let hit = 0;
      pred.forEach((p, j) => {
        if (map.get(p) === truth[j]) hit++;
      });
      best = Math.max(best, hit);
      return;
    }
    visit(i + 1); // this cluster maps to no class
    for (const c of classes) {
      if (used.has(c)) continue;
      used.add(c);
      map.set(clusters[i], c);
      visit(i + 1);
      map.delete(clusters[i]);
      used.delete(c);
    }
  };
  visit(0);
  return best / pred.length;
}

Deno.test("ACC, NMI and ARI stay within their bounds on any labelling", () => {
  fc.assert(
    fc.property(labelling(12), ([pred, truth]) => {
      const acc = clusteringAccuracy(pred, truth);
      const nmi = normalizedMutualInfo(pred, truth);
      const ari = adjustedRandIndex(pred, truth);
      assert.ok(acc > 0 && acc <= 1, `acc ${acc}`);
      assert.ok(nmi >= 0 && nmi <= 1 + 1e-12, `nmi ${nmi}`);
      assert.ok(ari >= -1 && ari <= 1 + 1e-12, `ari ${ari}`);
    }),
    RUNS,
  );
});

Deno.test("ACC, NMI and ARI do not change when either side's labels are renamed", () => {
  fc.assert(
    fc.property(
      labelling(12),
      renaming,
      renaming,
      ([pred, truth], toP, toT) => {
        const p2 = rename(pred, toP);
        const t2 = rename(truth, toT);
        const close = (a: number, b: number) => Math.abs(a - b) < 1e-12;
        assert.ok(
          close(clusteringAccuracy(pred, truth), clusteringAccuracy(p2, t2)),
        );
        assert.ok(
          close(
            normalizedMutualInfo(pred, truth),
            normalizedMutualInfo(p2, t2),
          ),
        );
        assert.ok(
          close(adjustedRandIndex(pred, truth), adjustedRandIndex(p2, t2)),
        );
      },
    ),
    RUNS,
  );
});

Deno.test("a renamed copy of the truth scores 1 on ACC, NMI and ARI", () => {
  fc.assert(
    fc.property(labelling(12), renaming, ([, truth], to) => {
      const pred = rename(truth, to);
      assert.equal(clusteringAccuracy(pred, truth), 1);
      assert.ok(Math.abs(normalizedMutualInfo(pred, truth) - 1) < 1e-12);
      assert.ok(Math.abs(adjustedRandIndex(pred, truth) - 1) < 1e-12);
    }),
    RUNS,
  );
});

Deno.test("NMI, ARI and ACC are symmetric in their two labellings", () => {
  fc.assert(
    fc.property(labelling(12), ([a, b]) => {
      const close = (x: number, y: number) => Math.abs(x - y) < 1e-12;
      assert.ok(close(normalizedMutualInfo(a, b), normalizedMutualInfo(b, a)));
      assert.ok(close(adjustedRandIndex(a, b), adjustedRandIndex(b, a)));
      assert.ok(close(clusteringAccuracy(a, b), clusteringAccuracy(b, a)));
    }),
    RUNS,
  );
});

Deno.test("Hungarian ACC equals the best of every cluster-to-class map", () => {
  fc.assert(
    fc.property(labelling(5), ([pred, truth]) => {
      const got = clusteringAccuracy(pred, truth);
      const want = naiveAccuracy(pred, truth);
      assert.ok(Math.abs(got - want) < 1e-12, `${got} vs ${want}`);
    }),
    RUNS,
  );
});

/** Rows of random features, some of them repeated to create exact ties. */
const featureSets = fc.record({
  n: fc.integer({ min: 2, max: 48 }),
  dim: fc.integer({ min: 1, max: 8 }),
  repeats: fc.integer({ min: 0, max: 3 }),
}).chain(({ n, dim, repeats }) =>
  fc.record({
    n: fc.constant(n),
    dim: fc.constant(dim),
    repeats: fc.constant(repeats),
    values: fc.array(
      fc.float({ min: -4, max: 4, noNaN: true, noDefaultInfinity: true })
        .filter((v) => Math.abs(v) > 1e-3),
      { minLength: n * dim, maxLength: n * dim },
    ),
    k: fc.integer({ min: 1, max: n - 1 }),
    block: fc.integer({ min: 1, max: n }),
  })
);

Deno.test("blocked exact cosine top-K agrees with brute force on any features and block size", async () => {
  await fc.assert(
    fc.asyncProperty(
      featureSets,
      async ({ n, dim, repeats, values, k, block }) => {
        const f = Float32Array.from(values);
        // copy row 0 over the last rows: exact duplicates tie at similarity 1
        for (let r = 0; r < Math.min(repeats, n - 1); r++) {
          f.copyWithin((n - 1 - r) * dim, 0, dim);
        }
        const got = await exactCosineSearch(f, n, dim, k, block);
        const norm = (i: number) =>
          Math.hypot(...f.subarray(i * dim, (i + 1) * dim));
        const cos = (i: number, j: number) => {
          let dot = 0;
          for (let d = 0; d < dim; d++) dot += f[i * dim + d] * f[j * dim + d];
          return dot / (norm(i) * norm(j));
        };
        for (let i = 0; i < n; i++) {
          const idx = Array.from(got.indices.subarray(i * k, (i + 1) * k));
          const sims = Array.from(
            got.similarities.subarray(i * k, (i + 1) * k),
          );
          assert.ok(!idx.includes(i), `row ${i} lists itself`);
          assert.equal(new Set(idx).size, k, `row ${i} repeats a neighbour`);
          idx.forEach((j, r) => {
            assert.ok(Math.abs(cos(i, j) - sims[r]) < 1e-5, `row ${i} sim`);
            if (r > 0) assert.ok(sims[r] <= sims[r - 1] + 1e-6, "not sorted");
          });
          // nothing left out is more similar than the k-th neighbour
          const kth = sims[k - 1];
          for (let j = 0; j < n; j++) {
            if (j !== i && !idx.includes(j)) {
              assert.ok(cos(i, j) <= kth + 1e-5, `row ${i} missed ${j}`);
            }
          }
        }
      },
    ),
    { seed: SEED, numRuns: 120 },
  );
});

/** `--set` assignments that a valid config accepts, with the value each sets. */
const assignments = fc.record({
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  epochs: fc.integer({ min: 0, max: 1000 }),
  lr: fc.double({ min: 1e-6, max: 1, noNaN: true }),
  k: fc.integer({ min: 1, max: 200 }),
  heads: fc.integer({ min: 1, max: 20 }),
  width: fc.constantFrom(1, 0.5, 0.25, 0.125),
  views: fc.constantFrom("single", "double"),
  features: fc.constantFrom("instance", "backbone"),
  name: fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,15}$/),
  preset: fc.constantFrom("default", "fashion-mnist", "cifar10", "stl10"),
});

Deno.test("a config built from --set values holds them, and its YAML reads back as the same config", () => {
  const dir = Deno.makeTempDirSync({ prefix: "clknn-props-" });
  try {
    fc.assert(
      fc.property(assignments, (a) => {
        const config = resolveConfig({
          preset: a.preset,
          sets: [
            `seed=${a.seed}`,
            `representation.epochs=${a.epochs}`,
            `representation.lr=${a.lr}`,
            `mine.k=${a.k}`,
            `clustering.heads=${a.heads}`,
            `model.backbone.options.width=${a.width}`,
            `augment.views=${a.views}`,
            `mine.features=${a.features}`,
            `name=${a.name}`,
          ],
        });
        assert.equal(config.seed, a.seed);
        assert.equal(config.representation.epochs, a.epochs);
        assert.equal(config.representation.lr, a.lr);
        assert.equal(config.mine.k, a.k);
        assert.equal(config.clustering.heads, a.heads);
        assert.equal(config.model.backbone.options.width, a.width);
        assert.equal(config.augment.views, a.views);
        assert.equal(config.mine.features, a.features);
        assert.equal(config.name, a.name);
        const file = join(dir, "config.yaml");
        Deno.writeTextFileSync(file, configToYaml(config));
        assert.deepEqual(resolveConfig({ file }), config);
      }),
      { seed: SEED, numRuns: 60 },
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
