/**
 * The benchmark's cases and how each one runs on the current tfjs backend:
 * a ResNet-18 training step (forward, backward, Adam), a full stage-1 step
 * (two augmented views, both heads, the double contrastive loss) and exact
 * cosine neighbour mining. bench/torch_reference.py runs the same cases.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Registries } from "../core/registries.ts";
import type { Config } from "../core/config.ts";
import type { Augmentation, Head } from "../core/interfaces.ts";
import { Rng } from "../core/random.ts";

/** One measured case; `torch_reference.py` reads the same fields. */
export interface BenchCase {
  /** Unique and stable, e.g. `train-w0.25-32x32x3-b64`. */
  id: string;
  kind: "train" | "stage1" | "mine";
  /** ResNet-18 width multiplier (train, stage1). */
  width?: number;
  /** `[H, W, C]` (train, stage1). */
  input?: [number, number, number];
  batch?: number;
  /** Cluster head outputs (stage1). */
  clusters?: number;
  /** Rows, dimension and neighbours (mine). */
  n?: number;
  dim?: number;
  k?: number;
  warmup: number;
  repeats: number;
}

function trainCase(
  width: number,
  input: [number, number, number],
  batch: number,
  warmup: number,
  repeats: number,
): BenchCase {
  return {
    id: `train-w${width}-${input.join("x")}-b${batch}`,
    kind: "train",
    width,
    input,
    batch,
    warmup,
    repeats,
  };
}

function stage1Case(
  width: number,
  input: [number, number, number],
  batch: number,
  warmup: number,
  repeats: number,
): BenchCase {
  return {
    id: `stage1-w${width}-${input.join("x")}-b${batch}`,
    kind: "stage1",
    width,
    input,
    batch,
    clusters: 10,
    warmup,
    repeats,
  };
}

function mineCase(n: number, dim: number, k: number, repeats: number) {
  return {
    id: `mine-${n}x${dim}-k${k}`,
    kind: "mine",
    n,
    dim,
    k,
    warmup: 1,
    repeats,
  } satisfies BenchCase;
}

/** The cases of a full run, or of `--quick` (small widths, fewer repeats). */
export function planCases(quick: boolean): BenchCase[] {
  if (quick) {
    return [
      trainCase(0.125, [32, 32, 3], 64, 1, 3),
      stage1Case(0.125, [28, 28, 1], 64, 1, 2),
      mineCase(4000, 512, 30, 2),
    ];
  }
  const cases: BenchCase[] = [];
  for (const width of [0.25, 1]) {
    for (const input of [[32, 32, 3], [28, 28, 1]] as const) {
      for (const batch of [64, 128]) {
        // width 1 steps take seconds each: fewer repeats keep a run in minutes
        cases.push(
          trainCase(
            width,
            [...input],
            batch,
            width < 1 ? 2 : 1,
            width < 1 ? 5 : 3,
          ),
        );
      }
    }
  }
  // the default preset's shape (width 0.125, 28x28x1, batch 256) and a wider one
  cases.push(stage1Case(0.125, [28, 28, 1], 256, 1, 3));
  cases.push(stage1Case(0.25, [28, 28, 1], 64, 1, 3));
  cases.push(mineCase(10000, 512, 30, 3));
  return cases;
}

/** Relative cost of a case, to predict one from a cheaper one of the same kind. */
export function caseCost(c: BenchCase): number {
  if (c.kind === "mine") return c.n! * c.n! * c.dim!;
  const [h, w, ch] = c.input!;
  return c.width! * c.width! * c.batch! * h * w * (ch === 3 ? 1.05 : 1) *
    (c.kind === "stage1" ? 2 : 1);
}

/** What the tfjs side needs to build a stage-1 step like the pipeline's. */
export interface Stage1Parts {
  augment: Augmentation;
  instanceHead: Head;
  clusterHead: Head;
}

/** The stage-1 plugins of a config (augmentations composed in order). */
export function stage1Parts(
  config: Config,
  registries: Registries,
): Stage1Parts {
  const augs = config.augment.pipeline.map((ref) =>
    registries.augmentation.build(ref.name, ref.options)
  );
  return {
    augment: {
      name: augs.map((a) => a.name).join("+"),
      apply(images, rng) {
        let current = images;
        for (const aug of augs) {
          const next = aug.apply(current, rng);
          if (current !== images) current.dispose();
          current = next;
        }
        return current;
      },
    },
    instanceHead: registries.head.build(
      config.model.instance_head.name,
      config.model.instance_head.options,
    ),
    clusterHead: registries.head.build(
      config.model.cluster_head.name,
      config.model.cluster_head.options,
    ),
  };
}

/** A prepared case: `step()` runs once and resolves when its results are read back. */
export interface Prepared {
  step(): Promise<void>;
  dispose(): void;
}

function variablesOf(models: tf.LayersModel[]): tf.Variable[] {
  return models.flatMap((m) =>
    m.trainableWeights.map((w) => w.read() as tf.Variable)
  );
}

async function applyStep(
  optimizer: tf.Optimizer,
  vars: tf.Variable[],
  loss: () => tf.Scalar,
): Promise<void> {
  const { value, grads } = tf.variableGrads(loss, vars);
  optimizer.applyGradients(grads);
  // reading the loss waits for every queued kernel (webgpu computes asynchronously)
  await value.data();
  tf.dispose([value, ...Object.values(grads)]);
}

/** Builds the models and inputs of `c` on the current tfjs backend. */
export function prepare(
  c: BenchCase,
  registries: Registries,
  config: Config,
): Prepared {
  if (c.kind === "mine") {
    const search = registries.search.build(
      config.mine.search.name,
      config.mine.search.options,
    );
    const rng = new Rng(7);
    const feats = new Float32Array(c.n! * c.dim!);
    for (let i = 0; i < feats.length; i++) feats[i] = rng.normal();
    return {
      async step() {
        await search.search(feats, c.n!, c.dim!, c.k!);
      },
      dispose() {},
    };
  }
  const backbone = registries.backbone.build("resnet18", {
    width: c.width!,
    stem: "cifar",
  }).build(c.input!, 1);
  const optimizer = tf.train.adam(c.kind === "train" ? 1e-3 : 3e-4);
  const images = tf.randomUniform([c.batch!, ...c.input!], 0, 1, "float32", 3);
  if (c.kind === "train") {
    const vars = variablesOf([backbone]);
    return {
      step: () =>
        applyStep(optimizer, vars, () =>
          tf.mean(
            tf.square(backbone.apply(images, { training: true }) as tf.Tensor),
          ) as tf.Scalar),
      dispose() {
        tf.dispose([images]);
        optimizer.dispose();
        backbone.dispose();
      },
    };
  }
  const parts = stage1Parts(config, registries);
  const dim = backbone.outputs[0].shape[1] as number;
  const instance = parts.instanceHead.build(dim, config.model.instance_dim, 2);
  const cluster = parts.clusterHead.build(dim, c.clusters!, 3);
  const loss = registries.loss.build(
    config.representation.loss.name,
    config.representation.loss.options,
  );
  if (loss.stage !== "representation") {
    throw new Error(`loss ${loss.name} is not a representation loss`);
  }
  const vars = variablesOf([backbone, instance, cluster]);
  const rng = new Rng(11);
  return {
    async step() {
      // the pipeline's step: two views, both heads, the stage-1 loss, Adam
      const [v1, v2] = tf.tidy(() => [
        parts.augment.apply(images as tf.Tensor4D, rng),
        parts.augment.apply(images as tf.Tensor4D, rng),
      ]);
      await applyStep(optimizer, vars, () => {
        const h1 = backbone.apply(v1, { training: true }) as tf.Tensor2D;
        const h2 = backbone.apply(v2, { training: true }) as tf.Tensor2D;
        const head = (m: tf.LayersModel, p: Head, h: tf.Tensor2D) =>
          p.activate(m.apply(h, { training: true }) as tf.Tensor2D);
        return loss.compute({
          z1: head(instance, parts.instanceHead, h1),
          z2: head(instance, parts.instanceHead, h2),
          c1: head(cluster, parts.clusterHead, h1),
          c2: head(cluster, parts.clusterHead, h2),
        }).total;
      });
      tf.dispose([v1, v2]);
    },
    dispose() {
      tf.dispose([images]);
      optimizer.dispose();
      backbone.dispose();
      instance.dispose();
      cluster.dispose();
    },
  };
}
