import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  l2NormaliseRows,
  linearCluster,
  mlpCluster,
  mlpInstance,
  softmaxRows,
} from "../plugins/heads/mlp.ts";
import { readOptions } from "../core/options.ts";
import type { Head } from "../core/interfaces.ts";
import type { PluginDef } from "../core/registry.ts";
import type { OptionSchema } from "../core/options.ts";

await tf.setBackend("cpu");

function make<S extends OptionSchema>(
  def: PluginDef<Head, S>,
  raw?: unknown,
): Head {
  return def.create(readOptions(def.name, raw, def.options));
}

function rows(t: tf.Tensor2D): number[][] {
  return t.arraySync();
}

Deno.test("mlp-instance is Linear(in, hidden)-ReLU-Linear(hidden, out) with 512 hidden units by default", () => {
  const model = make(mlpInstance).build(32, 128, 1);
  const shapes = model.getWeights().map((w) => w.shape);
  assert.deepEqual(shapes, [[32, 512], [512], [512, 128], [128]]);
  model.dispose();
});

Deno.test("mlp-instance activation gives unit-norm rows equal to a naive x / |x|", () => {
  const head = make(mlpInstance, { hidden: 16 });
  const model = head.build(8, 5, 3);
  const raw = model.predict(
    tf.randomNormal([6, 8], 0, 1, "float32", 9),
  ) as tf.Tensor2D;
  const z = head.activate(raw);
  const r = rows(raw);
  rows(z).forEach((row, i) => {
    const norm = Math.hypot(...r[i]);
    row.forEach((v, j) => assert.ok(Math.abs(v - r[i][j] / norm) < 1e-6));
    assert.ok(Math.abs(Math.hypot(...row) - 1) < 1e-6);
  });
  tf.dispose([raw, z]);
  model.dispose();
});

Deno.test("l2NormaliseRows leaves a zero row at zero instead of NaN", () => {
  const z = l2NormaliseRows(tf.zeros([1, 3]) as tf.Tensor2D);
  assert.deepEqual(Array.from(z.dataSync()), [0, 0, 0]);
  z.dispose();
});

Deno.test("mlp-cluster and linear-cluster activations give rows that sum to 1 and equal a naive softmax", () => {
  for (const head of [make(mlpCluster, { hidden: 16 }), make(linearCluster)]) {
    const model = head.build(8, 4, 2);
    const raw = model.predict(
      tf.randomNormal([5, 8], 0, 3, "float32", 4),
    ) as tf.Tensor2D;
    const p = head.activate(raw);
    const r = rows(raw);
    rows(p).forEach((row, i) => {
      const m = Math.max(...r[i]);
      const e = r[i].map((v) => Math.exp(v - m));
      const s = e.reduce((a, b) => a + b, 0);
      row.forEach((v, j) => assert.ok(Math.abs(v - e[j] / s) < 1e-6));
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-6);
    });
    tf.dispose([raw, p]);
    model.dispose();
  }
});

Deno.test("linear-cluster is a single Linear(in, C) layer", () => {
  const model = make(linearCluster).build(64, 10, 0);
  assert.deepEqual(model.getWeights().map((w) => w.shape), [[64, 10], [10]]);
  model.dispose();
});

Deno.test("heads initialise like nn.Linear within +-1/sqrt(fan_in) and reproducibly per seed", () => {
  const head = make(mlpCluster, { hidden: 32 });
  const a = head.build(16, 4, 11);
  const b = head.build(16, 4, 11);
  const c = head.build(16, 4, 12);
  const [ka] = a.getWeights();
  const values = Array.from(ka.dataSync());
  assert.ok(values.every((v) => Math.abs(v) <= 1 / Math.sqrt(16)));
  assert.ok(Math.max(...values.map(Math.abs)) > 0.8 / Math.sqrt(16));
  a.getWeights().forEach((w, i) =>
    assert.deepEqual(w.dataSync(), b.getWeights()[i].dataSync())
  );
  assert.notDeepEqual(ka.dataSync(), c.getWeights()[0].dataSync());
  [a, b, c].forEach((m) => m.dispose());
});

Deno.test("softmaxRows keeps large logits finite", () => {
  const p = softmaxRows(tf.tensor2d([[1000, 0, -1000]]));
  assert.deepEqual(Array.from(p.dataSync()), [1, 0, 0]);
  p.dispose();
});
