import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../core/random.ts";
import { readOptions } from "../core/options.ts";
import type { OptionSchema } from "../core/options.ts";
import type { Augmentation } from "../core/interfaces.ts";
import type { PluginDef } from "../core/registry.ts";
import {
  type CropBox,
  randomResizedCrop,
  sampleCropBox,
} from "../plugins/augmentations/random_resized_crop.ts";
import { horizontalFlip } from "../plugins/augmentations/horizontal_flip.ts";
import { randomGrayscale } from "../plugins/augmentations/random_grayscale.ts";
import {
  colorJitter,
  drawJitter,
  hueMatrix,
  type JitterFactors,
} from "../plugins/augmentations/color_jitter.ts";
import {
  autoKernelSize,
  gaussianBlur,
  gaussianKernel1d,
} from "../plugins/augmentations/gaussian_blur.ts";
import { composeAugmentations } from "../plugins/augmentations/compose.ts";

await tf.setBackend("cpu");

function make<S extends OptionSchema>(
  def: PluginDef<Augmentation, S>,
  raw?: unknown,
): Augmentation {
  return def.create(readOptions(def.name, raw, def.options));
}

/** A naive image batch: nested arrays [b][y][x][c]. */
type Pixels = number[][][][];

function batch(b: number, h: number, w: number, c: number, seed = 1) {
  return tf.randomUniform([b, h, w, c], 0, 1, "float32", seed) as tf.Tensor4D;
}

function assertClose(actual: Pixels, expected: Pixels, tol = 1e-5) {
  const a = actual.flat(3);
  const e = expected.flat(3);
  assert.equal(a.length, e.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i] - e[i]));
  }
  assert.ok(worst <= tol, `max difference ${worst} > ${tol}`);
}

const clip = (v: number) => Math.min(1, Math.max(0, v));

const ALL: [string, Augmentation, Augmentation][] = [
  ["random-resized-crop", make(randomResizedCrop), make(randomResizedCrop)],
  ["horizontal-flip", make(horizontalFlip), make(horizontalFlip, { p: 0 })],
  ["color-jitter", make(colorJitter), make(colorJitter, { p: 0 })],
  [
    "random-grayscale",
    make(randomGrayscale, { p: 0.5 }),
    make(randomGrayscale, { p: 0 }),
  ],
  ["gaussian-blur", make(gaussianBlur), make(gaussianBlur, { p: 0 })],
];

for (const [name, aug, off] of ALL) {
  Deno.test(`${name} keeps shape and [0, 1] range, repeats for the same rng state and varies otherwise`, () => {
    for (const c of [3, 1]) {
      const x = batch(8, 12, 10, c);
      const rng = new Rng(5);
      const state = rng.state();
      const y1 = aug.apply(x, rng);
      const y2 = aug.apply(x, rng);
      const y1again = aug.apply(x, Rng.fromState(state));
      assert.deepEqual(y1.shape, x.shape);
      const v = y1.dataSync();
      assert.ok(v.every((p) => p >= 0 && p <= 1), "values left [0, 1]");
      assert.deepEqual(y1again.dataSync(), v);
      if (!(name === "random-grayscale" && c === 1)) {
        assert.notDeepEqual(y2.dataSync(), v);
      }
      tf.dispose([x, y1, y2, y1again]);
    }
  });
  if (name !== "random-resized-crop") {
    Deno.test(`${name} with p = 0 returns the batch unchanged`, () => {
      const x = batch(4, 9, 9, 3);
      const y = off.apply(x, new Rng(1));
      assert.deepEqual(y.dataSync(), x.dataSync());
      tf.dispose([x, y]);
    });
  }
}

Deno.test("random-resized-crop with scale [1, 1] and ratio [1, 1] on a square image is the identity", () => {
  const x = batch(3, 8, 8, 3);
  const y = make(randomResizedCrop, { scale: [1, 1], ratio: [1, 1] }).apply(
    x,
    new Rng(2),
  );
  assertClose(y.arraySync(), x.arraySync(), 1e-5);
  tf.dispose([x, y]);
});

Deno.test("sampleCropBox keeps crops inside the image and their area share near the scale range", () => {
  const rng = new Rng(9);
  for (let i = 0; i < 500; i++) {
    const box = sampleCropBox(rng, 32, 24, [0.2, 1], [3 / 4, 4 / 3]);
    assert.ok(box.top >= 0 && box.left >= 0);
    assert.ok(box.top + box.height <= 32 && box.left + box.width <= 24);
    const share = (box.height * box.width) / (32 * 24);
    assert.ok(share > 0.15 && share <= 1, `share ${share}`);
  }
});

function naiveCropResize(img: number[][][], box: CropBox): number[][][] {
  const h = img.length;
  const w = img[0].length;
  const sample = (yy: number, xx: number, c: number) => {
    const y0 = Math.floor(yy);
    const x0 = Math.floor(xx);
    const y1 = Math.min(y0 + 1, h - 1);
    const x1 = Math.min(x0 + 1, w - 1);
    const dy = yy - y0;
    const dx = xx - x0;
    const top = img[y0][x0][c] * (1 - dx) + img[y0][x1][c] * dx;
    const bottom = img[y1][x0][c] * (1 - dx) + img[y1][x1][c] * dx;
    return top * (1 - dy) + bottom * dy;
  };
  return Array.from(
    { length: h },
    (_, y) =>
      Array.from({ length: w }, (_, x) =>
        img[0][0].map((_, c) =>
          sample(
            box.top + (y * (box.height - 1)) / (h - 1),
            box.left + (x * (box.width - 1)) / (w - 1),
            c,
          )
        )),
  );
}

Deno.test("random-resized-crop equals a naive per-image crop and bilinear resize for the drawn boxes", () => {
  const x = batch(5, 12, 10, 3, 3);
  const rng = new Rng(17);
  const replay = Rng.fromState(rng.state());
  const y = make(randomResizedCrop, { scale: [0.2, 1] }).apply(x, rng);
  const imgs = x.arraySync();
  const expected = imgs.map((img) =>
    naiveCropResize(
      img,
      sampleCropBox(replay, 12, 10, [0.2, 1], [3 / 4, 4 / 3]),
    )
  );
  assertClose(y.arraySync(), expected, 1e-5);
  tf.dispose([x, y]);
});

Deno.test("horizontal-flip with p = 1 equals the images with each row reversed", () => {
  const x = batch(3, 4, 5, 3);
  const y = make(horizontalFlip, { p: 1 }).apply(x, new Rng(0));
  const expected = x.arraySync().map((img) =>
    img.map((row) => [...row].reverse())
  );
  assert.deepEqual(y.arraySync(), expected);
  tf.dispose([x, y]);
});

Deno.test("horizontal-flip flips exactly the images whose draw is below p", () => {
  const x = batch(16, 3, 4, 1);
  const rng = new Rng(4);
  const replay = Rng.fromState(rng.state());
  const y = make(horizontalFlip).apply(x, rng);
  const expected = x.arraySync().map((img) =>
    replay.next() < 0.5 ? img.map((row) => [...row].reverse()) : img
  );
  assert.deepEqual(y.arraySync(), expected);
  tf.dispose([x, y]);
});

Deno.test("random-grayscale equals 0.299 R + 0.587 G + 0.114 B on the drawn images and is a no-op on 1 channel", () => {
  const x = batch(12, 3, 3, 3);
  const rng = new Rng(8);
  const replay = Rng.fromState(rng.state());
  const y = make(randomGrayscale, { p: 0.5 }).apply(x, rng);
  const expected = x.arraySync().map((img) => {
    const gray = replay.next() < 0.5;
    return img.map((row) =>
      row.map(([r, g, b]) => {
        const l = 0.299 * r + 0.587 * g + 0.114 * b;
        return gray ? [l, l, l] : [r, g, b];
      })
    );
  });
  assertClose(y.arraySync(), expected, 1e-6);
  const one = batch(2, 3, 3, 1);
  const same = make(randomGrayscale, { p: 1 }).apply(one, new Rng(1));
  assert.deepEqual(same.dataSync(), one.dataSync());
  tf.dispose([x, y, one, same]);
});

function naiveJitter(img: number[][][], f: JitterFactors): number[][][] {
  const c = img[0][0].length;
  const luma = (p: number[]) =>
    c === 3 ? 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2] : p[0];
  let out = img.map((row) =>
    row.map((p) => p.map((v) => clip(v * f.brightness)))
  );
  const pixels = out.flat();
  const mean = pixels.reduce((s, p) => s + luma(p), 0) / pixels.length;
  out = out.map((row) =>
    row.map((p) => p.map((v) => clip(f.contrast * v + (1 - f.contrast) * mean)))
  );
  if (c === 1) return out;
  const m = hueMatrix(f.hue);
  return out.map((row) =>
    row.map((p) => {
      const l = luma(p);
      const s = p.map((v) => clip(f.saturation * v + (1 - f.saturation) * l));
      return m.map((mr) => clip(mr[0] * s[0] + mr[1] * s[1] + mr[2] * s[2]));
    })
  );
}

Deno.test("color-jitter equals a naive per-pixel brightness, contrast, saturation and hue for the drawn factors", () => {
  for (const c of [3, 1]) {
    const x = batch(6, 5, 4, c, 11);
    const rng = new Rng(21);
    const replay = Rng.fromState(rng.state());
    const options = {
      brightness: 0.4,
      contrast: 0.4,
      saturation: 0.4,
      hue: 0.1,
      p: 0.8,
    };
    const y = make(colorJitter).apply(x, rng);
    const expected = x.arraySync().map((img) =>
      naiveJitter(img, drawJitter(replay, options))
    );
    assertClose(y.arraySync(), expected, 2e-5);
    tf.dispose([x, y]);
  }
});

Deno.test("the hue matrix keeps luminance, keeps grays gray and composes as a rotation", () => {
  const m = hueMatrix(0.13);
  const luma = [0.299, 0.587, 0.114];
  for (let j = 0; j < 3; j++) {
    const l = luma.reduce((s, w, i) => s + w * m[i][j], 0);
    assert.ok(Math.abs(l - luma[j]) < 1e-5);
  }
  for (const row of m) assert.ok(Math.abs(row[0] + row[1] + row[2] - 1) < 1e-5);
  const half = hueMatrix(0.25);
  const twice = half.map((r) =>
    [0, 1, 2].map((j) => r.reduce((s, v, k) => s + v * half[k][j], 0))
  );
  const full = hueMatrix(0.5);
  twice.flat().forEach((v, i) =>
    assert.ok(Math.abs(v - full.flat()[i]) < 1e-9)
  );
});

function naiveBlur(
  img: number[][][],
  sigma: number,
  size: number,
): number[][][] {
  const h = img.length;
  const w = img[0].length;
  const r = (size - 1) / 2;
  const k = gaussianKernel1d(size, sigma);
  const reflect = (
    i: number,
    n: number,
  ) => (i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i);
  return Array.from(
    { length: h },
    (_, y) =>
      Array.from({ length: w }, (_, x) =>
        img[0][0].map((_, c) => {
          let s = 0;
          for (let dy = -r; dy <= r; dy++) {
            for (let dx = -r; dx <= r; dx++) {
              s += k[dy + r] * k[dx + r] *
                img[reflect(y + dy, h)][reflect(x + dx, w)][c];
            }
          }
          return s;
        })),
  );
}

Deno.test("gaussian-blur equals a naive 2-D Gaussian with reflected borders and each image's own sigma", () => {
  const x = batch(6, 9, 8, 3, 13);
  const rng = new Rng(31);
  const replay = Rng.fromState(rng.state());
  const y = make(gaussianBlur, { kernel_size: 5 }).apply(x, rng);
  const expected = x.arraySync().map((img) => {
    const applied = replay.next() < 0.5;
    const sigma = replay.uniform(0.1, 2.0);
    return applied ? naiveBlur(img, sigma, 5) : img;
  });
  assertClose(y.arraySync(), expected, 1e-5);
  tf.dispose([x, y]);
});

Deno.test("gaussian-blur picks an odd kernel of 10% of the side and rejects an even kernel_size", () => {
  assert.equal(autoKernelSize(32, 32), 3);
  assert.equal(autoKernelSize(96, 96), 9);
  assert.equal(autoKernelSize(224, 224), 23);
  assert.throws(
    () => make(gaussianBlur, { kernel_size: 4 }),
    /"kernel_size" is 4; expected an odd/,
  );
});

Deno.test("composeAugmentations applies in order on one rng stream and leaks no tensors", () => {
  const augs = [make(horizontalFlip), make(colorJitter), make(gaussianBlur)];
  const x = batch(4, 8, 8, 3);
  const stepwise = (() => {
    const rng = new Rng(3);
    let t = x;
    for (const a of augs) {
      const next = a.apply(t, rng);
      if (t !== x) t.dispose();
      t = next;
    }
    return t;
  })();
  const before = tf.memory().numTensors;
  const y = composeAugmentations(augs).apply(x, new Rng(3));
  assert.equal(tf.memory().numTensors, before + 1);
  assert.deepEqual(y.dataSync(), stepwise.dataSync());
  assert.equal(
    composeAugmentations(augs).name,
    "horizontal-flip+color-jitter+gaussian-blur",
  );
  tf.dispose([x, y, stepwise]);
});

Deno.test("every augmentation gives the same batch on the wasm backend as on cpu", async () => {
  await import("@tensorflow/tfjs-backend-wasm");
  const shape: [number, number, number, number] = [6, 16, 12, 3];
  const values = new Float32Array(6 * 16 * 12 * 3).map((_, i) =>
    ((i * 7919) % 1000) / 1000
  );
  const run = (): Float32Array[] =>
    ALL.map(([, aug]) => {
      const x = tf.tensor(values, shape) as tf.Tensor4D;
      const y = aug.apply(x, new Rng(99));
      const out = Float32Array.from(y.dataSync());
      tf.dispose([x, y]);
      return out;
    });
  const onCpu = run();
  await tf.setBackend("wasm");
  try {
    const onWasm = run();
    onCpu.forEach((expected, i) => {
      let worst = 0;
      expected.forEach((v, j) => {
        worst = Math.max(worst, Math.abs(v - onWasm[i][j]));
      });
      assert.ok(worst < 1e-4, `${ALL[i][0]} differs by ${worst}`);
    });
  } finally {
    await tf.setBackend("cpu");
  }
});
