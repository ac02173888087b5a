/**
 * Colour jitter as in SimCLR and CC: with probability `p` (default 0.8) an
 * image gets random brightness, contrast, saturation and hue changes
 * (defaults 0.4, 0.4, 0.4, 0.1, from SimCLR/CC's `ColorJitter(0.4, 0.4,
 * 0.4, 0.1)`).
 *
 * The factors follow torchvision: brightness multiplies by b; contrast
 * blends with the image's mean luminance by c; saturation blends with the
 * pixel's luminance by s, where b, c, s are uniform in [max(0, 1-x), 1+x];
 * the result is clipped to [0, 1] after each step.
 *
 * Known differences from torchvision: the four steps always run in the
 * fixed order brightness, contrast, saturation, hue (torchvision shuffles
 * them per image); the hue shift is a rotation of the chroma plane in YIQ
 * space by `2 pi h` (h uniform in [-hue, hue]), which keeps luminance and
 * approximates torchvision's HSV hue shift, then clips to [0, 1]. On
 * 1-channel images only brightness and contrast apply.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Augmentation } from "../../core/interfaces.ts";
import type { PluginDef } from "../../core/registry.ts";
import type { Rng } from "../../core/random.ts";
import { DataError } from "../../core/errors.ts";

const strength = (what: string, value: number, max?: number) => ({
  type: "number" as const,
  default: value,
  min: 0,
  ...(max === undefined ? {} : { max }),
  doc: `${what} strength (SimCLR/CC: ${value})`,
});

const schema = {
  brightness: strength("brightness", 0.4),
  contrast: strength("contrast", 0.4),
  saturation: strength("saturation", 0.4),
  hue: strength("hue", 0.1, 0.5),
  p: {
    type: "number",
    default: 0.8,
    min: 0,
    max: 1,
    doc: "probability of jittering an image (SimCLR/CC: 0.8)",
  },
} as const;

/** The jitter drawn for one image; identity is `{1, 1, 1, 0}`. */
export interface JitterFactors {
  brightness: number;
  contrast: number;
  saturation: number;
  /** Hue shift as a fraction of a full turn, in [-0.5, 0.5]. */
  hue: number;
}

const IDENTITY: JitterFactors = {
  brightness: 1,
  contrast: 1,
  saturation: 1,
  hue: 0,
};

const LUMA = [0.299, 0.587, 0.114];
const RGB_TO_YIQ = [
  [0.299, 0.587, 0.114],
  [0.595716, -0.274453, -0.321263],
  [0.211456, -0.522591, 0.311135],
];

function matMul3(a: number[][], b: number[][]): number[][] {
  return a.map((row) =>
    [0, 1, 2].map((j) => row[0] * b[0][j] + row[1] * b[1][j] + row[2] * b[2][j])
  );
}

function invert3(m: number[][]): number[][] {
  const [[a, b, c], [d, e, f], [g, h, i]] = m;
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  return [
    [(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det],
    [(f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det],
    [(d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det],
  ];
}

const YIQ_TO_RGB = invert3(RGB_TO_YIQ);

/**
 * The 3x3 RGB matrix that rotates the YIQ chroma plane by `2 pi hue`
 * (row-major; applied as `rgb' = M rgb`). Exactly the identity for hue 0.
 */
export function hueMatrix(hue: number): number[][] {
  if (hue === 0) return [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
  const t = 2 * Math.PI * hue;
  const cos = Math.cos(t);
  const sin = Math.sin(t);
  const rotate = [[1, 0, 0], [0, cos, -sin], [0, sin, cos]];
  return matMul3(YIQ_TO_RGB, matMul3(rotate, RGB_TO_YIQ));
}

/** Draws one image's factors, or the identity when the `p` draw fails. */
export function drawJitter(
  rng: Rng,
  options: {
    brightness: number;
    contrast: number;
    saturation: number;
    hue: number;
    p: number;
  },
): JitterFactors {
  const applied = rng.next() < options.p;
  const factor = (x: number) => rng.uniform(Math.max(0, 1 - x), 1 + x);
  const drawn = {
    brightness: factor(options.brightness),
    contrast: factor(options.contrast),
    saturation: factor(options.saturation),
    hue: rng.uniform(-options.hue, options.hue),
  };
  return applied ? drawn : { ...IDENTITY };
}

function perImage(values: number[]): tf.Tensor4D {
  return tf.tensor4d(values, [values.length, 1, 1, 1]);
}

/** Blends `x` towards `towards` by `factor`: `factor x + (1 - factor) towards`, clipped. */
function blend(
  x: tf.Tensor4D,
  towards: tf.Tensor,
  factor: tf.Tensor4D,
): tf.Tensor4D {
  return tf.clipByValue(
    tf.add(tf.mul(factor, x), tf.mul(tf.sub(1, factor), towards)),
    0,
    1,
  ) as tf.Tensor4D;
}

/** Applies one set of factors per image to a `[B, H, W, 1|3]` batch. */
export function jitterBatch(
  images: tf.Tensor4D,
  factors: readonly JitterFactors[],
): tf.Tensor4D {
  const [b, h, w, c] = images.shape;
  if (c !== 1 && c !== 3) {
    throw new DataError(
      `color-jitter: images have ${c} channels; expected 1 or 3`,
    );
  }
  return tf.tidy(() => {
    const luma = (x: tf.Tensor4D): tf.Tensor4D =>
      c === 3 ? tf.sum(tf.mul(x, tf.tensor1d(LUMA)), 3, true) : x;
    let x: tf.Tensor4D = tf.clipByValue(
      tf.mul(images, perImage(factors.map((f) => f.brightness))),
      0,
      1,
    );
    x = blend(
      x,
      tf.mean(luma(x), [1, 2, 3], true),
      perImage(factors.map((f) => f.contrast)),
    );
    if (c === 3) {
      x = blend(x, luma(x), perImage(factors.map((f) => f.saturation)));
      // rgb' = M rgb per pixel is rows [HW, 3] times M^T, batched over images.
      const mt = factors.flatMap((f) => {
        const m = hueMatrix(f.hue);
        return [0, 1, 2].flatMap((i) => [0, 1, 2].map((j) => m[j][i]));
      });
      const rotated = tf.matMul(
        tf.reshape(x, [b, h * w, 3]),
        tf.tensor3d(mt, [b, 3, 3]),
      );
      x = tf.clipByValue(
        tf.reshape(rotated, [b, h, w, 3]),
        0,
        1,
      ) as tf.Tensor4D;
    }
    return x;
  });
}

/** ColorJitter with probability `p` and one independent draw per image. */
export const colorJitter: PluginDef<Augmentation, typeof schema> = {
  name: "color-jitter",
  description:
    "random brightness, contrast, saturation, hue with probability p (SimCLR/CC 0.4, 0.4, 0.4, 0.1, p 0.8)",
  options: schema,
  create(options) {
    return {
      name: "color-jitter",
      apply(images: tf.Tensor4D, rng: Rng): tf.Tensor4D {
        const factors = Array.from(
          { length: images.shape[0] },
          () => drawJitter(rng, options),
        );
        return jitterBatch(images, factors);
      },
    };
  },
};
