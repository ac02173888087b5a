/**
 * `deno task cluster`: assigns a folder of new images to the clusters of a
 * finished run, with the run's backbone and kept clustering head.
 *
 * Images are read by the bundled `image-folder` dataset loader (PNG and
 * JPEG files anywhere under the folder, in sorted order), at the run's
 * input size and channels: grey is ITU-R 601 luma, and each image is
 * centre-cropped to a square and area-averaged to size, so an image already
 * at the run's size is used pixel for pixel.
 *
 * @module
 */
import { join, relative, resolve } from "node:path";
import { ConfigError, DataError } from "../core/errors.ts";
import { clusterSizes } from "../core/data.ts";
import { EventBus } from "../core/events.ts";
import type { Dataset } from "../core/interfaces.ts";
import type { Registries } from "../core/registries.ts";
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
Images are converted to the run's channels, centre-cropped to a square and
resized to its input size. A summary (images per cluster) goes to standard
error, with a warning naming any other files skipped.

example:
  deno task cluster --run runs/default-x --images ~/photos --out clusters.csv`;

/**
 * The images of `dir` through the bundled `image-folder` loader, at the
 * run's input size and channels. A run that was itself trained on an image
 * folder lends its resize and fit options, so new images are prepared as
 * its training images were.
 */
async function readFolder(
  dir: string,
  run: TrainedRun,
  registries: Registries,
  events: EventBus,
): Promise<Dataset> {
  const [h, w, c] = run.inputShape;
  if (h !== w || (c !== 1 && c !== 3)) {
    throw new ConfigError(
      `The run ${run.dir} takes ${h}x${w}x${c} images; the image-folder loader makes square images with 1 or 3 channels only`,
    );
  }
  const own = run.config.dataset.name === "image-folder"
    ? run.config.dataset.options
    : {};
  const inherited = Object.fromEntries(
    ["resize", "fit", "maxMegapixels"].filter((k) => k in own).map((
      k,
    ) => [k, own[k]]),
  );
  const loader = registries.dataset.build("image-folder", {
    ...inherited,
    dir,
    size: h,
    channels: c,
    labels: "none",
  });
  return await loader.load({ events, cacheDir: "" });
}

/** Whether `dir` or a sub-folder holds a file the image-folder loader reads. */
function holdsImages(dir: string): boolean {
  for (const e of Deno.readDirSync(dir)) {
    if (e.name.startsWith(".")) continue;
    if (e.isFile && /\.(png|jpe?g)$/i.test(e.name)) return true;
    if (e.isDirectory && holdsImages(join(dir, e.name))) return true;
  }
  return false;
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
  if (!holdsImages(flags.images)) {
    throw new ConfigError(
      `--images ${flags.images} holds no PNG or JPEG files (*.png, *.jpg, *.jpeg, in it or its sub-folders); expected a folder of images`,
    );
  }

  let run: TrainedRun | undefined;
  try {
    const registries = bundledRegistries();
    run = await loadRun(flags.run, registries, { backend: flags.backend });
    // core never prints: the loader's warnings (skipped files) arrive as
    // events, shown once the images are read so that an error stays one line
    const events = new EventBus();
    const warnings: string[] = [];
    events.on((e) => {
      if (e.type === "warning") warnings.push(`warning: ${e.message}`);
    });
    const dataset = await readFolder(flags.images, run, registries, events);
    for (const w of warnings) console.error(w);
    const { labels, confidence } = await assignClusters(run, dataset);

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
