import assert from "node:assert/strict";
import { join } from "node:path";
import { EventBus, type Stamped } from "../core/events.ts";
import { DataError } from "../core/errors.ts";
import { Registry } from "../core/registry.ts";
import type { Dataset, DatasetLoader } from "../core/interfaces.ts";
import { stl10 } from "../datasets/stl10.ts";
import { md5, serveFiles, tarGz, text } from "./archive_fixtures.ts";

const registry = new Registry<DatasetLoader>("dataset");
registry.register(stl10);

const S = 96;
const COUNTS = { train: 6, test: 4, unlabeled: 3 };

/** The byte written for image `r` of a part, channel `c`, row `y`, column `x` (not symmetric in x and y). */
function pixel(r: number, c: number, y: number, x: number): number {
  return (r * 11 + c * 67 + y * 5 + x * 13) & 255;
}

/** `n` STL records from image `first`: each channel plane column-major. */
function images(first: number, n: number): Uint8Array {
  const out = new Uint8Array(n * 3 * S * S);
  for (let k = 0; k < n; k++) {
    for (let c = 0; c < 3; c++) {
      for (let x = 0; x < S; x++) {
        for (let y = 0; y < S; y++) {
          out[k * 3 * S * S + c * S * S + x * S + y] = pixel(
            first + k,
            c,
            y,
            x,
          );
        }
      }
    }
  }
  return out;
}

// Labels on disk are 1..10: image r of a part has label (r * 3) % 10 + 1.
const labelsOnDisk = (first: number, n: number) =>
  Uint8Array.from({ length: n }, (_, k) => ((first + k) * 3) % 10 + 1);

const NAMES = [
  "airplane",
  "bird",
  "car",
  "cat",
  "deer",
  "dog",
  "horse",
  "monkey",
  "ship",
  "truck",
];

// Train images are 0..5, test images 6..9, unlabelled 10..12 (in the formula).
function stlArchive(
  override: Partial<Record<string, Uint8Array>> = {},
): Uint8Array {
  const files: Record<string, Uint8Array> = {
    "train_X.bin": images(0, COUNTS.train),
    "train_y.bin": labelsOnDisk(0, COUNTS.train),
    "test_X.bin": images(6, COUNTS.test),
    "test_y.bin": labelsOnDisk(6, COUNTS.test),
    "unlabeled_X.bin": images(10, COUNTS.unlabeled),
    "class_names.txt": text(NAMES.join("\n") + "\n"),
    "fold_indices.txt": text("0 1 2\n"),
    ...override,
  };
  return tarGz(
    Object.entries(files).map(([name, bytes]) => ({
      name: `stl10_binary/${name}`,
      bytes: bytes!,
    })),
  );
}

function assertPixels(ds: Dataset, imageOf: (i: number) => number) {
  const all = ds.read(Array.from({ length: ds.size }, (_, i) => i));
  for (let i = 0; i < ds.size; i++) {
    const r = imageOf(i);
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        for (let c = 0; c < 3; c++) {
          const got = all[i * 3 * S * S + (y * S + x) * 3 + c];
          if (got !== pixel(r, c, y, x)) {
            assert.fail(
              `image ${i} pixel (${y}, ${x}, ${c}) is ${got}, expected ${
                pixel(r, c, y, x)
              }`,
            );
          }
        }
      }
    }
  }
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) out.push(e.name);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return out.sort();
}

Deno.test("stl10 downloads to disk, extracts, and turns the column-major records into row-major images with labels 0..9", async () => {
  const archive = stlArchive();
  const server = serveFiles({ "stl10_binary.tar.gz": archive });
  const cacheDir = await Deno.makeTempDir();
  try {
    const events = new EventBus();
    const seen: Stamped[] = [];
    events.on((e) => seen.push(e));
    const options = {
      url: `${server.url}stl10_binary.tar.gz`,
      md5: md5(archive),
    };
    const ds = await registry.build("stl10", options).load({
      events,
      cacheDir,
    });
    const last = seen.filter((e) =>
      e.type === "progress" && e.label === "stl10_binary.tar.gz"
    ).at(-1);
    assert.ok(last?.type === "progress" && last.done === archive.length);

    // Default split: the 13,000 labelled images (here 6 + 4).
    assert.equal(ds.size, 10);
    assert.deepEqual(ds.shape, [96, 96, 3]);
    assert.deepEqual(ds.classNames, NAMES);
    assert.equal(ds.numClasses, 10);
    assert.deepEqual(
      [...ds.labels!],
      Array.from({ length: 10 }, (_, r) => (r * 3) % 10),
    );
    assert.equal(ds.itemNames![6], "test/000000");
    assertPixels(ds, (i) => i);
    const one = ds.read([7]);
    assert.equal(one[(2 * S + 1) * 3], pixel(7, 0, 2, 1));
    assert.notEqual(pixel(7, 0, 2, 1), pixel(7, 0, 1, 2));

    assert.deepEqual(await names(join(cacheDir, "stl10")), ["files"]);
    await server.close();

    const ctx = { events: new EventBus(), cacheDir };
    const unlabeled = await registry.build("stl10", {
      ...options,
      split: "unlabeled",
    }).load(ctx);
    assert.equal(unlabeled.size, 3);
    assert.equal(unlabeled.labels, undefined);
    assert.equal(unlabeled.numClasses, undefined);
    assertPixels(unlabeled, (i) => 10 + i);

    const all = await registry.build("stl10", { ...options, split: "all" })
      .load(ctx);
    assert.equal(all.size, 13);
    assert.equal(all.labels, undefined);
    assert.equal(all.itemNames![12], "unlabeled/000002");
    assertPixels(all, (i) => i);

    const test = await registry.build("stl10", { ...options, split: "test" })
      .load(ctx);
    assert.deepEqual([...test.labels!], [8, 1, 4, 7]);
    assertPixels(test, (i) => 6 + i);
    const labelled = await registry.build("stl10", {
      ...options,
      split: "labelled",
      limit: 5,
    }).load(ctx);
    assert.equal(labelled.size, 5);
    assert.equal(server.requests.length, 1);
  } finally {
    await server.close();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("a truncated STL-10 image file is a DataError naming it, and nothing is cached", async () => {
  const short = images(10, COUNTS.unlabeled).slice(0, 3 * S * S * 2 + 7);
  const archive = stlArchive({ "unlabeled_X.bin": short });
  const server = serveFiles({ "a.tgz": archive });
  const cacheDir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      registry.build("stl10", { url: `${server.url}a.tgz`, md5: md5(archive) })
        .load({ events: new EventBus(), cacheDir }),
      (err: Error) => {
        assert.ok(err instanceof DataError);
        assert.match(
          err.message,
          /unlabeled_X\.bin has 55303 bytes, not a whole number of 27648-byte/,
        );
        return true;
      },
    );
    assert.deepEqual(await names(join(cacheDir, "stl10")), []);
  } finally {
    await server.close();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("stl10 refuses a labels file that does not match its images, or holds a label outside 1..10", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(join(dir, "train_X.bin"), images(0, 2));
    await Deno.writeFile(join(dir, "train_y.bin"), new Uint8Array([1, 2, 3]));
    await Deno.writeTextFile(join(dir, "class_names.txt"), NAMES.join("\n"));
    const loader = registry.build("stl10", { dir, split: "train" });
    const ctx = { events: new EventBus(), cacheDir: dir };
    await assert.rejects(
      loader.load(ctx),
      /train_y\.bin holds 3 labels for the 2 images of .*train_X\.bin/,
    );
    await Deno.writeFile(join(dir, "train_y.bin"), new Uint8Array([10, 0]));
    await assert.rejects(
      loader.load(ctx),
      /train_y\.bin: label 0 at position 1 is not a class 1\.\.10/,
    );
    await Deno.writeFile(join(dir, "train_y.bin"), new Uint8Array([10, 1]));
    const ds = await loader.load(ctx);
    assert.deepEqual([...ds.labels!], [9, 0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
