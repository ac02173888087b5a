/**
 * STL-10 (Coates, Lee & Ng 2011, https://cs.stanford.edu/~acoates/stl10/):
 * 96x96 colour images in 10 classes, 5,000 train, 8,000 test and 100,000
 * unlabelled, from the official binary archive (2.6 GB).
 *
 * The archive is streamed to disk while it downloads and streamed through
 * gunzip and tar while it extracts, so it is never held in memory. The
 * images stay on disk too (the unlabelled file alone is 2.8 GB): `read`
 * seeks to each record. A record of `*_X.bin` is 3x96x96 bytes, each channel
 * stored column-major (the layout of MATLAB, which made the files);
 * `*_y.bin` holds one label byte 1..10 per image, given here as 0..9.
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
import { checkIndex } from "./in_memory.ts";
import { applyLimit } from "./limit.ts";
import {
  cachedArchive,
  md5Option,
  readNames,
  recordCount,
} from "./archive_cache.ts";

/** The official MD5 of `stl10_binary.tar.gz`. */
export const STL10_MD5 = "91f7769df0f17e558f3565bffb0c7dfb";

const SIDE = 96;
const RECORD = 3 * SIDE * SIDE;

const PARTS = {
  train: ["train"],
  test: ["test"],
  unlabeled: ["unlabeled"],
  "train+test": ["train", "test"],
  labelled: ["train", "test"],
  all: ["train", "test", "unlabeled"],
} as const;

type Split = keyof typeof PARTS;

const schema = {
  split: {
    type: "string",
    default: "train+test",
    oneOf: Object.keys(PARTS),
    doc:
      "train+test (or labelled) = the 13,000 labelled images (the paper's setting); unlabeled and all carry no labels, so no scores",
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
      "a folder already holding the extracted stl10_binary files (no cache, no download)",
  },
  download: {
    type: "boolean",
    default: true,
    doc: "download the archive when it is not cached",
  },
  url: {
    type: "string",
    default: "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",
    doc: "where to download the archive from",
  },
  md5: {
    type: "string",
    default: "",
    doc: `expected MD5 of the archive; empty = the official ${STL10_MD5}`,
  },
  cacheDir: {
    type: "string",
    default: "",
    doc: "cache folder (default: the run's cache)",
  },
  keepArchive: {
    type: "boolean",
    default: false,
    doc: "keep the 2.6 GB .tar.gz in the cache after extracting it",
  },
} as const;

const MEMBERS = [
  "train_X.bin",
  "train_y.bin",
  "test_X.bin",
  "test_y.bin",
  "unlabeled_X.bin",
  "class_names.txt",
];

/** Checks that an images file and its labels file belong together; returns the image count. */
async function checkPart(dir: string, part: string): Promise<number> {
  const images = join(dir, `${part}_X.bin`);
  const n = await recordCount(images, RECORD, "STL-10 image");
  if (part !== "unlabeled") {
    const labels = join(dir, `${part}_y.bin`);
    const m = await recordCount(labels, 1, "STL-10 label");
    if (m !== n) {
      throw new DataError(
        `${labels} holds ${m} labels for the ${n} images of ${images}; the two files do not belong together, delete them and fetch the archive again`,
      );
    }
  }
  return n;
}

/**
 * Turns one STL-10 record (3 channel planes, each column-major 96x96) into
 * `[96, 96, 3]` row-major bytes at `out[offset..]`.
 */
export function transposeStl(
  record: Uint8Array,
  out: Uint8Array,
  offset: number,
): void {
  for (let c = 0; c < 3; c++) {
    const plane = c * SIDE * SIDE;
    for (let x = 0; x < SIDE; x++) {
      const column = plane + x * SIDE;
      for (let y = 0; y < SIDE; y++) {
        out[offset + (y * SIDE + x) * 3 + c] = record[column + y];
      }
    }
  }
}

interface Segment {
  path: string;
  start: number;
  count: number;
}

/** A dataset whose images are records of files on disk, read on demand. */
function fileDataset(
  id: string,
  segments: Segment[],
  labels: Int32Array | undefined,
  classNames: readonly string[] | undefined,
  itemNames: string[],
): Dataset {
  const size = segments.reduce((s, g) => s + g.count, 0);
  return {
    id,
    size,
    shape: [SIDE, SIDE, 3],
    labels,
    numClasses: labels ? classNames?.length : undefined,
    classNames: labels ? classNames : undefined,
    itemNames,
    read(indices: ArrayLike<number>): Uint8Array {
      const out = new Uint8Array(indices.length * RECORD);
      const record = new Uint8Array(RECORD);
      // Opened per call, so a dataset holds no file handle between batches.
      const open = new Map<string, Deno.FsFile>();
      try {
        for (let i = 0; i < indices.length; i++) {
          const index = indices[i];
          checkIndex(index, size);
          const segment = segments.find((g) =>
            index >= g.start && index < g.start + g.count
          )!;
          let file = open.get(segment.path);
          if (!file) {
            file = Deno.openSync(segment.path, { read: true });
            open.set(segment.path, file);
          }
          file.seekSync((index - segment.start) * RECORD, Deno.SeekMode.Start);
          let filled = 0;
          while (filled < RECORD) {
            const n = file.readSync(record.subarray(filled));
            if (n === null) {
              throw new DataError(
                `${segment.path} ends inside image ${
                  index - segment.start
                } (the file changed since it was loaded); delete the cache folder and load again`,
              );
            }
            filled += n;
          }
          transposeStl(record, out, i * RECORD);
        }
      } finally {
        for (const file of open.values()) file.close();
      }
      return out;
    },
  };
}

/** STL-10 from the official binary archive; images are read from disk on demand. */
export const stl10: PluginDef<DatasetLoader, typeof schema> = {
  name: "stl10",
  description:
    "STL-10 96x96 colour, 10 classes (official 2.6 GB binary archive, streamed)",
  options: schema,
  create(opts) {
    const where = 'dataset "stl10"';
    const md5 = md5Option(opts.md5, STL10_MD5, where);
    const parts = PARTS[opts.split as Split];
    return {
      name: "stl10",
      async load(ctx: LoadContext): Promise<Dataset> {
        const dir = opts.dir || await cachedArchive(
          {
            title: "STL-10",
            folder: "stl10",
            file: "stl10_binary.tar.gz",
            url: opts.url,
            md5,
            members: MEMBERS,
            async check(dir) {
              for (const part of ["train", "test", "unlabeled"]) {
                await checkPart(dir, part);
              }
            },
          },
          opts,
          ctx,
        );
        const labelled = !(parts as readonly string[]).includes("unlabeled");
        const classNames = await readNames(join(dir, "class_names.txt"), 10);
        const segments: Segment[] = [];
        const labels: number[] = [];
        const itemNames: string[] = [];
        let start = 0;
        for (const part of parts) {
          const count = await checkPart(dir, part);
          segments.push({ path: join(dir, `${part}_X.bin`), start, count });
          start += count;
          for (let i = 0; i < count; i++) {
            itemNames.push(`${part}/${String(i).padStart(6, "0")}`);
          }
          if (!labelled) continue;
          const path = join(dir, `${part}_y.bin`);
          const bytes = await Deno.readFile(path);
          const bad = bytes.findIndex((v) => v < 1 || v > 10);
          if (bad >= 0) {
            throw new DataError(
              `${path}: label ${
                bytes[bad]
              } at position ${bad} is not a class 1..10; delete it and fetch the archive again`,
            );
          }
          for (const v of bytes) labels.push(v - 1);
        }
        const dataset = fileDataset(
          "stl10",
          segments,
          labelled ? Int32Array.from(labels) : undefined,
          classNames,
          itemNames,
        );
        return applyLimit(dataset, opts.limit, where);
      },
    };
  },
};
