/**
 * A {@linkcode Dataset} whose images are all held in one byte array, and a
 * view that exposes a subset of another dataset.
 *
 * @module
 */
import type { Dataset } from "../core/interfaces.ts";

/** What an in-memory dataset is built from. */
export interface DatasetParts {
  id: string;
  /** `[H, W, C]` of every image. */
  shape: readonly [number, number, number];
  /** `[N, H, W, C]` row-major, 0..255. */
  bytes: Uint8Array;
  labels?: Int32Array;
  classNames?: readonly string[];
  itemNames?: readonly string[];
}

/** Throws a RangeError when an index is not an image of a dataset of `size`. */
export function checkIndex(index: number, size: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= size) {
    throw new RangeError(
      `Image index ${index} is out of range: the dataset has ${size} images`,
    );
  }
}

/**
 * A dataset over `parts.bytes`; `read` copies the requested images.
 *
 * @example
 * ```ts
 * const ds = inMemoryDataset({
 *   id: "two",
 *   shape: [1, 1, 1],
 *   bytes: new Uint8Array([7, 9]),
 * });
 * ds.read([1, 0]); // Uint8Array [9, 7]
 * ```
 */
export function inMemoryDataset(parts: DatasetParts): Dataset {
  const [h, w, c] = parts.shape;
  const stride = h * w * c;
  if (stride === 0 || parts.bytes.length % stride !== 0) {
    throw new RangeError(
      `${parts.bytes.length} bytes do not hold whole ${h}x${w}x${c} images`,
    );
  }
  const size = parts.bytes.length / stride;
  if (parts.labels && parts.labels.length !== size) {
    throw new RangeError(`${parts.labels.length} labels for ${size} images`);
  }
  if (parts.itemNames && parts.itemNames.length !== size) {
    throw new RangeError(`${parts.itemNames.length} names for ${size} images`);
  }
  const bytes = parts.bytes;
  return {
    id: parts.id,
    size,
    shape: parts.shape,
    labels: parts.labels,
    numClasses: parts.classNames?.length,
    classNames: parts.classNames,
    itemNames: parts.itemNames,
    read(indices: ArrayLike<number>): Uint8Array {
      const out = new Uint8Array(indices.length * stride);
      for (let i = 0; i < indices.length; i++) {
        const index = indices[i];
        checkIndex(index, size);
        out.set(
          bytes.subarray(index * stride, (index + 1) * stride),
          i * stride,
        );
      }
      return out;
    },
  };
}

/** A dataset of the images of `base` at `indices`, in that order. */
export function subsetDataset(base: Dataset, indices: Int32Array): Dataset {
  for (const index of indices) checkIndex(index, base.size);
  const labels = base.labels
    ? Int32Array.from(indices, (i) => base.labels![i])
    : undefined;
  const itemNames = base.itemNames
    ? Array.from(indices, (i) => base.itemNames![i])
    : undefined;
  return {
    id: base.id,
    size: indices.length,
    shape: base.shape,
    labels,
    numClasses: base.numClasses,
    classNames: base.classNames,
    itemNames,
    read(wanted: ArrayLike<number>): Uint8Array {
      const mapped = new Int32Array(wanted.length);
      for (let i = 0; i < wanted.length; i++) {
        checkIndex(wanted[i], indices.length);
        mapped[i] = indices[wanted[i]];
      }
      return base.read(mapped);
    },
  };
}
