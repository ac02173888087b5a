/**
 * `deno task train` end to end on the webgpu backend: a real tiny run (60
 * images, a narrow small convnet, self-labelling on) in a child process,
 * checked for complete outputs, finite and falling losses, and step losses
 * that match the cpu backend's. Skipped when no WebGPU adapter answers
 * (`apt-get install mesa-vulkan-drivers` gives a software one).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BackendError } from "../core/errors.ts";
import type { ClknnEvent } from "../core/events.ts";
import { webgpuBackend } from "../plugins/backends/webgpu.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TRAIN = join(ROOT, "tasks", "train.ts");
const ROWS = 60;
const WIDTH = 8;
const K = 5;

let gpuSkip = "";
try {
  await webgpuBackend().load();
} catch (err) {
  if (!(err instanceof BackendError)) throw err;
  gpuSkip = err.message;
  console.log(
    `webgpu training test skipped: ${gpuSkip} (apt-get install mesa-vulkan-drivers gives a software device)`,
  );
}

/**
 * 60 images and a width-8 small convnet: seconds a stage even on Mesa's
 * software device. A confidence threshold of 0.1 with 10 clusters makes
 * every sample a pseudo-label, so the self-label loss is never the zero
 * one and its pseudo-labels are really read.
 */
const TINY = [
  `dataset.options.limit=${ROWS}`,
  `model.backbone={name: small-convnet, options: {width: ${WIDTH}}}`,
  "model.instance_head.options.hidden=16",
  "model.cluster_head.options.hidden=16",
  "representation.batch_size=20",
  "representation.epochs=3",
  "clustering.batch_size=20",
  "clustering.epochs=3",
  "clustering.heads=2",
  `mine.k=${K}`,
  "selflabel.enabled=true",
  "selflabel.batch_size=20",
  "selflabel.epochs=2",
  "selflabel.loss.options.threshold=0.1",
  "baseline.max_points=60",
  "baseline.restarts=1",
  "log.interval=0",
];

type Step = Extract<ClknnEvent, { type: "step" }>;
type Epoch = Extract<ClknnEvent, { type: "epoch" }>;

/** Every run's folder goes under this one, removed when the test ends. */
const root = gpuSkip
  ? ""
  : Deno.makeTempDirSync({ prefix: "clknn-webgpu-train-" });

/** Runs the train CLI on `backend`; returns the run folder and its events. */
async function train(
  backend: string,
  extra: string[],
): Promise<{ dir: string; events: ClknnEvent[] }> {
  const sets = [`backend=${backend}`, ...TINY, ...extra];
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-webgpu",
      TRAIN,
      "-q",
      ...sets.flatMap((s) => ["--set", s]),
      "--output",
      root,
      "--name",
      backend,
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).output();
  const dir = join(root, backend);
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const events = Deno.readTextFileSync(join(dir, "events.jsonl")).split("\n")
    .filter((l) => l.trim()).map((l) => JSON.parse(l) as ClknnEvent);
  return { dir, events };
}

function steps(events: ClknnEvent[], phase: string): Step[] {
  return events.filter((e): e is Step =>
    e.type === "step" && e.phase === phase
  );
}

function epochLosses(events: ClknnEvent[], phase: string): number[] {
  return events.filter((e): e is Epoch =>
    e.type === "epoch" && e.phase === phase
  ).map((e) => e.loss);
}

function fileSize(dir: string, file: string): number {
  return Deno.statSync(join(dir, file)).size;
}

Deno.test({
  name:
    "a tiny deno task train run on webgpu finishes every stage with every output, its first epoch's step losses match cpu's to 1e-4, and its representation and clustering losses fall",
  ignore: gpuSkip !== "",
  async fn() {
    try {
      // the cpu reference trains only the first epoch, whose steps see the
      // same images and augmentations as the webgpu run's first epoch
      const [gpu, cpu] = await Promise.all([
        train("webgpu", []),
        train("cpu", [
          "representation.epochs=1",
          "clustering.epochs=1",
          "selflabel.enabled=false",
        ]),
      ]);
      const { dir, events } = gpu;

      const start = events.find((e) => e.type === "run-start");
      assert.ok(start?.type === "run-start");
      assert.match(start.backend, /^webgpu/);
      assert.equal(
        JSON.parse(Deno.readTextFileSync(join(dir, "status.json"))).state,
        "finished",
      );

      // every output, each of the size the run's shapes give
      const metrics = JSON.parse(
        Deno.readTextFileSync(join(dir, "metrics.json")),
      );
      assert.equal(metrics.backend, "webgpu");
      assert.equal(metrics.images, ROWS);
      for (const stage of ["representation", "clustering", "selflabel"]) {
        const s = metrics.stages[stage];
        assert.ok(s, `metrics.json lacks stage ${stage}`);
        for (const v of [s.acc, s.nmi, s.ari]) assert.ok(Number.isFinite(v));
      }
      assert.ok(metrics.acc >= 0.1 && metrics.acc <= 1, `acc ${metrics.acc}`);
      const csv = Deno.readTextFileSync(join(dir, "assignments.csv")).trim()
        .split("\n");
      assert.equal(csv.length, ROWS + 1);
      assert.ok(
        csv.slice(1).every((l) => {
          const [, , cluster, confidence] = l.split(",");
          return +cluster >= 0 && +cluster < 10 && +confidence > 0 &&
            +confidence <= 1;
        }),
      );
      assert.equal(fileSize(dir, "features.f32"), ROWS * 4 * WIDTH * 4);
      assert.equal(fileSize(dir, "embeddings.f32"), ROWS * 128 * 4);
      assert.equal(fileSize(dir, "neighbours.i32"), ROWS * K * 4);
      for (const m of ["backbone", "instance_head", "cluster_head"]) {
        assert.ok(fileSize(dir, join("model", m, "model.json")) > 0, m);
      }
      assert.ok(fileSize(dir, join("model", "clustering_head", "model.json")));
      assert.ok(fileSize(dir, "checkpoint.bin") > 0);

      // finite losses; every sample was confident, as the threshold asks
      for (const phase of ["representation", "clustering", "selflabel"]) {
        const list = steps(events, phase);
        assert.equal(list.length, phase === "selflabel" ? 6 : 9, phase);
        for (const s of list) {
          assert.ok(Number.isFinite(s.loss), `${phase} step loss ${s.loss}`);
        }
      }
      for (const s of steps(events, "selflabel")) {
        assert.equal(s.terms.confident, 1);
        assert.ok(s.loss > 0);
      }
      for (const phase of ["representation", "clustering"]) {
        const [first, , last] = epochLosses(events, phase);
        assert.ok(last < first, `${phase} epoch losses ${first} -> ${last}`);
      }

      // the same numbers as the reference backend
      const want = steps(cpu.events, "representation");
      const got = steps(events, "representation").slice(0, want.length);
      assert.equal(want.length, 3);
      got.forEach((s, i) => {
        const rel = Math.abs(s.loss - want[i].loss) / Math.abs(want[i].loss);
        assert.ok(
          rel < 1e-4,
          `step ${i + 1}: ${s.loss} vs cpu ${want[i].loss}`,
        );
      });
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});
