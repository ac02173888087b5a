/**
 * Crash safety of a real run: `deno task train` in a child process is
 * killed with SIGKILL in each stage, resumed, and must end with the very
 * outputs of a run that was never interrupted; torn temp files, a full
 * disk, an unwritable output folder and a diverging loss are each met with
 * one clear line and an intact last checkpoint.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readCheckpoint, writeCheckpoint } from "../core/checkpoint.ts";
import type { ClknnEvent } from "../core/events.ts";
import { TEST_BACKEND } from "./tiny.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TRAIN = join(ROOT, "tasks", "train.ts");
const FIXTURES = join(ROOT, "tests", "fixtures");
const ROWS = 60;

/** 60 images, a small convnet, 3 steps an epoch: a run takes seconds. */
const TINY = [
  `backend=${TEST_BACKEND}`,
  `dataset.options.limit=${ROWS}`,
  "model.backbone=small-convnet",
  "model.instance_head.options.hidden=16",
  "model.cluster_head.options.hidden=16",
  "representation.batch_size=20",
  "representation.epochs=3",
  "clustering.batch_size=20",
  "clustering.epochs=3",
  "clustering.heads=2",
  // a backbone that trains in stage 2 makes its epochs long enough to kill
  "clustering.update_backbone=true",
  "clustering.augment=true",
  "mine.k=5",
  "baseline.max_points=60",
  "baseline.restarts=1",
  "log.interval=0",
].flatMap((s) => ["--set", s]);

type Event = ClknnEvent & { seq: number };
type RunState = {
  phase: string;
  epoch: number;
  done: string[];
  version: string;
};

interface Finished {
  pid: number;
  code: number;
  signal: Deno.Signal | null;
  stderr: string;
  events: Event[];
}

function readEvents(runDir: string): Event[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(join(runDir, "events.jsonl"));
  } catch {
    return [];
  }
  // the last line may still be in the middle of being written
  return text.split("\n").slice(0, -1).filter((l) => l.trim()).map((l) =>
    JSON.parse(l)
  );
}

/**
 * Runs the train CLI. With `killAt` the child SIGKILLs itself right after
 * that event is emitted (see tests/fixtures/self_kill.ts). Events are this
 * process's part of events.jsonl (the file is appended to across resumes).
 */
async function train(
  args: string[],
  runDir: string,
  opts: { killAt?: string; env?: Record<string, string> } = {},
): Promise<Finished> {
  const before = readEvents(runDir).length;
  const kill = opts.killAt ? ["--plugin", join(FIXTURES, "self_kill.ts")] : [];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TRAIN, "-q", ...kill, ...args],
    cwd: ROOT,
    env: {
      NO_COLOR: "1",
      ...(opts.killAt ? { CLKNN_TEST_KILL_AT: opts.killAt } : {}),
      ...opts.env,
    },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // a guard against a hung child, not a timing check
  const guard = setTimeout(() => child.kill("SIGKILL"), 240_000);
  const [{ code, signal }, stderr] = await Promise.all([
    child.status,
    new Response(child.stderr).text(),
  ]);
  clearTimeout(guard);
  return {
    pid: child.pid,
    code,
    signal,
    stderr,
    events: readEvents(runDir).slice(before),
  };
}

function checkpointState(runDir: string): RunState {
  return readCheckpoint<RunState>(join(runDir, "checkpoint.bin")).state;
}

/** Losses of every step, keyed "phase epoch step". */
function stepLosses(events: Event[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of events) {
    if (e.type === "step") out.set(`${e.phase} ${e.epoch} ${e.step}`, e.loss);
  }
  return out;
}

/** What a killed run left and how its resumption started, checked together. */
function checkKillAndResume(
  killed: Finished,
  state: RunState,
  resumed: Event[],
) {
  assert.equal(killed.signal, "SIGKILL", "the child was killed mid-run");
  const steps = killed.events.filter((e) => e.type === "step") as Extract<
    Event,
    { type: "step" }
  >[];
  const last = steps.at(-1)!;
  // at most the epoch in progress is lost
  if (state.phase === last.phase && !state.done.includes(state.phase)) {
    assert.ok(
      state.epoch >= last.epoch - 1,
      `checkpoint at ${state.phase} epoch ${state.epoch}, killed in epoch ${last.epoch}`,
    );
  }
  const start = resumed.find((e) => e.type === "run-start") as Extract<
    Event,
    { type: "run-start" }
  >;
  assert.equal(start.resumed, true);
  // finished stages are not run again
  for (const stage of state.done) {
    assert.ok(
      !resumed.some((e) => e.type === "phase-start" && e.phase === stage),
      `stage ${stage} ran again after the resume`,
    );
  }
  if (!state.done.includes(state.phase) && state.phase !== "mine") {
    const phaseStart = resumed.find((e) =>
      e.type === "phase-start" && e.phase === state.phase
    ) as Extract<Event, { type: "phase-start" }>;
    assert.equal(phaseStart.startEpoch, state.epoch);
    const epochs = resumed.filter((e) =>
      e.type === "epoch" && e.phase === state.phase
    ).map((e) => (e as Extract<Event, { type: "epoch" }>).epoch);
    // the epoch count continues where the checkpoint left it
    assert.deepEqual(
      epochs,
      Array.from(
        { length: 3 - state.epoch },
        (_, i) => state.epoch + 1 + i,
      ),
    );
  }
}

function outputs(runDir: string) {
  const metrics = JSON.parse(
    Deno.readTextFileSync(join(runDir, "metrics.json")),
  );
  delete metrics.seconds;
  return {
    metrics,
    assignments: Deno.readTextFileSync(join(runDir, "assignments.csv")),
    features: Deno.readFileSync(join(runDir, "features.f32")),
    embeddings: Deno.readFileSync(join(runDir, "embeddings.f32")),
    neighbours: Deno.readFileSync(join(runDir, "neighbours.i32")),
    featureShape: JSON.parse(
      Deno.readTextFileSync(join(runDir, "features.json")),
    ),
    status: JSON.parse(Deno.readTextFileSync(join(runDir, "status.json")))
      .state,
  };
}

const root = Deno.makeTempDirSync({ prefix: "clknn-crash-" });
const run = (name: string) => [
  ...TINY,
  "--output",
  root,
  "--name",
  name,
];
let reference: ReturnType<typeof outputs> | undefined;
let referenceLosses: Map<string, number> | undefined;

Deno.test("an uninterrupted tiny run writes complete, valid outputs", async () => {
  const dir = join(root, "reference");
  const done = await train(run("reference"), dir);
  assert.equal(done.code, 0, done.stderr);
  reference = outputs(dir);
  referenceLosses = stepLosses(done.events);
  const { metrics, assignments, features, featureShape } = reference;
  for (const key of ["acc", "nmi", "ari"]) {
    assert.ok(metrics[key] >= -1 && metrics[key] <= 1, `${key}`);
  }
  assert.ok(metrics.baseline.kmeans && metrics.stages.clustering);
  assert.ok(metrics.stages.representation && metrics.selected);
  assert.ok(metrics.neighbour_purity > 0 && metrics.neighbour_purity <= 1);
  assert.equal(metrics.images, ROWS);
  const rows = assignments.trim().split("\n");
  assert.equal(rows.length, ROWS + 1);
  rows.slice(1).forEach((row, i) => {
    const [index, , cluster, confidence, label] = row.split(",");
    assert.equal(Number(index), i);
    assert.ok(Number(cluster) >= 0 && Number(cluster) < 10);
    assert.ok(Number(confidence) > 0 && Number(confidence) <= 1);
    assert.ok(Number(label) >= 0 && Number(label) < 10);
  });
  assert.equal(featureShape.n, ROWS);
  assert.equal(features.length, ROWS * featureShape.dim * 4);
  assert.equal(reference.status, "finished");
  // 3 + 3 epochs of 3 steps each
  assert.equal(referenceLosses.size, 18);
});

Deno.test("SIGKILL in representation, mining and clustering, each resumed, ends with the uninterrupted run's outputs", async () => {
  assert.ok(reference && referenceLosses, "the reference run must pass first");
  const name = "killed";
  const dir = join(root, name);
  const seen = new Map<string, number>();
  const note = (events: Event[]) => {
    for (const [k, v] of stepLosses(events)) seen.set(k, v);
  };

  // 1. in the middle of representation epoch 2
  const first = await train(run(name), dir, {
    killAt: "step:representation:2:2",
  });
  note(first.events);
  const s1 = checkpointState(dir);
  assert.deepEqual([s1.phase, s1.epoch, s1.done], ["representation", 1, []]);
  // a torn temp checkpoint, as a kill during a write leaves, is ignored
  Deno.writeTextFileSync(
    join(dir, `checkpoint.bin.tmp-${first.pid}`),
    "CLKNNCK1 torn garbage",
  );
  Deno.writeFileSync(
    join(dir, "checkpoint.bin.tmp-123"),
    new Uint8Array(777).fill(7),
  );

  // 2. resumed, then killed once the neighbours are mined
  const second = await train(["--resume", dir], dir, {
    killAt: "neighbours",
  });
  checkKillAndResume(first, s1, second.events);
  note(second.events);
  const s2 = checkpointState(dir);

  // 3. resumed, then killed in the middle of clustering epoch 2
  const third = await train(["--resume", dir], dir, {
    killAt: "step:clustering:2:2",
  });
  // killed after mining, before its end-of-stage checkpoint: mining again
  assert.deepEqual(s2.done, ["representation"]);
  checkKillAndResume(second, s2, third.events);
  assert.ok(
    third.events.some((e) => e.type === "phase-start" && e.phase === "mine"),
  );
  note(third.events);
  const s3 = checkpointState(dir);
  assert.deepEqual([s3.phase, s3.epoch, s3.done], [
    "clustering",
    1,
    ["representation", "mine"],
  ]);

  // 4. resumed to the end
  const last = await train(["--resume", dir], dir);
  assert.equal(last.code, 0, last.stderr);
  checkKillAndResume(third, s3, last.events);
  note(last.events);

  // same random stream: every step's loss, and every output, as if never killed
  assert.deepEqual(
    [...seen.entries()].sort(),
    [...referenceLosses.entries()].sort(),
  );
  const got = outputs(dir);
  assert.deepEqual(got.metrics, reference.metrics);
  assert.equal(got.assignments, reference.assignments);
  assert.deepEqual(got.features, reference.features);
  assert.deepEqual(got.embeddings, reference.embeddings);
  assert.deepEqual(got.neighbours, reference.neighbours);
  assert.equal(got.status, "finished");
});

Deno.test("a non-finite loss stops the run naming stage, epoch, step and term; the last checkpoint resumes", async () => {
  const name = "nan";
  const dir = join(root, name);
  const args = [
    ...run(name),
    "--stage",
    "representation",
    "--plugin",
    join(FIXTURES, "nan_loss.ts"),
    "--set",
    "representation.loss=nan-at-step",
  ];
  // global step 5 = epoch 2, step 2 (3 steps an epoch)
  const failed = await train(args, dir, { env: { CLKNN_TEST_NAN_STEP: "5" } });
  assert.equal(failed.code, 1);
  const lines = failed.stderr.trim().split("\n");
  assert.equal(lines.length, 1, failed.stderr);
  assert.match(
    lines[0],
    /^error: The representation loss became NaN at epoch 2, step 2 \(non-finite terms: alignment=NaN\); the last good checkpoint is kept/,
  );
  const state = checkpointState(dir);
  assert.equal(state.phase, "representation");
  assert.equal(state.epoch, 1);
  assert.equal(
    JSON.parse(Deno.readTextFileSync(join(dir, "status.json"))).state,
    "failed",
  );
  const resumed = await train([
    "--resume",
    dir,
    "--stage",
    "representation",
    "--plugin",
    join(FIXTURES, "nan_loss.ts"),
  ], dir);
  assert.equal(resumed.code, 0, resumed.stderr);
  const start = resumed.events.find((e) =>
    e.type === "phase-start" && e.phase === "representation"
  ) as Extract<Event, { type: "phase-start" }>;
  assert.equal(start.startEpoch, 1);
  assert.ok(Number.isFinite(
    JSON.parse(
      Deno.readTextFileSync(join(dir, "metrics.json")),
    ).acc,
  ));
});

Deno.test("a disk that fills during a checkpoint write keeps the previous checkpoint, which resumes", async () => {
  const name = "full";
  const dir = join(root, name);
  const failed = await train(
    [
      ...run(name),
      "--stage",
      "representation",
      "--plugin",
      join(FIXTURES, "disk_full.ts"),
    ],
    dir,
    { env: { CLKNN_TEST_FULL_AT: "2" } },
  );
  assert.equal(failed.code, 1);
  const lines = failed.stderr.trim().split("\n");
  assert.equal(lines.length, 1, failed.stderr);
  assert.match(
    lines[0],
    /^error: Cannot write \S+checkpoint\.bin: No space left on device \(os error 28\); its previous contents are kept/,
  );
  // the epoch-1 checkpoint is whole and no temp file is left behind
  const state = checkpointState(dir);
  assert.equal(state.epoch, 1);
  assert.deepEqual(
    [...Deno.readDirSync(dir)].filter((e) => e.name.includes(".tmp-")),
    [],
  );
  const resumed = await train(
    ["--resume", dir, "--stage", "representation"],
    dir,
  );
  assert.equal(resumed.code, 0, resumed.stderr);
  const start = resumed.events.find((e) =>
    e.type === "phase-start" && e.phase === "representation"
  ) as Extract<Event, { type: "phase-start" }>;
  assert.equal(start.startEpoch, 1);
});

Deno.test("a checkpoint write that cannot complete leaves the earlier file byte for byte", () => {
  const dir = Deno.makeTempDirSync({ dir: root });
  const path = join(dir, "checkpoint.bin");
  const tensors = [{
    name: "w",
    shape: [3],
    data: new Float32Array([1, 2, 3]),
  }];
  writeCheckpoint(path, { state: { epoch: 1 }, tensors });
  const before = Deno.readFileSync(path);
  // a folder where the temp file should go: the open fails
  Deno.mkdirSync(`${path}.tmp-${Deno.pid}/inside`, { recursive: true });
  assert.throws(
    () => writeCheckpoint(path, { state: { epoch: 2 }, tensors }),
    /^UserError: Cannot write .*checkpoint\.bin: .*its previous contents are kept/,
  );
  assert.deepEqual(Deno.readFileSync(path), before);
  Deno.removeSync(`${path}.tmp-${Deno.pid}`, { recursive: true });
  // the target itself a folder: the rename fails and the temp file goes
  const target = join(dir, "as-folder");
  Deno.mkdirSync(join(target, "x"), { recursive: true });
  assert.throws(
    () => writeCheckpoint(target, { state: {}, tensors }),
    /Cannot write/,
  );
  assert.deepEqual(
    [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
    ["as-folder", "checkpoint.bin"],
  );
  assert.equal(readCheckpoint<{ epoch: number }>(path).state.epoch, 1);
});

Deno.test("an output folder that cannot be written fails in one line before training starts", async () => {
  const file = join(root, "a-file");
  Deno.writeTextFileSync(file, "not a folder");
  // root ignores mode bits, so: a path under a regular file, and one under /proc
  for (const output of [join(file, "runs"), "/proc/clknn-no-such/runs"]) {
    const failed = await train(
      [...TINY, "--output", output, "--name", "x"],
      join(output, "x"),
    );
    assert.equal(failed.code, 1);
    const lines = failed.stderr.trim().split("\n");
    assert.equal(lines.length, 1, failed.stderr);
    assert.match(
      lines[0],
      new RegExp(
        `^error: Cannot write to run folder ${output}/x: .+; choose a writable --output`,
      ),
    );
    assert.deepEqual(failed.events, []);
  }
  assert.equal(Deno.readTextFileSync(file), "not a folder");
});

Deno.test("cleanup of the crash runs", () => {
  Deno.removeSync(root, { recursive: true });
});
