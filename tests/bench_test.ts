import assert from "node:assert/strict";
import { parseBenchArgs } from "../bench/args.ts";
import { type BenchCase, planCases } from "../bench/cases.ts";
import { runBench } from "../bench/run.ts";
import { toMarkdown, writeReport } from "../bench/report.ts";
import { spread } from "../bench/stats.ts";
import { blasNote } from "../bench/torch.ts";
import { ConfigError } from "../core/errors.ts";
import { bundledRegistries } from "../plugins/bundled.ts";

Deno.test("parseBenchArgs() reads every flag, with and without =", () => {
  const a = parseBenchArgs([
    "--quick",
    "--backends",
    "native, wasm",
    "--out=/tmp/x",
    "--name",
    "run-1",
    "--no-torch",
    "--max-step-seconds=5",
  ]);
  assert.deepEqual(a, {
    quick: true,
    backends: ["native", "wasm"],
    out: "/tmp/x",
    name: "run-1",
    torch: false,
    maxStepSeconds: 5,
    help: false,
  });
  assert.equal(parseBenchArgs([]).name, "latest");
  assert.equal(parseBenchArgs(["--quick"]).name, "quick");
});

Deno.test("parseBenchArgs() rejects bad flags with one line naming the value", () => {
  for (
    const [argv, part] of [
      [["--fast"], '"--fast"'],
      [["--max-step-seconds", "-3"], '"-3"'],
      [["--backends"], "--backends needs a value"],
      [["--name", "a/b"], '"a/b"'],
    ] as const
  ) {
    assert.throws(() => parseBenchArgs(argv), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.ok(err.message.includes(part), err.message);
      assert.ok(!err.message.includes("\n"));
      return true;
    });
  }
});

Deno.test("the bench task exits 2 with one line on an unknown flag", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "tasks/bench.ts", "--bogus"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 2);
  const err = new TextDecoder().decode(out.stderr).trim();
  assert.equal(err.split("\n").length, 1);
  assert.match(err, /^bench: Unknown flag "--bogus"/);
});

Deno.test("spread() gives the median of odd and even counts and the extremes", () => {
  assert.deepEqual(spread([3, 1, 2]), { median: 2, min: 1, max: 3, n: 3 });
  assert.deepEqual(spread([4, 1, 2, 3]), { median: 2.5, min: 1, max: 4, n: 4 });
});

Deno.test("blasNote() tells Debian's pthread OpenBLAS from the reference BLAS", () => {
  assert.match(
    blasNote(["/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"]),
    /use libopenblas0-pthread/,
  );
  assert.match(
    blasNote(["/usr/lib/x86_64-linux-gnu/blas/libblas.so.3"]),
    /do NOT use OpenBLAS/,
  );
});

Deno.test("the full plan covers both widths, both inputs, batch 64 and 128, stage 1 and mining", () => {
  const ids = planCases(false).map((c) => c.id);
  for (const w of [1, 0.25]) {
    for (const input of ["32x32x3", "28x28x1"]) {
      for (const b of [64, 128]) {
        assert.ok(ids.includes(`train-w${w}-${input}-b${b}`));
      }
    }
  }
  assert.ok(ids.some((id) => id.startsWith("stage1-")));
  assert.ok(ids.includes("mine-10000x512-k30"));
  assert.ok(
    planCases(true).every((c) => c.kind === "mine" || c.width! <= 0.125),
  );
});

Deno.test("a tiny bench run writes well-formed JSON and Markdown with every field", async () => {
  const cases: BenchCase[] = [
    {
      id: "train-tiny",
      kind: "train",
      width: 0.125,
      input: [8, 8, 1],
      batch: 2,
      warmup: 0,
      repeats: 1,
    },
    {
      id: "mine-tiny",
      kind: "mine",
      n: 40,
      dim: 8,
      k: 3,
      warmup: 0,
      repeats: 2,
    },
  ];
  const report = await runBench({
    cases,
    registries: bundledRegistries(),
    backends: ["native", "no-such-backend"],
    torch: false,
    maxStepSeconds: 600,
  });
  const dir = Deno.makeTempDirSync();
  try {
    const paths = writeReport(report, dir, "tiny");
    const json = JSON.parse(Deno.readTextFileSync(paths.json));
    assert.equal(json.cases.length, 2);
    assert.ok(Array.isArray(json.machine.loadAverageStart));
    assert.equal(json.torch.available, false);
    const missing = json.backends.find((b: { name: string }) =>
      b.name === "no-such-backend"
    );
    assert.equal(missing.loaded, false);
    assert.match(missing.reason, /Unknown backend "no-such-backend"/);
    const native = json.backends.find((b: { name: string }) =>
      b.name === "native"
    );
    if (native.loaded) {
      const train = json.results.find((r: { case: string }) =>
        r.case === "train-tiny"
      );
      assert.equal(train.status, "ok", train.reason);
      assert.equal(train.seconds.n, 1);
      assert.ok(train.imagesPerSecond.median > 0);
      assert.ok(
        Math.abs(train.imagesPerSecond.median * train.seconds.median - 2) <
          1e-9,
      );
      assert.ok(train.peakRssMiB > 0);
      const mine = json.results.find((r: { case: string }) =>
        r.case === "mine-tiny"
      );
      assert.equal(mine.status, "ok", mine.reason);
      assert.equal(mine.seconds.n, 2);
      assert.equal(mine.imagesPerSecond, undefined);
    } else {
      assert.equal(json.results.length, 0);
    }
    const md = Deno.readTextFileSync(paths.markdown);
    assert.equal(md, toMarkdown(report));
    assert.match(
      md,
      /\| case \| engine \| images\/s or seconds \| x PyTorch \|/,
    );
    assert.match(md, /backend no-such-backend: skipped/);
    if (native.loaded) {
      assert.match(md, /\| train-tiny \| native \| [0-9.]+ \(/);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
