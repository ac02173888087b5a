/**
 * Runs UMAP off the server's thread: a few seconds of pure JS on 2,000
 * points would otherwise stall every SSE client (and, inside a training
 * process, training itself).
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { UMAP } from "umap-js";
import { Rng } from "../../../core/random.ts";

self.onmessage = (
  msg: MessageEvent<
    { data: Float32Array; n: number; dim: number; seed: number }
  >,
) => {
  const { data, n, dim, seed } = msg.data;
  try {
    const rows: number[][] = [];
    for (let i = 0; i < n; i++) {
      rows.push(Array.from(data.subarray(i * dim, (i + 1) * dim)));
    }
    const rng = new Rng(seed);
    const umap = new UMAP({
      nComponents: 2,
      nNeighbors: Math.max(2, Math.min(15, n - 1)),
      nEpochs: 200,
      random: () => rng.next(),
    });
    self.postMessage({ coords: umap.fit(rows) });
  } catch (err) {
    self.postMessage({ error: String(err) });
  }
};
