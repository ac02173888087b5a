import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { chooseStem, resnet18, resnet34 } from "../plugins/backbones/resnet.ts";
import { smallConvnet } from "../plugins/backbones/small_convnet.ts";
import { readOptions } from "../core/options.ts";
import type { Backbone } from "../core/interfaces.ts";
import type { PluginDef } from "../core/registry.ts";
import type { OptionSchema } from "../core/options.ts";

await tf.setBackend("cpu");

function make<S extends OptionSchema>(
  def: PluginDef<Backbone, S>,
  raw: unknown,
): Backbone {
  return def.create(readOptions(def.name, raw, def.options));
}

function trainableCount(model: tf.LayersModel): number {
  return model.trainableWeights.reduce(
    (n, w) => n + (w.shape as number[]).reduce((a, b) => a * b, 1),
    0,
  );
}

Deno.test("resnet18 at width 1 with the CIFAR stem has PyTorch's 11,168,832 trainable parameters", () => {
  // torchvision resnet18: 11,689,512 parameters; minus fc (512*1000+1000)
  // = 11,176,512; the CIFAR stem's 3x3x3x64 conv instead of 7x7x3x64 saves
  // 9,408 - 1,728 = 7,680, leaving 11,168,832. BN moving statistics are
  // buffers in PyTorch, so only trainable weights are counted.
  const model = make(resnet18, { stem: "cifar" }).build([32, 32, 3], 1);
  assert.equal(trainableCount(model), 11_168_832);
  // The moving mean and variance of every BN channel come on top.
  const bnChannels = model.layers
    .filter((l) => l.getClassName() === "BatchNormalization")
    .reduce((n, l) => n + (l.getWeights()[0].shape[0] as number), 0);
  assert.equal(model.countParams(), 11_168_832 + 2 * bnChannels);
  model.dispose();
});

Deno.test("resnet34 at width 1 with the ImageNet stem matches torchvision's count without fc", () => {
  // torchvision resnet34: 21,797,672 parameters, minus fc 513,000.
  const model = make(resnet34, { stem: "imagenet" }).build([64, 64, 3], 1);
  assert.equal(trainableCount(model), 21_797_672 - 513_000);
  model.dispose();
});

Deno.test("resnet18 maps 32x32x3 and 28x28x1 images to featureDim features with the CIFAR stem", () => {
  for (const width of [0.125, 0.25]) {
    const backbone = make(resnet18, { width });
    assert.equal(backbone.featureDim, 512 * width);
    for (const shape of [[32, 32, 3], [28, 28, 1]] as const) {
      const model = backbone.build(shape, 7);
      assert.equal(model.getLayer("stem_conv").getWeights()[0].shape[0], 3);
      assert.deepEqual(model.getLayer("layer1_1_out").outputShape, [
        null,
        shape[0],
        shape[1],
        64 * width,
      ]);
      const y = model.predict(tf.zeros([2, ...shape])) as tf.Tensor;
      assert.deepEqual(y.shape, [2, 512 * width]);
      tf.dispose([y]);
      model.dispose();
    }
  }
});

Deno.test("resnet18 on 96x96x3 takes the ImageNet stem path 96-48-24-12-6-3", () => {
  const model = make(resnet18, { width: 0.125 }).build([96, 96, 3], 3);
  const side = (name: string) => model.getLayer(name).outputShape[1];
  assert.equal(model.getLayer("stem_conv").getWeights()[0].shape[0], 7);
  assert.equal(side("stem_relu"), 48);
  assert.equal(side("stem_pool"), 24);
  assert.equal(side("layer1_1_out"), 24);
  assert.equal(side("layer2_1_out"), 12);
  assert.equal(side("layer3_1_out"), 6);
  assert.equal(side("layer4_1_out"), 3);
  const y = model.predict(tf.zeros([1, 96, 96, 3])) as tf.Tensor;
  assert.deepEqual(y.shape, [1, 64]);
  y.dispose();
  model.dispose();
});

Deno.test("the auto stem switches from CIFAR to ImageNet at 64 pixels", () => {
  assert.equal(chooseStem("auto", 63, 96), "cifar");
  assert.equal(chooseStem("auto", 64, 64), "imagenet");
  assert.equal(chooseStem("cifar", 224, 224), "cifar");
});

Deno.test("resnet options reject a width outside 1, 0.5, 0.25, 0.125 with a one-line message", () => {
  assert.throws(
    () => readOptions('backbone "resnet18"', { width: 0.3 }, resnet18.options),
    /option "width" is 0.3; expected one of 1, 0.5, 0.25, 0.125/,
  );
});

Deno.test("two builds with the same seed have identical weights and another seed differs", () => {
  const backbone = make(resnet18, { width: 0.125 });
  const a = backbone.build([16, 16, 3], 42);
  const b = backbone.build([16, 16, 3], 42);
  const c = backbone.build([16, 16, 3], 43);
  const wa = a.getWeights();
  const wb = b.getWeights();
  wa.forEach((w, i) =>
    assert.deepEqual(w.dataSync(), wb[i].dataSync(), a.weights[i].name)
  );
  const k = a.getLayer("layer2_0_conv1").getWeights()[0]
    .dataSync() as Float32Array;
  const kc = c.getLayer("layer2_0_conv1").getWeights()[0].dataSync();
  assert.notDeepEqual(k, kc);
  // He normal: std sqrt(2 / fan_in) (truncated in tfjs, so a bit smaller).
  const fanIn = 3 * 3 * 8;
  const std = Math.sqrt(k.reduce((s, v) => s + v * v, 0) / k.length);
  assert.ok(
    std > 0.7 * Math.sqrt(2 / fanIn) && std < 1.1 * Math.sqrt(2 / fanIn),
  );
  [a, b, c].forEach((m) => m.dispose());
});

for (
  const [label, def, raw] of [
    ["resnet18", resnet18, { width: 0.125 }],
    ["small-convnet", smallConvnet, { width: 4 }],
  ] as const
) {
  Deno.test(`a training step of ${label} gives a gradient for every trainable weight and changes them`, () => {
    const backbone = make(def as PluginDef<Backbone, OptionSchema>, raw);
    const model = backbone.build([8, 8, 3], 5);
    const x = tf.randomUniform([4, 8, 8, 3], 0, 1, "float32", 1);
    const target = tf.randomNormal(
      [4, backbone.featureDim],
      0,
      1,
      "float32",
      2,
    );
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const before = vars.map((v) => v.dataSync().slice());
    const movingBefore = model.getLayer(
      label === "resnet18" ? "stem_bn" : "block1_bn",
    ).getWeights()[2].dataSync().slice();
    const optimizer = tf.train.sgd(0.1);
    const { grads } = tf.variableGrads(() => {
      const y = model.apply(x, { training: true }) as tf.Tensor;
      return tf.mean(tf.square(tf.sub(y, target)));
    }, vars);
    for (const v of vars) {
      const g = grads[v.name];
      assert.ok(g, `no gradient for ${v.name}`);
      assert.ok(
        tf.sum(tf.abs(g)).dataSync()[0] > 0,
        `zero gradient for ${v.name}`,
      );
    }
    optimizer.applyGradients(grads);
    vars.forEach((v, i) =>
      assert.notDeepEqual(v.dataSync(), before[i], `${v.name} did not change`)
    );
    // Training mode also moves the BN running mean.
    const movingAfter = model.getLayer(
      label === "resnet18" ? "stem_bn" : "block1_bn",
    ).getWeights()[2].dataSync();
    assert.notDeepEqual(movingAfter, movingBefore);
    tf.dispose([x, target, grads]);
    optimizer.dispose();
    model.dispose();
  });
}

Deno.test("small-convnet outputs 4*width features and says it is not the paper's backbone", () => {
  const backbone = make(smallConvnet, { width: 4 });
  assert.equal(backbone.featureDim, 16);
  assert.match(smallConvnet.description, /NOT the paper's backbone/);
  const model = backbone.build([28, 28, 1], 0);
  const y = model.predict(tf.zeros([3, 28, 28, 1])) as tf.Tensor;
  assert.deepEqual(y.shape, [3, 16]);
  y.dispose();
  model.dispose();
});
