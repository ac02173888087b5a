import assert from "node:assert/strict";
import { join } from "node:path";
import { Buffer } from "node:buffer";
import v8 from "node:v8";
import vm from "node:vm";
import { PNG } from "pngjs";
import { EventBus, type Stamped } from "../core/events.ts";
import { LiveRun } from "../plugins/reporters/dashboard/live_run.ts";
import {
  configDifferences,
  flattenConfig,
  isValidRunName,
  splitCsvLine,
} from "../plugins/reporters/dashboard/run_files.ts";
import {
  createDashboard,
  createDashboardApp,
  findChartJs,
  startDashboard,
} from "../plugins/reporters/dashboard/server.ts";
import { dashboardReporter } from "../plugins/reporters/dashboard/reporter.ts";
import {
  fakeDataset,
  type FixtureRun,
  writeRun,
} from "./dashboard_fixtures.ts";

// a real collection before heap readings, so the leak check compares live memory
v8.setFlagsFromString("--expose-gc");
const gc: () => void = vm.runInNewContext("gc");

const root = await Deno.makeTempDir({ prefix: "clknn_dash_" });
const runsDir = join(root, "runs");
await Deno.writeTextFile(join(root, "secret.txt"), "TOP-SECRET");
const runA = await writeRun(runsDir, "run-a", { seed: 1 });
const runB = await writeRun(runsDir, "run-b", {
  seed: 2,
  config: { mine: { k: 10 } },
});
await writeRun(runsDir, "run-c", { seed: 3, state: "running", partial: true });
// a symlinked run pointing outside the runs folder must not be served
await Deno.symlink(root, join(runsDir, "escape"));
const datasets = new Map([
  ["run-a", fakeDataset(runA.labels)],
  ["run-b", fakeDataset(runB.labels)],
]);
const app = createDashboardApp({
  runsDir,
  openDataset: (name) => Promise.resolve(datasets.get(name)),
});
const get = (path: string, init?: RequestInit) =>
  app.request(`http://localhost${path}`, init);
const json = async (path: string) => {
  const res = await get(path);
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return await res.json();
};

/** Reads SSE frames from a response body until `until` says stop. */
async function readSse(
  res: Response,
  until: (events: { id?: string; event?: string; data: string }[]) => boolean,
  timeoutMs = 5000,
) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const frames: { id?: string; event?: string; data: string }[] = [];
  let text = "";
  const deadline = Date.now() + timeoutMs;
  while (!until(frames)) {
    if (Date.now() > deadline) throw new Error("SSE read timed out");
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = text.indexOf("\n\n")) >= 0) {
      const block = text.slice(0, cut);
      text = text.slice(cut + 2);
      const f: { id?: string; event?: string; data: string } = { data: "" };
      for (const line of block.split("\n")) {
        if (line.startsWith("data: ")) f.data += line.slice(6);
        else if (line.startsWith("id: ")) f.id = line.slice(4);
        else if (line.startsWith("event: ")) f.event = line.slice(7);
      }
      if (block.startsWith(":")) continue;
      frames.push(f);
    }
  }
  await reader.cancel();
  return frames;
}

const seqs = (frames: { id?: string; event?: string; data: string }[]) =>
  frames.filter((f) => !f.event).map((f) =>
    (JSON.parse(f.data) as Stamped).seq
  );

Deno.test("helpers: config flattening, differing keys, CSV quotes and run names", () => {
  assert.deepEqual(flattenConfig({ a: { b: 1, c: [1, 2] }, d: "x" }), {
    "a.b": 1,
    "a.c": [1, 2],
    d: "x",
  });
  assert.deepEqual(
    configDifferences([{ a: 1, b: 2, c: [1] }, { a: 1, b: 3, c: [1] }, {
      a: 1,
    }]),
    ["b", "c"],
  );
  assert.deepEqual(splitCsvLine('1,"a, ""b""",2,,'), [
    "1",
    'a, "b"',
    "2",
    "",
    "",
  ]);
  for (
    const bad of [
      "..",
      "a/b",
      "/etc",
      "a\0b",
      "",
      ".hidden",
      "a..b",
      "x".repeat(200),
    ]
  ) {
    assert.equal(isValidRunName(bad), false, bad);
  }
  assert.equal(isValidRunName("clknn-2026-12-03_10.00"), true);
});

Deno.test("GET /api/runs lists runs with status, final metrics and the config keys that differ", async () => {
  const body = await json("/api/runs");
  assert.deepEqual(body.runs.map((r: { name: string }) => r.name), [
    "run-a",
    "run-b",
    "run-c",
  ]);
  assert.deepEqual(body.differing, ["mine.k", "seed"]);
  const [a, b, c] = body.runs;
  assert.equal(a.status.state, "finished");
  assert.equal(c.status.state, "running");
  assert.equal(a.metrics.acc, 0.8);
  assert.equal(c.metrics, null);
  assert.deepEqual(a.config, { "mine.k": 5, seed: 1 });
  assert.deepEqual(b.config, { "mine.k": 10, seed: 2 });
});

Deno.test("GET /api/runs/:run summarises one run and what files it has", async () => {
  const a = await json("/api/runs/run-a");
  assert.equal(a.name, "run-a");
  assert.equal(a.images, runA.n);
  assert.equal(a.metrics.baseline.kmeans.acc, 0.35);
  assert.equal(a.config.mine.k, 5);
  assert.deepEqual(a.has, {
    assignments: true,
    features: true,
    neighbours: true,
    labels: true,
  });
  const c = await json("/api/runs/run-c");
  assert.deepEqual(c.has, {
    assignments: false,
    features: false,
    neighbours: false,
    labels: false,
  });
});

Deno.test("GET /api/runs/:run/events returns events.jsonl in order, filtered by ?after", async () => {
  const all: Stamped[] = await json("/api/runs/run-a/events");
  assert.deepEqual(all, runA.events);
  const tail: Stamped[] = await json("/api/runs/run-a/events?after=10");
  assert.deepEqual(
    tail.map((e) => e.seq),
    runA.events.slice(10).map((e) => e.seq),
  );
});

Deno.test("SSE of a finished run replays the file with id = seq, resumes after Last-Event-ID, then ends", async () => {
  const full = await readSse(await get("/api/runs/run-a/stream"), () => false);
  assert.deepEqual(seqs(full), runA.events.map((e) => e.seq));
  assert.deepEqual(
    full.filter((f) => !f.event).map((f) => f.id),
    runA.events.map((e) => String(e.seq)),
  );
  assert.equal(full.at(-1)!.event, "end");
  const resumed = await readSse(
    await get("/api/runs/run-a/stream", { headers: { "Last-Event-ID": "7" } }),
    () => false,
  );
  assert.deepEqual(
    seqs(resumed),
    runA.events.filter((e) => e.seq > 7).map((e) => e.seq),
  );
});

Deno.test("SSE of a live run resumes after Last-Event-ID with no gap and no duplicate", async () => {
  const bus = new EventBus();
  const dash = createDashboard({
    runsDir,
    live: { runName: "live-1", events: bus },
  });
  const emit = (count: number) => {
    for (let i = 0; i < count; i++) {
      bus.emit({ type: "info", message: `m${i}` });
    }
  };
  emit(10);
  const res = await dash.app.request(
    "http://localhost/api/runs/live-1/stream",
    {
      headers: { "Last-Event-ID": "4" },
    },
  );
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  const reading = readSse(res, (f) => f.length >= 16);
  // events emitted while the client is connected arrive after the replay
  await new Promise((r) => setTimeout(r, 20));
  emit(10);
  const frames = await reading;
  assert.deepEqual(seqs(frames), Array.from({ length: 16 }, (_, i) => i + 5));
  // a second reconnect from the last id seen gets exactly the rest
  emit(3);
  const rest = await readSse(
    await dash.app.request("http://localhost/api/runs/live-1/stream", {
      headers: { "Last-Event-ID": "20" },
    }),
    (f) => f.length >= 3,
  );
  assert.deepEqual(seqs(rest), [21, 22, 23]);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(dash.live!.subscribers, 0);
  // the live run's events route reads the ring
  const events: Stamped[] = await (await dash.app.request(
    "http://localhost/api/runs/live-1/events?after=20",
  )).json();
  assert.deepEqual(events.map((e) => e.seq), [21, 22, 23]);
  dash.close();
});

Deno.test("a client that falls too far behind is dropped without slowing the bus", () => {
  const bus = new EventBus();
  const live = new LiveRun(bus, "x", { capacity: 100, clientQueue: 10 });
  const sub = live.subscribe(0);
  const t0 = performance.now();
  for (let i = 0; i < 1000; i++) bus.emit({ type: "info", message: "x" });
  assert.ok(performance.now() - t0 < 500);
  assert.equal(sub.overflowed, true);
  assert.equal(live.subscribers, 0);
  assert.equal(live.buffered, 100);
  assert.equal(live.oldestSeq, 901);
  assert.deepEqual(bus.listenerErrors(), []);
  live.close();
});

Deno.test("cluster sizes come from assignments.csv, or from the last epoch while a run is going", async () => {
  const a = await json("/api/runs/run-a/clusters");
  const expected = new Array(runA.clusters).fill(0);
  for (const c of runA.assigned) expected[c]++;
  assert.deepEqual(a, { source: "assignments", sizes: expected });
  const c = await json("/api/runs/run-c/clusters");
  assert.equal(c.source, "epoch");
  assert.equal(c.phase, "representation");
  assert.equal(c.sizes.length, 3);
});

function bruteForceAcc(run: FixtureRun): number {
  const perms = (xs: number[]): number[][] =>
    xs.length <= 1
      ? [xs]
      : xs.flatMap((x, i) =>
        perms([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p])
      );
  let best = 0;
  for (const p of perms([...Array(run.classes).keys()])) {
    let hits = 0;
    for (let i = 0; i < run.n; i++) {
      if (p[run.assigned[i]] === run.labels[i]) hits++;
    }
    best = Math.max(best, hits);
  }
  return best / run.n;
}

Deno.test("the confusion matrix puts the Hungarian match on the diagonal and counts every image", async () => {
  const m = await json("/api/runs/run-a/confusion");
  assert.deepEqual(m.classes, [0, 1, 2]);
  assert.equal(m.n, runA.n);
  assert.ok(Math.abs(m.acc - bruteForceAcc(runA)) < 1e-12);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      let count = 0;
      for (let s = 0; s < runA.n; s++) {
        if (
          runA.labels[s] === m.classes[i] && runA.assigned[s] === m.clusters[j]
        ) count++;
      }
      assert.equal(m.matrix[i][j], count);
    }
  }
  assert.equal((await get("/api/runs/run-c/confusion")).status, 404);
});

Deno.test("the gallery lists each cluster's most confident images, and images are PNGs of the dataset", async () => {
  const g = await json("/api/runs/run-a/gallery?per=4");
  assert.equal(g.imagesAvailable, true);
  for (const c of g.clusters) {
    const members = [...runA.assigned.keys()].filter((i) =>
      runA.assigned[i] === c.cluster
    );
    assert.equal(c.size, members.length);
    const top = members.toSorted((x, y) =>
      Number(runA.confidence[y].toFixed(4)) -
      Number(runA.confidence[x].toFixed(4))
    ).slice(0, 4);
    assert.deepEqual(
      c.top.map((r: { confidence: number }) => r.confidence),
      top.map((i) => Number(runA.confidence[i].toFixed(4))),
    );
  }
  const res = await get("/api/runs/run-a/images/5.png");
  assert.equal(res.headers.get("content-type"), "image/png");
  const png = PNG.sync.read(Buffer.from(await res.arrayBuffer()));
  assert.equal(png.width, 8);
  const raw = datasets.get("run-a")!.read([5]);
  for (let p = 0; p < 64; p++) {
    assert.deepEqual([...png.data.subarray(p * 4, p * 4 + 4)], [
      raw[p * 3],
      raw[p * 3 + 1],
      raw[p * 3 + 2],
      255,
    ]);
  }
  assert.equal((await get("/api/runs/run-a/images/999.png")).status, 404);
  assert.equal((await get("/api/runs/run-a/images/abc.png")).status, 400);
  const bare = createDashboardApp({ runsDir });
  const g2 =
    await (await bare.request("http://localhost/api/runs/run-a/gallery"))
      .json();
  assert.equal(g2.imagesAvailable, false);
  assert.equal(g2.message, "images unavailable for this run");
});

Deno.test("the neighbour viewer returns the mined row of neighbours.i32 with clusters, labels and purity", async () => {
  const r = await json("/api/runs/run-a/neighbours/7");
  const expected = Array.from(
    { length: runA.k },
    (_, j) => (7 + runA.classes * (j + 1)) % runA.n,
  );
  assert.deepEqual(
    r.neighbours.map((x: { index: number }) => x.index),
    expected,
  );
  assert.deepEqual(
    r.neighbours.map((x: { cluster: number }) => x.cluster),
    expected.map((i) => runA.assigned[i]),
  );
  const same = expected.filter((i) => runA.labels[i] === runA.labels[7]).length;
  assert.equal(r.purity, same / runA.k);
  assert.equal(r.query.name, "img_7.png");
  assert.equal(
    (await json("/api/runs/run-a/neighbours/1")).query.name,
    'odd, "name".png',
  );
  assert.equal((await get("/api/runs/run-a/neighbours/60")).status, 400);
  assert.equal((await get("/api/runs/run-c/neighbours/0")).status, 404);
});

Deno.test("the feature map is a seeded UMAP of every image (n <= 2000), the same on every computation", async () => {
  const m1 = await json("/api/runs/run-a/map");
  assert.equal(m1.points.length, runA.n);
  for (const p of m1.points) {
    assert.ok(Number.isFinite(p.x) && Number.isFinite(p.y));
    assert.equal(p.cluster, runA.assigned[p.index]);
    assert.equal(p.label, runA.labels[p.index]);
  }
  const other = createDashboardApp({ runsDir });
  const m2 = await (await other.request("http://localhost/api/runs/run-a/map"))
    .json();
  assert.deepEqual(m2, m1);
  // same-class points end up closer together than other-class points
  const d = (a: { x: number; y: number }, b: { x: number; y: number }) =>
    Math.hypot(a.x - b.x, a.y - b.y);
  let same = 0, diff = 0, ns = 0, nd = 0;
  for (const a of m1.points) {
    for (const b of m1.points) {
      if (a === b) continue;
      if (a.label === b.label) (same += d(a, b), ns++);
      else (diff += d(a, b), nd++);
    }
  }
  assert.ok(same / ns < diff / nd);
});

Deno.test("the page, its script and Chart.js are served from the dashboard itself", async () => {
  const page = await get("/");
  assert.match(page.headers.get("content-type")!, /text\/html/);
  const html = await page.text();
  assert.match(html, /<script src="vendor\/chart\.umd\.js"/);
  assert.doesNotMatch(html, /https?:\/\//);
  const js = await (await get("/app.js")).text();
  assert.doesNotMatch(js, /https?:\/\//);
  assert.ok(findChartJs());
  const chart = await get("/vendor/chart.umd.js");
  assert.equal(chart.status, 200);
  assert.match(await chart.text(), /Chart/);
  assert.equal((await get("/style.css")).status, 200);
});

Deno.test("path traversal, absolute paths and encoded slashes are refused with 400 or 404", async () => {
  const attacks = [
    "/api/runs/../secret.txt",
    "/api/runs/%2e%2e/events",
    "/api/runs/%2E%2E%2Fsecret.txt/events",
    "/api/runs/..%2fsecret.txt/events",
    "/api/runs/%2fetc%2fpasswd/events",
    "/api/runs/run-a%2f..%2f..%2fsecret.txt/events",
    "/api/runs/%00/events",
    "/api/runs/run-a%00/events",
    "/api/runs/escape/events",
    "/api/runs/escape",
    "/api/runs/..%5csecret.txt/events",
    "/api/runs/%zz/events",
    "/api/runs/run-a/images/..%2f..%2fsecret.txt",
    "/api/runs/nope/events",
    "/../secret.txt",
    "/app.js/../../secret.txt",
  ];
  for (const path of attacks) {
    const res = await get(path);
    const text = await res.text();
    assert.ok([400, 404].includes(res.status), `${path} -> ${res.status}`);
    assert.doesNotMatch(text, /TOP-SECRET/);
  }
});

Deno.test("only GET and HEAD are answered; others get 405 with Allow", async () => {
  for (const method of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
    const res = await get("/api/runs", { method });
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.get("allow"), "GET, HEAD");
    await res.body?.cancel();
  }
  const head = await get("/api/runs/run-a/stream", { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), "");
});

Deno.test("oversized URLs get 414 and malformed parameters get 400", async () => {
  assert.equal((await get("/api/runs?x=" + "a".repeat(2100))).status, 414);
  assert.equal((await get("/api/runs/run-a/events?after=-1")).status, 400);
  assert.equal((await get("/api/runs/run-a/events?after=1e3")).status, 400);
  assert.equal((await get("/api/runs/run-a/gallery?per=1000")).status, 400);
  assert.equal(
    (await get("/api/runs/run-a/stream", {
      headers: { "Last-Event-ID": "abc" },
    })).status,
    400,
  );
  assert.equal((await get("/api/runs/run-a/neighbours/x")).status, 400);
});

Deno.test("secure headers with a self-only CSP are on every response", async () => {
  for (
    const path of [
      "/",
      "/api/runs",
      "/api/runs/nope",
      "/api/runs/run-a/images/1.png",
    ]
  ) {
    const res = await get(path);
    await res.body?.cancel();
    const csp = res.headers.get("content-security-policy")!;
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(res.headers.get("x-frame-options"), "SAMEORIGIN");
    assert.equal(res.headers.get("referrer-policy"), "no-referrer");
  }
});

Deno.test("with a token every request needs it, as a Bearer header or ?token=", async () => {
  const secured = createDashboardApp({ runsDir, token: "s3cret-token" });
  const req = (path: string, init?: RequestInit) =>
    secured.request(`http://10.0.0.5${path}`, init);
  assert.equal((await req("/api/runs")).status, 401);
  assert.equal((await req("/")).status, 401);
  assert.equal((await req("/api/runs?token=wrong")).status, 401);
  assert.equal(
    (await req("/api/runs", { headers: { Authorization: "Bearer nope" } }))
      .status,
    401,
  );
  assert.equal((await req("/api/runs?token=s3cret-token")).status, 200);
  assert.equal(
    (await req("/api/runs", {
      headers: { Authorization: "Bearer s3cret-token" },
    })).status,
    200,
  );
});

Deno.test("without a token only loopback Host names are served (DNS rebinding)", async () => {
  assert.equal((await app.request("http://evil.example/api/runs")).status, 403);
  assert.equal((await app.request("http://127.0.0.1/api/runs")).status, 200);
});

Deno.test("binding beyond loopback generates a token and refuses requests without it", async () => {
  const d = await startDashboard({ runsDir, hostname: "0.0.0.0", port: 0 });
  try {
    assert.ok(d.token && d.token.length >= 32);
    assert.match(d.url, /\?token=/);
    const port = new URL(d.url).port;
    const base = `http://127.0.0.1:${port}`;
    const no = await fetch(`${base}/api/runs`);
    await no.body?.cancel();
    assert.equal(no.status, 401);
    const yes = await fetch(`${base}/api/runs`, {
      headers: { Authorization: `Bearer ${d.token}` },
    });
    await yes.body?.cancel();
    assert.equal(yes.status, 200);
  } finally {
    await d.close();
  }
});

Deno.test("the reporter serves the live run, announces its URL in an info event", async () => {
  const bus = new EventBus();
  const seen: Stamped[] = [];
  bus.on((e) => seen.push(e));
  const reporter = dashboardReporter.create({
    host: "127.0.0.1",
    port: 0,
    token: "",
    runs: runsDir,
    run: "",
    buffer: 1000,
  });
  reporter.attach(bus);
  const runDir = join(runsDir, "live-rep");
  bus.emit({
    type: "run-start",
    runDir,
    config: {},
    backend: "wasm",
    version: "0",
    resumed: false,
  });
  bus.emit({ type: "info", message: "hello" });
  const t0 = Date.now();
  while (
    !seen.some((e) =>
      e.type === "info" && e.message.startsWith("dashboard: ")
    ) && Date.now() - t0 < 5000
  ) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const info = seen.find((e) =>
    e.type === "info" && e.message.startsWith("dashboard: ")
  );
  assert.ok(info && info.type === "info");
  const url = new URL(info.message.slice("dashboard: ".length));
  assert.equal(url.hostname, "127.0.0.1");
  const runs = await (await fetch(new URL("/api/runs", url))).json();
  assert.ok(
    runs.runs.some((r: { name: string; live: boolean }) =>
      r.name === "live-rep" && r.live
    ),
  );
  const events = await (await fetch(new URL("/api/runs/live-rep/events", url)))
    .json();
  assert.deepEqual(events.slice(0, 2).map((e: Stamped) => e.type), [
    "run-start",
    "info",
  ]);
  await reporter.close();
});

Deno.test("200 concurrent SSE clients follow a live run, leave, and leave nothing behind", async () => {
  const bus = new EventBus();
  const d = await startDashboard({
    runsDir,
    live: { runName: "load", events: bus },
  });
  const port = new URL(d.url).port;
  const heap = () => {
    gc();
    return Deno.memoryUsage().heapUsed;
  };
  const round = async () => {
    const clients = Array.from({ length: 200 }, async () => {
      const ac = new AbortController();
      const res = await fetch(`http://127.0.0.1:${port}/api/runs/load/stream`, {
        signal: ac.signal,
      });
      const frames = await readSse(res, (f) => f.length >= 5, 20_000);
      ac.abort();
      return frames.length;
    });
    // keep emitting until every client has had its events
    let done = false;
    const all = Promise.all(clients).finally(() => (done = true));
    while (!done) {
      bus.emit({ type: "info", message: "tick" });
      await new Promise((r) => setTimeout(r, 5));
    }
    const counts = await all;
    assert.ok(counts.every((n) => n >= 5));
    const t0 = Date.now();
    while (d.stats().subscribers > 0 && Date.now() - t0 < 5000) {
      bus.emit({ type: "info", message: "tick" });
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(d.stats().subscribers, 0);
  };
  try {
    await round();
    const after1 = heap();
    await round();
    await round();
    const after3 = heap();
    // two more rounds of 200 clients must not leave their buffers behind
    assert.ok(
      after3 - after1 < 8 * 1024 * 1024,
      `heap grew ${after3 - after1} bytes`,
    );
    assert.ok(d.stats().buffered <= 50_000);
  } finally {
    await d.close();
  }
});

Deno.test("an HTTP client that stops reading is dropped while a reading one gets every event", async () => {
  const bus = new EventBus();
  const live = new LiveRun(bus, "slow", { capacity: 1000, clientQueue: 200 });
  const d = await startDashboard({ runsDir, live });
  const port = new URL(d.url).port;
  try {
    const stuck = await fetch(`http://127.0.0.1:${port}/api/runs/slow/stream`);
    const total = 2000;
    const reading = fetch(`http://127.0.0.1:${port}/api/runs/slow/stream`).then(
      (res) => readSse(res, (f) => f.length >= total, 30_000),
    );
    while (d.stats().subscribers < 2) {
      await new Promise((r) => setTimeout(r, 5));
    }
    // large events fill the socket buffers of the client that does not read
    const big = "x".repeat(16_384);
    let slowest = 0;
    for (let b = 0; b < total / 10; b++) {
      const t0 = performance.now();
      for (let i = 0; i < 10; i++) bus.emit({ type: "info", message: big });
      slowest = Math.max(slowest, performance.now() - t0);
      await new Promise((r) => setTimeout(r, 5));
    }
    const frames = await reading;
    assert.deepEqual(
      seqs(frames),
      Array.from({ length: total }, (_, i) => i + 1),
    );
    // the reader has just hung up: the server sees that asynchronously
    for (let i = 0; i < 200 && d.stats().subscribers > 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(d.stats().subscribers, 0);
    assert.ok(slowest < 100, `emitting 10 events took ${slowest} ms`);
    await stuck.body?.cancel();
  } finally {
    await d.close();
  }
});

Deno.test("deno task dashboard: --help, one-line errors with exit 2, and the URL it listens on", async () => {
  const script = new URL("../tasks/dashboard.ts", import.meta.url).pathname;
  const run = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
  const dec = (b: Uint8Array) => new TextDecoder().decode(b);
  const [help, bogus, port, runs] = await Promise.all([
    run(["--help"]),
    run(["--bogus"]),
    run(["--runs", runsDir, "--port", "http"]),
    run(["--runs", join(root, "nope")]),
  ]);
  assert.equal(help.code, 0);
  assert.match(dec(help.stdout), /--runs DIR/);
  for (const bad of [bogus, port, runs]) {
    assert.equal(bad.code, 2);
    const err = dec(bad.stderr).trim();
    assert.equal(err.split("\n").length, 1, err);
    assert.match(err, /^error: /);
  }
  assert.match(dec(port.stderr), /--port "http" is not a port/);

  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, "--runs", runsDir, "--port", "0"],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  const url = /dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)?.[1];
  assert.ok(url, out);
  const res = await fetch(new URL("api/runs", url));
  assert.equal(res.status, 200);
  assert.equal((await res.json()).runs.length, 3);
  child.kill("SIGTERM");
  await reader.cancel();
  await child.status;
});

Deno.test("cleanup of the fixture folder", async () => {
  await Deno.remove(root, { recursive: true });
});
