/**
 * Saving and loading models in tfjs's own layers-model format (a
 * `model.json` with topology and weights manifest, plus `weights.bin`),
 * readable by `tf.loadLayersModel` anywhere, and compact weight snapshots
 * for checkpoints.
 *
 * Writes are atomic: each file is written to a temporary name in the same
 * folder and renamed over the old one, so a crash never leaves a half
 * written file (model.json is renamed last; a crash between the two renames
 * can pair new weights with the old model.json, which has the same layout
 * whenever the architecture is unchanged).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import * as fs from "node:fs";
import * as path from "node:path";
import { DataError } from "./errors.ts";

const MODEL_FILE = "model.json";
const WEIGHTS_FILE = "weights.bin";

function writeAtomic(file: string, data: string | Uint8Array): void {
  const temp = `${file}.tmp-${Deno.pid}`;
  fs.writeFileSync(temp, data);
  fs.renameSync(temp, file);
}

function joinWeightData(data: tf.io.WeightData): ArrayBuffer {
  return tf.io.CompositeArrayBuffer.join(data);
}

/** A tfjs IO handler that writes and reads a layers model in folder `dir`. */
export function fileHandler(dir: string): tf.io.IOHandler {
  return {
    save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new DataError(
          `Cannot save to ${dir}: the model is a graph model; expected a tfjs layers model`,
        );
      }
      fs.mkdirSync(dir, { recursive: true });
      const weights = new Uint8Array(
        joinWeightData(artifacts.weightData ?? new ArrayBuffer(0)),
      );
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology ?? {},
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: [{
          paths: [`./${WEIGHTS_FILE}`],
          weights: artifacts.weightSpecs ?? [],
        }],
      };
      if (artifacts.trainingConfig) {
        modelJson.trainingConfig = artifacts.trainingConfig;
      }
      if (artifacts.userDefinedMetadata) {
        modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;
      }
      writeAtomic(path.join(dir, WEIGHTS_FILE), weights);
      writeAtomic(path.join(dir, MODEL_FILE), JSON.stringify(modelJson));
      return Promise.resolve({
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: "JSON",
          weightDataBytes: weights.byteLength,
        },
      });
    },
    load(): Promise<tf.io.ModelArtifacts> {
      const jsonPath = path.join(dir, MODEL_FILE);
      let modelJson: tf.io.ModelJSON;
      try {
        modelJson = JSON.parse(fs.readFileSync(jsonPath, "utf8"));
      } catch (error) {
        throw new DataError(
          `Cannot read model ${jsonPath}: ${
            (error as Error).message
          }; expected a model.json written by clknn or tfjs`,
          { cause: error },
        );
      }
      return tf.io.getModelArtifactsForJSON(modelJson, (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const buffers: Uint8Array[] = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const p of group.paths) {
            const file = path.join(dir, p);
            try {
              buffers.push(fs.readFileSync(file));
            } catch (error) {
              throw new DataError(
                `Cannot read weights ${file} named by ${jsonPath}: ${
                  (error as Error).message
                }`,
                { cause: error },
              );
            }
          }
        }
        const total = buffers.reduce((n, b) => n + b.byteLength, 0);
        const data = new Uint8Array(total);
        let offset = 0;
        for (const b of buffers) {
          data.set(b, offset);
          offset += b.byteLength;
        }
        return Promise.resolve([specs, data.buffer]);
      });
    },
  };
}

/** Writes `model` to `dir/model.json` and `dir/weights.bin` (tfjs layers format). */
export async function saveModel(
  model: tf.LayersModel,
  dir: string,
): Promise<void> {
  await model.save(fileHandler(dir));
}

/** Loads a layers model saved by {@linkcode saveModel} (or by tfjs). */
export function loadModel(dir: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(fileHandler(dir));
}

/** Name, shape and dtype of each weight in a snapshot, in model order. */
export interface WeightsManifest {
  weights: { name: string; shape: number[]; dtype: string }[];
}

/**
 * All weights of `model` (trainable ones and batch-norm statistics), in
 * `model.weights` order, as one little-endian float32 buffer and a manifest.
 * Async because weights on a GPU backend (webgpu under Deno) can only be
 * read with `await data()`.
 */
export async function serializeWeights(
  model: tf.LayersModel,
): Promise<{ manifest: WeightsManifest; data: ArrayBuffer }> {
  const values = model.getWeights();
  const manifest: WeightsManifest = {
    weights: model.weights.map((w, i) => ({
      name: w.originalName,
      shape: [...values[i].shape],
      dtype: values[i].dtype,
    })),
  };
  const total = values.reduce((n, v) => n + v.size, 0);
  const data = new Float32Array(total);
  let offset = 0;
  for (const v of values) {
    if (v.dtype !== "float32") {
      throw new DataError(
        `Cannot snapshot weight of dtype ${v.dtype}; expected float32 weights`,
      );
    }
    data.set(await v.data() as Float32Array, offset);
    offset += v.size;
  }
  return { manifest, data: data.buffer };
}

/**
 * Sets the weights of `model` from a {@linkcode serializeWeights} snapshot.
 * Throws a DataError naming the first weight whose shape differs (e.g. a
 * checkpoint of another architecture or width).
 */
export function restoreWeights(
  model: tf.LayersModel,
  manifest: WeightsManifest,
  data: ArrayBuffer,
): void {
  const weights = model.weights;
  if (weights.length !== manifest.weights.length) {
    throw new DataError(
      `Checkpoint has ${manifest.weights.length} weights but the model "${model.name}" has ${weights.length}; expected a checkpoint of the same architecture`,
    );
  }
  const floats = new Float32Array(data);
  const expected = manifest.weights.reduce(
    (n, w) => n + w.shape.reduce((a, b) => a * b, 1),
    0,
  );
  if (floats.length !== expected) {
    throw new DataError(
      `Checkpoint weights hold ${floats.length} numbers; the manifest expects ${expected}`,
    );
  }
  let offset = 0;
  const tensors = tf.tidy(() =>
    manifest.weights.map((spec, i) => {
      const shape = weights[i].shape as number[];
      if (!tf.util.arraysEqual(shape, spec.shape)) {
        throw new DataError(
          `Checkpoint weight ${i} ("${spec.name}") has shape [${spec.shape}] but the model's "${
            weights[i].originalName
          }" has [${shape}]; expected a checkpoint of the same architecture and width`,
        );
      }
      const size = spec.shape.reduce((a, b) => a * b, 1);
      const t = tf.tensor(floats.slice(offset, offset + size), spec.shape);
      offset += size;
      return t;
    })
  );
  model.setWeights(tensors);
  tf.dispose(tensors);
}
