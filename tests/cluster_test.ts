import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { PNG } from "pngjs";
import jpeg from "jpeg-js";
import {
  assignClusters,
  bundledRegistries,
  type Dataset,
  EventBus,
  loadRun,
  resolveConfig,
  train,
} from "../mod.ts";
import { runTask, type TaskResult, TEST_BACKEND, TINY } from "./tiny.ts";

const N = 40;

/** Runs `deno task cluster` as a child process. */
const cluster = (...args: string[]) => runTask("cluster", ...args);

function assertOneLineError(result: TaskResult, message: RegExp) {
  assert.equal(result.code, 2, result.stderr);
  assert.equal(result.stdout, "");
  assert.doesNotMatch(result.stderr, / {4}at /);
  const lines = result.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0], message);
}

/** Grey `[h, w]` bytes as a PNG, each pixel repeated `scale` times each way, in colour when `rgb`. */
function png(
  grey: Uint8Array,
  h: number,
  w: number,
  scale = 1,
  rgb = false,
): Uint8Array {
  const image = new PNG({ width: w * scale, height: h * scale });
  for (let y = 0; y < h * scale; y++) {
    for (let x = 0; x < w * scale; x++) {
      const v = grey[Math.floor(y / scale) * w + Math.floor(x / scale)];
      const at = (y * w * scale + x) * 4;
      image.data[at] = v;
      image.data[at + 1] = v;
      image.data[at + 2] = v;
      image.data[at + 3] = 255;
    }
  }
  return new Uint8Array(
    PNG.sync.write(image, rgb ? {} : { colorType: 0, inputColorType: 6 }),
  );
}

function parseCsv(
  text: string,
): { file: string; cluster: number; confidence: number }[] {
  const [header, ...rows] = text.trimEnd().split("\n");
  assert.equal(header, "file,cluster,confidence");
  return rows.map((row) => {
    const [file, cluster, confidence] = row.split(",");
    return { file, cluster: Number(cluster), confidence: Number(confidence) };
  });
}

// one tiny run shared by the tests below: N Fashion-MNIST images, 1 epoch each stage
const root = await Deno.makeTempDir({ prefix: "clknn-cluster-" });
const runDir = join(root, "run");
const images = join(root, "images");
let dataset: Dataset | undefined;
let assignments: { name: string; cluster: number; confidence: number }[] = [];
globalThis.addEventListener("unload", () => {
  Deno.removeSync(root, { recursive: true });
});

async function tinyRun() {
  if (dataset) return;
  const config = resolveConfig({
    sets: [
      ...TINY,
      `dataset.options.limit=${N}`,
      "representation.batch_size=20",
      "clustering.batch_size=20",
      "representation.epochs=1",
      "clustering.epochs=1",
      "baseline.kmeans=false",
    ],
  });
  await train({ config, runDir });
  dataset = await bundledRegistries().dataset.build("fashion-mnist", {
    limit: N,
  }).load({ events: new EventBus(), cacheDir: root });
  assignments = Deno.readTextFileSync(join(runDir, "assignments.csv"))
    .trimEnd().split("\n").slice(1).map((line) => {
      const [, name, cluster, confidence] = line.split(",");
      return { name, cluster: Number(cluster), confidence: Number(confidence) };
    });
  // the images as files, named so that sorted order is the run's order
  await Deno.mkdir(join(images, "sub"), { recursive: true });
  for (let i = 0; i < N; i++) {
    const bytes = dataset.read([i]);
    const name = `img-${String(i).padStart(3, "0")}.png`;
    // a few in a sub-folder: sub-folders are read too
    const path = i % 10 === 9 ? join(images, "sub", name) : join(images, name);
    await Deno.writeFile(path, png(bytes, 28, 28));
  }
  await Deno.writeTextFile(join(images, "notes.txt"), "not an image");
}

Deno.test("a folder of the run's own images gets the run's own clusters, one CSV row per image", async () => {
  await tinyRun();
  const out = join(root, "clusters.csv");
  const result = await cluster(
    "--run",
    runDir,
    "--images",
    images,
    "--out",
    out,
  );
  assert.equal(result.code, 0, result.stderr);
  const rows = parseCsv(Deno.readTextFileSync(out));
  assert.equal(rows.length, N);
  const byIndex = new Map(
    rows.map((r) => [Number(r.file.match(/img-(\d+)/)![1]), r]),
  );
  for (let i = 0; i < N; i++) {
    const row = byIndex.get(i)!;
    assert.equal(
      row.file,
      `${i % 10 === 9 ? "sub/" : ""}img-${String(i).padStart(3, "0")}.png`,
    );
    // same model, same pixels: same cluster, same confidence
    assert.equal(row.cluster, assignments[i].cluster, `image ${i}`);
    assert.ok(
      Math.abs(row.confidence - assignments[i].confidence) <= 1e-4,
      `image ${i}`,
    );
  }
  // the summary: the skipped file named, a header line and one line per
  // cluster whose sizes add up to N
  const [warning, ...lines] = result.stderr.trimEnd().split("\n");
  assert.match(warning, /^warning: .*skipped 1 file\(s\) .*: notes\.txt$/);
  assert.match(
    lines[0],
    new RegExp(
      `^${N} images of .* -> 10 clusters of .*\\(clustering head, ${TEST_BACKEND}\\); CSV in `,
    ),
  );
  const sizes = lines.slice(1).map((l) =>
    Number(l.match(/^cluster +(\d+) +(\d+) images?/)![2])
  );
  assert.equal(sizes.length, 10);
  assert.equal(sizes.reduce((a, b) => a + b, 0), N);
  for (let k = 0; k < 10; k++) {
    assert.equal(sizes[k], assignments.filter((a) => a.cluster === k).length);
  }
});

Deno.test("without --out the CSV goes to standard output", async () => {
  await tinyRun();
  const result = await cluster("-r", runDir, "-i", join(images, "sub"));
  assert.equal(result.code, 0, result.stderr);
  const rows = parseCsv(result.stdout);
  assert.deepEqual(rows.map((r) => r.file), [
    "img-009.png",
    "img-019.png",
    "img-029.png",
    "img-039.png",
  ]);
  assert.deepEqual(
    rows.map((r) => r.cluster),
    [9, 19, 29, 39].map((i) => assignments[i].cluster),
  );
});

Deno.test("larger, colour and non-square copies and JPEGs are brought to the run's grey 28x28 input", async () => {
  await tinyRun();
  const grey = dataset!.read([3]);
  const big = PNG.sync.read(Buffer.from(png(grey, 28, 28, 2, true)));
  // the same 2x copy with 14 white rows above and below: centre-cropped back
  const tall = new PNG({ width: 56, height: 84 });
  tall.data.fill(255);
  tall.data.set(big.data, 14 * 56 * 4);
  const dir = join(root, "mixed");
  await Deno.mkdir(dir, { recursive: true });
  // a 2x colour copy, area-averaged back, is the original pixel for pixel
  await Deno.writeFile(join(dir, "a.png"), png(grey, 28, 28, 2, true));
  await Deno.writeFile(
    join(dir, "c-tall.png"),
    new Uint8Array(PNG.sync.write(tall)),
  );
  const jpg = jpeg.encode({ data: big.data, width: 56, height: 56 }, 95);
  await Deno.writeFile(join(dir, "b.JPG"), new Uint8Array(jpg.data));
  const result = await cluster("--run", runDir, "--images", dir);
  assert.equal(result.code, 0, result.stderr);
  const rows = parseCsv(result.stdout);
  assert.deepEqual(rows.map((r) => r.file), ["a.png", "b.JPG", "c-tall.png"]);
  assert.equal(rows[0].cluster, assignments[3].cluster);
  assert.equal(rows[2].cluster, assignments[3].cluster);
  assert.ok(Math.abs(rows[0].confidence - assignments[3].confidence) <= 1e-4);
  assert.ok(rows[1].cluster >= 0 && rows[1].cluster < 10);
});

Deno.test("loadRun and assignClusters give a script the same clusters as the run", async () => {
  await tinyRun();
  const run = await loadRun(runDir, bundledRegistries());
  assert.deepEqual(run.inputShape, [28, 28, 1]);
  assert.equal(run.clusters, 10);
  assert.equal(run.headName, "clustering_head");
  const { labels, probs } = await assignClusters(run, dataset!);
  assert.deepEqual([...labels], assignments.map((a) => a.cluster));
  for (let i = 0; i < N; i++) {
    let sum = 0;
    for (let k = 0; k < 10; k++) sum += probs[i * 10 + k];
    assert.ok(Math.abs(sum - 1) < 1e-5);
  }
  run.dispose();
});

Deno.test("cluster refuses bad input with one line and exit 2", async () => {
  await tinyRun();
  const empty = join(root, "empty");
  await Deno.mkdir(join(empty, "deeper"), { recursive: true });
  await Deno.writeTextFile(join(empty, "readme.txt"), "no images here");
  const unfinished = join(root, "unfinished");
  await Deno.mkdir(unfinished);
  await Deno.copyFile(
    join(runDir, "config.yaml"),
    join(unfinished, "config.yaml"),
  );
  await Deno.copyFile(
    join(runDir, "checkpoint.bin"),
    join(unfinished, "checkpoint.bin"),
  );
  const broken = join(root, "broken");
  await Deno.mkdir(broken);
  await Deno.writeTextFile(join(broken, "x.png"), "not a png");

  const cases: [string[], RegExp][] = [
    [
      ["--run", join(root, "nope"), "--images", images],
      /^error: Run folder .*nope does not exist; expected a folder written by deno task train/,
    ],
    [
      ["--run", images, "--images", images],
      /^error: .*images is not a clknn run folder \(no config\.yaml\)/,
    ],
    [
      ["--run", unfinished, "--images", images],
      /^error: Run folder .*unfinished has no model\/backbone\/model\.json; the run has not finished/,
    ],
    [
      ["--run", runDir, "--images", join(root, "missing")],
      /^error: --images .*missing is not a folder/,
    ],
    [
      ["--run", runDir, "--images", empty],
      /^error: --images .*empty holds no PNG or JPEG files/,
    ],
    [
      ["--run", runDir, "--images", broken],
      /^error: .*broken\/x\.png is not a PNG or JPEG image \(it starts with bytes 6e 6f 74 20\)/,
    ],
    [["--run", runDir], /^error: --images is missing/],
    [["--images", images], /^error: --run is missing/],
    [
      ["--run", runDir, "--images", images, "--bogus"],
      /^error: Unknown option '--bogus'; see deno task cluster --help$/,
    ],
  ];
  for (const [args, message] of cases) {
    assertOneLineError(await cluster(...args), message);
  }
  const help = await cluster("--help");
  assert.equal(help.code, 0);
  assert.match(
    help.stdout,
    /usage: deno task cluster --run runs\/<run> --images DIR \[--out FILE\]/,
  );
});
