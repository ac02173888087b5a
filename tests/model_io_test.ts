import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  loadModel,
  restoreWeights,
  saveModel,
  serializeWeights,
} from "../core/model_io.ts";
import { buildResnet } from "../plugins/backbones/resnet.ts";
import { buildMlp } from "../plugins/heads/mlp.ts";
import { DataError } from "../core/errors.ts";

await tf.setBackend("cpu");

function tinyResnet(seed: number): tf.LayersModel {
  return buildResnet(
    [1, 1, 1, 1],
    [8, 8, 3],
    { width: 0.125, stem: "cifar" },
    seed,
    "resnet18",
  );
}

/** Moves BN statistics off their initial 0/1 so a round trip must carry them. */
function trainOneStep(model: tf.LayersModel) {
  const x = tf.randomUniform([4, 8, 8, 3], 0, 1, "float32", 3);
  tf.tidy(() => {
    model.apply(x, { training: true });
  });
  x.dispose();
  const mean = model.getLayer("stem_bn").getWeights()[2].dataSync();
  assert.ok(mean.some((v) => v !== 0), "BN moving mean did not move");
}

Deno.test("a saved and reloaded resnet gives identical predictions and writes model.json plus weights.bin", async () => {
  const dir = fs.mkdtempSync(path.join(Deno.makeTempDirSync(), "model-"));
  const model = tinyResnet(1);
  trainOneStep(model);
  await saveModel(model, dir);
  assert.deepEqual(fs.readdirSync(dir).sort(), ["model.json", "weights.bin"]);
  const json = JSON.parse(
    fs.readFileSync(path.join(dir, "model.json"), "utf8"),
  );
  assert.equal(json.format, "layers-model");
  assert.deepEqual(json.weightsManifest[0].paths, ["./weights.bin"]);
  const floats = model.weights.reduce(
    (n, w) => n + w.shape.reduce((a, b) => a! * b!, 1)!,
    0,
  );
  assert.equal(fs.statSync(path.join(dir, "weights.bin")).size, 4 * floats);
  const loaded = await loadModel(dir);
  const x = tf.randomUniform([3, 8, 8, 3], 0, 1, "float32", 7);
  const a = model.predict(x) as tf.Tensor;
  const b = loaded.predict(x) as tf.Tensor;
  assert.deepEqual(b.dataSync(), a.dataSync());
  tf.dispose([x, a, b]);
  model.dispose();
  loaded.dispose();
  fs.rmSync(dir, { recursive: true });
});

Deno.test("saving over an existing model replaces it and leaves no temporary files", async () => {
  const dir = Deno.makeTempDirSync();
  const first = buildMlp(4, 8, 3, 1);
  const second = buildMlp(4, 8, 3, 2);
  await saveModel(first, dir);
  await saveModel(second, dir);
  assert.deepEqual(fs.readdirSync(dir).sort(), ["model.json", "weights.bin"]);
  const loaded = await loadModel(dir);
  const x = tf.ones([1, 4]);
  const want = second.predict(x) as tf.Tensor;
  const got = loaded.predict(x) as tf.Tensor;
  assert.deepEqual(got.dataSync(), want.dataSync());
  tf.dispose([x, want, got]);
  [first, second, loaded].forEach((m) => m.dispose());
  fs.rmSync(dir, { recursive: true });
});

Deno.test("loading from a folder without model.json throws a DataError naming the file", async () => {
  const dir = Deno.makeTempDirSync();
  await assert.rejects(() => loadModel(dir), (e: unknown) => {
    assert.ok(e instanceof DataError);
    assert.match(e.message, /model\.json/);
    return true;
  });
  fs.rmSync(dir, { recursive: true });
});

Deno.test("serializeWeights and restoreWeights carry every weight, BN statistics included, into a fresh model", async () => {
  const source = tinyResnet(1);
  trainOneStep(source);
  const { manifest, data } = await serializeWeights(source);
  assert.equal(manifest.weights.length, source.weights.length);
  assert.ok(manifest.weights.some((w) => w.name.endsWith("moving_mean")));
  const target = tinyResnet(2);
  restoreWeights(target, manifest, data);
  const sw = source.getWeights();
  target.getWeights().forEach((w, i) =>
    assert.deepEqual(w.dataSync(), sw[i].dataSync())
  );
  const x = tf.randomUniform([2, 8, 8, 3], 0, 1, "float32", 5);
  const a = source.predict(x) as tf.Tensor;
  const b = target.predict(x) as tf.Tensor;
  assert.deepEqual(b.dataSync(), a.dataSync());
  tf.dispose([x, a, b]);
  source.dispose();
  target.dispose();
});

Deno.test("restoreWeights rejects a snapshot of another width with a DataError naming the weight", async () => {
  const narrow = buildMlp(4, 8, 3, 1);
  const wide = buildMlp(4, 16, 3, 1);
  const { manifest, data } = await serializeWeights(narrow);
  assert.throws(() => restoreWeights(wide, manifest, data), (e: unknown) => {
    assert.ok(e instanceof DataError);
    assert.match(e.message, /shape \[4,8\] .* has \[4,16\]/);
    return true;
  });
  narrow.dispose();
  wide.dispose();
});
