/**
 * ResNet-18 and ResNet-34 backbones (He et al., "Deep Residual Learning for
 * Image Recognition", CVPR 2016), built as tfjs layers models so they save in
 * tfjs's own format.
 *
 * Small inputs use the CIFAR stem (a 3x3 stride-1 convolution and no
 * max-pool), as SimCLR's CIFAR experiments and Contrastive Clustering (CC,
 * Li et al. 2021) do; larger inputs use the ImageNet stem (7x7 stride-2
 * convolution and a 3x3 stride-2 max-pool). Padding is explicit so spatial
 * sizes match PyTorch's ResNet exactly (tfjs "same" padding with stride 2
 * pads bottom/right only).
 *
 * Known differences from the PyTorch models: tfjs's batch normalisation
 * keeps the biased batch variance in its moving average, and He-normal
 * initialisation in tfjs draws from a truncated normal.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Backbone } from "../../core/interfaces.ts";
import type { Options } from "../../core/options.ts";
import type { PluginDef } from "../../core/registry.ts";
import { Rng } from "../../core/random.ts";
import { fusedBatchNormalization } from "./fused_batch_norm.ts";

/** Options shared by {@linkcode resnet18} and {@linkcode resnet34}. */
export const resnetOptions = {
  width: {
    type: "number",
    default: 1,
    oneOf: [1, 0.5, 0.25, 0.125],
    doc: "channel multiplier of 64, 128, 256, 512 (1 is the paper's)",
  },
  stem: {
    type: "string",
    default: "auto",
    oneOf: ["auto", "cifar", "imagenet"],
    doc: "auto: CIFAR stem below 64 px, ImageNet stem otherwise",
  },
} as const;

/** The checked options of a ResNet backbone. */
export type ResnetOptions = Options<typeof resnetOptions>;

/** Which stem `"auto"` picks for an input of `height` x `width` pixels. */
export function chooseStem(
  stem: string,
  height: number,
  width: number,
): "cifar" | "imagenet" {
  if (stem === "cifar" || stem === "imagenet") return stem;
  return Math.min(height, width) < 64 ? "cifar" : "imagenet";
}

/**
 * BN settings matching PyTorch's defaults (momentum 0.1 there is 0.9 here);
 * tfjs's layer with a fused training pass where the backend has one.
 */
function batchNorm(name: string): tf.layers.Layer {
  return fusedBatchNormalization({
    axis: -1,
    momentum: 0.9,
    epsilon: 1e-5,
    name,
  });
}

/** A bias-free convolution with PyTorch-style symmetric zero padding. */
function conv(
  x: tf.SymbolicTensor,
  filters: number,
  kernelSize: number,
  stride: number,
  name: string,
  rng: Rng,
): tf.SymbolicTensor {
  const pad = (kernelSize - 1) / 2;
  let y = x;
  if (pad > 0) {
    y = tf.layers.zeroPadding2d({ padding: pad, name: `${name}_pad` })
      .apply(y) as tf.SymbolicTensor;
  }
  return tf.layers.conv2d({
    filters,
    kernelSize,
    strides: stride,
    padding: "valid",
    useBias: false,
    kernelInitializer: tf.initializers.heNormal({ seed: rng.seed() }),
    name,
  }).apply(y) as tf.SymbolicTensor;
}

function relu(x: tf.SymbolicTensor, name: string): tf.SymbolicTensor {
  return tf.layers.activation({ activation: "relu", name }).apply(
    x,
  ) as tf.SymbolicTensor;
}

/** The two-convolution residual block of ResNet-18/34 ("BasicBlock"). */
function basicBlock(
  x: tf.SymbolicTensor,
  filters: number,
  stride: number,
  name: string,
  rng: Rng,
): tf.SymbolicTensor {
  const inChannels = x.shape[3] as number;
  let y = conv(x, filters, 3, stride, `${name}_conv1`, rng);
  y = batchNorm(`${name}_bn1`).apply(y) as tf.SymbolicTensor;
  y = relu(y, `${name}_relu1`);
  y = conv(y, filters, 3, 1, `${name}_conv2`, rng);
  y = batchNorm(`${name}_bn2`).apply(y) as tf.SymbolicTensor;
  let shortcut = x;
  if (stride !== 1 || inChannels !== filters) {
    shortcut = conv(x, filters, 1, stride, `${name}_down_conv`, rng);
    shortcut = batchNorm(`${name}_down_bn`).apply(
      shortcut,
    ) as tf.SymbolicTensor;
  }
  const sum = tf.layers.add({ name: `${name}_add` }).apply([
    y,
    shortcut,
  ]) as tf.SymbolicTensor;
  return relu(sum, `${name}_out`);
}

/**
 * Builds a BasicBlock ResNet ending in global average pooling, from
 * `[B, H, W, C]` images to `[B, 512 * width]` features. Layer names are
 * `stem_*`, `layer{1..4}_{block}_*`, and the last block of stage s outputs
 * `layer{s}_{last}_out`. Same `seed`, same initial weights.
 */
export function buildResnet(
  blocks: readonly number[],
  inputShape: readonly [number, number, number],
  options: ResnetOptions,
  seed: number,
  name: string,
): tf.LayersModel {
  const rng = new Rng(seed);
  const [h, w] = inputShape;
  const stem = chooseStem(options.stem, h, w);
  const channels = [64, 128, 256, 512].map((c) => c * options.width);
  const input = tf.input({ shape: [...inputShape], name: `${name}_input` });
  let x: tf.SymbolicTensor;
  if (stem === "cifar") {
    x = conv(input, channels[0], 3, 1, "stem_conv", rng);
  } else {
    x = conv(input, channels[0], 7, 2, "stem_conv", rng);
  }
  x = batchNorm("stem_bn").apply(x) as tf.SymbolicTensor;
  x = relu(x, "stem_relu");
  if (stem === "imagenet") {
    // Zero padding equals PyTorch's -inf padding here: inputs are post-ReLU.
    x = tf.layers.zeroPadding2d({ padding: 1, name: "stem_pool_pad" })
      .apply(x) as tf.SymbolicTensor;
    x = tf.layers.maxPooling2d({
      poolSize: 3,
      strides: 2,
      padding: "valid",
      name: "stem_pool",
    }).apply(x) as tf.SymbolicTensor;
  }
  blocks.forEach((count, stage) => {
    for (let b = 0; b < count; b++) {
      const stride = stage > 0 && b === 0 ? 2 : 1;
      x = basicBlock(x, channels[stage], stride, `layer${stage + 1}_${b}`, rng);
    }
  });
  const features = tf.layers.globalAveragePooling2d({ name: "pool" }).apply(
    x,
  ) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: features, name });
}

function resnetDef(
  name: string,
  blocks: readonly number[],
  description: string,
): PluginDef<Backbone, typeof resnetOptions> {
  return {
    name,
    description,
    options: resnetOptions,
    create(options) {
      return {
        name,
        featureDim: 512 * options.width,
        build: (inputShape, seed) =>
          buildResnet(blocks, inputShape, options, seed, name),
      };
    },
  };
}

/** ResNet-18 (blocks 2, 2, 2, 2): the backbone of CC, SCAN and the CLKNN paper. */
export const resnet18: PluginDef<Backbone, typeof resnetOptions> = resnetDef(
  "resnet18",
  [2, 2, 2, 2],
  "ResNet-18 (He et al. 2016), CIFAR stem below 64 px as in SimCLR/CC; 512*width features",
);

/** ResNet-34 (blocks 3, 4, 6, 3). */
export const resnet34: PluginDef<Backbone, typeof resnetOptions> = resnetDef(
  "resnet34",
  [3, 4, 6, 3],
  "ResNet-34 (He et al. 2016), CIFAR stem below 64 px as in SimCLR/CC; 512*width features",
);
