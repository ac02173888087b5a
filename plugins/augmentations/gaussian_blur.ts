/**
 * Random Gaussian blur as in SimCLR: with probability `p` (default 0.5) an
 * image is blurred with a Gaussian of sigma uniform in `sigma` (default
 * [0.1, 2.0]) and a kernel about 10% of the image side (SimCLR's choice,
 * made odd; at least 3), with reflected borders as torchvision does.
 *
 * All images are blurred in one pass: the batch is laid out as one image
 * with B*C channels and blurred by two separable depthwise convolutions
 * whose kernel differs per channel (each image's own sigma; a unit impulse
 * for the images the `p` draw skips, which leaves them exactly unchanged).
 *
 * Limit: the kernel radius must be smaller than the image side (reflection
 * padding needs it).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Augmentation } from "../../core/interfaces.ts";
import type { PluginDef } from "../../core/registry.ts";
import type { Rng } from "../../core/random.ts";
import { ConfigError } from "../../core/errors.ts";

const schema = {
  sigma: {
    type: "range",
    default: [0.1, 2.0],
    min: 0.001,
    doc: "range of the blur's standard deviation in pixels (SimCLR: 0.1-2)",
  },
  p: {
    type: "number",
    default: 0.5,
    min: 0,
    max: 1,
    doc: "probability of blurring an image (SimCLR: 0.5)",
  },
  kernel_size: {
    type: "number",
    default: 0,
    integer: true,
    min: 0,
    doc: "odd kernel side in pixels; 0 picks 10% of the image side (SimCLR)",
  },
} as const;

/** 10% of the shorter side, made odd, at least 3 (SimCLR's rule). */
export function autoKernelSize(h: number, w: number): number {
  const k = Math.floor(0.1 * Math.min(h, w));
  return Math.max(3, k % 2 === 0 ? k + 1 : k);
}

/** A normalised 1-D Gaussian of odd length `size`; a unit impulse for sigma 0. */
export function gaussianKernel1d(size: number, sigma: number): Float32Array {
  const r = (size - 1) / 2;
  const out = new Float32Array(size);
  if (sigma === 0) {
    out[r] = 1;
    return out;
  }
  let total = 0;
  const raw = Array.from({ length: size }, (_, i) => {
    const v = Math.exp(-0.5 * ((i - r) / sigma) ** 2);
    total += v;
    return v;
  });
  raw.forEach((v, i) => (out[i] = v / total));
  return out;
}

/** Blurs image i with its own `sigmas[i]` (0 leaves it unchanged). */
export function blurBatch(
  images: tf.Tensor4D,
  sigmas: readonly number[],
  kernelSize: number,
): tf.Tensor4D {
  const [b, h, w, c] = images.shape;
  const r = (kernelSize - 1) / 2;
  if (r >= h || r >= w) {
    throw new ConfigError(
      `gaussian-blur: kernel_size ${kernelSize} is too large for ${h}x${w} images; expected an odd size below ${
        2 * Math.min(h, w)
      }`,
    );
  }
  return tf.tidy(() => {
    // One kernel per (image, channel), in the channel order of the layout below.
    const taps = new Float32Array(kernelSize * b * c);
    sigmas.forEach((sigma, i) => {
      const k = gaussianKernel1d(kernelSize, sigma);
      for (let ch = 0; ch < c; ch++) {
        for (let t = 0; t < kernelSize; t++) {
          taps[t * b * c + i * c + ch] = k[t];
        }
      }
    });
    const padded = tf.mirrorPad(
      images,
      [[0, 0], [r, r], [r, r], [0, 0]],
      "reflect",
    );
    // [B, H', W', C] -> [1, H', W', B*C]
    const wide = tf.reshape(
      tf.transpose(padded, [1, 2, 0, 3]),
      [1, h + 2 * r, w + 2 * r, b * c],
    ) as tf.Tensor4D;
    const vertical = tf.depthwiseConv2d(
      wide,
      tf.tensor4d(taps, [kernelSize, 1, b * c, 1]),
      1,
      "valid",
    );
    const both = tf.depthwiseConv2d(
      vertical,
      tf.tensor4d(taps, [1, kernelSize, b * c, 1]),
      1,
      "valid",
    );
    return tf.transpose(tf.reshape(both, [h, w, b, c]), [2, 0, 1, 3]);
  });
}

/** GaussianBlur with probability `p` and one independent sigma per image. */
export const gaussianBlur: PluginDef<Augmentation, typeof schema> = {
  name: "gaussian-blur",
  description:
    "Gaussian blur, sigma 0.1-2, kernel 10% of the side, with probability p (SimCLR)",
  options: schema,
  create(options) {
    if (options.kernel_size !== 0 && options.kernel_size % 2 === 0) {
      throw new ConfigError(
        `augmentation "gaussian-blur": option "kernel_size" is ${options.kernel_size}; expected an odd number, or 0 for 10% of the image side`,
      );
    }
    return {
      name: "gaussian-blur",
      apply(images: tf.Tensor4D, rng: Rng): tf.Tensor4D {
        const [b, h, w] = images.shape;
        const sigmas = Array.from({ length: b }, () => {
          const applied = rng.next() < options.p;
          const sigma = rng.uniform(options.sigma[0], options.sigma[1]);
          return applied ? sigma : 0;
        });
        const size = options.kernel_size || autoKernelSize(h, w);
        return blurBatch(images, sigmas, size);
      },
    };
  },
};
