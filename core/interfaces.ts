/**
 * The interfaces of clknn's plugin kinds. Each is a name plus two or three
 * methods; plugins depend on `core/` only, never on each other.
 *
 * Images travel as float tensors `[B, H, W, C]` in [0, 1] (NHWC).
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { Rng } from "./random.ts";
import type { EventBus } from "./events.ts";

/** What a backend reports once it is loaded. */
export interface BackendInfo {
  /** The clknn backend name, e.g. `"wasm"`. */
  name: string;
  /** The tfjs backend name it set, e.g. `"wasm"` or `"tensorflow"`. */
  engine: string;
  /** Threads it computes with, when known. */
  threads?: number;
  /** Anything the user should know, e.g. "SIMD on, 2 threads". */
  detail?: string;
}

/** Chooses and initialises the tfjs engine everything else runs on. */
export interface Backend {
  readonly name: string;
  /** Loads the engine and makes it tfjs's current backend. Throws a BackendError naming what to install when it cannot. */
  load(): Promise<BackendInfo>;
}

/** Maps images to feature vectors. */
export interface Backbone {
  readonly name: string;
  /** Length of the feature vector. */
  readonly featureDim: number;
  /** A model from `[B, H, W, C]` images to `[B, featureDim]` features. */
  build(
    inputShape: readonly [number, number, number],
    seed: number,
  ): tf.LayersModel;
}

/** Maps features to an instance embedding or a cluster assignment. */
export interface Head {
  readonly name: string;
  /** A model from `[B, inputDim]` to `[B, outputDim]` raw outputs. */
  build(inputDim: number, outputDim: number, seed: number): tf.LayersModel;
  /** Turns raw outputs into what losses consume (L2-normalised rows, or softmax rows). */
  activate(raw: tf.Tensor2D): tf.Tensor2D;
}

/** A random image transform applied to a whole batch at once. */
export interface Augmentation {
  readonly name: string;
  /** Returns a new batch of the same shape; one independent draw per image from `rng`. */
  apply(images: tf.Tensor4D, rng: Rng): tf.Tensor4D;
}

/** A loss's value and its named terms (for logs and the dashboard). */
export interface LossValue {
  total: tf.Scalar;
  terms: Record<string, tf.Scalar>;
}

/** Stage 1 inputs: two views of the same N images. */
export interface RepresentationBatch {
  /** L2-normalised instance embeddings of view 1 and view 2, `[N, D]`. */
  z1: tf.Tensor2D;
  z2: tf.Tensor2D;
  /** Soft cluster assignments (softmax rows) of view 1 and view 2, `[N, C]`. */
  c1: tf.Tensor2D;
  c2: tf.Tensor2D;
}

/** Stage 2 inputs: anchors and one mined neighbour of each. */
export interface ClusteringBatch {
  /** Softmax assignments of the anchors, `[N, C]`. */
  anchors: tf.Tensor2D;
  /** Softmax assignments of one neighbour per anchor, `[N, C]`. */
  neighbours: tf.Tensor2D;
}

/** Stage 3 inputs: confident weak-view predictions and strong-view logits. */
export interface SelfLabelBatch {
  /** Softmax assignments of weakly augmented images (targets; no gradient), `[N, C]`. */
  weak: tf.Tensor2D;
  /** Raw logits of strongly augmented views of the same images, `[N, C]`. */
  strongLogits: tf.Tensor2D;
  /**
   * What the loss's `pseudoLabels` read from `weak` before the gradient
   * tape; the pipeline always passes it when the loss has that method.
   */
  pseudo?: PseudoLabels;
}

/** Pseudo-labels of a batch, read from its weak-view predictions. */
export interface PseudoLabels {
  /** The class of each sample's top weak prediction, `[N]`. */
  targets: Int32Array;
  /** Each sample's weight in the loss; 0 when not confident enough, `[N]`. */
  weights: Float32Array;
  /** How many samples are confident enough to count. */
  confident: number;
}

/** Stage-1 loss (e.g. the double contrastive loss). */
export interface RepresentationLoss {
  readonly name: string;
  readonly stage: "representation";
  /** Whether the loss needs the instance head and the cluster head outputs. */
  readonly uses: { instance: boolean; cluster: boolean };
  compute(batch: RepresentationBatch): LossValue;
}

/** Stage-2 loss (e.g. the SCAN / kNN loss). */
export interface ClusteringLoss {
  readonly name: string;
  readonly stage: "clustering";
  compute(batch: ClusteringBatch): LossValue;
}

/** Stage-3 loss (self-labelling). */
export interface SelfLabelLoss {
  readonly name: string;
  readonly stage: "selflabel";
  /**
   * Reads the weak predictions into pseudo-labels before the gradient tape.
   * Async because a GPU backend (webgpu under Deno) cannot read tensors
   * synchronously, and `compute` runs inside the tape, where nothing can be
   * awaited.
   */
  pseudoLabels?(weak: tf.Tensor2D): Promise<PseudoLabels>;
  compute(batch: SelfLabelBatch): LossValue;
}

/** Any loss plugin; `stage` says which batch it takes. */
export type Loss = RepresentationLoss | ClusteringLoss | SelfLabelLoss;

/** The K nearest neighbours of every row; row i never lists itself. */
export interface Neighbours {
  k: number;
  /** `[n * k]`, neighbours of row i at `i*k .. i*k+k-1`, most similar first. */
  indices: Int32Array;
  /** `[n * k]`, the matching similarities. */
  similarities: Float32Array;
}

/** Finds the K nearest neighbours of every feature row. */
export interface NeighbourSearch {
  readonly name: string;
  /** `features` is `[n, dim]` row-major. */
  search(
    features: Float32Array,
    n: number,
    dim: number,
    k: number,
  ): Promise<Neighbours>;
}

/** An image dataset held as bytes; batches are read on demand. */
export interface Dataset {
  /** A short id, e.g. `"fashion-mnist"`, used in metrics.json. */
  readonly id: string;
  readonly size: number;
  /** `[H, W, C]` of every image. */
  readonly shape: readonly [number, number, number];
  /** Ground-truth labels, used only for scoring. */
  readonly labels?: Int32Array;
  readonly numClasses?: number;
  readonly classNames?: readonly string[];
  /** One name per image (e.g. file names) for assignments.csv. */
  readonly itemNames?: readonly string[];
  /** Bytes of the images at `indices`, `[B, H, W, C]` row-major, 0..255. */
  read(indices: ArrayLike<number>): Uint8Array;
}

/** What a dataset loader gets from the pipeline. */
export interface LoadContext {
  events: EventBus;
  /** Where downloads and extracted archives are cached. */
  cacheDir: string;
}

/** Loads a dataset (from disk, a cache or a download). */
export interface DatasetLoader {
  readonly name: string;
  load(ctx: LoadContext): Promise<Dataset>;
}

/** A score of predicted clusters against true labels. */
export interface Metric {
  readonly name: string;
  compute(predicted: Int32Array, truth: Int32Array): number;
}

/** Subscribes to the event stream (terminal, JSONL log, dashboard). */
export interface Reporter {
  readonly name: string;
  attach(events: EventBus): void;
  /** Flushes and releases what it holds. */
  close(): Promise<void>;
}
