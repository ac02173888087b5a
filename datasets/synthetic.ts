/**
 * Generated images with known classes, for tests and smoke runs that must
 * not touch the network or the disk. Class `c` of `K` is a sine grating at
 * angle `180° * c / K` (and, in colour, of hue `c / K`) over a dark
 * background; each image draws its own phase, contrast, brightness and
 * pixel noise. Image `i` is generated from `(seed, i)` when it is read, so a
 * dataset costs no memory and the same seed always gives the same bytes.
 *
 * The classes are easy to tell apart on purpose: a pipeline that cannot
 * cluster them has a bug.
 *
 * @module
 */
import type {
  Dataset,
  DatasetLoader,
  LoadContext,
} from "../core/interfaces.ts";
import type { PluginDef } from "../core/registry.ts";
import { Rng } from "../core/random.ts";
import { checkIndex } from "./in_memory.ts";

const schema = {
  size: {
    type: "number",
    default: 200,
    min: 1,
    max: 1_000_000,
    integer: true,
    doc: "number of images",
  },
  classes: {
    type: "number",
    default: 4,
    min: 2,
    max: 100,
    integer: true,
    doc: "number of classes (balanced, in a seeded random order)",
  },
  side: {
    type: "number",
    default: 32,
    min: 4,
    max: 512,
    integer: true,
    doc: "images are side x side",
  },
  channels: {
    type: "number",
    default: 3,
    oneOf: [1, 3],
    doc: "1 = grey, 3 = colour",
  },
  noise: {
    type: "number",
    default: 0.05,
    min: 0,
    max: 1,
    doc: "standard deviation of the pixel noise, in [0, 1] units",
  },
  seed: {
    type: "number",
    default: 0,
    min: 0,
    integer: true,
    doc: "the same seed gives the same images",
  },
} as const;

/** What a synthetic dataset is made of. */
export interface SyntheticSpec {
  size: number;
  classes: number;
  side: number;
  channels: number;
  noise: number;
  seed: number;
}

/** RGB of a fully saturated hue in [0, 1). */
function hueRgb(h: number): [number, number, number] {
  const k = (n: number) => (n + h * 6) % 6;
  const f = (n: number) => 1 - Math.max(0, Math.min(k(n), 4 - k(n), 1));
  return [f(5), f(3), f(1)];
}

/** Writes image `index` of class `label` into `out` at `offset`, `[side, side, channels]`. */
function drawImage(
  spec: SyntheticSpec,
  index: number,
  label: number,
  out: Uint8Array,
  offset: number,
): void {
  const rng = new Rng((Math.imul(spec.seed + 1, 0x9e3779b1) ^ index) >>> 0);
  const angle = (Math.PI * label) / spec.classes;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const cycles = 3;
  const phase = rng.uniform(0, 2 * Math.PI);
  const contrast = rng.uniform(0.6, 1);
  const background = rng.uniform(0.05, 0.25);
  const colour = hueRgb(label / spec.classes);
  const { side, channels } = spec;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const t = (x * cos + y * sin) / side;
      const wave = 0.5 + 0.5 * contrast *
          Math.sin(2 * Math.PI * cycles * t + phase);
      const p = offset + (y * side + x) * channels;
      for (let c = 0; c < channels; c++) {
        const tint = channels === 1 ? 1 : colour[c];
        const v = background + (1 - background) * wave * tint +
          spec.noise * rng.normal();
        out[p + c] = Math.max(0, Math.min(255, Math.round(v * 255)));
      }
    }
  }
}

/**
 * A synthetic dataset; labels are balanced (`size / classes` each, the
 * first `size % classes` classes one more) in a seeded random order.
 *
 * @example
 * ```ts
 * const ds = syntheticDataset({
 *   size: 8, classes: 2, side: 4, channels: 1, noise: 0, seed: 1,
 * });
 * ds.read([0, 1]).length; // 2 * 4 * 4
 * ```
 */
export function syntheticDataset(spec: SyntheticSpec): Dataset {
  const order = new Rng(spec.seed).permutation(spec.size);
  const labels = Int32Array.from(order, (p) => p % spec.classes);
  const stride = spec.side * spec.side * spec.channels;
  const digits = String(spec.size - 1).length;
  return {
    id: "synthetic",
    size: spec.size,
    shape: [spec.side, spec.side, spec.channels],
    labels,
    numClasses: spec.classes,
    classNames: Array.from({ length: spec.classes }, (_, c) => `class-${c}`),
    itemNames: Array.from(
      { length: spec.size },
      (_, i) => `synthetic/${String(i).padStart(digits, "0")}`,
    ),
    read(indices: ArrayLike<number>): Uint8Array {
      const out = new Uint8Array(indices.length * stride);
      for (let i = 0; i < indices.length; i++) {
        checkIndex(indices[i], spec.size);
        drawImage(spec, indices[i], labels[indices[i]], out, i * stride);
      }
      return out;
    },
  };
}

/** Generated gratings with known classes (no files, no network). */
export const synthetic: PluginDef<DatasetLoader, typeof schema> = {
  name: "synthetic",
  description:
    "generated gratings with known classes, for tests and smoke runs (seeded, no files)",
  options: schema,
  create(opts) {
    return {
      name: "synthetic",
      load(_ctx: LoadContext): Promise<Dataset> {
        return Promise.resolve(syntheticDataset(opts));
      },
    };
  },
};
