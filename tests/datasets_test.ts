import assert from "node:assert/strict";
import { EventBus } from "../core/events.ts";
import { ConfigError } from "../core/errors.ts";
import { bundledRegistries } from "../plugins/bundled.ts";
import { syntheticDataset } from "../datasets/synthetic.ts";

Deno.test("the bundled registry holds every dataset loader", () => {
  assert.deepEqual(bundledRegistries().dataset.names(), [
    "cifar10",
    "cifar100",
    "fashion-mnist",
    "image-folder",
    "stl10",
    "synthetic",
  ]);
});

const spec = {
  size: 90,
  classes: 3,
  side: 16,
  channels: 3,
  noise: 0.05,
  seed: 4,
};

Deno.test("synthetic images are the same for the same seed, differ for another, and come in balanced classes", async () => {
  const ds = await bundledRegistries().dataset.build("synthetic", spec).load({
    events: new EventBus(),
    cacheDir: "/nonexistent",
  });
  assert.equal(ds.size, 90);
  assert.deepEqual(ds.shape, [16, 16, 3]);
  assert.equal(ds.numClasses, 3);
  assert.deepEqual(ds.classNames, ["class-0", "class-1", "class-2"]);
  assert.equal(ds.itemNames![7], "synthetic/07");
  const counts = [0, 0, 0];
  for (const l of ds.labels!) counts[l]++;
  assert.deepEqual(counts, [30, 30, 30]);
  // Not in class order: a loader that sorted by class would hide bugs.
  assert.notDeepEqual([...ds.labels!].slice(0, 30), new Array(30).fill(0));

  const again = syntheticDataset(spec);
  assert.deepEqual(again.read([5, 80, 5]), ds.read([5, 80, 5]));
  assert.deepEqual(again.read([5]), ds.read([80, 5]).subarray(768));
  const other = syntheticDataset({ ...spec, seed: 5 });
  assert.notDeepEqual(other.read([5]), ds.read([5]));
  assert.throws(() => ds.read([90]), RangeError);
});

Deno.test("synthetic colour classes are told apart by their mean colour, and grey ones by the grating's orientation", () => {
  const colour = syntheticDataset({ ...spec, size: 120, classes: 4 });
  const n = colour.size;
  const all = colour.read(Array.from({ length: n }, (_, i) => i));
  const px = 16 * 16;
  const meanRgb = (i: number) =>
    [0, 1, 2].map((c) => {
      let s = 0;
      for (let p = 0; p < px; p++) s += all[i * px * 3 + p * 3 + c];
      return s / px;
    });
  // Class centres from the first half, nearest centre for the second half.
  const centres = Array.from({ length: 4 }, () => [0, 0, 0, 0]);
  for (let i = 0; i < n / 2; i++) {
    const m = meanRgb(i);
    const c = centres[colour.labels![i]];
    for (let k = 0; k < 3; k++) c[k] += m[k];
    c[3]++;
  }
  let right = 0;
  for (let i = n / 2; i < n; i++) {
    const m = meanRgb(i);
    let best = 0, bestD = Infinity;
    for (let c = 0; c < 4; c++) {
      const d = [0, 1, 2].reduce(
        (s, k) => s + (m[k] - centres[c][k] / centres[c][3]) ** 2,
        0,
      );
      if (d < bestD) [best, bestD] = [c, d];
    }
    if (best === colour.labels![i]) right++;
  }
  assert.ok(right / (n / 2) >= 0.95, `nearest-centre accuracy ${right}`);

  // Grey: the structure tensor's angle is the grating's, 180° * c / K.
  const grey = syntheticDataset({ ...spec, channels: 1, classes: 4, side: 24 });
  const g = grey.read(Array.from({ length: grey.size }, (_, i) => i));
  let aligned = 0;
  for (let i = 0; i < grey.size; i++) {
    let jxx = 0, jyy = 0, jxy = 0;
    const at = (y: number, x: number) => g[i * 576 + y * 24 + x];
    for (let y = 1; y < 23; y++) {
      for (let x = 1; x < 23; x++) {
        const gx = at(y, x + 1) - at(y, x - 1);
        const gy = at(y + 1, x) - at(y - 1, x);
        jxx += gx * gx;
        jyy += gy * gy;
        jxy += gx * gy;
      }
    }
    const angle = 0.5 * Math.atan2(2 * jxy, jxx - jyy);
    const want = (Math.PI * grey.labels![i]) / 4;
    let diff = Math.abs(angle - want) % Math.PI;
    diff = Math.min(diff, Math.PI - diff);
    if (diff < Math.PI / 8) aligned++;
  }
  assert.ok(aligned / grey.size >= 0.95, `orientation matches ${aligned}`);
});

Deno.test("synthetic options are checked when the loader is built", () => {
  const datasets = bundledRegistries().dataset;
  assert.throws(
    () => datasets.build("synthetic", { channels: 2 }),
    (err: Error) =>
      err instanceof ConfigError &&
      err.message ===
        'dataset "synthetic": option "channels" is 2; expected one of 1, 3',
  );
  assert.throws(
    () => datasets.build("synthetic", { classes: 1 }),
    /option "classes" is 1; expected an integer >= 2 <= 100/,
  );
});
