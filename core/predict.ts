/**
 * Using a finished run on new images: load its models from the run folder
 * and assign every image to one of its clusters, exactly as the run's own
 * final assignment did (same backbone, same kept head, inference mode).
 *
 * @example
 * ```ts
 * import { assignClusters, bundledRegistries, loadRun } from "../mod.ts";
 * const run = await loadRun("runs/default-x", bundledRegistries());
 * const { labels, confidence } = await assignClusters(run, dataset); // dataset of run.inputShape
 * run.dispose();
 * ```
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import type { Config } from "./config.ts";
import { argmaxRows, mapBatches, range } from "./data.ts";
import { ConfigError, DataError } from "./errors.ts";
import type { Dataset, Head } from "./interfaces.ts";
import { loadModel } from "./model_io.ts";
import { OUTPUTS, type StageName } from "./pipeline.ts";
import type { Registries } from "./registries.ts";
import { loadPluginFile, resolveConfig } from "./resolve.ts";

const PREDICT_BATCH = 256;

/** A finished run's models, ready to assign clusters to new images. */
export interface TrainedRun {
  /** The run folder. */
  dir: string;
  /** The run's resolved config (its config.yaml). */
  config: Config;
  /** `[H, W, C]` of the images the backbone takes. */
  inputShape: readonly [number, number, number];
  /** Number of clusters C. */
  clusters: number;
  /**
   * The head whose assignments the run wrote: `"clustering_head"` (the kept
   * SCAN head) once the clustering stage ran, else `"cluster_head"`.
   */
  headName: "clustering_head" | "cluster_head";
  /** The backend the models run on, e.g. `"native"`. */
  backend: string;
  backbone: tf.LayersModel;
  head: tf.LayersModel;
  /** The head plugin, whose `activate` turns raw outputs into probabilities. */
  activation: Head;
  /** Frees the models. */
  dispose(): void;
}

/** What {@linkcode loadRun} may be given. */
export interface LoadRunOptions {
  /** A backend other than the run's own, e.g. `"wasm"` where OpenBLAS is missing. */
  backend?: string;
}

/** Cluster assignments of `n` images. */
export interface Assignments {
  /** `[n]` cluster of each image, 0..C-1. */
  labels: Int32Array;
  /** `[n]` probability of that cluster. */
  confidence: Float32Array;
  /** `[n, C]` row-major soft assignments. */
  probs: Float32Array;
}

function isDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * The stages a run finished, from its checkpoint's header. Only the header
 * is read: the rest (weights and optimiser moments) can be hundreds of MB.
 * Layout as written by core/checkpoint.ts: 8-byte magic, u32 LE length, JSON.
 */
function finishedStages(dir: string): StageName[] {
  const path = join(dir, OUTPUTS.checkpoint);
  const bad = (why: string) =>
    new DataError(
      `Run folder ${dir} has an unreadable ${OUTPUTS.checkpoint} (${why}); expected a run written by deno task train`,
    );
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch {
    throw new DataError(
      `Run folder ${dir} has no ${OUTPUTS.checkpoint}; the run has not finished a stage: wait for it or continue it with deno task train --resume ${dir}`,
    );
  }
  try {
    const prefix = readExactly(file, 12);
    if (
      !prefix || new TextDecoder().decode(prefix.subarray(0, 8)) !== "CLKNNCK1"
    ) throw bad("wrong magic");
    const length = new DataView(prefix.buffer).getUint32(8, true);
    const header = readExactly(file, length);
    if (!header) throw bad("truncated header");
    let state: { done?: unknown };
    try {
      state = JSON.parse(new TextDecoder().decode(header)).state ?? {};
    } catch {
      throw bad("unreadable header");
    }
    return Array.isArray(state.done) ? state.done : [];
  } finally {
    file.close();
  }
}

function readExactly(file: Deno.FsFile, n: number): Uint8Array | undefined {
  const out = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const got = file.readSync(out.subarray(off));
    if (got === null || got === 0) return undefined;
    off += got;
  }
  return out;
}

/**
 * Loads a finished run from its folder: its config, backend, the backbone
 * and the head its assignments came from. The run's `plugins` files are
 * loaded into `registries` (so pass registries without them, e.g. fresh
 * `bundledRegistries()`). Throws a DataError with one line when the folder
 * is missing, is not a run, or has no `model/` yet (the run has not
 * finished); the run's backend is loaded and made tfjs's current one.
 */
export async function loadRun(
  dir: string,
  registries: Registries,
  options: LoadRunOptions = {},
): Promise<TrainedRun> {
  if (!isDir(dir)) {
    throw new DataError(
      `Run folder ${dir} does not exist; expected a folder written by deno task train, e.g. runs/<name>`,
    );
  }
  const configFile = join(dir, OUTPUTS.config);
  if (!isFile(configFile)) {
    throw new DataError(
      `${dir} is not a clknn run folder (no ${OUTPUTS.config}); expected a folder written by deno task train`,
    );
  }
  const modelDir = join(dir, OUTPUTS.models);
  const done = finishedStages(dir);
  const headName = done.includes("clustering") || done.includes("selflabel")
    ? "clustering_head"
    : "cluster_head";
  for (const part of ["backbone", headName]) {
    if (!isFile(join(modelDir, part, "model.json"))) {
      throw new DataError(
        `Run folder ${dir} has no ${OUTPUTS.models}/${part}/model.json; the run has not finished: wait for it, or continue it with deno task train --resume ${dir}`,
      );
    }
  }
  const config = resolveConfig({ file: configFile });
  for (const file of config.plugins) await loadPluginFile(file, registries);
  const backendName = options.backend ?? config.backend;
  const ref = headName === "clustering_head"
    ? config.clustering.head
    : config.model.cluster_head;
  let activation: Head;
  let backendPlugin;
  try {
    backendPlugin = registries.backend.build(backendName);
    activation = registries.head.build(ref.name, ref.options);
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new ConfigError(`Run ${dir}: ${err.message}`, { cause: err });
    }
    throw err;
  }
  await backendPlugin.load();

  const backbone = await loadModel(join(modelDir, "backbone"));
  const head = await loadModel(join(modelDir, headName));
  const shape = backbone.inputs[0].shape;
  const clusters = head.outputs[0].shape[1];
  if (
    shape.length !== 4 || shape.slice(1).some((d) => !d) || !clusters
  ) {
    backbone.dispose();
    head.dispose();
    throw new DataError(
      `Run folder ${dir}: the backbone takes [${shape}] and the head gives [${
        head.outputs[0].shape
      }]; expected images [batch, H, W, C] and [batch, clusters]`,
    );
  }
  return {
    dir,
    config,
    inputShape: shape.slice(1) as [number, number, number],
    clusters,
    headName,
    backend: backendName,
    backbone,
    head,
    activation,
    dispose() {
      backbone.dispose();
      head.dispose();
    },
  };
}

/**
 * Assigns every image of `dataset` to a cluster of `run`. The dataset's
 * images must have the run's input shape (`run.inputShape`).
 */
export async function assignClusters(
  run: TrainedRun,
  dataset: Dataset,
): Promise<Assignments> {
  const [h, w, c] = run.inputShape;
  if (
    dataset.shape[0] !== h || dataset.shape[1] !== w || dataset.shape[2] !== c
  ) {
    throw new DataError(
      `Images of dataset "${dataset.id}" are ${
        dataset.shape.join("x")
      }; the run ${run.dir} takes ${h}x${w}x${c}: resize them to that shape first`,
    );
  }
  // the same computation as the run's final assignment (core/pipeline.ts)
  const { data: probs } = await mapBatches(
    dataset,
    range(dataset.size),
    PREDICT_BATCH,
    (x) =>
      run.activation.activate(
        run.head.apply(run.backbone.apply(x, { training: false }), {
          training: false,
        }) as tf.Tensor2D,
      ),
  );
  const { labels, confidence } = argmaxRows(probs, run.clusters);
  return { labels, confidence, probs };
}
