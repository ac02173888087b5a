/**
 * Fashion-MNIST (Xiao, Rasul & Vollgraf 2017,
 * https://github.com/zalandoresearch/fashion-mnist): 28x28 grey images of
 * Zalando articles in 10 classes, 60,000 train and 10,000 test.
 *
 * The 10,000-image test split ships with clknn (`datasets/data/fashion-mnist/`,
 * © Zalando SE, MIT licence), so `split: "embedded"` needs no network and no
 * package. The other splits come from `dir` (Debian's `dataset-fashion-mnist`
 * installs them in /usr/share/datasets/fashion-mnist), else from the cache,
 * else from a download checked against the official MD5s.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type {
  Dataset,
  DatasetLoader,
  LoadContext,
} from "../core/interfaces.ts";
import type { PluginDef } from "../core/registry.ts";
import type { Options } from "../core/options.ts";
import { ConfigError, DataError, oneOf, show } from "../core/errors.ts";
import { parseIdx } from "./idx.ts";
import { inMemoryDataset } from "./in_memory.ts";
import { applyLimit } from "./limit.ts";
import { download, exists, md5File, removeIfPresent } from "./download.ts";

/** The class names, in label order. */
export const FASHION_MNIST_CLASSES: readonly string[] = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
];

/** The MD5s of the official `.gz` files, from the upstream README. */
export const FASHION_MNIST_MD5: Readonly<Record<string, string>> = {
  "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
  "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
  "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
  "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
};

const FILES = {
  train: ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"],
  test: ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"],
} as const;

const EMBEDDED_DIR = new URL("./data/fashion-mnist/", import.meta.url);

const schema = {
  split: {
    type: "string",
    default: "embedded",
    oneOf: ["embedded", "train", "test", "all"],
    doc: "embedded = the bundled 10,000 test images; all = train + test",
  },
  dir: {
    type: "string",
    default: "/usr/share/datasets/fashion-mnist",
    doc:
      "folder with the IDX files (gzipped or not), e.g. from apt install dataset-fashion-mnist",
  },
  limit: {
    type: "number",
    default: 0,
    min: 0,
    integer: true,
    doc: "0 = all, else a class-stratified subset of that many",
  },
  download: {
    type: "boolean",
    default: true,
    doc: "download files missing from dir and the cache",
  },
  url: {
    type: "string",
    default:
      "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    doc: "base URL of the .gz files",
  },
  md5: {
    type: "string",
    default: "",
    doc: "file=md5 pairs, comma-separated, replacing the official checksums",
  },
  cacheDir: {
    type: "string",
    default: "",
    doc: "cache folder (default: the run's cache)",
  },
} as const;

type FashionOptions = Options<typeof schema>;

/** Parses the `md5` option into a full table of expected checksums. */
export function checksumTable(
  override: string,
  where: string,
): Record<string, string> {
  const table = { ...FASHION_MNIST_MD5 };
  if (override.trim() === "") return table;
  for (const pair of override.split(",")) {
    const [file, md5] = pair.split("=").map((s) => s.trim());
    if (!(file in table) || !/^[0-9a-fA-F]{32}$/.test(md5 ?? "")) {
      throw new ConfigError(
        `${where}: option "md5" has ${
          show(pair)
        }; expected file=md5 pairs with 32 hex digits, the files being ${
          oneOf(Object.keys(table))
        }`,
      );
    }
    table[file] = md5.toLowerCase();
  }
  return table;
}

async function readEmbedded(name: string): Promise<Uint8Array> {
  const url = new URL(name, EMBEDDED_DIR);
  try {
    if (url.protocol === "file:") {
      return await Deno.readFile(fileURLToPath(url));
    }
    const response = await fetch(url);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  } catch (err) {
    throw new DataError(
      `The embedded Fashion-MNIST file ${url.href} cannot be read (${
        (err as Error).message
      }); reinstall clknn, or use split "test" with the "dir" option`,
      { cause: err },
    );
  }
}

/**
 * Finds one file: in `dir` (gzipped or raw), else in the cache (re-checked
 * against its MD5; a wrong one is deleted), else downloads it.
 */
async function fetchFile(
  name: string,
  opts: FashionOptions,
  md5: Record<string, string>,
  ctx: LoadContext,
): Promise<{ bytes: Uint8Array; source: string }> {
  for (const candidate of [name, name.replace(/\.gz$/, "")]) {
    const path = join(opts.dir, candidate);
    if (await exists(path)) {
      return { bytes: await Deno.readFile(path), source: path };
    }
  }
  const cacheDir = join(opts.cacheDir || ctx.cacheDir, "fashion-mnist");
  const cached = join(cacheDir, name);
  if (await exists(cached)) {
    const actual = await md5File(cached);
    if (actual === md5[name]) {
      return { bytes: await Deno.readFile(cached), source: cached };
    }
    ctx.events.emit({
      type: "warning",
      message: `${cached} has MD5 ${actual}, expected ${
        md5[name]
      }; deleted it and fetching it again`,
    });
    await removeIfPresent(cached);
  }
  if (!opts.download) {
    throw new DataError(
      `Fashion-MNIST file ${name} is neither in ${opts.dir} nor in the cache ${cacheDir}; install it with "apt install dataset-fashion-mnist", set "dir" to a folder holding it, or set "download" to true`,
    );
  }
  const url = opts.url.endsWith("/") ? opts.url + name : `${opts.url}/${name}`;
  await download({
    url,
    dest: cached,
    md5: md5[name],
    events: ctx.events,
    label: name,
  });
  return { bytes: await Deno.readFile(cached), source: cached };
}

interface Part {
  images: Uint8Array;
  labels: Int32Array;
  prefix: string;
}

/** Parses and cross-checks an images file and a labels file. */
export function parsePair(
  images: { bytes: Uint8Array; source: string },
  labels: { bytes: Uint8Array; source: string },
  prefix: string,
): Part {
  const img = parseIdx(images.bytes, images.source);
  const lab = parseIdx(labels.bytes, labels.source);
  if (img.dims.length !== 3 || img.dims[1] !== 28 || img.dims[2] !== 28) {
    throw new DataError(
      `${images.source} holds ${
        img.dims.join("x")
      } data, not Nx28x28 images; point "dir" to Fashion-MNIST files`,
    );
  }
  if (lab.dims.length !== 1 || lab.dims[0] !== img.dims[0]) {
    throw new DataError(
      `${labels.source} holds ${lab.dims.join("x")} labels for ${
        img.dims[0]
      } images in ${images.source}; the two files do not belong together`,
    );
  }
  const bad = lab.data.findIndex((v) => v > 9);
  if (bad >= 0) {
    throw new DataError(
      `${labels.source}: label ${
        lab.data[bad]
      } at position ${bad} is not a class 0..9; delete the file and retry`,
    );
  }
  return { images: img.data, labels: Int32Array.from(lab.data), prefix };
}

async function loadSplit(
  split: "train" | "test",
  opts: FashionOptions,
  md5: Record<string, string>,
  ctx: LoadContext,
): Promise<Part> {
  const [imagesName, labelsName] = FILES[split];
  const images = await fetchFile(imagesName, opts, md5, ctx);
  const labels = await fetchFile(labelsName, opts, md5, ctx);
  return parsePair(images, labels, split);
}

async function loadEmbedded(): Promise<Part> {
  const [imagesName, labelsName] = FILES.test;
  return parsePair(
    { bytes: await readEmbedded(imagesName), source: `embedded ${imagesName}` },
    { bytes: await readEmbedded(labelsName), source: `embedded ${labelsName}` },
    "test",
  );
}

function combine(parts: Part[]): Dataset {
  const size = parts.reduce((n, p) => n + p.labels.length, 0);
  const bytes = new Uint8Array(size * 28 * 28);
  const labels = new Int32Array(size);
  const itemNames: string[] = [];
  let at = 0;
  for (const part of parts) {
    bytes.set(part.images, at * 28 * 28);
    labels.set(part.labels, at);
    for (let i = 0; i < part.labels.length; i++) {
      itemNames.push(`${part.prefix}/${String(i).padStart(5, "0")}`);
    }
    at += part.labels.length;
  }
  return inMemoryDataset({
    id: "fashion-mnist",
    shape: [28, 28, 1],
    bytes,
    labels,
    classNames: FASHION_MNIST_CLASSES,
    itemNames,
  });
}

/** Fashion-MNIST: embedded test split, or train/test/all from disk, cache or download. */
export const fashionMnist: PluginDef<DatasetLoader, typeof schema> = {
  name: "fashion-mnist",
  description:
    "Fashion-MNIST 28x28 grey, 10 classes (embedded 10k test split, or train/test/all)",
  options: schema,
  create(opts) {
    const where = 'dataset "fashion-mnist"';
    const md5 = checksumTable(opts.md5, where);
    return {
      name: "fashion-mnist",
      async load(ctx: LoadContext): Promise<Dataset> {
        const parts: Part[] = [];
        if (opts.split === "train" || opts.split === "all") {
          parts.push(await loadSplit("train", opts, md5, ctx));
        }
        if (opts.split === "test" || opts.split === "all") {
          const inDir = await exists(join(opts.dir, FILES.test[0])) ||
            await exists(join(opts.dir, FILES.test[0].replace(/\.gz$/, "")));
          // The bundled copy is the same test split, so prefer it to a download.
          parts.push(
            inDir
              ? await loadSplit("test", opts, md5, ctx)
              : await loadEmbedded(),
          );
        }
        if (opts.split === "embedded") parts.push(await loadEmbedded());
        return applyLimit(combine(parts), opts.limit, where);
      },
    };
  },
};
