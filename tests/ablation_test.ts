import assert from "node:assert/strict";
import { join } from "node:path";
import { ablationTable } from "../tasks/ablation.ts";
import { buildPlugins, bundledRegistries, resolveConfig } from "../mod.ts";
import { TINY } from "./tiny.ts";

const ABLATION = new URL("../tasks/ablation.ts", import.meta.url).pathname;

Deno.test("the four ablation presets differ exactly in views and stage-1 loss, as in the paper's Table 3", () => {
  const rows = {
    "ablation-origin": ["single", "instance-ntxent"],
    "ablation-double-augmentation": ["double", "instance-ntxent"],
    "ablation-double-loss": ["single", "double-contrastive"],
    "ablation-clknn": ["double", "double-contrastive"],
  };
  const configs = Object.entries(rows).map(([preset, [views, loss]]) => {
    const config = resolveConfig({ preset, sets: ["backend=native"] });
    assert.equal(config.augment.views, views, preset);
    assert.equal(config.representation.loss.name, loss, preset);
    // the loss starts from its own defaults, not the base loss's options
    buildPlugins(config, bundledRegistries());
    return config;
  });
  // everything else is the same budget, so the rows compare like for like
  const rest = configs.map((c) =>
    JSON.stringify({
      ...c,
      preset: "",
      augment: { ...c.augment, views: "" },
      representation: { ...c.representation, loss: "" },
    })
  );
  assert.equal(new Set(rest).size, 1);
});

Deno.test("ablationTable writes one percent row per setting and the k-means row", () => {
  const table = ablationTable([
    { preset: "a", label: "origin", acc: 0.5, nmi: 0.25, ari: 0.125 },
    {
      preset: "b",
      label: "CLKNN",
      acc: 0.803,
      nmi: 0.686,
      ari: 0.638,
      kmeans: { acc: 0.47, nmi: 0.51, ari: 0.3 },
    },
  ]);
  assert.deepEqual(table.trimEnd().split("\n"), [
    "| setting | ACC % | NMI % | ARI % |",
    "|---|---|---|---|",
    "| origin | 50.0 | 25.0 | 12.5 |",
    "| CLKNN | 80.3 | 68.6 | 63.8 |",
    "| k-means on pixels (baseline) | 47.0 | 51.0 | 30.0 |",
  ]);
});

Deno.test("deno task ablation runs the four rows, writes the table, and skips finished rows when rerun", async () => {
  const output = await Deno.makeTempDir({ prefix: "clknn-ablation-" });
  const sets = [
    ...TINY,
    "dataset.options.limit=60",
    "representation.batch_size=30",
    "clustering.batch_size=30",
    "representation.epochs=1",
    "clustering.epochs=1",
    "baseline.max_points=60",
  ].flatMap((s) => ["--set", s]);
  const run = () =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", ABLATION, "--output", output, "-q", ...sets],
      stdout: "piped",
      stderr: "piped",
    }).output();
  const first = await run();
  const stderr = new TextDecoder().decode(first.stderr);
  assert.equal(first.code, 0, stderr);
  const rows = JSON.parse(
    Deno.readTextFileSync(join(output, "ablation.json")),
  ) as { preset: string; acc: number; nmi: number; ari: number }[];
  assert.deepEqual(rows.map((r) => r.preset), [
    "ablation-origin",
    "ablation-double-augmentation",
    "ablation-double-loss",
    "ablation-clknn",
  ]);
  for (const r of rows) {
    const metrics = JSON.parse(
      Deno.readTextFileSync(join(output, r.preset, "metrics.json")),
    );
    assert.equal(r.acc, metrics.acc);
    assert.ok(r.acc > 0 && r.acc <= 1 && r.nmi >= 0 && r.nmi <= 1);
  }
  const table = Deno.readTextFileSync(join(output, "ablation.md"));
  assert.equal(table.trimEnd().split("\n").length, 2 + 4 + 1);

  // a rerun finds every row finished and trains nothing
  const before = Deno.statSync(join(output, "ablation-clknn", "metrics.json"))
    .mtime;
  const second = await run();
  assert.equal(second.code, 0);
  assert.deepEqual(
    Deno.statSync(join(output, "ablation-clknn", "metrics.json")).mtime,
    before,
  );
  await Deno.remove(output, { recursive: true });
});

Deno.test("deno task ablation rejects an unknown flag with one line and exit 2", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ABLATION, "--epochs", "3"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr).trim();
  assert.equal(out.code, 2);
  assert.equal(stderr.split("\n").length, 1, stderr);
  assert.match(stderr, /^error: .*--epochs/);
});
