import assert from "node:assert/strict";
import { join } from "node:path";
import { type ClknnEvent, EventBus, resolveConfig, train } from "../mod.ts";
import { TINY } from "./tiny.ts";

export { TINY };

function collect(events: EventBus): ClknnEvent[] {
  const seen: ClknnEvent[] = [];
  events.on((e) => seen.push(e));
  return seen;
}

Deno.test("a tiny run trains every stage and writes every output of a run folder", async () => {
  const runDir = await Deno.makeTempDir({ prefix: "clknn-pipeline-" });
  const config = resolveConfig({
    sets: [
      ...TINY,
      "representation.epochs=4",
      "clustering.epochs=2",
      "representation.lr=0.002",
    ],
  });
  const events = new EventBus();
  const seen = collect(events);
  const metrics = await train({ config, events, runDir });

  // stage-1 loss falls over a few epochs on the same 100 images
  const epochs = seen.filter((e) =>
    e.type === "epoch" && e.phase === "representation"
  ) as Extract<
    ClknnEvent,
    { type: "epoch" }
  >[];
  assert.equal(epochs.length, 4);
  assert.ok(
    epochs[3].terms.instance < epochs[0].terms.instance,
    `instance loss should fall: ${
      epochs.map((e) => e.terms.instance.toFixed(3)).join(" -> ")
    }`,
  );

  // scores exist for every stage and lie in range
  for (const key of ["acc", "nmi", "ari"] as const) {
    assert.ok(metrics[key]! >= -1 && metrics[key]! <= 1);
    assert.ok(metrics.baseline.kmeans![key] >= -1);
  }
  for (
    const stage of ["representation", "representation_kmeans", "clustering"]
  ) {
    assert.ok(metrics.stages[stage], `missing scores of ${stage}`);
  }
  assert.ok(
    metrics.neighbour_purity! > 0.1,
    "neighbours share labels above chance",
  );
  assert.ok(
    metrics.selected && metrics.selected.head >= 0 && metrics.selected.head < 2,
  );

  // outputs
  const csv = Deno.readTextFileSync(join(runDir, "assignments.csv")).trim()
    .split("\n");
  assert.equal(csv[0], "index,name,cluster,confidence,label");
  assert.equal(csv.length, 101);
  for (const line of csv.slice(1)) {
    const [, , cluster, confidence] = line.split(",");
    assert.ok(Number(cluster) >= 0 && Number(cluster) < 10);
    assert.ok(Number(confidence) > 0 && Number(confidence) <= 1);
  }
  const features = JSON.parse(
    Deno.readTextFileSync(join(runDir, "features.json")),
  );
  assert.deepEqual(features, { n: 100, dim: 64 });
  assert.equal(Deno.statSync(join(runDir, "features.f32")).size, 100 * 64 * 4);
  const neighbours = JSON.parse(
    Deno.readTextFileSync(join(runDir, "neighbours.json")),
  );
  assert.deepEqual(neighbours, { n: 100, k: 5 });
  for (
    const m of ["backbone", "instance_head", "cluster_head", "clustering_head"]
  ) {
    const json = JSON.parse(
      Deno.readTextFileSync(join(runDir, "model", m, "model.json")),
    );
    assert.ok(
      json.modelTopology && json.weightsManifest,
      `${m} is a tfjs layers model`,
    );
  }
  const status = JSON.parse(Deno.readTextFileSync(join(runDir, "status.json")));
  assert.equal(status.state, "finished");
  const saved = JSON.parse(Deno.readTextFileSync(join(runDir, "metrics.json")));
  assert.deepEqual(saved.baseline, metrics.baseline);
  assert.ok(saved.seconds.representation > 0 && saved.seconds.clustering > 0);
  await Deno.remove(runDir, { recursive: true });
});

Deno.test("mine and clustering re-run from a finished run with another K", async () => {
  const first = await Deno.makeTempDir({ prefix: "clknn-from-" });
  const second = await Deno.makeTempDir({ prefix: "clknn-from2-" });
  const config = resolveConfig({
    sets: [...TINY, "representation.epochs=1", "clustering.epochs=1"],
  });
  await train({ config, runDir: first });
  const again = resolveConfig({
    sets: [
      ...TINY,
      "representation.epochs=1",
      "clustering.epochs=1",
      "mine.k=3",
    ],
  });
  const events = new EventBus();
  const seen = collect(events);
  const metrics = await train({
    config: again,
    runDir: second,
    stages: ["mine", "clustering"],
    from: first,
    events,
  });
  assert.ok(
    !seen.some((e) => e.type === "phase-start" && e.phase === "representation"),
  );
  assert.deepEqual(
    JSON.parse(Deno.readTextFileSync(join(second, "neighbours.json"))),
    { n: 100, k: 3 },
  );
  assert.ok(metrics.stages.clustering);
  // the mined neighbours come from the first run's embeddings
  const k3 = new Int32Array(
    Deno.readFileSync(join(second, "neighbours.i32")).buffer,
  );
  const k5 = new Int32Array(
    Deno.readFileSync(join(first, "neighbours.i32")).buffer,
  );
  for (let i = 0; i < 100; i++) {
    assert.deepEqual([...k3.subarray(i * 3, i * 3 + 3)], [
      ...k5.subarray(i * 5, i * 5 + 3),
    ]);
  }
  await Deno.remove(first, { recursive: true });
  await Deno.remove(second, { recursive: true });
});
