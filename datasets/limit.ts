/**
 * The `limit` option shared by the dataset loaders: a deterministic,
 * class-stratified subset, so a quick run on 1,000 images still sees every
 * class in its true proportion.
 *
 * @module
 */
import type { Dataset } from "../core/interfaces.ts";
import { ConfigError } from "../core/errors.ts";
import { subsetDataset } from "./in_memory.ts";

/**
 * Indices of `limit` of `labels.length` images, sorted ascending. Each class
 * gets its share by largest remainder (ties to the lower class id), and the
 * images of a class are taken evenly spaced through its occurrences in
 * file order. Without labels, the picks are evenly spaced over all images.
 *
 * @example
 * ```ts
 * stratifiedIndices(new Int32Array([0, 0, 1, 1, 1, 1]), 3); // [0, 2, 4]
 * ```
 */
export function stratifiedIndices(
  labels: Int32Array | undefined,
  limit: number,
  size = labels?.length ?? 0,
): Int32Array {
  if (limit >= size) return Int32Array.from({ length: size }, (_, i) => i);
  if (!labels) {
    return evenlySpaced(Int32Array.from({ length: size }, (_, i) => i), limit);
  }
  const members = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const list = members.get(labels[i]);
    if (list) list.push(i);
    else members.set(labels[i], [i]);
  }
  const classes = [...members.keys()].sort((a, b) => a - b);
  const quota = new Map<number, number>();
  let given = 0;
  for (const c of classes) {
    const q = Math.floor((limit * members.get(c)!.length) / size);
    quota.set(c, q);
    given += q;
  }
  // Largest remainder: the classes that lost the most to flooring get one more.
  const byRemainder = [...classes].sort((a, b) => {
    const ra = (limit * members.get(a)!.length) % size;
    const rb = (limit * members.get(b)!.length) % size;
    return rb - ra || a - b;
  });
  for (let i = 0; given < limit; i++, given++) {
    const c = byRemainder[i % byRemainder.length];
    quota.set(c, quota.get(c)! + 1);
  }
  const picked: number[] = [];
  for (const c of classes) {
    picked.push(
      ...evenlySpaced(Int32Array.from(members.get(c)!), quota.get(c)!),
    );
  }
  return Int32Array.from(picked).sort();
}

function evenlySpaced(items: Int32Array, count: number): Int32Array {
  const out = new Int32Array(count);
  for (let j = 0; j < count; j++) {
    out[j] = items[Math.floor((j * items.length) / count)];
  }
  return out;
}

/**
 * `dataset` itself when `limit` is 0, else its stratified subset of `limit`
 * images. A limit above the dataset's size is a ConfigError rather than a
 * silent "all".
 */
export function applyLimit(
  dataset: Dataset,
  limit: number,
  where: string,
): Dataset {
  if (limit === 0 || limit === dataset.size) return dataset;
  if (limit > dataset.size) {
    throw new ConfigError(
      `${where}: option "limit" is ${limit} but the data has only ${dataset.size} images; use 0 for all or a number up to ${dataset.size}`,
    );
  }
  return subsetDataset(
    dataset,
    stratifiedIndices(dataset.labels, limit, dataset.size),
  );
}
