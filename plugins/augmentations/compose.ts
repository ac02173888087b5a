/**
 * Chains augmentations into one, e.g. the SimCLR pipeline crop, flip,
 * colour jitter, grayscale, blur.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { Augmentation } from "../../core/interfaces.ts";
import type { Rng } from "../../core/random.ts";

/**
 * One augmentation applying `augs` in order, each drawing from the same
 * `rng` in turn. Intermediate batches are disposed; the input is not.
 */
export function composeAugmentations(
  augs: readonly Augmentation[],
): Augmentation {
  return {
    name: augs.map((a) => a.name).join("+") || "identity",
    apply(images: tf.Tensor4D, rng: Rng): tf.Tensor4D {
      let current = images;
      for (const aug of augs) {
        const next = aug.apply(current, rng);
        if (current !== images) current.dispose();
        current = next;
      }
      return current === images ? images.clone() : current;
    },
  };
}
