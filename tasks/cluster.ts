/**
 * `deno task cluster`: assigns a folder of new images to the clusters of a
 * finished run, with the run's backbone and kept clustering head.
 *
 * Images are PNG or JPEG files anywhere under the folder, read in sorted
 * path order, converted to the run's channels (grey = ITU-R 601 luma) and
 * stretched to the run's input size by area averaging (so an image at the
 * run's size is used pixel for pixel).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { join, relative, resolve } from "node:path";
import { PNG } from "pngjs";
import jpeg from "jpeg-js";
import { ConfigError, DataError } from "../core/errors.ts";
import { clusterSizes } from "../core/data.ts";
import type { Dataset } from "../core/interfaces.ts";
import { assignClusters, loadRun, type TrainedRun } from "../core/predict.ts";
import { bundledRegistries, parseFlags, runMain, VERSION } from "./cli.ts";

const USAGE = "see deno task cluster --help";

const FLAGS = {
  run: { type: "string", short: "r" },
  images: { type: "string", short: "i" },
  out: { type: "string", short: "o" },
  backend: { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
} as const;

const HELP =
  `clknn ${VERSION} - assign new images to the clusters of a trained run

usage: deno task cluster --run runs/<run> --images DIR [--out FILE]

options:
  -r, --run DIR       a finished run folder (written by deno task train)
  -i, --images DIR    a folder of PNG/JPEG images (sub-folders included)
  -o, --out FILE      write the CSV here (default: standard output)
      --backend NAME  compute backend (default: the run's own)
  -h, --help          this help;  -V, --version  the version

The CSV has one row per image: file (relative to DIR), cluster, confidence.
Images are converted to the run's channels and stretched to its input size.
A summary (images per cluster) goes to standard error.

example:
  deno task cluster --run runs/default-x --images ~/photos --out clusters.csv`;

const IMAGE = /\.(png|jpe?g)$/i;

/** Image files under `dir`, as paths relative to it, sorted. */
function listImages(dir: string): string[] {
  const found: string[] = [];
  const walk = (sub: string) => {
    const entries = [...Deno.readDirSync(join(dir, sub))];
    for (const e of entries) {
      const rel = sub ? `${sub}/${e.name}` : e.name;
      if (e.isDirectory) walk(rel);
      else if (e.isFile && IMAGE.test(e.name)) found.push(rel);
    }
  };
  walk("");
  return found.sort();
}

/** Decodes a PNG or JPEG file into RGBA bytes. */
function decode(
  path: string,
): { width: number; height: number; rgba: Uint8Array } {
  const bytes = Deno.readFileSync(path);
  try {
    if (/\.png$/i.test(path)) {
      const png = PNG.sync.read(Buffer.from(bytes));
      return { width: png.width, height: png.height, rgba: png.data };
    }
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
    return { width: img.width, height: img.height, rgba: img.data };
  } catch (err) {
    throw new DataError(
      `Image ${path} cannot be decoded (${
        String((err as Error)?.message ?? err).split("\n")[0]
      }); expected a valid PNG or JPEG file`,
    );
  }
}

/**
 * For each of `n` output cells, the source cells of `m` it covers and their
 * weights (summing to 1): area averaging, exact for whole-number ratios.
 */
function areaWeights(m: number, n: number): [number, number][][] {
  const scale = m / n;
  return Array.from({ length: n }, (_, i) => {
    const from = i * scale;
    const to = (i + 1) * scale;
    const cells: [number, number][] = [];
    for (let s = Math.floor(from); s < Math.min(m, Math.ceil(to)); s++) {
      const cover = Math.min(to, s + 1) - Math.max(from, s);
      if (cover > 1e-9) cells.push([s, cover / scale]);
    }
    return cells;
  });
}

/** One image as `[h, w, c]` bytes: channels converted, then area-resized. */
export function toShape(
  image: { width: number; height: number; rgba: Uint8Array },
  [h, w, c]: readonly [number, number, number],
): Uint8Array {
  const { width, height, rgba } = image;
  // channels first, at the source size: [height, width, c] floats
  const src = new Float32Array(width * height * c);
  for (let p = 0; p < width * height; p++) {
    const r = rgba[p * 4], g = rgba[p * 4 + 1], b = rgba[p * 4 + 2];
    if (c === 1) src[p] = 0.299 * r + 0.587 * g + 0.114 * b;
    else {
      src[p * c] = r;
      src[p * c + 1] = g;
      src[p * c + 2] = b;
    }
  }
  const rows = areaWeights(height, h);
  const cols = areaWeights(width, w);
  const out = new Uint8Array(h * w * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let k = 0; k < c; k++) {
        let sum = 0;
        for (const [sy, wy] of rows[y]) {
          for (const [sx, wx] of cols[x]) {
            sum += wy * wx * src[(sy * width + sx) * c + k];
          }
        }
        out[(y * w + x) * c + k] = Math.min(255, Math.max(0, Math.round(sum)));
      }
    }
  }
  return out;
}

/** The images of `dir` as a dataset of `shape`, one name per file. */
function readFolder(
  dir: string,
  shape: readonly [number, number, number],
): Dataset {
  const files = listImages(dir);
  if (files.length === 0) {
    throw new ConfigError(
      `--images ${dir} holds no PNG or JPEG files (*.png, *.jpg, *.jpeg); expected a folder of images`,
    );
  }
  const [h, w, c] = shape;
  if (c !== 1 && c !== 3) {
    throw new DataError(
      `The run takes images with ${c} channels; expected 1 (grey) or 3 (RGB)`,
    );
  }
  const stride = h * w * c;
  const bytes = new Uint8Array(files.length * stride);
  files.forEach((f, i) =>
    bytes.set(toShape(decode(join(dir, f)), shape), i * stride)
  );
  return {
    id: "image-files",
    size: files.length,
    shape,
    itemNames: files,
    read(indices) {
      const out = new Uint8Array(indices.length * stride);
      for (let i = 0; i < indices.length; i++) {
        const at = indices[i] * stride;
        out.set(bytes.subarray(at, at + stride), i * stride);
      }
      return out;
    },
  };
}

function csvField(text: string): string {
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function isDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

async function main(): Promise<number> {
  const { values: flags } = parseFlags(Deno.args, FLAGS, USAGE);
  if (flags.help) {
    console.log(HELP);
    return 0;
  }
  if (flags.version) {
    console.log(`clknn ${VERSION}`);
    return 0;
  }
  if (!flags.run) {
    throw new ConfigError(
      `--run is missing: name a trained run folder, e.g. --run runs/<run>; ${USAGE}`,
    );
  }
  if (!flags.images) {
    throw new ConfigError(
      `--images is missing: name a folder of PNG/JPEG images; ${USAGE}`,
    );
  }
  if (!isDir(flags.images)) {
    throw new ConfigError(
      `--images ${flags.images} is not a folder; expected a folder of PNG/JPEG images`,
    );
  }

  let run: TrainedRun | undefined;
  try {
    run = await loadRun(flags.run, bundledRegistries(), {
      backend: flags.backend,
    });
    const dataset = readFolder(flags.images, run.inputShape);
    const { labels, confidence } = assignClusters(run, dataset);

    const lines = ["file,cluster,confidence"];
    for (let i = 0; i < labels.length; i++) {
      lines.push(
        `${csvField(dataset.itemNames![i])},${labels[i]},${
          confidence[i].toFixed(4)
        }`,
      );
    }
    const csv = lines.join("\n") + "\n";
    if (flags.out) {
      try {
        Deno.writeTextFileSync(flags.out, csv);
      } catch (err) {
        throw new ConfigError(
          `Cannot write --out ${flags.out}: ${
            (err as Error).message.split("\n")[0]
          }; choose a writable file`,
        );
      }
    } else {
      await Deno.stdout.write(new TextEncoder().encode(csv));
    }

    // summary: one line per cluster, on stderr so the CSV can be piped
    const sizes = clusterSizes(labels, run.clusters);
    const [h, w, c] = run.inputShape;
    console.error(
      `${labels.length} images of ${flags.images} (as ${h}x${w}x${c}) -> ${run.clusters} clusters of ${
        resolve(flags.run)
      } (${run.headName.replace("_", " ")}, ${run.backend})${
        flags.out ? `; CSV in ${relative(Deno.cwd(), resolve(flags.out))}` : ""
      }`,
    );
    const width = String(labels.length).length;
    sizes.forEach((size, k) => {
      let sum = 0;
      for (let i = 0; i < labels.length; i++) {
        if (labels[i] === k) sum += confidence[i];
      }
      console.error(
        `cluster ${String(k).padStart(String(run!.clusters - 1).length)}  ${
          String(size).padStart(width)
        } ${size === 1 ? "image " : "images"}${
          size ? `  mean confidence ${(sum / size).toFixed(3)}` : ""
        }`,
      );
    });
    return 0;
  } catch (err) {
    // every user error here is bad input (a path, a file), never a run that
    // stopped, so it exits 2 like a wrong flag
    if (err instanceof DataError) {
      throw new ConfigError(err.message, { cause: err });
    }
    throw err;
  } finally {
    run?.dispose();
  }
}

if (import.meta.main) await runMain(main);
