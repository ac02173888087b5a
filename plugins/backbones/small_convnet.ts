/**
 * A small convolutional backbone for quick CPU experiments and smoke tests.
 * It is NOT the paper's backbone (CLKNN uses ResNet-18); expect lower
 * clustering scores from it.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Backbone } from "../../core/interfaces.ts";
import type { PluginDef } from "../../core/registry.ts";
import { Rng } from "../../core/random.ts";

const schema = {
  width: {
    type: "number",
    default: 32,
    integer: true,
    min: 1,
    doc: "channels of the first block; doubled in each of the next two",
  },
} as const;

/**
 * Three conv3x3-BN-ReLU blocks (width, 2*width, 4*width channels; the second
 * and third with stride 2) then global average pooling: `[B, H, W, C]` to
 * `[B, 4 * width]`.
 */
export function buildSmallConvnet(
  inputShape: readonly [number, number, number],
  width: number,
  seed: number,
): tf.LayersModel {
  const rng = new Rng(seed);
  const input = tf.input({ shape: [...inputShape], name: "small_input" });
  let x: tf.SymbolicTensor = input;
  [width, 2 * width, 4 * width].forEach((filters, i) => {
    x = tf.layers.conv2d({
      filters,
      kernelSize: 3,
      strides: i === 0 ? 1 : 2,
      padding: "same",
      useBias: false,
      kernelInitializer: tf.initializers.heNormal({ seed: rng.seed() }),
      name: `block${i + 1}_conv`,
    }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({
      momentum: 0.9,
      epsilon: 1e-5,
      name: `block${i + 1}_bn`,
    }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.activation({ activation: "relu", name: `block${i + 1}_relu` })
      .apply(x) as tf.SymbolicTensor;
  });
  const features = tf.layers.globalAveragePooling2d({ name: "pool" }).apply(
    x,
  ) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: features, name: "small_convnet" });
}

/** A 3-block conv net for fast CPU runs; not the paper's backbone. */
export const smallConvnet: PluginDef<Backbone, typeof schema> = {
  name: "small-convnet",
  description:
    "3 conv-BN-ReLU blocks + average pooling for quick CPU runs; NOT the paper's backbone (ResNet-18)",
  options: schema,
  create(options) {
    return {
      name: "small-convnet",
      featureDim: 4 * options.width,
      build: (inputShape, seed) =>
        buildSmallConvnet(inputShape, options.width, seed),
    };
  },
};
