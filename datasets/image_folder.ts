/**
 * A folder of PNG and JPEG files (decoded with pngjs and jpeg-js), each
 * resized to `size x size` and held as bytes. When the images sit in
 * sub-folders, the top-level sub-folders are the classes (used only for
 * scores) and their names the class names; images both at the top and in
 * sub-folders are refused unless `labels: none`. The item names are the
 * paths relative to the folder, so assignments.csv says which file went
 * where.
 *
 * What is read: files ending in .png, .jpg or .jpeg (any case), found
 * recursively, in sorted order, each decoded by its content. Hidden files
 * and folders (names starting with ".") are ignored. Other files (notes,
 * `Thumbs.db`, CSVs) are skipped with one warning naming them, as most
 * folders of photos hold a few. Files that claim to be images but cannot be
 * used stop the load with a DataError naming the file: an image format
 * other than PNG/JPEG (.gif, .webp, ...), an empty file, a file that is not
 * a PNG or JPEG inside, a damaged or truncated image (JPEGs are decoded
 * strictly), or one above `maxMegapixels` (checked from its header, before
 * decoding). Alpha is dropped; grey is 0.299 R + 0.587 G + 0.114 B.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { extname, join } from "node:path";
import { PNG } from "pngjs";
import jpeg from "jpeg-js";
import type {
  Dataset,
  DatasetLoader,
  LoadContext,
} from "../core/interfaces.ts";
import type { PluginDef } from "../core/registry.ts";
import { DataError } from "../core/errors.ts";
import { inMemoryDataset } from "./in_memory.ts";
import { applyLimit } from "./limit.ts";

const schema = {
  dir: { type: "string", doc: "the folder of images" },
  size: {
    type: "number",
    default: 32,
    min: 4,
    max: 1024,
    integer: true,
    doc: "images are resized to size x size",
  },
  channels: {
    type: "number",
    default: 3,
    oneOf: [1, 3],
    doc: "1 = grey, 3 = colour",
  },
  resize: {
    type: "string",
    default: "area",
    oneOf: ["area", "bilinear"],
    doc: "area averages every source pixel (best for shrinking)",
  },
  fit: {
    type: "string",
    default: "crop",
    oneOf: ["crop", "stretch"],
    doc: "crop = the centred square, stretch = the whole image, distorted",
  },
  labels: {
    type: "string",
    default: "auto",
    oneOf: ["auto", "folders", "none"],
    doc:
      "folders = each top-level sub-folder is a class; auto = folders when any image is in one (then all must be), none when all are at the top",
  },
  limit: {
    type: "number",
    default: 0,
    min: 0,
    integer: true,
    doc: "0 = all, else a class-stratified subset of that many",
  },
  maxMegapixels: {
    type: "number",
    default: 40,
    min: 0,
    exclusiveMin: true,
    doc: "refuse larger images (decoding one needs 4 bytes per pixel)",
  },
} as const;

const IMAGE_EXTENSIONS = new Set([".png", ".jpg", ".jpeg"]);
const OTHER_IMAGE_EXTENSIONS = new Set([
  ".gif",
  ".bmp",
  ".webp",
  ".tif",
  ".tiff",
  ".heic",
  ".heif",
  ".avif",
]);

/** A decoded image: `[height, width, 4]` RGBA bytes. */
export interface Rgba {
  width: number;
  height: number;
  data: Uint8Array;
}

async function walk(dir: string, rel: string, out: string[]): Promise<void> {
  const entries: Deno.DirEntry[] = [];
  for await (const entry of Deno.readDir(join(dir, rel))) entries.push(entry);
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    if (entry.name.startsWith(".")) continue;
    const path = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory) await walk(dir, path, out);
    else if (entry.isFile) out.push(path);
  }
}

function hexStart(bytes: Uint8Array): string {
  return [...bytes.subarray(0, 4)]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join(" ");
}

/**
 * Width and height from a PNG or JPEG header, without decoding; null when
 * the bytes are neither.
 */
export function imageSize(
  bytes: Uint8Array,
): { format: "PNG" | "JPEG"; width: number; height: number } | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length >= 24 && png.every((b, i) => bytes[i] === b)) {
    return {
      format: "PNG",
      width: view.getUint32(16),
      height: view.getUint32(20),
    };
  }
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8) {
    // Walk the marker segments to the first start-of-frame (SOFn).
    let at = 2;
    while (at + 4 <= bytes.length) {
      if (bytes[at] !== 0xff) return { format: "JPEG", width: 0, height: 0 };
      const marker = bytes[at + 1];
      if (marker === 0xff) {
        at++;
        continue;
      }
      if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd9)) {
        at += 2;
        continue;
      }
      const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 &&
        marker !== 0xc8 && marker !== 0xcc;
      if (isFrame && at + 9 <= bytes.length) {
        return {
          format: "JPEG",
          height: view.getUint16(at + 5),
          width: view.getUint16(at + 7),
        };
      }
      at += 2 + view.getUint16(at + 2);
    }
    return { format: "JPEG", width: 0, height: 0 };
  }
  return null;
}

/**
 * Decodes PNG or JPEG bytes to RGBA; `name` is the file in errors. Throws a
 * DataError for anything that is not a whole, reasonably sized image.
 */
export function decodeImage(
  bytes: Uint8Array,
  name: string,
  maxMegapixels: number,
): Rgba {
  if (bytes.length === 0) {
    throw new DataError(
      `${name} is empty (0 bytes); remove it or replace it with the image`,
    );
  }
  const header = imageSize(bytes);
  if (!header) {
    throw new DataError(
      `${name} is not a PNG or JPEG image (it starts with bytes ${
        hexStart(bytes)
      }); remove it or convert it to PNG`,
    );
  }
  const { format, width, height } = header;
  if (width === 0 || height === 0) {
    throw new DataError(
      `${name} is a damaged or truncated ${format} (no image size in its header); re-save it or remove it`,
    );
  }
  const megapixels = (width * height) / 1e6;
  if (megapixels > maxMegapixels) {
    throw new DataError(
      `${name} is ${width}x${height} pixels (${
        megapixels.toFixed(1)
      } megapixels), above the limit of ${maxMegapixels}; shrink it, or raise the "maxMegapixels" option`,
    );
  }
  try {
    if (format === "PNG") {
      const png = PNG.sync.read(Buffer.from(bytes));
      return {
        width: png.width,
        height: png.height,
        data: new Uint8Array(png.data),
      };
    }
    const image = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      tolerantDecoding: false,
      maxResolutionInMP: maxMegapixels,
      maxMemoryUsageInMB: Math.max(512, Math.ceil(maxMegapixels * 4 * 2)),
    });
    return { width: image.width, height: image.height, data: image.data };
  } catch (err) {
    throw new DataError(
      `${name} is a damaged or truncated ${format} (${
        (err as Error).message
      }); re-save it or remove it`,
      { cause: err },
    );
  }
}

interface Taps {
  /** Per output index, the first tap at `from[j]` and `from[j + 1]` exclusive. */
  from: Int32Array;
  index: Int32Array;
  weight: Float64Array;
}

/**
 * The source pixels and weights of each of `dst` outputs along one axis,
 * drawn from source pixels `start .. start + length - 1`.
 */
function axisTaps(
  start: number,
  length: number,
  dst: number,
  method: string,
): Taps {
  const scale = length / dst;
  const index: number[] = [];
  const weight: number[] = [];
  const from = new Int32Array(dst + 1);
  const last = start + length - 1;
  for (let j = 0; j < dst; j++) {
    from[j] = index.length;
    if (method === "bilinear") {
      // Pixel centres at half-integers (align_corners = false).
      const s = start + (j + 0.5) * scale - 0.5;
      const i0 = Math.floor(s);
      const f = s - i0;
      index.push(Math.min(last, Math.max(start, i0)));
      weight.push(1 - f);
      if (f > 0) {
        index.push(Math.min(last, Math.max(start, i0 + 1)));
        weight.push(f);
      }
    } else {
      const a = start + j * scale;
      const b = start + (j + 1) * scale;
      for (let k = Math.floor(a); k < Math.ceil(b - 1e-9); k++) {
        const overlap = Math.min(b, k + 1) - Math.max(a, k);
        if (overlap > 1e-12) {
          index.push(Math.min(last, k));
          weight.push(overlap / scale);
        }
      }
    }
  }
  from[dst] = index.length;
  return {
    from,
    index: Int32Array.from(index),
    weight: Float64Array.from(weight),
  };
}

/**
 * Resizes RGBA to `[size, size, channels]` bytes at `out[offset..]`:
 * centre-cropped to a square first when `fit` is `"crop"`.
 */
export function resizeImage(
  image: Rgba,
  size: number,
  channels: number,
  method: string,
  fit: string,
  out: Uint8Array,
  offset: number,
): void {
  const { width, height, data } = image;
  let x0 = 0, y0 = 0, w = width, h = height;
  if (fit === "crop") {
    const side = Math.min(width, height);
    x0 = Math.floor((width - side) / 2);
    y0 = Math.floor((height - side) / 2);
    w = h = side;
  }
  const tx = axisTaps(x0, w, size, method);
  const ty = axisTaps(y0, h, size, method);
  // Horizontal pass over the rows that are used: [height][size][3].
  const rows = new Float64Array(height * size * 3);
  for (let y = y0; y < y0 + h; y++) {
    for (let j = 0; j < size; j++) {
      let r = 0, g = 0, b = 0;
      for (let t = tx.from[j]; t < tx.from[j + 1]; t++) {
        const p = (y * width + tx.index[t]) * 4;
        const wt = tx.weight[t];
        r += wt * data[p];
        g += wt * data[p + 1];
        b += wt * data[p + 2];
      }
      const q = (y * size + j) * 3;
      rows[q] = r;
      rows[q + 1] = g;
      rows[q + 2] = b;
    }
  }
  for (let i = 0; i < size; i++) {
    for (let j = 0; j < size; j++) {
      let r = 0, g = 0, b = 0;
      for (let t = ty.from[i]; t < ty.from[i + 1]; t++) {
        const q = (ty.index[t] * size + j) * 3;
        const wt = ty.weight[t];
        r += wt * rows[q];
        g += wt * rows[q + 1];
        b += wt * rows[q + 2];
      }
      const o = offset + (i * size + j) * channels;
      if (channels === 1) {
        out[o] = toByte(0.299 * r + 0.587 * g + 0.114 * b);
      } else {
        out[o] = toByte(r);
        out[o + 1] = toByte(g);
        out[o + 2] = toByte(b);
      }
    }
  }
}

function toByte(v: number): number {
  return Math.max(0, Math.min(255, Math.round(v)));
}

/** A folder of PNG/JPEG images, resized; sub-folders as classes. */
export const imageFolder: PluginDef<DatasetLoader, typeof schema> = {
  name: "image-folder",
  description:
    "a folder of PNG/JPEG files, resized; sub-folders are classes (used only for scores)",
  options: schema,
  create(opts) {
    const where = 'dataset "image-folder"';
    return {
      name: "image-folder",
      async load(ctx: LoadContext): Promise<Dataset> {
        const files: string[] = [];
        try {
          await walk(opts.dir, "", files);
        } catch (err) {
          throw new DataError(
            `${where}: cannot read the folder ${opts.dir} (${
              (err as Error).message
            }); check the "dir" option`,
            { cause: err },
          );
        }
        const images: string[] = [];
        const skipped: string[] = [];
        for (const file of files) {
          const ext = extname(file).toLowerCase();
          if (IMAGE_EXTENSIONS.has(ext)) images.push(file);
          else if (OTHER_IMAGE_EXTENSIONS.has(ext)) {
            throw new DataError(
              `${
                join(opts.dir, file)
              } is a ${ext} image; only PNG and JPEG are read: convert it (e.g. "mogrify -format png") or remove it`,
            );
          } else skipped.push(file);
        }
        if (skipped.length > 0) {
          const shown = skipped.slice(0, 3).join(", ");
          ctx.events.emit({
            type: "warning",
            message:
              `${where}: skipped ${skipped.length} file(s) in ${opts.dir} that are not .png/.jpg/.jpeg: ${shown}${
                skipped.length > 3 ? ", ..." : ""
              }`,
          });
        }
        if (images.length === 0) {
          throw new DataError(
            `${where}: ${opts.dir} holds no .png, .jpg or .jpeg images${
              skipped.length ? ` (only ${skipped.length} other file(s))` : ""
            }; point "dir" to a folder of images`,
          );
        }

        const atRoot = images.find((f) => !f.includes("/"));
        const inFolder = images.some((f) => f.includes("/"));
        // Images both at the top and in sub-folders: the user must say
        // whether the folders are classes, rather than have some unlabelled.
        const byFolder = opts.labels === "folders" ||
          (opts.labels === "auto" && inFolder);
        if (byFolder && atRoot !== undefined) {
          throw new DataError(
            `${where}: ${
              join(opts.dir, atRoot)
            } is not in a class sub-folder; move it into one, or set "labels" to "none"`,
          );
        }
        let labels: Int32Array | undefined;
        let classNames: string[] | undefined;
        if (byFolder) {
          const folders = images.map((f) => f.slice(0, f.indexOf("/")));
          classNames = [...new Set(folders)].sort();
          const ids = new Map(classNames.map((c, i) => [c, i]));
          labels = Int32Array.from(folders, (f) => ids.get(f)!);
        }

        const { size, channels } = opts;
        const stride = size * size * channels;
        const bytes = new Uint8Array(images.length * stride);
        for (let i = 0; i < images.length; i++) {
          const path = join(opts.dir, images[i]);
          const image = decodeImage(
            await Deno.readFile(path),
            path,
            opts.maxMegapixels,
          );
          resizeImage(
            image,
            size,
            channels,
            opts.resize,
            opts.fit,
            bytes,
            i * stride,
          );
          if ((i + 1) % 500 === 0 || i + 1 === images.length) {
            ctx.events.emit({
              type: "progress",
              phase: "data",
              label: `decode ${opts.dir}`,
              done: i + 1,
              total: images.length,
              unit: "images",
            });
          }
        }
        const dataset = inMemoryDataset({
          id: "image-folder",
          shape: [size, size, channels],
          bytes,
          labels,
          classNames,
          itemNames: images,
        });
        return applyLimit(dataset, opts.limit, where);
      },
    };
  },
};
