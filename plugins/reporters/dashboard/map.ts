/**
 * The 2-D map of a run's stage-1 features: UMAP on a seeded sample of at
 * most 2,000 images, computed in a worker.
 *
 * @module
 */
import { Rng } from "../../../core/random.ts";

/** Up to `max` distinct indices in [0, n), ascending, drawn with a seeded Rng. */
export function sampleIndices(n: number, max: number, seed: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const perm = new Rng(seed).permutation(n);
  return Array.from(perm.subarray(0, max)).sort((a, b) => a - b);
}

/** UMAP embedding of `[n, dim]` rows to `[n, 2]`, deterministic for a seed. */
export function umap2d(
  data: Float32Array,
  n: number,
  dim: number,
  seed: number,
): Promise<number[][]> {
  if (n < 3) return Promise.resolve(Array.from({ length: n }, () => [0, 0]));
  const worker = new Worker(new URL("./umap_worker.ts", import.meta.url), {
    type: "module",
  });
  return new Promise<number[][]>((resolve, reject) => {
    worker.onmessage = (msg) => {
      worker.terminate();
      if (msg.data.error) reject(new Error(msg.data.error));
      else resolve(msg.data.coords);
    };
    worker.onerror = (ev) => {
      ev.preventDefault();
      worker.terminate();
      reject(new Error(ev.message));
    };
    worker.postMessage({ data, n, dim, seed });
  });
}
