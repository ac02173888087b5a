/**
 * Run folders with plausible contents for the dashboard tests, a fake
 * dataset, and a simulated training that feeds an EventBus on a timer.
 *
 * @module
 */
import { join } from "node:path";
import { stringify } from "yaml";
import type { ClknnEvent, EventBus, Stamped } from "../core/events.ts";
import type { Dataset } from "../core/interfaces.ts";
import { Rng } from "../core/random.ts";

/** What a fixture run looks like. */
export interface FixtureRun {
  name: string;
  n: number;
  classes: number;
  clusters: number;
  dim: number;
  k: number;
  /** The class of each image. */
  labels: Int32Array;
  /** The cluster of each image. */
  assigned: Int32Array;
  confidence: Float32Array;
  /** Every event written to events.jsonl, in order. */
  events: Stamped[];
}

/** Options of {@linkcode writeRun}. */
export interface FixtureOptions {
  n?: number;
  classes?: number;
  dim?: number;
  k?: number;
  seed?: number;
  /** Fraction of images given a wrong cluster. */
  noise?: number;
  state?: "running" | "finished" | "failed";
  /** Config values merged over the defaults (to make runs differ). */
  config?: Record<string, unknown>;
  epochs?: number;
  stepsPerEpoch?: number;
  /** Write no assignments/metrics/features (a run still in stage 1). */
  partial?: boolean;
}

/** A fixture dataset: `n` images `[8, 8, 3]` whose colour follows the class. */
export function fakeDataset(labels: Int32Array, id = "fake"): Dataset {
  const shape = [8, 8, 3] as const;
  const classes = Math.max(...labels) + 1;
  return {
    id,
    size: labels.length,
    shape,
    labels,
    numClasses: classes,
    itemNames: Array.from(labels, (_, i) => `img_${i}.png`),
    read(indices) {
      const px = shape[0] * shape[1] * shape[2];
      const out = new Uint8Array(indices.length * px);
      for (let b = 0; b < indices.length; b++) {
        const i = indices[b];
        const c = labels[i];
        for (let y = 0; y < 8; y++) {
          for (let x = 0; x < 8; x++) {
            const o = b * px + (y * 8 + x) * 3;
            out[o] = (c * 53 + x * 9) % 256;
            out[o + 1] = (c * 97 + y * 11) % 256;
            out[o + 2] = (i * 7) % 256;
          }
        }
      }
      return out;
    },
  };
}

function stampAll(events: ClknnEvent[], start: number): Stamped[] {
  const t0 = Date.parse("2026-12-03T10:00:00Z") + start * 1000;
  return events.map((e, i) =>
    ({
      ...e,
      seq: i + 1,
      time: new Date(t0 + i * 250).toISOString(),
    }) as Stamped
  );
}

/** The event sequence of a short three-stage run. */
export function runEvents(
  runDir: string,
  config: unknown,
  rng: Rng,
  clusters: number,
  n: number,
  epochs: number,
  stepsPerEpoch: number,
  finished: boolean,
): ClknnEvent[] {
  const ev: ClknnEvent[] = [
    {
      type: "run-start",
      runDir,
      config,
      backend: "wasm",
      version: "0.1.0",
      resumed: false,
    },
    { type: "phase-start", phase: "data" },
    { type: "phase-end", phase: "data", seconds: 0.4 },
  ];
  const stage = (
    phase: "representation" | "clustering",
    terms: string[],
  ) => {
    ev.push({
      type: "phase-start",
      phase,
      epochs,
      stepsPerEpoch,
      startEpoch: 0,
    });
    for (let epoch = 1; epoch <= epochs; epoch++) {
      for (let step = 1; step <= stepsPerEpoch; step++) {
        const t = (epoch - 1) * stepsPerEpoch + step;
        const values = Object.fromEntries(
          terms.map((name, j) => [
            name,
            (2 + j) * Math.exp(-t / 20) + 0.3 + 0.05 * rng.next(),
          ]),
        );
        ev.push({
          type: "step",
          phase,
          epoch,
          epochs,
          step,
          stepsPerEpoch,
          loss: Object.values(values).reduce((a, b) => a + b, 0),
          terms: values,
          lr: 1e-3 * (1 - t / (epochs * stepsPerEpoch + 1)),
          imagesPerSecond: 60 + 10 * rng.next(),
        });
      }
      const sizes = Array.from(
        { length: clusters },
        () => Math.round(n / clusters * (0.7 + 0.6 * rng.next())),
      );
      const acc = 0.3 + 0.5 * epoch / epochs;
      ev.push({
        type: "epoch",
        phase,
        epoch,
        epochs,
        loss: 1,
        terms: {},
        seconds: 3,
        scores: { acc, nmi: acc * 0.8, ari: acc * 0.6 },
        clusterSizes: sizes,
      });
    }
    ev.push({ type: "phase-end", phase, seconds: 10 });
  };
  stage("representation", ["instance", "cluster"]);
  ev.push({ type: "neighbours", k: 5, purity: 0.81, seconds: 0.2 });
  if (finished) {
    stage("clustering", ["consistency", "entropy"]);
    ev.push({ type: "run-end", seconds: 42, metrics: {} });
  }
  return ev;
}

/** Writes a run folder under `runsDir` and returns what it holds. */
export async function writeRun(
  runsDir: string,
  name: string,
  opts: FixtureOptions = {},
): Promise<FixtureRun> {
  const n = opts.n ?? 60;
  const classes = opts.classes ?? 3;
  const clusters = classes;
  const dim = opts.dim ?? 8;
  const k = opts.k ?? 5;
  const rng = new Rng(opts.seed ?? 1);
  const state = opts.state ?? "finished";
  const dir = join(runsDir, name);
  await Deno.mkdir(dir, { recursive: true });

  const config = {
    seed: opts.seed ?? 1,
    dataset: { name: "fake" },
    backbone: { name: "small_convnet" },
    stages: {
      representation: { epochs: opts.epochs ?? 2, lr: 0.001, batch: 32 },
      clustering: { epochs: opts.epochs ?? 2, entropy_weight: 5 },
    },
    mine: { k },
    ...opts.config,
  };
  await Deno.writeTextFile(join(dir, "config.yaml"), stringify(config));

  const labels = new Int32Array(n).map((_, i) => i % classes);
  // cluster c holds mostly class (c + 1) % classes, so matching is not the identity
  const assigned = new Int32Array(n).map((_, i) =>
    rng.next() < (opts.noise ?? 0.2)
      ? rng.int(clusters)
      : (labels[i] + 1) % clusters
  );
  const confidence = new Float32Array(n).map(() => 0.5 + 0.5 * rng.next());

  const events = stampAll(
    runEvents(
      dir,
      config,
      rng,
      clusters,
      n,
      opts.epochs ?? 2,
      opts.stepsPerEpoch ?? 3,
      state === "finished",
    ),
    0,
  );
  await Deno.writeTextFile(
    join(dir, "events.jsonl"),
    events.map((e) => JSON.stringify(e)).join("\n") + "\n",
  );
  await Deno.writeTextFile(
    join(dir, "status.json"),
    JSON.stringify({ state, updated: new Date().toISOString(), pid: 1234 }),
  );
  if (opts.partial) {
    return {
      name,
      n,
      classes,
      clusters,
      dim,
      k,
      labels,
      assigned,
      confidence,
      events,
    };
  }

  // features: class centre plus noise, so UMAP and neighbours have structure
  const features = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) {
      features[i * dim + d] = (d % classes === labels[i] ? 2 : 0) +
        0.3 * rng.normal();
    }
  }
  await Deno.writeFile(
    join(dir, "features.f32"),
    new Uint8Array(features.buffer),
  );
  await Deno.writeTextFile(
    join(dir, "features.json"),
    JSON.stringify({ n, dim }),
  );
  const neighbours = new Int32Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      neighbours[i * k + j] = (i + classes * (j + 1)) % n;
    }
  }
  await Deno.writeFile(
    join(dir, "neighbours.i32"),
    new Uint8Array(neighbours.buffer),
  );
  await Deno.writeTextFile(
    join(dir, "neighbours.json"),
    JSON.stringify({ n, k }),
  );

  const lines = ["index,name,cluster,confidence,label"];
  for (let i = 0; i < n; i++) {
    const nm = i === 1 ? '"odd, ""name"".png"' : `img_${i}.png`;
    lines.push(
      `${i},${nm},${assigned[i]},${confidence[i].toFixed(4)},${labels[i]}`,
    );
  }
  await Deno.writeTextFile(
    join(dir, "assignments.csv"),
    lines.join("\n") + "\n",
  );

  const s = (acc: number) => ({ acc, nmi: acc * 0.8, ari: acc * 0.7 });
  await Deno.writeTextFile(
    join(dir, "metrics.json"),
    JSON.stringify({
      ...s(0.8),
      baseline: { kmeans: s(0.35) },
      stages: {
        representation: s(0.6),
        representation_kmeans: s(0.62),
        clustering: s(0.8),
      },
      dataset: "fake",
      backend: "wasm",
      seconds: { representation: 10, clustering: 10 },
      neighbour_purity: 0.81,
    }),
  );
  return {
    name,
    n,
    classes,
    clusters,
    dim,
    k,
    labels,
    assigned,
    confidence,
    events,
  };
}

/** A running simulated training; replace with a real tiny run when one is fast enough. */
export interface SimulatedRun {
  /** Resolves after `run-end`. */
  done: Promise<void>;
  stop(): void;
}

/**
 * Emits a short run's events on `bus`, one every `intervalMs`: run-start
 * (naming `runDir`), representation steps with loss terms, epochs with
 * scores and cluster sizes, then run-end.
 */
export function simulateTraining(
  bus: EventBus,
  runDir: string,
  opts: {
    intervalMs?: number;
    epochs?: number;
    stepsPerEpoch?: number;
    clusters?: number;
    /** Emit run-end at the end (default true); false leaves it to the caller. */
    end?: boolean;
  } = {},
): SimulatedRun {
  const events = runEvents(
    runDir,
    { seed: 1 },
    new Rng(7),
    opts.clusters ?? 3,
    60,
    opts.epochs ?? 2,
    opts.stepsPerEpoch ?? 5,
    true,
  ).filter((e) => opts.end !== false || e.type !== "run-end");
  let i = 0;
  const { promise, resolve } = Promise.withResolvers<void>();
  const timer = setInterval(() => {
    if (i < events.length) bus.emit(events[i++]);
    if (i >= events.length) {
      clearInterval(timer);
      resolve();
    }
  }, opts.intervalMs ?? 20);
  return {
    done: promise,
    stop() {
      clearInterval(timer);
      resolve();
    },
  };
}
