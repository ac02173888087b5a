/**
 * Random resized crop as in SimCLR and Contrastive Clustering: a crop of
 * random area and aspect ratio, resized back to the input size.
 *
 * Defaults: `scale` [0.08, 1] and `ratio` [3/4, 4/3] are CC's (torchvision's
 * defaults); SCAN uses `scale` [0.2, 1].
 *
 * Known difference from torchvision: the resize is bilinear with corner
 * -aligned sampling (tfjs `cropAndResize`), not half-pixel centres; since a
 * crop is never larger than the image, no antialiasing is needed.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Augmentation } from "../../core/interfaces.ts";
import type { PluginDef } from "../../core/registry.ts";
import type { Rng } from "../../core/random.ts";

const schema = {
  scale: {
    type: "range",
    default: [0.08, 1],
    min: 0,
    max: 1,
    doc: "share of the image area kept (CC: 0.08-1; SCAN: 0.2-1)",
  },
  ratio: {
    type: "range",
    default: [3 / 4, 4 / 3],
    min: 0.01,
    max: 100,
    doc: "aspect ratio (width / height) of the crop",
  },
} as const;

/** A crop window in pixels: top row, left column, height, width. */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/**
 * Draws one crop window for an `h` x `w` image: up to ten tries at a random
 * area share in `scale` and a log-uniform aspect ratio in `ratio`; if none
 * fits, the largest centred crop whose ratio is within `ratio`.
 */
export function sampleCropBox(
  rng: Rng,
  h: number,
  w: number,
  scale: readonly [number, number],
  ratio: readonly [number, number],
): CropBox {
  const area = h * w;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const cw = Math.round(Math.sqrt(target * aspect));
    const ch = Math.round(Math.sqrt(target / aspect));
    if (cw > 0 && ch > 0 && cw <= w && ch <= h) {
      const top = rng.int(h - ch + 1);
      const left = rng.int(w - cw + 1);
      return { top, left, height: ch, width: cw };
    }
  }
  // The fallback a too-narrow or too-wide image gets: stay within `ratio`.
  let ch = h;
  let cw = w;
  const inRatio = w / h;
  if (inRatio < ratio[0]) ch = Math.round(w / ratio[0]);
  else if (inRatio > ratio[1]) cw = Math.round(h * ratio[1]);
  return {
    top: Math.floor((h - ch) / 2),
    left: Math.floor((w - cw) / 2),
    height: ch,
    width: cw,
  };
}

/**
 * The `cropAndResize` box (normalised `[y1, x1, y2, x2]`) whose corner
 * -aligned bilinear sampling covers pixel rows `top .. top+height-1` and
 * columns `left .. left+width-1` of an image padded by one row and column
 * (so normalised by `h` and `w`, not `h - 1` and `w - 1`).
 */
export function cropBoxToNormalised(
  box: CropBox,
  h: number,
  w: number,
): [number, number, number, number] {
  return [
    box.top / h,
    box.left / w,
    (box.top + box.height - 1) / h,
    (box.left + box.width - 1) / w,
  ];
}

/** Crops each image of `images` to its box and resizes it back to H x W. */
export function cropAndResizeBatch(
  images: tf.Tensor4D,
  boxes: readonly CropBox[],
): tf.Tensor4D {
  const [b, h, w] = images.shape;
  return tf.tidy(() => {
    // Rounding can put the last sample a hair past the last pixel, where
    // tfjs's wasm kernel returns the extrapolation value 0 instead of the
    // edge; a copied edge row and column makes those samples exact.
    const padded = tf.mirrorPad(
      images,
      [[0, 0], [0, 1], [0, 1], [0, 0]],
      "symmetric",
    );
    const flat = new Float32Array(b * 4);
    boxes.forEach((box, i) => flat.set(cropBoxToNormalised(box, h, w), i * 4));
    const index = tf.tensor1d(
      Int32Array.from({ length: b }, (_, i) => i),
      "int32",
    );
    return tf.image.cropAndResize(
      padded,
      tf.tensor2d(flat, [b, 4]),
      index,
      [h, w],
      "bilinear",
    );
  });
}

/** RandomResizedCrop with one independent crop per image. */
export const randomResizedCrop: PluginDef<Augmentation, typeof schema> = {
  name: "random-resized-crop",
  description:
    "random-area, random-ratio crop resized back to the input size (SimCLR/CC)",
  options: schema,
  create(options) {
    return {
      name: "random-resized-crop",
      apply(images: tf.Tensor4D, rng: Rng): tf.Tensor4D {
        const [b, h, w] = images.shape;
        const boxes = Array.from(
          { length: b },
          () => sampleCropBox(rng, h, w, options.scale, options.ratio),
        );
        return cropAndResizeBatch(images, boxes);
      },
    };
  },
};
