import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { Buffer } from "node:buffer";
import { PNG } from "pngjs";
import jpeg from "jpeg-js";
import { EventBus, type Stamped } from "../core/events.ts";
import { DataError } from "../core/errors.ts";
import { Registry } from "../core/registry.ts";
import type { DatasetLoader } from "../core/interfaces.ts";
import { imageFolder } from "../datasets/image_folder.ts";
import { Rng } from "../core/random.ts";

const registry = new Registry<DatasetLoader>("dataset");
registry.register(imageFolder);

/** `[h, w, 3]` RGB bytes as a PNG file (alpha 255). */
function pngBytes(rgb: Uint8Array, w: number, h: number): Uint8Array {
  const png = new PNG({ width: w, height: h });
  for (let p = 0; p < w * h; p++) {
    png.data[4 * p] = rgb[3 * p];
    png.data[4 * p + 1] = rgb[3 * p + 1];
    png.data[4 * p + 2] = rgb[3 * p + 2];
    png.data[4 * p + 3] = 255;
  }
  return new Uint8Array(PNG.sync.write(png));
}

function jpegBytes(rgb: Uint8Array, w: number, h: number): Uint8Array {
  const data = Buffer.alloc(w * h * 4);
  for (let p = 0; p < w * h; p++) {
    data[4 * p] = rgb[3 * p];
    data[4 * p + 1] = rgb[3 * p + 1];
    data[4 * p + 2] = rgb[3 * p + 2];
    data[4 * p + 3] = 255;
  }
  return new Uint8Array(jpeg.encode({ data, width: w, height: h }, 95).data);
}

function randomRgb(w: number, h: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: w * h * 3 }, () => rng.int(256));
}

function flatRgb(w: number, h: number, rgb: [number, number, number]) {
  return Uint8Array.from({ length: w * h * 3 }, (_, i) => rgb[i % 3]);
}

async function writeAll(dir: string, files: Record<string, Uint8Array>) {
  for (const [name, bytes] of Object.entries(files)) {
    await Deno.mkdir(dirname(join(dir, name)), { recursive: true });
    await Deno.writeFile(join(dir, name), bytes);
  }
}

async function withFolder(
  files: Record<string, Uint8Array>,
  fn: (dir: string) => Promise<void>,
) {
  const dir = await Deno.makeTempDir();
  try {
    await writeAll(dir, files);
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function load(options: Record<string, unknown>, events = new EventBus()) {
  return registry.build("image-folder", options).load({
    events,
    cacheDir: "/nonexistent",
  });
}

// Naive references: area resizing as a box average over a 2x-replicated
// grid (exact when the scale is a multiple of 1/2), and bilinear sampling
// one output pixel at a time.
function areaReference(
  rgb: Uint8Array,
  w: number,
  h: number,
  size: number,
): number[] {
  const out: number[] = [];
  const fx = (2 * w) / size, fy = (2 * h) / size;
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) {
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let v = i * fy; v < (i + 1) * fy; v++) {
          for (let u = j * fx; u < (j + 1) * fx; u++) {
            sum += rgb[(Math.floor(v / 2) * w + Math.floor(u / 2)) * 3 + c];
          }
        }
        out.push(Math.round(sum / (fx * fy)));
      }
    }
  }
  return out;
}

function bilinearReference(
  rgb: Uint8Array,
  w: number,
  h: number,
  size: number,
): number[] {
  const at = (y: number, x: number, c: number) =>
    rgb[
      (Math.min(h - 1, Math.max(0, y)) * w + Math.min(w - 1, Math.max(0, x))) *
        3 + c
    ];
  const out: number[] = [];
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) {
      const sy = (i + 0.5) * (h / size) - 0.5;
      const sx = (j + 0.5) * (w / size) - 0.5;
      const y0 = Math.floor(sy), x0 = Math.floor(sx);
      const dy = sy - y0, dx = sx - x0;
      for (let c = 0; c < 3; c++) {
        const top = at(y0, x0, c) * (1 - dx) + at(y0, x0 + 1, c) * dx;
        const bottom = at(y0 + 1, x0, c) * (1 - dx) +
          at(y0 + 1, x0 + 1, c) * dx;
        out.push(Math.round(top * (1 - dy) + bottom * dy));
      }
    }
  }
  return out;
}

Deno.test("image-folder reads PNG and JPEG files, takes sub-folders as classes and relative paths as item names, and skips other files with one warning", async () => {
  const a = randomRgb(4, 4, 1);
  const c = randomRgb(4, 4, 2);
  const d = randomRgb(4, 4, 3);
  await withFolder({
    "cat/a.png": pngBytes(a, 4, 4),
    "cat/b.JPG": jpegBytes(flatRgb(8, 8, [200, 100, 50]), 8, 8),
    "dog/c.png": pngBytes(c, 4, 4),
    "dog/deep/d.jpeg": pngBytes(d, 4, 4), // a PNG whatever its name says
    "notes.txt": new TextEncoder().encode("not an image"),
    "dog/labels.csv": new TextEncoder().encode("a,b"),
    ".DS_Store": new Uint8Array([0, 1, 2]),
    "cat/._a.png": new Uint8Array([0, 5, 22, 7]),
  }, async (dir) => {
    const events = new EventBus();
    const seen: Stamped[] = [];
    events.on((e) => seen.push(e));
    const ds = await load({ dir, size: 4 }, events);
    assert.equal(ds.id, "image-folder");
    assert.deepEqual(ds.shape, [4, 4, 3]);
    assert.deepEqual(ds.itemNames, [
      "cat/a.png",
      "cat/b.JPG",
      "dog/c.png",
      "dog/deep/d.jpeg",
    ]);
    assert.deepEqual(ds.classNames, ["cat", "dog"]);
    assert.deepEqual([...ds.labels!], [0, 0, 1, 1]);
    // Same-size PNGs come back exactly.
    assert.deepEqual(ds.read([0]), a);
    assert.deepEqual(ds.read([3, 2]), Uint8Array.from([...d, ...c]));
    // JPEG is lossy: a flat colour comes back within a few levels.
    const b = ds.read([1]);
    for (let p = 0; p < 16; p++) {
      assert.ok(Math.abs(b[3 * p] - 200) <= 3, `red ${b[3 * p]}`);
      assert.ok(Math.abs(b[3 * p + 1] - 100) <= 3, `green ${b[3 * p + 1]}`);
      assert.ok(Math.abs(b[3 * p + 2] - 50) <= 3, `blue ${b[3 * p + 2]}`);
    }
    const warnings = seen.filter((e) => e.type === "warning");
    assert.equal(warnings.length, 1);
    assert.ok(warnings[0].type === "warning");
    assert.match(
      warnings[0].message,
      /skipped 2 file\(s\) .* that are not \.png\/\.jpg\/\.jpeg: dog\/labels\.csv, notes\.txt$/,
    );
    assert.ok(
      seen.some((e) =>
        e.type === "progress" && e.unit === "images" && e.done === 4 &&
        e.total === 4
      ),
    );
  });
});

Deno.test("area and bilinear resizing, grey conversion, centre crop and stretch match naive references", async () => {
  const big = randomRgb(6, 6, 7);
  const wide = randomRgb(6, 4, 8);
  const wider = randomRgb(8, 4, 9);
  await withFolder({
    "big.png": pngBytes(big, 6, 6),
    "wide.png": pngBytes(wide, 6, 4),
    "wider.png": pngBytes(wider, 8, 4),
  }, async (dir) => {
    const area = await load({ dir, size: 4 });
    assert.equal(area.labels, undefined);
    assert.deepEqual([...area.read([0])], areaReference(big, 6, 6, 4));
    const bilinear = await load({ dir, size: 4, resize: "bilinear" });
    assert.deepEqual([...bilinear.read([0])], bilinearReference(big, 6, 6, 4));

    // Crop keeps the centred 4x4 of the 6x4 image: columns 1..4, unchanged.
    const cropped: number[] = [];
    for (let y = 0; y < 4; y++) {
      for (let x = 1; x < 5; x++) {
        for (let c = 0; c < 3; c++) cropped.push(wide[(y * 6 + x) * 3 + c]);
      }
    }
    assert.deepEqual([...area.read([1])], cropped);
    // Stretch squeezes 8x4 to 4x4: each output is the mean of two columns.
    const stretched = await load({ dir, size: 4, fit: "stretch" });
    assert.deepEqual([...stretched.read([2])], areaReference(wider, 8, 4, 4));

    const grey = await load({ dir, size: 4, channels: 1 });
    assert.deepEqual(grey.shape, [4, 4, 1]);
    const expected = [];
    for (let p = 0; p < 16; p++) {
      const [r, g, b] = cropped.slice(3 * p, 3 * p + 3);
      expected.push(Math.round(0.299 * r + 0.587 * g + 0.114 * b));
    }
    assert.deepEqual([...grey.read([1])], expected);
  });
});

Deno.test("image-folder refuses a file that is not an image, an empty file, a damaged image and an unsupported format, naming the file", async () => {
  const good = pngBytes(randomRgb(5, 5, 4), 5, 5);
  const cases: [string, Uint8Array, RegExp][] = [
    [
      "fake.png",
      new TextEncoder().encode("hello"),
      /fake\.png is not a PNG or JPEG image \(it starts with bytes 68 65 6c 6c\)/,
    ],
    ["empty.jpg", new Uint8Array(0), /empty\.jpg is empty \(0 bytes\)/],
    [
      "cut.png",
      good.slice(0, Math.floor(good.length / 2)),
      /cut\.png is a damaged or truncated PNG/,
    ],
    [
      "cut.jpg",
      jpegBytes(randomRgb(16, 16, 5), 16, 16).slice(0, 300),
      /cut\.jpg is a damaged or truncated JPEG/,
    ],
    ["anim.gif", new Uint8Array([71, 73, 70]), /anim\.gif is a \.gif image/],
  ];
  for (const [name, bytes, message] of cases) {
    await withFolder({ "ok.png": good, [name]: bytes }, async (dir) => {
      await assert.rejects(load({ dir }), (err: Error) => {
        assert.ok(err instanceof DataError, `${name}: ${err}`);
        assert.match(err.message, message);
        assert.ok(err.message.includes(join(dir, name)), err.message);
        assert.doesNotMatch(err.message, /\n/);
        return true;
      });
    });
  }
});

Deno.test("image-folder refuses a huge image from its header, before decoding it", async () => {
  // A PNG signature and an IHDR claiming 50000 x 40000 pixels, nothing else.
  const png = new Uint8Array(33);
  png.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
  png.set(new TextEncoder().encode("IHDR"), 12);
  new DataView(png.buffer).setUint32(16, 50000);
  new DataView(png.buffer).setUint32(20, 40000);
  // A real JPEG whose frame header is patched to 9000 x 8000.
  const jpg = jpegBytes(randomRgb(8, 8, 6), 8, 8);
  let sof = 2;
  while (!(jpg[sof] === 0xff && jpg[sof + 1] === 0xc0)) {
    sof += 2 + ((jpg[sof + 2] << 8) | jpg[sof + 3]);
  }
  new DataView(jpg.buffer).setUint16(sof + 5, 8000);
  new DataView(jpg.buffer).setUint16(sof + 7, 9000);
  await withFolder({ "huge.png": png }, async (dir) => {
    await assert.rejects(
      load({ dir }),
      /huge\.png is 50000x40000 pixels \(2000\.0 megapixels\), above the limit of 40; shrink it, or raise the "maxMegapixels" option/,
    );
  });
  await withFolder({ "huge.jpg": jpg }, async (dir) => {
    await assert.rejects(
      load({ dir, maxMegapixels: 50 }),
      /huge\.jpg is 9000x8000 pixels \(72\.0 megapixels\), above the limit of 50/,
    );
  });
});

Deno.test("image-folder refuses an empty folder, a folder of no images, a missing folder, and images beside class folders unless labels is none", async () => {
  await withFolder({}, async (dir) => {
    await assert.rejects(
      load({ dir }),
      /holds no \.png, \.jpg or \.jpeg images; point "dir" to a folder of images/,
    );
  });
  await withFolder(
    { "a.txt": new Uint8Array([1]) },
    async (dir) => {
      await assert.rejects(load({ dir }), /\(only 1 other file\(s\)\)/);
    },
  );
  await assert.rejects(
    load({ dir: "/nonexistent/clknn-images" }),
    (err: Error) =>
      err instanceof DataError &&
      err.message.includes("cannot read the folder /nonexistent/clknn-images"),
  );
  const img = pngBytes(randomRgb(4, 4, 1), 4, 4);
  await withFolder({ "top.png": img, "cls/x.png": img }, async (dir) => {
    await assert.rejects(
      load({ dir }),
      /top\.png is not in a class sub-folder; move it into one, or set "labels" to "none"/,
    );
    const ds = await load({ dir, labels: "none", size: 4 });
    assert.equal(ds.labels, undefined);
    assert.deepEqual(ds.itemNames, ["cls/x.png", "top.png"]);
  });
  await withFolder({ "x.png": img }, async (dir) => {
    await assert.rejects(
      load({ dir, labels: "folders" }),
      /x\.png is not in a class sub-folder/,
    );
  });
});

Deno.test("image-folder limit keeps a class-stratified subset of the files", async () => {
  const files: Record<string, Uint8Array> = {};
  for (let i = 0; i < 6; i++) {
    files[`a/${i}.png`] = pngBytes(flatRgb(4, 4, [i, 0, 0]), 4, 4);
  }
  for (let i = 0; i < 3; i++) {
    files[`b/${i}.png`] = pngBytes(flatRgb(4, 4, [0, i, 0]), 4, 4);
  }
  await withFolder(files, async (dir) => {
    const ds = await load({ dir, size: 4, limit: 3 });
    assert.deepEqual([...ds.labels!], [0, 0, 1]);
    assert.deepEqual(ds.itemNames, ["a/0.png", "a/3.png", "b/0.png"]);
    assert.equal(ds.read([1])[0], 3);
  });
});
