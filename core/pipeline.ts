/**
 * The CLKNN pipeline: a k-means baseline on pixels, stage 1 (representation
 * learning with the double contrastive loss), stage 2a (mining K nearest
 * neighbours), stage 2b (clustering with the kNN / SCAN loss) and an
 * optional stage 3 (self-labelling). Every epoch ends in an atomic
 * checkpoint; `resume` continues a killed run with the same optimiser state
 * and the same random stream.
 *
 * Core never prints: everything a user sees comes from the events emitted.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import type { Config } from "./config.ts";
import { configToYaml } from "./config.ts";
import { ConfigError, DivergenceError, UserError } from "./errors.ts";
import type { EventBus, Phase, Scores } from "./events.ts";
import type { Augmentation, Dataset, Head, Neighbours } from "./interfaces.ts";
import { Rng } from "./random.ts";
import type { RunPlugins } from "./setup.ts";
import {
  argmaxRows,
  clusterSizes,
  mapBatches,
  range,
  readBatch,
} from "./data.ts";
import {
  readCheckpoint,
  type SavedTensor,
  writeBytesAtomic,
  writeCheckpoint,
  writeTextAtomic,
} from "./checkpoint.ts";
import { saveModel } from "./model_io.ts";
import { kmeans } from "../plugins/baselines/kmeans.ts";

/** The stages a run can be asked to run. */
export type StageName = "representation" | "mine" | "clustering" | "selflabel";

/** All stages in order. */
export const STAGES: readonly StageName[] = [
  "representation",
  "mine",
  "clustering",
  "selflabel",
];

/** What {@linkcode runPipeline} needs. */
export interface RunOptions {
  config: Config;
  plugins: RunPlugins;
  events: EventBus;
  /** The run's folder; created if missing. */
  runDir: string;
  /** Stages to run (default: all; self-labelling only when enabled). */
  stages?: readonly StageName[];
  /** A finished run whose outputs feed the first requested stage. */
  from?: string;
  /** Continue from `runDir/checkpoint.bin`. */
  resume?: boolean;
  /** The toolkit version, stored in checkpoints and metrics. */
  version: string;
  /** A dataset already loaded (otherwise the dataset plugin loads it). */
  dataset?: Dataset;
  /** Called once the dataset is loaded (e.g. to hand it to the dashboard). */
  onDataset?: (dataset: Dataset) => void;
}

/** The contents of metrics.json. */
export interface RunMetrics {
  acc?: number;
  nmi?: number;
  ari?: number;
  baseline: { kmeans?: Scores };
  stages: Record<string, Scores>;
  neighbour_purity?: number;
  dataset: string;
  images: number;
  clusters: number;
  backend: string;
  version: string;
  /** Wall seconds of each stage, including time before a resume. */
  seconds: Record<string, number>;
  /** The clustering head and epoch kept (lowest loss; no labels used). */
  selected?: { head: number; epoch: number; loss: number };
}

/** What a checkpoint remembers besides tensors. */
interface RunState {
  version: string;
  config: Config;
  /** The phase in progress and the epochs of it already done. */
  phase: StageName;
  epoch: number;
  rng: number[];
  done: StageName[];
  metrics: RunMetrics;
  /** Tensor groups stored, in order, with their counts. */
  groups: { name: string; count: number }[];
  best?: { head: number; epoch: number; loss: number };
}

interface Models {
  backbone: tf.LayersModel;
  instance: tf.LayersModel;
  cluster: tf.LayersModel;
  heads: tf.LayersModel[];
}

/** Where a run's outputs live. */
export const OUTPUTS = {
  config: "config.yaml",
  checkpoint: "checkpoint.bin",
  status: "status.json",
  metrics: "metrics.json",
  assignments: "assignments.csv",
  features: "features.f32",
  embeddings: "embeddings.f32",
  neighbours: "neighbours.i32",
  models: "model",
} as const;

const EVAL_SAMPLE = 2000;
const PREDICT_BATCH = 256;

/**
 * Runs the requested stages of CLKNN and returns the final metrics. Writes
 * the run folder described in the README.
 */
export async function runPipeline(opts: RunOptions): Promise<RunMetrics> {
  const { config, plugins, events, runDir } = opts;
  const t0 = performance.now();
  const stages = opts.stages ??
    STAGES.filter((s) => s !== "selflabel" || config.selflabel.enabled);
  Deno.mkdirSync(runDir, { recursive: true });
  writeStatus(runDir, "running");

  // resume state, if any
  const resumed = opts.resume
    ? loadResume(runDir, config, opts.version)
    : undefined;
  writeTextAtomic(join(runDir, OUTPUTS.config), configToYaml(config));

  // backend and data
  const backendInfo = await plugins.backend.load();
  events.emit({
    type: "run-start",
    runDir,
    config,
    backend: `${backendInfo.name}${
      backendInfo.detail ? ` (${backendInfo.detail})` : ""
    }`,
    version: opts.version,
    resumed: resumed !== undefined,
  });
  let phaseStart = performance.now();
  events.emit({ type: "phase-start", phase: "data" });
  const dataset = opts.dataset ??
    await plugins.dataset.load({ events, cacheDir: cacheDir(config) });
  opts.onDataset?.(dataset);
  events.emit({
    type: "info",
    message: `dataset ${dataset.id}: ${dataset.size} images of ${
      dataset.shape.join("x")
    }${
      dataset.labels
        ? `, ${dataset.numClasses} classes (labels used only for scores)`
        : ", no labels"
    }`,
  });
  events.emit({
    type: "phase-end",
    phase: "data",
    seconds: (performance.now() - phaseStart) / 1000,
  });
  const clusters = checkAgainstDataset(config, dataset, stages);
  const score = (pred: Int32Array, idx?: Int32Array): Scores | undefined =>
    scorePredictions(plugins, dataset, pred, idx);

  const metrics: RunMetrics = resumed?.state.metrics ?? {
    baseline: {},
    stages: {},
    dataset: dataset.id,
    images: dataset.size,
    clusters,
    backend: backendInfo.name,
    version: opts.version,
    seconds: {},
  };
  metrics.backend = backendInfo.name;
  const done = new Set<StageName>(resumed?.state.done ?? []);
  const rng = resumed ? Rng.fromState(resumed.state.rng) : new Rng(config.seed);

  // models: built from the config's seed, then filled from a checkpoint or a previous run
  const models = buildModels(config, plugins, dataset, clusters);
  const augment = composeAugmentations(plugins.augmentations);
  if (resumed) {
    restoreGroups(models, resumed.tensors, resumed.state.groups);
  } else if (opts.from) {
    await loadFromRun(models, opts.from, stages[0]);
  }
  const evalIdx = evalSample(dataset.size, config.seed);

  // baseline: k-means on raw pixels
  if (config.baseline.kmeans && dataset.labels && !metrics.baseline.kmeans) {
    phaseStart = performance.now();
    events.emit({ type: "phase-start", phase: "baseline" });
    const sample = config.baseline.max_points > 0 &&
        config.baseline.max_points < dataset.size
      ? new Rng(config.seed + 1).permutation(dataset.size).slice(
        0,
        config.baseline.max_points,
      )
      : range(dataset.size);
    const pixels = pixelsOf(dataset, sample);
    const km = kmeans(
      pixels,
      sample.length,
      pixels.length / sample.length,
      clusters,
      new Rng(config.seed + 2),
      {
        restarts: config.baseline.restarts,
      },
    );
    metrics.baseline.kmeans = score(km.assignments, sample);
    const seconds = (performance.now() - phaseStart) / 1000;
    metrics.seconds.baseline = seconds;
    events.emit({
      type: "phase-end",
      phase: "baseline",
      seconds,
      scores: metrics.baseline.kmeans,
    });
  }

  const ctx: StageContext = {
    config,
    plugins,
    events,
    runDir,
    dataset,
    models,
    augment,
    rng,
    metrics,
    done,
    clusters,
    evalIdx,
    score,
    version: opts.version,
    startEpoch: 0,
    optimizerWeights: undefined,
    best: resumed?.state.best,
    bestTensors: undefined,
  };
  for (const stage of stages) {
    if (done.has(stage)) continue;
    ctx.startEpoch = resumed?.state.phase === stage ? resumed.state.epoch : 0;
    ctx.optimizerWeights = resumed?.state.phase === stage
      ? groupTensors(resumed.tensors, resumed.state.groups, "optimizer")
      : undefined;
    if (resumed?.state.phase === stage && stage === "clustering") {
      ctx.bestTensors = groupTensors(
        resumed.tensors,
        resumed.state.groups,
        "best",
      );
    }
    const start = performance.now();
    const before = metrics.seconds[stage] ?? 0;
    ctx.phaseClock = () => before + (performance.now() - start) / 1000;
    if (stage === "representation") await trainRepresentation(ctx);
    if (stage === "mine") await mineNeighbours(ctx, opts.from);
    if (stage === "clustering") await trainClustering(ctx, opts.from);
    if (stage === "selflabel") await trainSelfLabel(ctx);
    done.add(stage);
    metrics.seconds[stage] = ctx.phaseClock();
    await saveCheckpoint(ctx, stage, -1);
  }

  // final assignment
  phaseStart = performance.now();
  events.emit({ type: "phase-start", phase: "evaluate" });
  const finalHead =
    stages.includes("clustering") || stages.includes("selflabel") ||
      done.has("clustering")
      ? models.heads[ctx.best?.head ?? 0]
      : models.cluster;
  const finalActivate = finalHead === models.cluster
    ? plugins.clusterHead
    : plugins.clusteringHead;
  const probs = await predictProbs(
    dataset,
    models.backbone,
    finalHead,
    finalActivate,
  );
  const { labels, confidence } = argmaxRows(probs, clusters);
  const finalScores = score(labels);
  if (finalScores) Object.assign(metrics, finalScores);
  writeAssignments(runDir, dataset, labels, confidence);
  await saveModels(runDir, models, ctx.best?.head ?? 0);
  writeTextAtomic(
    join(runDir, OUTPUTS.metrics),
    JSON.stringify(metrics, null, 2) + "\n",
  );
  events.emit({
    type: "phase-end",
    phase: "evaluate",
    seconds: (performance.now() - phaseStart) / 1000,
    scores: finalScores,
  });
  writeStatus(runDir, "finished");
  events.emit({
    type: "run-end",
    seconds: (performance.now() - t0) / 1000,
    metrics,
  });
  disposeModels(models);
  return metrics;
}

interface StageContext {
  config: Config;
  plugins: RunPlugins;
  events: EventBus;
  runDir: string;
  dataset: Dataset;
  models: Models;
  augment: Augmentation;
  rng: Rng;
  metrics: RunMetrics;
  done: Set<StageName>;
  clusters: number;
  evalIdx: Int32Array;
  score: (pred: Int32Array, idx?: Int32Array) => Scores | undefined;
  version: string;
  startEpoch: number;
  optimizerWeights?: SavedTensor[];
  best?: { head: number; epoch: number; loss: number };
  bestTensors?: SavedTensor[];
  phaseClock?: () => number;
}

// ---------------------------------------------------------------------------
// stage 1: representation learning with the double contrastive loss

async function trainRepresentation(ctx: StageContext): Promise<void> {
  const { config, plugins, events, dataset, models, rng } = ctx;
  const cfg = config.representation;
  const loss = plugins.representationLoss;
  const n = dataset.size;
  const batch = cfg.batch_size;
  const steps = Math.floor(n / batch);
  const model = [
    models.backbone,
    ...(loss.uses.instance ? [models.instance] : []),
    ...(loss.uses.cluster ? [models.cluster] : []),
  ];
  const optimizer = tf.train.adam(cfg.lr);
  if (ctx.optimizerWeights) {
    await restoreOptimizer(optimizer, ctx.optimizerWeights);
  }
  const vars = trainableVariables(model);
  events.emit({
    type: "phase-start",
    phase: "representation",
    epochs: cfg.epochs,
    stepsPerEpoch: steps,
    startEpoch: ctx.startEpoch,
  });

  for (let epoch = ctx.startEpoch; epoch < cfg.epochs; epoch++) {
    const epochStart = performance.now();
    const order = rng.permutation(n);
    const sums: Record<string, number> = {};
    for (let step = 0; step < steps; step++) {
      const stepStart = performance.now();
      const idx = order.subarray(step * batch, (step + 1) * batch);
      // two views of the same images: [B, H, W, C] each
      const [view1, view2] = tf.tidy(() => {
        const images = readBatch(dataset, idx);
        const v1 = config.augment.views === "double"
          ? ctx.augment.apply(images, rng)
          : images.clone();
        const v2 = ctx.augment.apply(images, rng);
        return [v1, v2];
      });
      const terms: Record<string, tf.Scalar> = {};
      const { value, grads } = tf.variableGrads(() => {
        const h1 = models.backbone.apply(view1, {
          training: true,
        }) as tf.Tensor2D; // [B, F]
        const h2 = models.backbone.apply(view2, {
          training: true,
        }) as tf.Tensor2D;
        const head = (m: tf.LayersModel, p: Head, h: tf.Tensor2D) =>
          p.activate(m.apply(h, { training: true }) as tf.Tensor2D);
        const dummy = tf.zeros([idx.length, 1]) as tf.Tensor2D;
        const z1 = loss.uses.instance
          ? head(models.instance, plugins.instanceHead, h1)
          : dummy; // [B, 128]
        const z2 = loss.uses.instance
          ? head(models.instance, plugins.instanceHead, h2)
          : dummy;
        const c1 = loss.uses.cluster
          ? head(models.cluster, plugins.clusterHead, h1)
          : dummy; // [B, C]
        const c2 = loss.uses.cluster
          ? head(models.cluster, plugins.clusterHead, h2)
          : dummy;
        const out = loss.compute({ z1, z2, c1, c2 });
        for (const [k, v] of Object.entries(out.terms)) terms[k] = tf.keep(v);
        return out.total;
      }, vars);
      view1.dispose();
      view2.dispose();
      applyGradients(optimizer, vars, grads, cfg.weight_decay);
      const lossValue = await finite(
        value,
        terms,
        "representation",
        epoch,
        step,
      );
      accumulate(sums, lossValue, terms);
      events.emit({
        type: "step",
        phase: "representation",
        epoch: epoch + 1,
        epochs: cfg.epochs,
        step: step + 1,
        stepsPerEpoch: steps,
        loss: lossValue.loss,
        terms: lossValue.terms,
        lr: cfg.lr,
        imagesPerSecond: idx.length / ((performance.now() - stepStart) / 1000),
      });
      await nextTurn();
    }
    // end of epoch: monitor on a fixed sample, then checkpoint
    const sample = config.evaluate.every_epoch && loss.uses.cluster
      ? await sampleAssignments(ctx, models.cluster, plugins.clusterHead)
      : undefined;
    events.emit({
      type: "epoch",
      phase: "representation",
      epoch: epoch + 1,
      epochs: cfg.epochs,
      loss: sums.loss / steps,
      terms: meanTerms(sums, steps),
      seconds: (performance.now() - epochStart) / 1000,
      scores: sample?.scores,
      clusterSizes: sample?.sizes,
    });
    await saveCheckpoint(ctx, "representation", epoch + 1, optimizer);
  }
  optimizer.dispose();

  // stage-1 outputs: features, embeddings, and what stage 1 alone scores
  const features = await mapBatches(
    dataset,
    range(dataset.size),
    PREDICT_BATCH,
    (x) => models.backbone.apply(x, { training: false }) as tf.Tensor2D,
  );
  const embeddings = await mapBatches(
    dataset,
    range(dataset.size),
    PREDICT_BATCH,
    (x) =>
      plugins.instanceHead.activate(
        models.instance.apply(models.backbone.apply(x, { training: false }), {
          training: false,
        }) as tf.Tensor2D,
      ),
  );
  writeMatrix(
    ctx.runDir,
    OUTPUTS.features,
    features.data,
    dataset.size,
    features.dim,
  );
  writeMatrix(
    ctx.runDir,
    OUTPUTS.embeddings,
    embeddings.data,
    dataset.size,
    embeddings.dim,
  );
  if (dataset.labels) {
    if (loss.uses.cluster) {
      const probs = await predictProbs(
        dataset,
        models.backbone,
        models.cluster,
        plugins.clusterHead,
      );
      const s = ctx.score(argmaxRows(probs, ctx.clusters).labels);
      if (s) ctx.metrics.stages.representation = s;
    }
    const km = kmeans(
      features.data,
      dataset.size,
      features.dim,
      ctx.clusters,
      new Rng(config.seed + 3),
      {
        restarts: config.baseline.restarts,
      },
    );
    const s = ctx.score(km.assignments);
    if (s) ctx.metrics.stages.representation_kmeans = s;
  }
  events.emit({
    type: "phase-end",
    phase: "representation",
    seconds: ctx.phaseClock!(),
    scores: ctx.metrics.stages.representation ??
      ctx.metrics.stages.representation_kmeans,
  });
}

// ---------------------------------------------------------------------------
// stage 2a: the K nearest neighbours of every image in the learned space

async function mineNeighbours(ctx: StageContext, from?: string): Promise<void> {
  const { config, plugins, events, dataset } = ctx;
  const start = performance.now();
  events.emit({ type: "phase-start", phase: "mine" });
  const file = config.mine.features === "instance"
    ? OUTPUTS.embeddings
    : OUTPUTS.features;
  const source = ctx.done.has("representation") || !from ? ctx.runDir : from;
  const { data, n, dim } = readMatrix(source, file, dataset.size);
  const neighbours = await plugins.search.search(data, n, dim, config.mine.k);
  writeNeighbours(ctx.runDir, neighbours, n);
  const purity = dataset.labels
    ? purityOf(neighbours, dataset.labels)
    : undefined;
  if (purity !== undefined) ctx.metrics.neighbour_purity = purity;
  const seconds = (performance.now() - start) / 1000;
  events.emit({ type: "neighbours", k: config.mine.k, purity, seconds });
  events.emit({ type: "phase-end", phase: "mine", seconds });
}

// ---------------------------------------------------------------------------
// stage 2b: clustering with the kNN (SCAN) loss; the head and epoch with the
// lowest loss are kept, no labels are used to choose

async function trainClustering(
  ctx: StageContext,
  from?: string,
): Promise<void> {
  const { config, plugins, events, dataset, models, rng } = ctx;
  const cfg = config.clustering;
  const source = ctx.done.has("mine") || !from ? ctx.runDir : from;
  const neighbours = readNeighbours(source, dataset.size, config.mine.k);
  const k = neighbours.k;
  const n = dataset.size;
  const batch = cfg.batch_size;
  const steps = Math.floor(n / batch);
  const trained = cfg.update_backbone
    ? [models.backbone, ...models.heads]
    : models.heads;
  const vars = trainableVariables(trained);
  const optimizer = tf.train.adam(cfg.lr);
  if (ctx.optimizerWeights) {
    await restoreOptimizer(optimizer, ctx.optimizerWeights);
  }
  let bestWeights = ctx.bestTensors?.map((t) => tf.tensor(t.data, t.shape));
  // a frozen backbone on unaugmented images gives each image one feature
  // vector for the whole stage: computed once here
  let cached: tf.Tensor2D | undefined;
  if (!cfg.update_backbone && !cfg.augment) {
    const f = await mapBatches(
      dataset,
      range(n),
      PREDICT_BATCH,
      (x) => models.backbone.apply(x, { training: false }) as tf.Tensor2D,
    );
    cached = tf.tensor2d(f.data, [n, f.dim]); // [N, F]
  }
  events.emit({
    type: "phase-start",
    phase: "clustering",
    epochs: cfg.epochs,
    stepsPerEpoch: steps,
    startEpoch: ctx.startEpoch,
  });

  for (let epoch = ctx.startEpoch; epoch < cfg.epochs; epoch++) {
    const epochStart = performance.now();
    const order = rng.permutation(n);
    const sums: Record<string, number> = {};
    const headSums = new Array<number>(models.heads.length).fill(0);
    for (let step = 0; step < steps; step++) {
      const stepStart = performance.now();
      const anchorIdx = order.subarray(step * batch, (step + 1) * batch);
      // one random mined neighbour per anchor (SCAN)
      const neighbourIdx = anchorIdx.map((a) =>
        neighbours.indices[a * k + rng.int(k)]
      );
      // a frozen backbone's features are constants, computed outside the tape
      // (and, without augmentation, read from the cache made once above)
      let anchorImages: tf.Tensor4D | undefined;
      let neighbourImages: tf.Tensor4D | undefined;
      let frozen: tf.Tensor2D[] | undefined;
      if (cached) {
        frozen = [
          tf.gather(cached, anchorIdx),
          tf.gather(cached, neighbourIdx),
        ];
      } else {
        [anchorImages, neighbourImages] = tf.tidy(() => {
          const a = readBatch(dataset, anchorIdx);
          const b = readBatch(dataset, neighbourIdx);
          return cfg.augment
            ? [ctx.augment.apply(a, rng), ctx.augment.apply(b, rng)]
            : [a, b];
        });
        if (!cfg.update_backbone) {
          frozen = tf.tidy(() => [
            models.backbone.apply(anchorImages!, {
              training: false,
            }) as tf.Tensor2D,
            models.backbone.apply(neighbourImages!, {
              training: false,
            }) as tf.Tensor2D,
          ]);
        }
      }
      const terms: Record<string, tf.Scalar> = {};
      const perHead: tf.Scalar[] = [];
      const { value, grads } = tf.variableGrads(() => {
        const fa = frozen?.[0] ??
          models.backbone.apply(anchorImages!, {
            training: true,
          }) as tf.Tensor2D; // [B, F]
        const fn = frozen?.[1] ??
          models.backbone.apply(neighbourImages!, {
            training: true,
          }) as tf.Tensor2D;
        let total = tf.scalar(0);
        models.heads.forEach((head) => {
          const pa = plugins.clusteringHead.activate(
            head.apply(fa, { training: true }) as tf.Tensor2D,
          ); // [B, C]
          const pn = plugins.clusteringHead.activate(
            head.apply(fn, { training: true }) as tf.Tensor2D,
          );
          const out = plugins.clusteringLoss.compute({
            anchors: pa,
            neighbours: pn,
          });
          perHead.push(tf.keep(out.total));
          for (const [name, v] of Object.entries(out.terms)) {
            terms[name] = tf.keep(
              terms[name]
                ? tf.add(terms[name], v.div(models.heads.length))
                : v.div(models.heads.length),
            );
          }
          total = tf.add(total, out.total);
        });
        // the mean over heads keeps the logged loss comparable across head counts
        return tf.div(total, models.heads.length) as tf.Scalar;
      }, vars);
      anchorImages?.dispose();
      neighbourImages?.dispose();
      frozen?.forEach((t) => t.dispose());
      applyGradients(optimizer, vars, grads, cfg.weight_decay);
      const lossValue = await finite(value, terms, "clustering", epoch, step);
      (await readScalars(perHead)).forEach((v, h) => headSums[h] += v);
      tf.dispose(perHead);
      accumulate(sums, lossValue, terms);
      events.emit({
        type: "step",
        phase: "clustering",
        epoch: epoch + 1,
        epochs: cfg.epochs,
        step: step + 1,
        stepsPerEpoch: steps,
        loss: lossValue.loss,
        terms: lossValue.terms,
        lr: cfg.lr,
        imagesPerSecond: (2 * anchorIdx.length) /
          ((performance.now() - stepStart) / 1000),
      });
      await nextTurn();
    }
    // keep the head and epoch with the lowest mean loss
    headSums.forEach((sum, h) => {
      const mean = sum / steps;
      if (!ctx.best || mean < ctx.best.loss) {
        ctx.best = { head: h, epoch: epoch + 1, loss: mean };
        bestWeights?.forEach((t) => t.dispose());
        bestWeights = snapshot(
          cfg.update_backbone
            ? [models.backbone, models.heads[h]]
            : [models.heads[h]],
        );
      }
    });
    const bestHead = models.heads[ctx.best!.head];
    const sample = config.evaluate.every_epoch
      ? await sampleAssignments(ctx, bestHead, plugins.clusteringHead)
      : undefined;
    events.emit({
      type: "epoch",
      phase: "clustering",
      epoch: epoch + 1,
      epochs: cfg.epochs,
      loss: sums.loss / steps,
      terms: meanTerms(sums, steps),
      seconds: (performance.now() - epochStart) / 1000,
      scores: sample?.scores,
      clusterSizes: sample?.sizes,
    });
    ctx.bestTensors = bestWeights
      ? await toSaved("best", bestWeights)
      : undefined;
    await saveCheckpoint(ctx, "clustering", epoch + 1, optimizer);
  }
  optimizer.dispose();
  cached?.dispose();

  // restore the selected head (and backbone) before scoring
  if (ctx.best && bestWeights) {
    const target = cfg.update_backbone
      ? [models.backbone, models.heads[ctx.best.head]]
      : [models.heads[ctx.best.head]];
    setAll(target, bestWeights);
    bestWeights.forEach((t) => t.dispose());
    ctx.metrics.selected = ctx.best;
    events.emit({
      type: "info",
      message: `kept clustering head ${
        ctx.best.head + 1
      } of epoch ${ctx.best.epoch} (lowest loss ${
        ctx.best.loss.toFixed(4)
      }; no labels used)`,
    });
  }
  const head = models.heads[ctx.best?.head ?? 0];
  const probs = await predictProbs(
    dataset,
    models.backbone,
    head,
    plugins.clusteringHead,
  );
  const s = ctx.score(argmaxRows(probs, ctx.clusters).labels);
  if (s) ctx.metrics.stages.clustering = s;
  events.emit({
    type: "phase-end",
    phase: "clustering",
    seconds: ctx.phaseClock!(),
    scores: s,
  });
}

// ---------------------------------------------------------------------------
// stage 3 (optional, beyond the paper): self-labelling on confident samples

async function trainSelfLabel(ctx: StageContext): Promise<void> {
  const { config, plugins, events, dataset, models, rng } = ctx;
  const cfg = config.selflabel;
  const n = dataset.size;
  const batch = cfg.batch_size;
  const steps = Math.floor(n / batch);
  const head = models.heads[ctx.best?.head ?? 0];
  const vars = trainableVariables([models.backbone, head]);
  const optimizer = tf.train.adam(cfg.lr);
  if (ctx.optimizerWeights) {
    await restoreOptimizer(optimizer, ctx.optimizerWeights);
  }
  events.emit({
    type: "phase-start",
    phase: "selflabel",
    epochs: cfg.epochs,
    stepsPerEpoch: steps,
    startEpoch: ctx.startEpoch,
  });
  for (let epoch = ctx.startEpoch; epoch < cfg.epochs; epoch++) {
    const epochStart = performance.now();
    const order = rng.permutation(n);
    const sums: Record<string, number> = {};
    for (let step = 0; step < steps; step++) {
      const stepStart = performance.now();
      const idx = order.subarray(step * batch, (step + 1) * batch);
      const [weak, strong] = tf.tidy(() => {
        const images = readBatch(dataset, idx);
        const w = plugins.clusteringHead.activate(
          head.apply(models.backbone.apply(images, { training: false }), {
            training: false,
          }) as tf.Tensor2D,
        );
        return [w, ctx.augment.apply(images, rng)] as [
          tf.Tensor2D,
          tf.Tensor4D,
        ];
      });
      // the tape cannot await, so what the loss needs from the weak
      // predictions is read here (GPU backends cannot read synchronously)
      const pseudo = await plugins.selfLabelLoss.pseudoLabels?.(weak);
      const terms: Record<string, tf.Scalar> = {};
      const { value, grads } = tf.variableGrads(() => {
        const logits = head.apply(
          models.backbone.apply(strong, { training: true }),
          { training: true },
        ) as tf.Tensor2D;
        const out = plugins.selfLabelLoss.compute({
          weak,
          strongLogits: logits,
          pseudo,
        });
        for (const [k, v] of Object.entries(out.terms)) terms[k] = tf.keep(v);
        return out.total;
      }, vars);
      weak.dispose();
      strong.dispose();
      applyGradients(optimizer, vars, grads, cfg.weight_decay);
      const lossValue = await finite(value, terms, "selflabel", epoch, step);
      accumulate(sums, lossValue, terms);
      events.emit({
        type: "step",
        phase: "selflabel",
        epoch: epoch + 1,
        epochs: cfg.epochs,
        step: step + 1,
        stepsPerEpoch: steps,
        loss: lossValue.loss,
        terms: lossValue.terms,
        lr: cfg.lr,
        imagesPerSecond: idx.length / ((performance.now() - stepStart) / 1000),
      });
      await nextTurn();
    }
    const sample = config.evaluate.every_epoch
      ? await sampleAssignments(ctx, head, plugins.clusteringHead)
      : undefined;
    events.emit({
      type: "epoch",
      phase: "selflabel",
      epoch: epoch + 1,
      epochs: cfg.epochs,
      loss: sums.loss / Math.max(1, steps),
      terms: meanTerms(sums, steps),
      seconds: (performance.now() - epochStart) / 1000,
      scores: sample?.scores,
      clusterSizes: sample?.sizes,
    });
    await saveCheckpoint(ctx, "selflabel", epoch + 1, optimizer);
  }
  optimizer.dispose();
  const probs = await predictProbs(
    dataset,
    models.backbone,
    head,
    plugins.clusteringHead,
  );
  const s = ctx.score(argmaxRows(probs, ctx.clusters).labels);
  if (s) ctx.metrics.stages.selflabel = s;
  events.emit({
    type: "phase-end",
    phase: "selflabel",
    seconds: ctx.phaseClock!(),
    scores: s,
  });
}

// ---------------------------------------------------------------------------
// helpers

function cacheDir(config: Config): string {
  if (config.cache_dir) return config.cache_dir;
  const env = Deno.env.get("CLKNN_CACHE");
  if (env) return env;
  const home = Deno.env.get("HOME") ?? ".";
  return join(home, ".cache", "clknn");
}

/** Checks the config against the loaded dataset; returns the number of clusters. */
function checkAgainstDataset(
  config: Config,
  dataset: Dataset,
  stages: readonly StageName[],
): number {
  const n = dataset.size;
  const clusters = config.model.clusters || dataset.numClasses || 0;
  if (config.model.clusters === 1) {
    throw new ConfigError(
      `"model.clusters" is 1; expected at least 2 clusters, or 0 for the dataset's number of classes`,
    );
  }
  if (clusters < 2) {
    throw new ConfigError(
      `model.clusters is ${config.model.clusters} and dataset "${dataset.id}" has no labels to count classes; set model.clusters to the number of clusters wanted (>= 2)`,
    );
  }
  if (clusters > n) {
    throw new ConfigError(
      `model.clusters is ${clusters} but the dataset has ${n} images; expected at most ${n}`,
    );
  }
  const sizes: [string, number, boolean][] = [
    [
      "representation.batch_size",
      config.representation.batch_size,
      stages.includes("representation"),
    ],
    [
      "clustering.batch_size",
      config.clustering.batch_size,
      stages.includes("clustering"),
    ],
    [
      "selflabel.batch_size",
      config.selflabel.batch_size,
      stages.includes("selflabel"),
    ],
  ];
  for (const [key, value, used] of sizes) {
    if (used && value > n) {
      throw new ConfigError(
        `${key} is ${value} but dataset "${dataset.id}" has ${n} images; expected at most ${n}`,
      );
    }
  }
  if (
    config.mine.k >= n &&
    (stages.includes("mine") || stages.includes("clustering"))
  ) {
    throw new ConfigError(
      `mine.k is ${config.mine.k} but dataset "${dataset.id}" has ${n} images; expected at most ${
        n - 1
      }`,
    );
  }
  return clusters;
}

function buildModels(
  config: Config,
  plugins: RunPlugins,
  dataset: Dataset,
  clusters: number,
): Models {
  const seeds = new Rng(config.seed + 7);
  const backbone = plugins.backbone.build(dataset.shape, seeds.seed());
  const f = plugins.backbone.featureDim;
  return {
    backbone,
    instance: plugins.instanceHead.build(
      f,
      config.model.instance_dim,
      seeds.seed(),
    ),
    cluster: plugins.clusterHead.build(f, clusters, seeds.seed()),
    heads: Array.from(
      { length: config.clustering.heads },
      () => plugins.clusteringHead.build(f, clusters, seeds.seed()),
    ),
  };
}

function disposeModels(models: Models) {
  for (
    const m of [
      models.backbone,
      models.instance,
      models.cluster,
      ...models.heads,
    ]
  ) m.dispose();
}

function composeAugmentations(augs: Augmentation[]): Augmentation {
  return {
    name: augs.map((a) => a.name).join("+") || "identity",
    apply(images, rng) {
      let current = images;
      for (const aug of augs) {
        const next = aug.apply(current, rng);
        if (current !== images) current.dispose();
        current = next;
      }
      return current === images ? images.clone() : current;
    },
  };
}

function trainableVariables(models: tf.LayersModel[]): tf.Variable[] {
  return models.flatMap((m) =>
    m.trainableWeights.map((w) => w.read() as tf.Variable)
  );
}

/** Adam step with L2 weight decay added to the gradients (as torch's Adam). */
function applyGradients(
  optimizer: tf.Optimizer,
  vars: tf.Variable[],
  grads: tf.NamedTensorMap,
  weightDecay: number,
) {
  // gradients in a fixed order: Adam keys its moments by position
  const list = vars.map((v) => {
    const g = grads[v.name];
    return {
      name: v.name,
      tensor: weightDecay > 0 ? tf.tidy(() => g.add(v.mul(weightDecay))) : g,
    };
  });
  optimizer.applyGradients(list);
  for (const v of vars) grads[v.name].dispose();
  if (weightDecay > 0) { for (const { tensor } of list) tensor.dispose(); }
}

/**
 * Scalars' values, read with `await data()`: a GPU backend (webgpu under
 * Deno) cannot read synchronously, and starting every read before awaiting
 * any lets their transfers overlap.
 */
async function readScalars(scalars: tf.Scalar[]): Promise<number[]> {
  const values = await Promise.all(scalars.map((t) => t.data()));
  return values.map((v) => v[0]);
}

/** Reads a step's loss and terms, then frees them; throws if the loss is not finite. */
async function finite(
  value: tf.Scalar,
  terms: Record<string, tf.Scalar>,
  phase: Phase,
  epoch: number,
  step: number,
): Promise<{ loss: number; terms: Record<string, number> }> {
  const names = Object.keys(terms);
  const [loss, ...termValues] = await readScalars([
    value,
    ...names.map((k) => terms[k]),
  ]);
  const out: Record<string, number> = {};
  names.forEach((k, i) => out[k] = termValues[i]);
  // a loss with one term may return that term as its total: read all, then free
  tf.dispose([value, ...Object.values(terms)]);
  if (!Number.isFinite(loss)) {
    const bad = Object.entries(out).filter(([, v]) => !Number.isFinite(v)).map((
      [k, v],
    ) => `${k}=${v}`);
    throw new DivergenceError(
      `The ${phase} loss became ${loss} at epoch ${epoch + 1}, step ${
        step + 1
      }${
        bad.length ? ` (non-finite terms: ${bad.join(", ")})` : ""
      }; the last good checkpoint is kept: lower the learning rate and resume with --resume`,
    );
  }
  return { loss, terms: out };
}

function accumulate(
  sums: Record<string, number>,
  value: { loss: number; terms: Record<string, number> },
  _terms: unknown,
) {
  sums.loss = (sums.loss ?? 0) + value.loss;
  for (const [k, v] of Object.entries(value.terms)) {
    sums[`term:${k}`] = (sums[`term:${k}`] ?? 0) + v;
  }
}

function meanTerms(
  sums: Record<string, number>,
  steps: number,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(sums)) {
    if (k.startsWith("term:")) out[k.slice(5)] = v / Math.max(1, steps);
  }
  return out;
}

async function predictProbs(
  dataset: Dataset,
  backbone: tf.LayersModel,
  head: tf.LayersModel,
  plugin: Head,
): Promise<Float32Array> {
  return (await mapBatches(
    dataset,
    range(dataset.size),
    PREDICT_BATCH,
    (x) =>
      plugin.activate(
        head.apply(backbone.apply(x, { training: false }), {
          training: false,
        }) as tf.Tensor2D,
      ),
  )).data;
}

async function sampleAssignments(
  ctx: StageContext,
  head: tf.LayersModel,
  plugin: Head,
) {
  const probs = (await mapBatches(
    ctx.dataset,
    ctx.evalIdx,
    PREDICT_BATCH,
    (x) =>
      plugin.activate(
        head.apply(ctx.models.backbone.apply(x, { training: false }), {
          training: false,
        }) as tf.Tensor2D,
      ),
  )).data;
  const { labels } = argmaxRows(probs, ctx.clusters);
  return {
    scores: ctx.score(labels, ctx.evalIdx),
    sizes: clusterSizes(labels, ctx.clusters),
  };
}

function evalSample(n: number, seed: number): Int32Array {
  if (n <= EVAL_SAMPLE) return range(n);
  return new Rng(seed + 5).permutation(n).slice(0, EVAL_SAMPLE).sort();
}

function scorePredictions(
  plugins: RunPlugins,
  dataset: Dataset,
  pred: Int32Array,
  idx?: Int32Array,
): Scores | undefined {
  if (!dataset.labels) return undefined;
  const truth = idx
    ? Int32Array.from(idx, (i) => dataset.labels![i])
    : dataset.labels;
  const [acc, nmi, ari] = plugins.metrics.map((m) => m.compute(pred, truth));
  return { acc, nmi, ari };
}

function pixelsOf(dataset: Dataset, idx: Int32Array): Float32Array {
  const bytes = dataset.read(idx);
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] / 255;
  return out;
}

function purityOf(neighbours: Neighbours, labels: Int32Array): number {
  const { k, indices } = neighbours;
  const n = indices.length / k;
  let same = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      if (labels[indices[i * k + j]] === labels[i]) same++;
    }
  }
  return same / (n * k);
}

function snapshot(models: tf.LayersModel[]): tf.Tensor[] {
  return models.flatMap((m) => m.getWeights().map((w) => w.clone()));
}

function setAll(models: tf.LayersModel[], tensors: tf.Tensor[]) {
  let offset = 0;
  for (const m of models) {
    const count = m.weights.length;
    m.setWeights(tensors.slice(offset, offset + count));
    offset += count;
  }
}

async function toSaved(
  prefix: string,
  tensors: tf.Tensor[],
): Promise<SavedTensor[]> {
  return await Promise.all(tensors.map(async (t, i) => ({
    name: `${prefix}/${i}`,
    shape: [...t.shape],
    data: Float32Array.from(await t.data() as Float32Array),
  })));
}

async function restoreOptimizer(optimizer: tf.Optimizer, saved: SavedTensor[]) {
  await optimizer.setWeights(
    saved.map((t) => ({
      name: t.name.slice("optimizer/".length),
      tensor: tf.tensor(t.data, t.shape),
    })),
  );
}

async function saveCheckpoint(
  ctx: StageContext,
  phase: StageName,
  epoch: number,
  optimizer?: tf.Optimizer,
) {
  const groups: { name: string; count: number }[] = [];
  const tensors: SavedTensor[] = [];
  const add = async (name: string, list: tf.Tensor[], names?: string[]) => {
    groups.push({ name, count: list.length });
    for (let i = 0; i < list.length; i++) {
      tensors.push({
        name: `${name}/${names?.[i] ?? i}`,
        shape: [...list[i].shape],
        data: Float32Array.from(await list[i].data() as Float32Array),
      });
    }
  };
  const { models } = ctx;
  await add("backbone", models.backbone.getWeights());
  await add("instance", models.instance.getWeights());
  await add("cluster", models.cluster.getWeights());
  for (let h = 0; h < models.heads.length; h++) {
    await add(`head${h}`, models.heads[h].getWeights());
  }
  if (optimizer && epoch >= 0) {
    const weights = await optimizer.getWeights();
    await add(
      "optimizer",
      weights.map((w) => w.tensor),
      weights.map((w) => w.name),
    );
  }
  if (ctx.bestTensors && phase === "clustering" && epoch >= 0) {
    groups.push({ name: "best", count: ctx.bestTensors.length });
    tensors.push(...ctx.bestTensors);
  }
  const state: RunState = {
    version: ctx.version,
    config: ctx.config,
    phase,
    epoch: epoch < 0 ? 0 : epoch,
    rng: ctx.rng.state(),
    done: [...ctx.done],
    metrics: {
      ...ctx.metrics,
      seconds: {
        ...ctx.metrics.seconds,
        ...(epoch >= 0 && ctx.phaseClock ? { [phase]: ctx.phaseClock() } : {}),
      },
    },
    groups,
    best: ctx.best,
  };
  const path = join(ctx.runDir, OUTPUTS.checkpoint);
  writeCheckpoint(path, { state, tensors });
  if (epoch >= 0) ctx.events.emit({ type: "checkpoint", phase, epoch, path });
}

function loadResume(runDir: string, config: Config, version: string) {
  const path = join(runDir, OUTPUTS.checkpoint);
  try {
    Deno.statSync(path);
  } catch {
    throw new UserError(
      `Cannot resume ${runDir}: it has no ${OUTPUTS.checkpoint}; start a new run without --resume`,
    );
  }
  const ckpt = readCheckpoint<RunState>(path);
  if (ckpt.state.version !== version) {
    throw new UserError(
      `Cannot resume ${runDir}: its checkpoint was written by clknn ${ckpt.state.version}, this is ${version}; start a new run`,
    );
  }
  const diff = firstDifference(
    comparable(ckpt.state.config),
    comparable(config),
  );
  if (diff) {
    throw new UserError(
      `Cannot resume ${runDir}: config key "${diff.key}" was ${
        JSON.stringify(diff.was)
      } and is now ${
        JSON.stringify(diff.now)
      }; resume with the run's own config (omit --config/--set) or start a new run`,
    );
  }
  return ckpt;
}

function comparable(config: Config): Record<string, unknown> {
  const { name: _n, output: _o, log: _l, cache_dir: _c, plugins: _p, ...rest } =
    config;
  return rest;
}

function firstDifference(
  a: unknown,
  b: unknown,
  key = "",
): { key: string; was: unknown; now: unknown } | undefined {
  if (
    typeof a === "object" && a !== null && typeof b === "object" &&
    b !== null && !Array.isArray(a) && !Array.isArray(b)
  ) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      const d = firstDifference(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        key ? `${key}.${k}` : k,
      );
      if (d) return d;
    }
    return undefined;
  }
  return JSON.stringify(a) === JSON.stringify(b)
    ? undefined
    : { key, was: a, now: b };
}

function groupTensors(
  tensors: SavedTensor[],
  groups: { name: string; count: number }[],
  name: string,
): SavedTensor[] | undefined {
  let offset = 0;
  for (const g of groups) {
    if (g.name === name) return tensors.slice(offset, offset + g.count);
    offset += g.count;
  }
  return undefined;
}

function restoreGroups(
  models: Models,
  tensors: SavedTensor[],
  groups: { name: string; count: number }[],
) {
  const set = (model: tf.LayersModel, name: string) => {
    const saved = groupTensors(tensors, groups, name);
    if (!saved) return;
    const values = saved.map((t) => tf.tensor(t.data, t.shape));
    try {
      model.setWeights(values);
    } catch (err) {
      throw new UserError(
        `Checkpoint weights of "${name}" do not fit the model built from the config: ${
          (err as Error).message
        }`,
      );
    } finally {
      values.forEach((v) => v.dispose());
    }
  };
  set(models.backbone, "backbone");
  set(models.instance, "instance");
  set(models.cluster, "cluster");
  models.heads.forEach((h, i) => set(h, `head${i}`));
}

async function loadFromRun(
  models: Models,
  from: string,
  firstStage: StageName | undefined,
) {
  const path = join(from, OUTPUTS.checkpoint);
  let ckpt;
  try {
    ckpt = readCheckpoint<RunState>(path);
  } catch (err) {
    throw new UserError(
      `--from ${from}: ${
        (err as Error).message.split("\n")[0]
      }; expected a run folder written by clknn`,
    );
  }
  const needs: Record<StageName, StageName | undefined> = {
    representation: undefined,
    mine: "representation",
    clustering: "mine",
    selflabel: "clustering",
  };
  const need = firstStage ? needs[firstStage] : undefined;
  if (need && !ckpt.state.done.includes(need)) {
    throw new UserError(
      `--from ${from}: that run has not finished stage "${need}", which stage "${firstStage}" needs; finish it first (--resume ${from})`,
    );
  }
  restoreGroups(models, ckpt.tensors, ckpt.state.groups);
  await Promise.resolve();
}

/**
 * Lets timers and I/O run between training steps: a step is synchronous
 * tensor work, so without this the dashboard could not answer, and SSE
 * clients would see nothing, until an epoch ended.
 */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function writeStatus(runDir: string, state: "running" | "finished" | "failed") {
  writeTextAtomic(
    join(runDir, OUTPUTS.status),
    JSON.stringify({
      state,
      updated: new Date().toISOString(),
      pid: Deno.pid,
    }) + "\n",
  );
}

/** Marks a run as failed (the CLI calls this when a run stops on an error). */
export function markFailed(runDir: string) {
  try {
    writeStatus(runDir, "failed");
  } catch {
    // the folder may not exist if the error came before it was made
  }
}

function writeMatrix(
  runDir: string,
  file: string,
  data: Float32Array,
  n: number,
  dim: number,
) {
  writeBytesAtomic(
    join(runDir, file),
    new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  );
  writeTextAtomic(
    join(runDir, file.replace(/\.f32$/, ".json")),
    JSON.stringify({ n, dim }) + "\n",
  );
}

function readMatrix(
  dir: string,
  file: string,
  expectedRows: number,
): { data: Float32Array; n: number; dim: number } {
  let meta: { n: number; dim: number };
  let bytes: Uint8Array;
  try {
    meta = JSON.parse(
      Deno.readTextFileSync(join(dir, file.replace(/\.f32$/, ".json"))),
    );
    bytes = Deno.readFileSync(join(dir, file));
  } catch {
    throw new UserError(
      `${
        join(dir, file)
      } is missing or unreadable; run stage "representation" first (or pass --from a run that did)`,
    );
  }
  if (meta.n !== expectedRows || bytes.length !== meta.n * meta.dim * 4) {
    throw new UserError(
      `${
        join(dir, file)
      } holds ${meta.n} rows of ${meta.dim} but the dataset has ${expectedRows} images; use --from a run on the same dataset`,
    );
  }
  const data = new Float32Array(meta.n * meta.dim);
  new Uint8Array(data.buffer).set(bytes);
  return { data, n: meta.n, dim: meta.dim };
}

function writeNeighbours(runDir: string, neighbours: Neighbours, n: number) {
  const { indices, k } = neighbours;
  writeBytesAtomic(
    join(runDir, OUTPUTS.neighbours),
    new Uint8Array(indices.buffer, indices.byteOffset, indices.byteLength),
  );
  writeTextAtomic(
    join(runDir, "neighbours.json"),
    JSON.stringify({ n, k }) + "\n",
  );
}

function readNeighbours(
  dir: string,
  expectedRows: number,
  k: number,
): Neighbours {
  let meta: { n: number; k: number };
  let bytes: Uint8Array;
  try {
    meta = JSON.parse(Deno.readTextFileSync(join(dir, "neighbours.json")));
    bytes = Deno.readFileSync(join(dir, OUTPUTS.neighbours));
  } catch {
    throw new UserError(
      `${
        join(dir, OUTPUTS.neighbours)
      } is missing; run stage "mine" first (or pass --from a run that did)`,
    );
  }
  if (meta.n !== expectedRows || bytes.length !== meta.n * meta.k * 4) {
    throw new UserError(
      `${
        join(dir, OUTPUTS.neighbours)
      } holds ${meta.n} rows but the dataset has ${expectedRows} images; re-mine with --stage mine`,
    );
  }
  if (meta.k < k) {
    throw new UserError(
      `${
        join(dir, OUTPUTS.neighbours)
      } holds ${meta.k} neighbours per image but mine.k is ${k}; re-mine with --stage mine`,
    );
  }
  const all = new Int32Array(meta.n * meta.k);
  new Uint8Array(all.buffer).set(bytes);
  // keep the k most similar when more were mined
  const indices = new Int32Array(meta.n * k);
  for (let i = 0; i < meta.n; i++) {
    indices.set(all.subarray(i * meta.k, i * meta.k + k), i * k);
  }
  return { k, indices, similarities: new Float32Array(0) };
}

function writeAssignments(
  runDir: string,
  dataset: Dataset,
  labels: Int32Array,
  confidence: Float32Array,
) {
  const lines = ["index,name,cluster,confidence,label"];
  for (let i = 0; i < labels.length; i++) {
    const name = dataset.itemNames?.[i] ?? "";
    const quoted = /[",\n]/.test(name)
      ? `"${name.replaceAll('"', '""')}"`
      : name;
    lines.push(
      `${i},${quoted},${labels[i]},${confidence[i].toFixed(4)},${
        dataset.labels ? dataset.labels[i] : ""
      }`,
    );
  }
  writeTextAtomic(join(runDir, OUTPUTS.assignments), lines.join("\n") + "\n");
}

async function saveModels(runDir: string, models: Models, head: number) {
  const dir = join(runDir, OUTPUTS.models);
  await saveModel(models.backbone, join(dir, "backbone"));
  await saveModel(models.instance, join(dir, "instance_head"));
  await saveModel(models.cluster, join(dir, "cluster_head"));
  await saveModel(models.heads[head], join(dir, "clustering_head"));
}
