import assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError, DataError } from "../core/errors.ts";
import { type ClknnEvent, EventBus, type Stamped } from "../core/events.ts";
import { readOptions } from "../core/options.ts";
import {
  jsonl,
  JsonlReporter,
  parseEventLog,
  readEventLog,
} from "../plugins/reporters/jsonl.ts";
import {
  clusterShares,
  eta,
  formatDuration,
  metricsTable,
  type Sink,
  summariseConfig,
  terminal,
  type TerminalOptions,
  TerminalReporter,
} from "../plugins/reporters/terminal.ts";

const T0 = Date.parse("2026-01-01T00:00:00.000Z");

/** Stamps events with times in seconds after T0 that the test chooses. */
function stamper() {
  let seq = 0;
  return (event: ClknnEvent, seconds: number): Stamped =>
    ({
      ...event,
      seq: ++seq,
      time: new Date(T0 + seconds * 1000).toISOString(),
    }) as Stamped;
}

function fakeSink(
  isTerminal = false,
): Sink & { text: string; lines(): string[] } {
  return {
    isTerminal,
    columns: 120,
    text: "",
    write(t: string) {
      this.text += t;
    },
    lines() {
      return this.text.split("\n").slice(0, -1);
    },
  };
}

function reporter(
  options: Partial<TerminalOptions>,
  sink: Sink,
): TerminalReporter {
  const checked = readOptions("reporter terminal", options, terminal.options);
  return new TerminalReporter(checked, sink);
}

function step(
  epoch: number,
  step: number,
  loss: number,
): ClknnEvent {
  return {
    type: "step",
    phase: "representation",
    epoch,
    epochs: 2,
    step,
    stepsPerEpoch: 4,
    loss,
    terms: { instance: loss - 0.5, cluster: 0.4, entropy: 0.1 },
    lr: 3e-4,
    imagesPerSecond: 412.25,
  };
}

Deno.test("formatDuration writes seconds, minutes with seconds, or hours with minutes", () => {
  assert.equal(formatDuration(0), "0s");
  assert.equal(formatDuration(45), "45s");
  assert.equal(formatDuration(59.4), "59s");
  assert.equal(formatDuration(60), "1m00s");
  assert.equal(formatDuration(723), "12m03s");
  assert.equal(formatDuration(3599), "59m59s");
  assert.equal(formatDuration(3720), "1h02m");
  assert.equal(formatDuration(7199), "2h00m");
  assert.equal(formatDuration(90000), "25h00m");
  assert.equal(formatDuration(NaN), "?");
  assert.equal(formatDuration(-1), "?");
});

Deno.test("eta extrapolates the rate so far over what is left of the phase", () => {
  assert.equal(eta(60, 0, 0.25), 180);
  // a resumed phase that started half done: only the last quarter counts
  assert.equal(eta(10, 0.5, 0.75), 10);
  assert.equal(eta(100, 0, 1), 0);
  assert.equal(eta(5, 0.3, 0.3), undefined);
  assert.equal(eta(5, 0.4, 0.3), undefined);
});

Deno.test("clusterShares flags a smallest cluster under a tenth of uniform", () => {
  assert.deepEqual(clusterShares([50, 48, 2]), {
    min: 0.02,
    max: 0.5,
    collapsed: true,
  });
  assert.equal(clusterShares([34, 33, 33])!.collapsed, false);
  assert.equal(clusterShares([]), undefined);
  assert.equal(clusterShares([0, 0]), undefined);
});

Deno.test("lines mode writes fixed-format lines and one step line per interval of event time", () => {
  const sink = fakeSink();
  const r = reporter({ progress: "lines", color: "never", interval: 10 }, sink);
  const at = stamper();
  r.handle(at({
    type: "run-start",
    runDir: "runs/r1",
    config: {
      dataset: { name: "cifar10" },
      backbone: { name: "resnet18", width: 0.5 },
      representation: { epochs: 20, batchSize: 128 },
      clustering: { epochs: 10, batchSize: 256 },
      mine: { k: 30 },
    },
    backend: "wasm",
    version: "0.1.0",
    resumed: false,
  }, 0));
  r.handle(at({
    type: "phase-start",
    phase: "representation",
    epochs: 2,
    stepsPerEpoch: 4,
  }, 0));
  // steps at 1,3,5,7 s (epoch 1) and 11,13,15,21 s (epoch 2)
  const times = [1, 3, 5, 7, 11, 13, 15, 21];
  times.forEach((t, i) => {
    r.handle(at(step(1 + Math.floor(i / 4), 1 + (i % 4), 5 - i * 0.125), t));
    if (i === 3) {
      r.handle(at({
        type: "epoch",
        phase: "representation",
        epoch: 1,
        epochs: 2,
        loss: 4.8,
        terms: { instance: 4.3, cluster: 0.5 },
        seconds: 7,
        clusterSizes: [50, 48, 2],
      }, 7));
      r.handle(at({
        type: "checkpoint",
        phase: "representation",
        epoch: 1,
        path: "runs/r1/rep-1.ckpt",
      }, 7));
    }
  });
  r.handle(at({
    type: "phase-end",
    phase: "representation",
    seconds: 21,
    scores: { acc: 0.80345, nmi: 0.686, ari: 0.63849 },
  }, 21));
  r.handle(
    at({ type: "neighbours", k: 30, purity: 0.8754, seconds: 3.21 }, 25),
  );
  r.handle(at({ type: "warning", message: "cluster 3 is empty" }, 26));
  r.handle(at({ type: "info", message: "evaluating" }, 26));
  assert.deepEqual(sink.lines(), [
    "clknn 0.1.0  backend wasm  new run",
    "run dir   runs/r1",
    "dataset   cifar10",
    "backbone  resnet18 width 0.5",
    "epochs    representation 20  clustering 10",
    "batch     representation 128  clustering 256",
    "K         30",
    "== representation: 2 epochs x 4 steps ==",
    // 1/8 done after 1 s: 7 s left
    "representation  epoch 1/2  step 1/4  loss 5.0000 (instance 4.5000 cluster 0.4000 entropy 0.1000)  lr 3.0e-4  412.3 img/s  eta 7s",
    "representation  epoch 1/2  loss 4.8000 (instance 4.3000 cluster 0.5000)  7.0s  clusters 3 min 2.0% max 50.0% (smallest < 10% of uniform)",
    "checkpoint  representation epoch 1  runs/r1/rep-1.ckpt",
    // 5/8 done after 11 s: 11 * 3/5 = 6.6 s left
    "representation  epoch 2/2  step 1/4  loss 4.5000 (instance 4.0000 cluster 0.4000 entropy 0.1000)  lr 3.0e-4  412.3 img/s  eta 7s",
    "representation  epoch 2/2  step 4/4  loss 4.1250 (instance 3.6250 cluster 0.4000 entropy 0.1000)  lr 3.0e-4  412.3 img/s  eta 0s",
    "== representation done in 21s  acc 80.3%  nmi 68.6%  ari 63.8% ==",
    "neighbours  K 30  purity 87.5%  3.2s",
    "warning: cluster 3 is empty",
    "evaluating",
  ]);
});

Deno.test("a resumed phase measures its eta from where it restarted", () => {
  const sink = fakeSink();
  const r = reporter({ progress: "lines", color: "never", interval: 0 }, sink);
  const at = stamper();
  r.handle(
    at({
      type: "phase-start",
      phase: "representation",
      epochs: 2,
      stepsPerEpoch: 4,
      startEpoch: 2,
    }, 0),
  );
  // the phase restarted at 4/8 done; epoch 2 step 1 is 5/8 after 10 s (3 steps
  // left at 10 s each), step 2 is 6/8 after 20 s (2 left)
  r.handle(at(step(2, 1, 1), 10));
  r.handle(at(step(2, 2, 1), 20));
  assert.match(sink.lines()[1], /eta 30s$/);
  assert.match(sink.lines()[2], /eta 20s$/);
});

Deno.test("colour is used only when asked for, and warnings and collapse are coloured", () => {
  const at = stamper();
  const plain = fakeSink(true);
  const never = reporter({ progress: "lines", color: "never" }, plain);
  never.handle(at({ type: "warning", message: "w" }, 0));
  assert.equal(plain.text, "warning: w\n");
  const tty = fakeSink(false);
  const always = reporter({ progress: "lines", color: "always" }, tty);
  always.handle(at({ type: "warning", message: "w" }, 0));
  always.handle(at({ type: "info", message: "i" }, 0));
  assert.equal(tty.text, "\x1b[33mwarning: w\x1b[0m\ni\n");
  const auto = fakeSink(true);
  const r = new TerminalReporter(
    { progress: "lines", color: "auto", interval: 10 },
    auto,
    { noColor: true },
  );
  r.handle(at({ type: "warning", message: "w" }, 0));
  assert.equal(auto.text, "warning: w\n");
});

Deno.test("run-end prints a percent table of baseline, stages and final scores with times", () => {
  const metrics = {
    acc: 0.8034,
    nmi: 0.686,
    ari: 0.6384,
    baseline: { kmeans: { acc: 0.221, nmi: 0.087, ari: 0.049 } },
    stages: {
      representation: { acc: 0.701, nmi: 0.6, ari: 0.5 },
      clustering: { acc: 0.8034, nmi: 0.686, ari: 0.6384 },
    },
    seconds: { kmeans: 12, representation: 3720, clustering: 723 },
  };
  assert.deepEqual(metricsTable(metrics), [
    "results         acc %  nmi %  ari %     time",
    "kmeans           22.1    8.7    4.9      12s",
    "representation   70.1   60.0   50.0    1h02m",
    "clustering       80.3   68.6   63.8   12m03s",
    "final            80.3   68.6   63.8",
  ]);
  const sink = fakeSink();
  const r = reporter({ progress: "lines", color: "never" }, sink);
  r.handle(stamper()({ type: "run-end", seconds: 4500, metrics }, 0));
  assert.equal(sink.lines().at(-1), "total time 1h15m");
  assert.equal(sink.lines().length, 6);
  assert.deepEqual(metricsTable("nonsense"), []);
});

Deno.test("download progress is shown in MB once per interval and when done", () => {
  const sink = fakeSink();
  const r = reporter({ progress: "lines", color: "never", interval: 10 }, sink);
  const at = stamper();
  const dl = (done: number): ClknnEvent => ({
    type: "progress",
    phase: "data",
    label: "download cifar-10",
    done,
    total: 170_500_000,
    unit: "bytes",
  });
  r.handle(at(dl(0), 0));
  r.handle(at(dl(50_000_000), 5));
  r.handle(at(dl(120_000_000), 10));
  r.handle(at(dl(170_500_000), 12));
  assert.deepEqual(sink.lines(), [
    "download cifar-10  0.0/170.5 MB  0.0%",
    "download cifar-10  120.0/170.5 MB  70.4%",
    "download cifar-10  170.5/170.5 MB  100.0%",
  ]);
});

Deno.test("summariseConfig leaves out what the config does not say", () => {
  assert.deepEqual(summariseConfig({ dataset: "stl10" }), [
    "dataset   stl10",
  ]);
  assert.deepEqual(summariseConfig(undefined), []);
  assert.deepEqual(
    summariseConfig({
      backbone: "resnet34",
      stages: { selflabel: { epochs: 5, batch_size: 64 } },
      neighbours: { k: 20 },
    }),
    [
      "backbone  resnet34",
      "epochs    selflabel 5",
      "batch     selflabel 64",
      "K         20",
    ],
  );
  assert.deepEqual(
    summariseConfig({
      clustering: { epochs: 40, batch_size: 256 },
      selflabel: { enabled: false, epochs: 10, batch_size: 128 },
    }),
    ["epochs    clustering 40", "batch     clustering 256"],
  );
});

Deno.test("bar mode draws a bar with loss and eta on a terminal, prints lines above it, and close stops it", async () => {
  const sink = fakeSink(true);
  const r = reporter({ color: "never" }, sink);
  const bus = new EventBus();
  r.attach(bus);
  bus.emit({
    type: "phase-start",
    phase: "representation",
    epochs: 2,
    stepsPerEpoch: 4,
  });
  for (let s = 1; s <= 3; s++) bus.emit(step(1, s, 2));
  bus.emit({ type: "info", message: "a line above the bar" });
  await r.close();
  bus.emit({ type: "info", message: "after close" });
  assert.match(
    sink.text,
    /representation \[=+-+\] 37% 3\/8 1\/2 \| loss 2\.0000 \| 412\.3 img\/s \| eta /,
  );
  assert.ok(sink.text.includes("a line above the bar\n"));
  assert.ok(!sink.text.includes("after close"));
  assert.deepEqual(bus.listenerErrors(), []);
});

Deno.test("the terminal plugin rejects an unknown progress mode at build time", () => {
  assert.throws(
    () =>
      readOptions("reporter terminal", { progress: "fancy" }, terminal.options),
    (e) => e instanceof ConfigError && /"progress" is "fancy"/.test(e.message),
  );
});

const sample: ClknnEvent[] = [
  { type: "phase-start", phase: "clustering", epochs: 1, stepsPerEpoch: 1 },
  {
    type: "epoch",
    phase: "clustering",
    epoch: 1,
    epochs: 1,
    loss: 1.5,
    terms: { knn: 1, entropy: 0.5 },
    seconds: 2,
    scores: { acc: 0.5, nmi: 0.4, ari: 0.3 },
    clusterSizes: [3, 4],
  },
  { type: "run-end", seconds: 3, metrics: { acc: 0.5 } },
];

Deno.test("the jsonl log reads back exactly the stamped events it was sent", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = join(dir, "run", "events.jsonl");
    const log = jsonl.create(
      readOptions("reporter jsonl", { path }, jsonl.options),
    );
    const bus = new EventBus();
    const seen: Stamped[] = [];
    bus.on((e) => seen.push(e));
    log.attach(bus);
    for (const e of sample) bus.emit(e);
    await log.close();
    bus.emit({ type: "info", message: "after close" });
    assert.deepEqual(readEventLog(path), seen.slice(0, sample.length));
    assert.equal(Deno.readTextFileSync(path).split("\n").length, 4);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a second jsonl reporter on the same path appends after the first", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = join(dir, "events.jsonl");
    const at = stamper();
    const first = new JsonlReporter(path);
    first.write(at(sample[0], 0));
    first.write(at(sample[1], 1));
    await first.close();
    const second = new JsonlReporter(path);
    second.write(at(sample[2], 2));
    await second.close();
    assert.deepEqual(readEventLog(path).map((e) => [e.seq, e.type]), [
      [1, "phase-start"],
      [2, "epoch"],
      [3, "run-end"],
    ]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a torn last line is ignored on read and cut off before the next append", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = join(dir, "events.jsonl");
    const at = stamper();
    const whole = JSON.stringify(at(sample[0], 0)) + "\n";
    Deno.writeTextFileSync(path, whole + '{"type":"epoch","pha');
    assert.deepEqual(readEventLog(path).map((e) => e.seq), [1]);
    const next = new JsonlReporter(path);
    next.write(at(sample[2], 5));
    await next.close();
    assert.deepEqual(readEventLog(path).map((e) => e.seq), [1, 2]);
    assert.equal(
      Deno.readTextFileSync(path),
      whole + JSON.stringify(at.length >= 0 ? readEventLog(path)[1] : 0) +
        "\n",
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a complete last line without its newline is kept and the next event goes on its own line", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = join(dir, "events.jsonl");
    const at = stamper();
    Deno.writeTextFileSync(path, JSON.stringify(at(sample[0], 0)));
    const next = new JsonlReporter(path);
    next.write(at(sample[1], 1));
    await next.close();
    assert.deepEqual(readEventLog(path).map((e) => e.seq), [1, 2]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("parseEventLog rejects a damaged line that is not the last", () => {
  const good = JSON.stringify({
    type: "info",
    message: "x",
    seq: 1,
    time: "t",
  });
  assert.throws(
    () => parseEventLog(`${good}\n{oops\n${good}\n`),
    (e) => e instanceof DataError && /line 2/.test(e.message),
  );
  assert.throws(
    () => parseEventLog(`[1,2]\n`),
    (e) => e instanceof DataError && /line 1 is not an event/.test(e.message),
  );
  assert.equal(parseEventLog("").length, 0);
});

Deno.test("the jsonl plugin requires a path", () => {
  assert.throws(
    () => readOptions("reporter jsonl", {}, jsonl.options),
    (e) => e instanceof ConfigError && /"path" is missing/.test(e.message),
  );
});
