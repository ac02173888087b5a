/**
 * CIFAR-10 and CIFAR-100 (Krizhevsky 2009,
 * https://www.cs.toronto.edu/~kriz/cifar.html): 32x32 colour images, 50,000
 * train and 10,000 test, from the official "binary version" archives.
 *
 * A record is the label byte(s) then 3072 bytes: 1024 red, 1024 green, 1024
 * blue, each a row-major 32x32 plane; CIFAR-100 records carry the coarse
 * (superclass) label then the fine label. The images are held as bytes in
 * `[N, 32, 32, 3]` order (60,000 images are 184 MB).
 *
 * CIFAR-100 is scored on its 20 superclasses by default, as in the paper
 * and SCAN; `labels: fine` scores the 100 classes instead.
 *
 * @module
 */
import { join } from "node:path";
import type {
  Dataset,
  DatasetLoader,
  LoadContext,
} from "../core/interfaces.ts";
import type { PluginDef } from "../core/registry.ts";
import { DataError } from "../core/errors.ts";
import { inMemoryDataset } from "./in_memory.ts";
import { applyLimit } from "./limit.ts";
import {
  type ArchiveSpec,
  cachedArchive,
  md5Option,
  readNames,
  recordCount,
} from "./archive_cache.ts";

/** The official MD5s of the binary archives (from the CIFAR page). */
export const CIFAR_MD5 = {
  "cifar-10-binary.tar.gz": "c32a1d4ab5d03f1284b67883e8d87530",
  "cifar-100-binary.tar.gz": "03b5dce01913d631647c71ecec9e9cb8",
} as const;

const PIXELS = 32 * 32 * 3;

interface Variant {
  id: "cifar10" | "cifar100";
  title: string;
  file: keyof typeof CIFAR_MD5;
  /** Label bytes before the pixels of each record. */
  labelBytes: 1 | 2;
  train: readonly string[];
  test: readonly string[];
  /** Names files: [file, count] for the label sets. */
  names: Record<"labels" | "coarse" | "fine", [string, number] | undefined>;
}

const CIFAR10: Variant = {
  id: "cifar10",
  title: "CIFAR-10",
  file: "cifar-10-binary.tar.gz",
  labelBytes: 1,
  train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
  test: ["test_batch.bin"],
  names: {
    labels: ["batches.meta.txt", 10],
    coarse: undefined,
    fine: undefined,
  },
};

const CIFAR100: Variant = {
  id: "cifar100",
  title: "CIFAR-100",
  file: "cifar-100-binary.tar.gz",
  labelBytes: 2,
  train: ["train.bin"],
  test: ["test.bin"],
  names: {
    labels: undefined,
    coarse: ["coarse_label_names.txt", 20],
    fine: ["fine_label_names.txt", 100],
  },
};

function commonSchema(variant: Variant) {
  return {
    split: {
      type: "string",
      default: "all",
      oneOf: ["train", "test", "all"],
      doc:
        "all = the 50,000 train then the 10,000 test images (the paper's setting)",
    },
    limit: {
      type: "number",
      default: 0,
      min: 0,
      integer: true,
      doc: "0 = all, else a class-stratified subset of that many",
    },
    dir: {
      type: "string",
      default: "",
      doc:
        "a folder already holding the extracted .bin and names files (no cache, no download)",
    },
    download: {
      type: "boolean",
      default: true,
      doc: "download the archive when it is not cached",
    },
    url: {
      type: "string",
      default: `https://www.cs.toronto.edu/~kriz/${variant.file}`,
      doc: "where to download the archive from",
    },
    md5: {
      type: "string",
      default: "",
      doc: `expected MD5 of the archive; empty = the official ${
        CIFAR_MD5[variant.file]
      }`,
    },
    cacheDir: {
      type: "string",
      default: "",
      doc: "cache folder (default: the run's cache)",
    },
    keepArchive: {
      type: "boolean",
      default: false,
      doc: "keep the .tar.gz in the cache after extracting it",
    },
  } as const;
}

const cifar10Schema = commonSchema(CIFAR10);
const cifar100Schema = {
  ...commonSchema(CIFAR100),
  labels: {
    type: "string",
    default: "coarse",
    oneOf: ["coarse", "fine"],
    doc:
      "coarse = the 20 superclasses (the paper's CIFAR-100-20), fine = 100 classes",
  },
} as const;

type CommonOptions = {
  split: string;
  limit: number;
  dir: string;
  download: boolean;
  url: string;
  md5: string;
  cacheDir: string;
  keepArchive: boolean;
};

function archiveSpec(variant: Variant, opts: CommonOptions, md5: string) {
  const names = Object.values(variant.names)
    .filter((n): n is [string, number] => n !== undefined)
    .map(([file]) => file);
  const bins = [...variant.train, ...variant.test];
  const spec: ArchiveSpec = {
    title: variant.title,
    folder: variant.id,
    file: variant.file,
    url: opts.url,
    md5,
    members: [...bins, ...names],
    async check(dir) {
      for (const bin of bins) {
        await recordCount(
          join(dir, bin),
          variant.labelBytes + PIXELS,
          variant.title,
        );
      }
    },
  };
  return spec;
}

/**
 * Decodes CIFAR records into `[N, 32, 32, 3]` bytes and the labels found at
 * byte `labelAt` of each record; labels must be below `classes`.
 *
 * @example
 * ```ts
 * const record = new Uint8Array(1 + 3072); // label 0, a black image
 * decodeCifar([{ bytes: record, source: "one.bin" }], 1, 0, 10);
 * ```
 */
export function decodeCifar(
  files: readonly { bytes: Uint8Array; source: string }[],
  labelBytes: number,
  labelAt: number,
  classes: number,
): { images: Uint8Array; labels: Int32Array } {
  const recordBytes = labelBytes + PIXELS;
  const n = files.reduce((s, f) => s + f.bytes.length / recordBytes, 0);
  const images = new Uint8Array(n * PIXELS);
  const labels = new Int32Array(n);
  let at = 0;
  for (const { bytes, source } of files) {
    if (bytes.length === 0 || bytes.length % recordBytes !== 0) {
      throw new DataError(
        `${source} has ${bytes.length} bytes, not a whole number of ${recordBytes}-byte CIFAR records (truncated?); delete it and fetch it again`,
      );
    }
    for (let r = 0; r < bytes.length / recordBytes; r++, at++) {
      const rec = bytes.subarray(r * recordBytes, (r + 1) * recordBytes);
      const label = rec[labelAt];
      if (label >= classes) {
        throw new DataError(
          `${source}: record ${r} has label ${label}, not a class 0..${
            classes - 1
          }; this is not a CIFAR file, delete it and fetch it again`,
        );
      }
      labels[at] = label;
      // Planes [3][32*32] become interleaved pixels [32*32][3].
      const out = at * PIXELS;
      for (let p = 0; p < 1024; p++) {
        images[out + 3 * p] = rec[labelBytes + p];
        images[out + 3 * p + 1] = rec[labelBytes + 1024 + p];
        images[out + 3 * p + 2] = rec[labelBytes + 2048 + p];
      }
    }
  }
  return { images, labels };
}

async function readBin(dir: string, name: string) {
  const source = join(dir, name);
  try {
    return { bytes: await Deno.readFile(source), source };
  } catch (err) {
    throw new DataError(
      `Cannot read ${source}: ${
        (err as Error).message
      }; check the "dir" option or delete the cache folder`,
      { cause: err },
    );
  }
}

function loader(
  variant: Variant,
  opts: CommonOptions,
  labelSet: "labels" | "coarse" | "fine",
): DatasetLoader {
  const where = `dataset "${variant.id}"`;
  const md5 = md5Option(opts.md5, CIFAR_MD5[variant.file], where);
  const [namesFile, classes] = variant.names[labelSet]!;
  // CIFAR-100 records: byte 0 coarse, byte 1 fine.
  const labelAt = labelSet === "fine" ? 1 : 0;
  const id = variant.id === "cifar100"
    ? (labelSet === "fine" ? "cifar100" : "cifar100-20")
    : variant.id;
  return {
    name: variant.id,
    async load(ctx: LoadContext): Promise<Dataset> {
      const dir = opts.dir || await cachedArchive(
        archiveSpec(variant, opts, md5),
        opts,
        ctx,
      );
      const classNames = await readNames(join(dir, namesFile), classes);
      const names: string[] = [];
      const parts: { bytes: Uint8Array; source: string }[] = [];
      for (const split of ["train", "test"] as const) {
        if (opts.split !== split && opts.split !== "all") continue;
        let index = 0;
        for (const bin of variant[split]) {
          const part = await readBin(dir, bin);
          parts.push(part);
          const count = Math.floor(
            part.bytes.length / (variant.labelBytes + PIXELS),
          );
          for (let i = 0; i < count; i++, index++) {
            names.push(`${split}/${String(index).padStart(5, "0")}`);
          }
        }
      }
      const { images, labels } = decodeCifar(
        parts,
        variant.labelBytes,
        labelAt,
        classes,
      );
      const dataset = inMemoryDataset({
        id,
        shape: [32, 32, 3],
        bytes: images,
        labels,
        classNames,
        itemNames: names,
      });
      return applyLimit(dataset, opts.limit, where);
    },
  };
}

/** CIFAR-10 from the official binary archive (download, MD5 check, cache). */
export const cifar10: PluginDef<DatasetLoader, typeof cifar10Schema> = {
  name: "cifar10",
  description:
    "CIFAR-10 32x32 colour, 10 classes (official binary archive, downloaded and cached)",
  options: cifar10Schema,
  create: (opts) => loader(CIFAR10, opts, "labels"),
};

/** CIFAR-100 from the official binary archive, scored on 20 superclasses by default. */
export const cifar100: PluginDef<DatasetLoader, typeof cifar100Schema> = {
  name: "cifar100",
  description:
    "CIFAR-100 32x32 colour, 20 superclasses (or 100 fine classes) (official binary archive)",
  options: cifar100Schema,
  create: (opts) =>
    loader(CIFAR100, opts, opts.labels === "fine" ? "fine" : "coarse"),
};
