/**
 * Random grayscale: with probability `p` (default 0.2, SimCLR/CC) an RGB
 * image becomes its luminance 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601),
 * replicated to 3 channels. A no-op on 1-channel images.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Augmentation } from "../../core/interfaces.ts";
import type { PluginDef } from "../../core/registry.ts";
import type { Rng } from "../../core/random.ts";
import { DataError } from "../../core/errors.ts";

const schema = {
  p: {
    type: "number",
    default: 0.2,
    min: 0,
    max: 1,
    doc: "probability of turning an image gray (SimCLR/CC: 0.2)",
  },
} as const;

/** BT.601 luminance weights for R, G, B. */
export const LUMA_WEIGHTS = [0.299, 0.587, 0.114] as const;

/** Turns the RGB images whose entry in `gray` is true to 3-channel grayscale. */
export function grayscaleSome(
  images: tf.Tensor4D,
  gray: readonly boolean[],
): tf.Tensor4D {
  const channels = images.shape[3];
  if (channels === 1) return images.clone();
  if (channels !== 3) {
    throw new DataError(
      `random-grayscale: images have ${channels} channels; expected 1 or 3`,
    );
  }
  return tf.tidy(() => {
    const luma = tf.sum(
      tf.mul(images, tf.tensor1d([...LUMA_WEIGHTS])),
      3,
      true,
    );
    // A 0/1 blend is exact and much faster on wasm than tile + where.
    const m = tf.tensor4d(gray.map(Number), [gray.length, 1, 1, 1]);
    return tf.add(tf.mul(m, luma), tf.mul(tf.sub(1, m), images)) as tf.Tensor4D;
  });
}

/** RandomGrayscale with one independent draw per image. */
export const randomGrayscale: PluginDef<Augmentation, typeof schema> = {
  name: "random-grayscale",
  description:
    "turn each RGB image to gray with probability p (SimCLR/CC); no-op on 1 channel",
  options: schema,
  create(options) {
    return {
      name: "random-grayscale",
      apply(images: tf.Tensor4D, rng: Rng): tf.Tensor4D {
        const gray = Array.from(
          { length: images.shape[0] },
          () => rng.next() < options.p,
        );
        return grayscaleSome(images, gray);
      },
    };
  },
};
