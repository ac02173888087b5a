/**
 * Projection and clustering heads of Contrastive Clustering (CC, Li et al.,
 * AAAI 2021) and SCAN (Van Gansbeke et al., ECCV 2020). Each head is a
 * plain tfjs layers model that outputs raw values; `activate` turns them
 * into what the losses consume, so saved models hold only standard layers.
 *
 * Dense layers are initialised like PyTorch's `nn.Linear` (uniform in
 * +-1/sqrt(fan_in) for kernel and bias), seeded.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Head } from "../../core/interfaces.ts";
import type { PluginDef } from "../../core/registry.ts";
import { Rng } from "../../core/random.ts";

const mlpSchema = {
  hidden: {
    type: "number",
    default: 512,
    integer: true,
    min: 1,
    doc: "width of the hidden layer (CC: 512)",
  },
} as const;

function linear(
  x: tf.SymbolicTensor,
  units: number,
  rng: Rng,
): tf.SymbolicTensor {
  const fanIn = x.shape[x.shape.length - 1] as number;
  const limit = 1 / Math.sqrt(fanIn);
  return tf.layers.dense({
    units,
    kernelInitializer: tf.initializers.randomUniform({
      minval: -limit,
      maxval: limit,
      seed: rng.seed(),
    }),
    biasInitializer: tf.initializers.randomUniform({
      minval: -limit,
      maxval: limit,
      seed: rng.seed(),
    }),
  }).apply(x) as tf.SymbolicTensor;
}

/**
 * `Linear(inputDim, hidden) - ReLU - Linear(hidden, outputDim)`, or a single
 * `Linear(inputDim, outputDim)` when `hidden` is 0.
 */
export function buildMlp(
  inputDim: number,
  hidden: number,
  outputDim: number,
  seed: number,
): tf.LayersModel {
  const rng = new Rng(seed);
  const input = tf.input({ shape: [inputDim] });
  let x = input;
  if (hidden > 0) {
    x = linear(x, hidden, rng);
    x = tf.layers.activation({ activation: "relu" }).apply(
      x,
    ) as tf.SymbolicTensor;
  }
  const output = linear(x, outputDim, rng);
  return tf.model({ inputs: input, outputs: output });
}

/** Divides each row by its L2 norm (with a 1e-12 floor, as F.normalize). */
export function l2NormaliseRows(raw: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const norm = tf.maximum(tf.norm(raw, 2, 1, true), 1e-12);
    return tf.div(raw, norm) as tf.Tensor2D;
  });
}

/** Softmax over each row. */
export function softmaxRows(raw: tf.Tensor2D): tf.Tensor2D {
  return tf.softmax(raw, -1);
}

/** CC's instance projection head f_I; outputs L2-normalised rows. */
export const mlpInstance: PluginDef<Head, typeof mlpSchema> = {
  name: "mlp-instance",
  description:
    "Linear-ReLU-Linear instance head with L2-normalised output (CC's f_I)",
  options: mlpSchema,
  create(options) {
    return {
      name: "mlp-instance",
      build: (inputDim, outputDim, seed) =>
        buildMlp(inputDim, options.hidden, outputDim, seed),
      activate: l2NormaliseRows,
    };
  },
};

/** CC's cluster head f_C; outputs softmax rows over the C clusters. */
export const mlpCluster: PluginDef<Head, typeof mlpSchema> = {
  name: "mlp-cluster",
  description: "Linear-ReLU-Linear cluster head with softmax output (CC's f_C)",
  options: mlpSchema,
  create(options) {
    return {
      name: "mlp-cluster",
      build: (inputDim, outputDim, seed) =>
        buildMlp(inputDim, options.hidden, outputDim, seed),
      activate: softmaxRows,
    };
  },
};

/** SCAN's clustering head: one linear layer then softmax over clusters. */
export const linearCluster: PluginDef<Head, Record<string, never>> = {
  name: "linear-cluster",
  description:
    "a single Linear layer with softmax output (SCAN's cluster head)",
  options: {},
  create() {
    return {
      name: "linear-cluster",
      build: (inputDim, outputDim, seed) =>
        buildMlp(inputDim, 0, outputDim, seed),
      activate: softmaxRows,
    };
  },
};
