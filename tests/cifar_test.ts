import assert from "node:assert/strict";
import { join } from "node:path";
import { EventBus, type Stamped } from "../core/events.ts";
import { ConfigError, DataError } from "../core/errors.ts";
import { Registry } from "../core/registry.ts";
import type { Dataset, DatasetLoader } from "../core/interfaces.ts";
import { cifar10, cifar100 } from "../datasets/cifar.ts";
import { md5, serveFiles, tarGz, text } from "./archive_fixtures.ts";

const registry = new Registry<DatasetLoader>("dataset");
registry.register(cifar10);
registry.register(cifar100);

const TRAIN_PER_BATCH = 3;
const TEST_RECORDS = 4;

/** The byte written for record `r`, channel `c`, row `y`, column `x`. */
function pixel(r: number, c: number, y: number, x: number): number {
  return (r * 37 + c * 101 + y * 7 + x * 3) & 255;
}

/** CIFAR records (label bytes then R, G, B planes) for records `first..first+n-1`. */
function records(
  first: number,
  n: number,
  labelsOf: (r: number) => number[],
): Uint8Array {
  const labelBytes = labelsOf(0).length;
  const size = labelBytes + 3072;
  const out = new Uint8Array(n * size);
  for (let k = 0; k < n; k++) {
    const r = first + k;
    out.set(labelsOf(r), k * size);
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          out[k * size + labelBytes + c * 1024 + y * 32 + x] = pixel(
            r,
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

const CIFAR10_NAMES = [
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
];
const label10 = (r: number) => [r % 10];

function cifar10Archive(
  override: Partial<Record<string, Uint8Array>> = {},
): Uint8Array {
  const files = [];
  for (let b = 1; b <= 5; b++) {
    const name = `data_batch_${b}.bin`;
    files.push({
      name: `cifar-10-batches-bin/${name}`,
      bytes: override[name] ??
        records((b - 1) * TRAIN_PER_BATCH, TRAIN_PER_BATCH, label10),
    });
  }
  files.push({
    name: "cifar-10-batches-bin/test_batch.bin",
    bytes: records(5 * TRAIN_PER_BATCH, TEST_RECORDS, label10),
  });
  files.push({
    name: "cifar-10-batches-bin/batches.meta.txt",
    bytes: text(CIFAR10_NAMES.join("\n") + "\n\n"),
  });
  files.push({
    name: "cifar-10-batches-bin/readme.html",
    bytes: text("<p>not kept</p>"),
  });
  return tarGz(files);
}

// CIFAR-100: fine label r % 100, coarse label (r * 3) % 20.
const label100 = (r: number) => [(r * 3) % 20, r % 100];

function cifar100Archive(): Uint8Array {
  const coarse = Array.from({ length: 20 }, (_, i) => `super_${i}`);
  const fine = Array.from({ length: 100 }, (_, i) => `fine_${i}`);
  return tarGz([
    { name: "cifar-100-binary/train.bin", bytes: records(0, 25, label100) },
    { name: "cifar-100-binary/test.bin", bytes: records(25, 5, label100) },
    {
      name: "cifar-100-binary/coarse_label_names.txt",
      bytes: text(coarse.join("\n") + "\n"),
    },
    {
      name: "cifar-100-binary/fine_label_names.txt",
      bytes: text(fine.join("\n") + "\n"),
    },
  ]);
}

/** Checks every pixel of every image of `ds` against what was written for records `recordOf(i)`. */
function assertPixels(ds: Dataset, recordOf: (i: number) => number) {
  const all = ds.read(Array.from({ length: ds.size }, (_, i) => i));
  for (let i = 0; i < ds.size; i++) {
    const r = recordOf(i);
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        for (let c = 0; c < 3; c++) {
          const got = all[i * 3072 + (y * 32 + x) * 3 + c];
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

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) {
        for (const f of await listTree(join(dir, e.name))) {
          out.push(`${e.name}/${f}`);
        }
      } else out.push(e.name);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return out.sort();
}

function collect(events: EventBus): Stamped[] {
  const seen: Stamped[] = [];
  events.on((e) => seen.push(e));
  return seen;
}

Deno.test("cifar10 downloads with progress, checks the MD5, extracts, decodes every pixel and label, and loads again from the cache without the server", async () => {
  const archive = cifar10Archive();
  const server = serveFiles({ "cifar-10-binary.tar.gz": archive });
  const cacheDir = await Deno.makeTempDir();
  try {
    const options = {
      url: `${server.url}cifar-10-binary.tar.gz`,
      md5: md5(archive),
      cacheDir,
    };
    const events = new EventBus();
    const seen = collect(events);
    const ds = await registry.build("cifar10", options).load({
      events,
      cacheDir: "/nonexistent-run-cache",
    });
    assert.deepEqual(server.requests, ["cifar-10-binary.tar.gz"]);

    const downloads = seen.filter((e) =>
      e.type === "progress" && e.label === "cifar-10-binary.tar.gz"
    );
    assert.ok(downloads.length >= 2);
    const last = downloads.at(-1)!;
    assert.ok(last.type === "progress");
    assert.equal(last.done, archive.length);
    assert.equal(last.total, archive.length);
    assert.ok(
      seen.some((e) =>
        e.type === "progress" && e.label === "extract cifar-10-binary.tar.gz"
      ),
    );

    const n = 5 * TRAIN_PER_BATCH + TEST_RECORDS;
    assert.equal(ds.id, "cifar10");
    assert.equal(ds.size, n);
    assert.deepEqual(ds.shape, [32, 32, 3]);
    assert.deepEqual(ds.classNames, CIFAR10_NAMES);
    assert.equal(ds.numClasses, 10);
    assert.deepEqual(
      [...ds.labels!],
      Array.from({ length: n }, (_, r) => r % 10),
    );
    assert.equal(ds.itemNames![0], "train/00000");
    assert.equal(ds.itemNames![5 * TRAIN_PER_BATCH], "test/00000");
    assertPixels(ds, (i) => i);
    // Batches read in any order return the right images.
    const pair = ds.read([n - 1, 2]);
    assert.equal(pair[0], pixel(n - 1, 0, 0, 0));
    assert.equal(pair[3072 + 5], pixel(2, 2, 0, 1));

    // The archive is gone once extracted; only the kept members remain.
    assert.deepEqual(await listTree(join(cacheDir, "cifar10")), [
      "files/.complete.json",
      "files/batches.meta.txt",
      "files/data_batch_1.bin",
      "files/data_batch_2.bin",
      "files/data_batch_3.bin",
      "files/data_batch_4.bin",
      "files/data_batch_5.bin",
      "files/test_batch.bin",
    ]);

    await server.close();
    const again = await registry.build("cifar10", {
      ...options,
      split: "test",
    }).load({ events: new EventBus(), cacheDir: "/nonexistent-run-cache" });
    assert.equal(server.requests.length, 1);
    assert.equal(again.size, TEST_RECORDS);
    assert.equal(again.itemNames![0], "test/00000");
    assertPixels(again, (i) => 5 * TRAIN_PER_BATCH + i);
  } finally {
    await server.close();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("cifar100 is scored on its 20 superclasses by default and on the 100 fine classes with labels: fine", async () => {
  const archive = cifar100Archive();
  const server = serveFiles({ "c100.tgz": archive });
  const cacheDir = await Deno.makeTempDir();
  try {
    const options = { url: `${server.url}c100.tgz`, md5: md5(archive) };
    const ctx = { events: new EventBus(), cacheDir };
    const coarse = await registry.build("cifar100", options).load(ctx);
    assert.equal(coarse.id, "cifar100-20");
    assert.equal(coarse.size, 30);
    assert.equal(coarse.numClasses, 20);
    assert.equal(coarse.classNames![19], "super_19");
    assert.deepEqual(
      [...coarse.labels!],
      Array.from({ length: 30 }, (_, r) => (r * 3) % 20),
    );
    assertPixels(coarse, (i) => i);

    const fine = await registry.build("cifar100", {
      ...options,
      labels: "fine",
      split: "train",
    }).load(ctx);
    assert.equal(fine.id, "cifar100");
    assert.equal(fine.size, 25);
    assert.equal(fine.numClasses, 100);
    assert.deepEqual(
      [...fine.labels!],
      Array.from({ length: 25 }, (_, r) => r % 100),
    );
    assert.equal(server.requests.length, 1);
  } finally {
    await server.close();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("a download with the wrong MD5 is a DataError naming the file and both checksums, and nothing is cached", async () => {
  const archive = cifar10Archive();
  const server = serveFiles({ "cifar-10-binary.tar.gz": archive });
  const cacheDir = await Deno.makeTempDir();
  try {
    // No md5 option: the official checksum is expected.
    const loader = registry.build("cifar10", {
      url: `${server.url}cifar-10-binary.tar.gz`,
    });
    await assert.rejects(
      loader.load({ events: new EventBus(), cacheDir }),
      (err: Error) => {
        assert.ok(err instanceof DataError);
        assert.match(err.message, /cifar-10-binary\.tar\.gz/);
        assert.ok(err.message.includes(md5(archive)), err.message);
        assert.ok(
          err.message.includes("c32a1d4ab5d03f1284b67883e8d87530"),
          err.message,
        );
        assert.doesNotMatch(err.message, /\n/);
        return true;
      },
    );
    assert.deepEqual(await listTree(cacheDir), []);
  } finally {
    await server.close();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("a truncated archive is a DataError, and neither the archive nor a partial extraction is cached", async () => {
  const whole = cifar10Archive();
  const cut = whole.slice(0, Math.floor(whole.length / 2));
  const server = serveFiles({ "cut.tgz": cut });
  const cacheDir = await Deno.makeTempDir();
  try {
    const loader = registry.build("cifar10", {
      url: `${server.url}cut.tgz`,
      md5: md5(cut), // the checksum matches: only extraction can tell
    });
    await assert.rejects(
      loader.load({ events: new EventBus(), cacheDir }),
      (err: Error) => {
        assert.ok(err instanceof DataError);
        assert.match(err.message, /cifar-10-binary\.tar\.gz/);
        assert.match(err.message, /truncated/);
        return true;
      },
    );
    assert.deepEqual(await listTree(cacheDir), []);
  } finally {
    await server.close();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("a truncated .bin file inside the archive is a DataError naming it, and nothing is cached", async () => {
  const short = records(3, TRAIN_PER_BATCH, label10).slice(0, 3073 * 2 + 100);
  const archive = cifar10Archive({ "data_batch_2.bin": short });
  const server = serveFiles({ "a.tgz": archive });
  const cacheDir = await Deno.makeTempDir();
  try {
    const loader = registry.build("cifar10", {
      url: `${server.url}a.tgz`,
      md5: md5(archive),
    });
    await assert.rejects(
      loader.load({ events: new EventBus(), cacheDir }),
      (err: Error) => {
        assert.ok(err instanceof DataError);
        assert.match(err.message, /data_batch_2\.bin has 6246 bytes/);
        assert.match(err.message, /3073-byte/);
        return true;
      },
    );
    assert.deepEqual(await listTree(cacheDir), []);
  } finally {
    await server.close();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("a damaged cached extraction is replaced by a fresh download, with a warning", async () => {
  const archive = cifar10Archive();
  const server = serveFiles({ "a.tgz": archive });
  const cacheDir = await Deno.makeTempDir();
  try {
    const options = { url: `${server.url}a.tgz`, md5: md5(archive) };
    await registry.build("cifar10", options).load({
      events: new EventBus(),
      cacheDir,
    });
    await Deno.truncate(join(cacheDir, "cifar10/files/test_batch.bin"), 3073);
    const events = new EventBus();
    const seen = collect(events);
    const ds = await registry.build("cifar10", options).load({
      events,
      cacheDir,
    });
    assert.equal(server.requests.length, 2);
    assert.ok(
      seen.some((e) =>
        e.type === "warning" && /not a complete extraction/.test(e.message)
      ),
    );
    assert.equal(ds.size, 5 * TRAIN_PER_BATCH + TEST_RECORDS);
  } finally {
    await server.close();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("with download: false and an empty cache, cifar10 says where to place the archive", async () => {
  const cacheDir = await Deno.makeTempDir();
  try {
    const loader = registry.build("cifar10", { download: false });
    await assert.rejects(
      loader.load({ events: new EventBus(), cacheDir }),
      (err: Error) => {
        assert.ok(err instanceof DataError);
        assert.ok(
          err.message.includes(
            join(cacheDir, "cifar10", "cifar-10-binary.tar.gz"),
          ),
          err.message,
        );
        assert.match(err.message, /"download" to true/);
        return true;
      },
    );
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("cifar10 reads extracted files in place from dir, and limit keeps a class-stratified subset", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // 40 train records, labels r % 10, so each class has 4.
    await Deno.writeFile(
      join(dir, "data_batch_1.bin"),
      records(0, 40, label10),
    );
    for (let b = 2; b <= 5; b++) {
      await Deno.writeFile(join(dir, `data_batch_${b}.bin`), new Uint8Array());
    }
    await Deno.writeTextFile(
      join(dir, "batches.meta.txt"),
      CIFAR10_NAMES.join("\n"),
    );
    // Empty batches are not CIFAR files: the error names the first one.
    await assert.rejects(
      registry.build("cifar10", { dir, split: "train" }).load({
        events: new EventBus(),
        cacheDir: dir,
      }),
      /data_batch_2\.bin has 0 bytes/,
    );
    for (let b = 2; b <= 5; b++) {
      await Deno.writeFile(
        join(dir, `data_batch_${b}.bin`),
        records(40 * (b - 1), 40, label10),
      );
    }
    const ds = await registry.build("cifar10", {
      dir,
      split: "train",
      limit: 20,
    }).load({ events: new EventBus(), cacheDir: dir });
    assert.equal(ds.size, 20);
    const counts = new Array(10).fill(0);
    for (const l of ds.labels!) counts[l]++;
    assert.deepEqual(counts, new Array(10).fill(2));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a malformed md5 option is a ConfigError when the loader is built", () => {
  assert.throws(
    () => registry.build("cifar100", { md5: "abc" }),
    (err: Error) =>
      err instanceof ConfigError &&
      err.message ===
        'dataset "cifar100": option "md5" is "abc"; expected 32 hex digits, or "" for the official 03b5dce01913d631647c71ecec9e9cb8',
  );
  assert.throws(
    () => registry.build("cifar100", { labels: "superclass" }),
    /option "labels" is "superclass"; expected "coarse" or "fine"/,
  );
});
