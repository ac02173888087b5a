/**
 * The IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/):
 * two zero bytes, a type byte (0x08 = unsigned byte), the number of
 * dimensions, each dimension as a big-endian uint32, then the data.
 * Files may be gzipped; the gzip magic decides.
 *
 * @module
 */
import { gunzipSync } from "node:zlib";
import { DataError } from "../core/errors.ts";

/** A parsed IDX array of unsigned bytes. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** True when `bytes` start with the gzip magic 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Parses IDX bytes (gzipped or raw). `source` names the file in errors.
 * Only the unsigned-byte type is accepted, which is all (Fashion-)MNIST uses.
 *
 * @example
 * ```ts
 * const bytes = new Uint8Array([0, 0, 8, 1, 0, 0, 0, 2, 5, 6]);
 * parseIdx(bytes, "tiny"); // { dims: [2], data: Uint8Array [5, 6] }
 * ```
 */
export function parseIdx(bytes: Uint8Array, source: string): IdxArray {
  let raw = bytes;
  if (isGzip(bytes)) {
    try {
      raw = new Uint8Array(gunzipSync(bytes));
    } catch (err) {
      throw new DataError(
        `${source} is not valid gzip data or is truncated (${
          (err as Error).message
        }); delete it and retry`,
        { cause: err },
      );
    }
  }
  if (raw.length < 4 || raw[0] !== 0 || raw[1] !== 0 || raw[3] === 0) {
    const magic = [...raw.subarray(0, 4)].map((b) =>
      b.toString(16).padStart(2, "0")
    ).join(" ");
    throw new DataError(
      `${source} is not an IDX file (magic bytes ${
        magic || "missing"
      }, expected 00 00 08 0N); delete it and retry, or point to the right file`,
    );
  }
  if (raw[2] !== 0x08) {
    throw new DataError(
      `${source} holds IDX data of type 0x${
        raw[2].toString(16)
      }; only unsigned bytes (0x08) are supported, as in (Fashion-)MNIST`,
    );
  }
  const rank = raw[3];
  const headerLength = 4 + 4 * rank;
  if (raw.length < headerLength) {
    throw new DataError(
      `${source} is truncated inside its IDX header (${raw.length} bytes); delete it and retry`,
    );
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = raw.length - headerLength;
  if (actual !== expected) {
    throw new DataError(
      `${source} should hold ${expected} data bytes for dimensions ${
        dims.join("x")
      } but holds ${actual} (${
        actual < expected ? "truncated" : "trailing data"
      }); delete it and retry`,
    );
  }
  return { dims, data: raw.subarray(headerLength) };
}

/** Reads and parses an IDX file from disk. */
export async function readIdxFile(path: string): Promise<IdxArray> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    throw new DataError(
      `Cannot read ${path}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return parseIdx(bytes, path);
}
