// The dashboard page: reads the read-only JSON API and follows one run's
// events over SSE. Plain browser JS, no build step; Chart.js is the only library.
"use strict";

const params = new URLSearchParams(location.search);
const token = params.get("token");
const PALETTE = [
  "#2563eb",
  "#dc2626",
  "#16a34a",
  "#d97706",
  "#7c3aed",
  "#0891b2",
  "#db2777",
  "#65a30d",
  "#ea580c",
  "#4f46e5",
  "#0d9488",
  "#9333ea",
  "#ca8a04",
  "#be123c",
  "#0284c7",
  "#15803d",
  "#b45309",
  "#6d28d9",
  "#475569",
  "#a21caf",
];
const colour = (i) =>
  PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length];
const $ = (id) => document.getElementById(id);
const MAX_POINTS = 2000;

/** URL of an API path, carrying the token when there is one. */
function url(path, extra = {}) {
  const q = new URLSearchParams(extra);
  if (token) q.set("token", token);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

async function getJson(path, extra) {
  const res = await fetch(url(path, extra));
  if (!res.ok) {
    let msg = res.statusText;
    try {
      msg = (await res.json()).error ?? msg;
    } catch { /* not JSON */ }
    const err = new Error(msg);
    err.status = res.status;
    throw err;
  }
  return res.json();
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

const fmt = (v, digits = 3) =>
  typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "–";
const fmtTime = (s) => {
  if (!Number.isFinite(s) || s < 0) return "–";
  const h = Math.floor(s / 3600),
    m = Math.floor((s % 3600) / 60),
    sec = Math.floor(s % 60);
  return h ? `${h}h ${m}m` : m ? `${m}m ${sec}s` : `${sec}s`;
};

// ---- bounded series: averages neighbouring points once there are too many ----
class Series {
  constructor() {
    this.points = [];
    this.stride = 1;
    this.acc = { x: 0, y: 0, n: 0 };
  }
  add(x, y) {
    if (!Number.isFinite(y)) return;
    const a = this.acc;
    a.x = x;
    a.y += y;
    a.n++;
    if (a.n >= this.stride) {
      this.points.push({ x: a.x, y: a.y / a.n });
      this.acc = { x: 0, y: 0, n: 0 };
      if (this.points.length > MAX_POINTS) {
        const merged = [];
        for (let i = 0; i + 1 < this.points.length; i += 2) {
          const p = this.points[i], q = this.points[i + 1];
          merged.push({ x: q.x, y: (p.y + q.y) / 2 });
        }
        this.points = merged;
        this.stride *= 2;
      }
    }
  }
}

// ---- state of the followed run ----
let state;
function freshState() {
  return {
    phases: new Map(), // phase -> { terms: Map<name, Series>, lr, ips, x }
    phaseOrder: [],
    shownPhase: null,
    current: null, // {phase, epochs, stepsPerEpoch, startedAt, firstStep}
    scores: { labels: [], acc: [], nmi: [], ari: [] },
    clusterSizes: null,
    purity: null,
    ended: false,
  };
}
let source = null;
let runName = null;
let runs = [];
const charts = {};
let dirty = false;

function phaseData(phase) {
  let p = state.phases.get(phase);
  if (!p) {
    p = { terms: new Map(), lr: new Series(), ips: new Series(), x: 0 };
    state.phases.set(phase, p);
    state.phaseOrder.push(phase);
    if (!state.shownPhase || state.current?.phase === phase) {
      state.shownPhase = phase;
    }
    renderTabs();
  }
  return p;
}

function handle(e) {
  switch (e.type) {
    case "phase-start":
      state.current = {
        phase: e.phase,
        epochs: e.epochs,
        stepsPerEpoch: e.stepsPerEpoch,
        startedAt: Date.parse(e.time),
        first: null,
        last: null,
      };
      break;
    case "step": {
      const p = phaseData(e.phase);
      if (
        state.shownPhase !== e.phase && state.current?.phase === e.phase &&
        p.x === 0
      ) {
        state.shownPhase = e.phase;
        renderTabs();
      }
      const x = (e.epoch - 1) * e.stepsPerEpoch + e.step;
      p.x = x;
      const add = (name, v) => {
        let s = p.terms.get(name);
        if (!s) p.terms.set(name, s = new Series());
        s.add(x, v);
      };
      add("loss", e.loss);
      for (const [k, v] of Object.entries(e.terms ?? {})) {
        if (k !== "loss") add(k, v);
      }
      p.lr.add(x, e.lr);
      p.ips.add(x, e.imagesPerSecond);
      const cur = state.current?.phase === e.phase
        ? state.current
        : (state.current = {
          phase: e.phase,
          epochs: e.epochs,
          stepsPerEpoch: e.stepsPerEpoch,
          startedAt: Date.parse(e.time),
          first: null,
          last: null,
        });
      const t = Date.parse(e.time);
      cur.first ??= { x, t };
      cur.last = { x, t, e };
      break;
    }
    case "epoch":
      if (e.scores) {
        state.scores.labels.push(`${e.phase} ${e.epoch}`);
        state.scores.acc.push(e.scores.acc);
        state.scores.nmi.push(e.scores.nmi);
        state.scores.ari.push(e.scores.ari);
      }
      if (e.clusterSizes) {
        state.clusterSizes = {
          sizes: e.clusterSizes,
          note: `${e.phase}, epoch ${e.epoch}`,
        };
      }
      break;
    case "neighbours":
      if (typeof e.purity === "number") state.purity = e.purity;
      break;
    case "run-end":
      state.ended = true;
      break;
  }
  dirty = true;
}

// ---- rendering ----
function renderProgress() {
  const cur = state.current;
  const last = cur?.last?.e;
  $("stat-phase").textContent = cur?.phase ?? "–";
  $("stat-purity").textContent = fmt(state.purity);
  if (!cur) return;
  if (last) {
    const total = last.epochs * last.stepsPerEpoch;
    const done = cur.last.x;
    const frac = total ? done / total : 0;
    $("progress-bar").style.width = `${(100 * frac).toFixed(1)}%`;
    $("stat-epoch").textContent = `${last.epoch} / ${last.epochs}`;
    $("stat-lr").textContent = last.lr.toExponential(2);
    $("stat-ips").textContent = fmt(last.imagesPerSecond, 1);
    const dx = cur.last.x - cur.first.x, dt = (cur.last.t - cur.first.t) / 1000;
    const eta = dx > 0 && !state.ended ? (total - done) * dt / dx : NaN;
    $("stat-eta").textContent = state.ended ? "done" : fmtTime(eta);
    $("progress-text").textContent =
      `${cur.phase}: epoch ${last.epoch}/${last.epochs}, step ${last.step}/${last.stepsPerEpoch}, ` +
      `loss ${fmt(last.loss, 4)}`;
  } else {
    $("progress-text").textContent = `${cur.phase}…`;
  }
}

function renderTabs() {
  const box = $("phase-tabs");
  box.replaceChildren(...state.phaseOrder.map((ph) =>
    el("button", {
      class: ph === state.shownPhase ? "on" : "",
      text: ph,
      onclick: () => {
        state.shownPhase = ph;
        renderTabs();
        dirty = true;
      },
    })
  ));
}

function lineChart(id, yTitle, extraScales = {}) {
  if (!globalThis.Chart) return null;
  return new Chart($(id), {
    type: "line",
    data: { datasets: [] },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      elements: { point: { radius: 0 }, line: { borderWidth: 1.5 } },
      interaction: { mode: "nearest", intersect: false },
      scales: {
        x: { type: "linear", title: { display: true, text: "step" } },
        y: { title: { display: true, text: yTitle } },
        ...extraScales,
      },
      plugins: { legend: { labels: { boxWidth: 12 } } },
    },
  });
}

function setupCharts() {
  if (!globalThis.Chart) {
    $("banner").hidden = false;
    $("banner").textContent = "Chart.js did not load: charts are off";
    return;
  }
  charts.loss = lineChart("loss-chart", "loss");
  charts.lr = lineChart("lr-chart", "learning rate", {
    y2: {
      position: "right",
      title: { display: true, text: "images/s" },
      grid: { drawOnChartArea: false },
    },
  });
  charts.score = new Chart($("score-chart"), {
    type: "line",
    data: { labels: [], datasets: [] },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      scales: { y: { min: 0, max: 1 } },
      plugins: { legend: { labels: { boxWidth: 12 } } },
    },
  });
  charts.clusters = new Chart($("cluster-chart"), {
    type: "bar",
    data: {
      labels: [],
      datasets: [{ label: "images", data: [], backgroundColor: "#2563eb" }],
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { display: false } },
      scales: { x: { title: { display: true, text: "cluster" } } },
    },
  });
  charts.map = new Chart($("map-chart"), {
    type: "scatter",
    data: { datasets: [] },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      parsing: false,
      elements: { point: { radius: 2 } },
      plugins: { legend: { position: "right", labels: { boxWidth: 10 } } },
    },
  });
}

function renderCharts() {
  if (!charts.loss) return;
  const p = state.phases.get(state.shownPhase);
  charts.loss.data.datasets = p
    ? [...p.terms.entries()].map(([name, s], i) => ({
      label: name,
      data: s.points,
      borderColor: colour(i),
      backgroundColor: colour(i),
      borderWidth: name === "loss" ? 2.5 : 1.5,
    }))
    : [];
  charts.loss.update("none");
  charts.lr.data.datasets = p
    ? [
      {
        label: "lr",
        data: p.lr.points,
        borderColor: colour(0),
        backgroundColor: colour(0),
        yAxisID: "y",
      },
      {
        label: "images/s",
        data: p.ips.points,
        borderColor: colour(3),
        backgroundColor: colour(3),
        yAxisID: "y2",
      },
    ]
    : [];
  charts.lr.update("none");
  const sc = state.scores;
  charts.score.data.labels = sc.labels;
  charts.score.data.datasets = ["acc", "nmi", "ari"].map((k, i) => ({
    label: k.toUpperCase(),
    data: sc[k],
    borderColor: colour(i),
    backgroundColor: colour(i),
  }));
  charts.score.update("none");
  if (state.clusterSizes) {
    drawClusterSizes(state.clusterSizes.sizes, state.clusterSizes.note);
  }
}

function drawClusterSizes(sizes, note) {
  $("cluster-note").textContent = note ?? "";
  if (!charts.clusters) return;
  charts.clusters.data.labels = sizes.map((_, i) => String(i));
  charts.clusters.data.datasets[0].data = sizes;
  charts.clusters.update("none");
}

function frame() {
  if (dirty && state) {
    dirty = false;
    renderProgress();
    renderCharts();
  }
}

// ---- runs table ----
function metricCells(m) {
  return [m?.acc, m?.nmi, m?.ari, m?.baseline?.kmeans?.acc, m?.neighbour_purity]
    .map((v) => el("td", { class: "num", text: fmt(v) }));
}

function renderRuns(data) {
  const head = el(
    "tr",
    {},
    ...[
      "run",
      "state",
      "dataset",
      "ACC",
      "NMI",
      "ARI",
      "k-means ACC",
      "nbr purity",
      ...data.differing,
    ]
      .map((h) => el("th", { text: h })),
  );
  const rows = data.runs.map((r) =>
    el(
      "tr",
      {
        class: `clickable${r.name === runName ? " current" : ""}`,
        onclick: () => selectRun(r.name),
      },
      el("td", { text: r.name + (r.live ? " (live)" : "") }),
      el("td", { text: r.status.state }),
      el("td", { text: r.metrics?.dataset ?? "–" }),
      ...metricCells(r.metrics),
      ...data.differing.map((k) =>
        el("td", { text: JSON.stringify(r.config[k]) })
      ),
    )
  );
  $("runs-table").replaceChildren(head, ...rows);
}

async function loadRuns() {
  const data = await getJson("api/runs");
  runs = data.runs;
  const select = $("run-select");
  select.replaceChildren(
    ...runs.map((r) => el("option", { value: r.name, text: r.name })),
  );
  if (runName) select.value = runName;
  renderRuns(data);
  return data;
}

// ---- per-run panels that read files ----
function renderMetrics(m) {
  const t = $("metrics-table");
  if (!m) {
    t.replaceChildren(
      el(
        "tr",
        {},
        el("td", { class: "muted", text: "written when the run finishes" }),
      ),
    );
    return;
  }
  const rows = [["final", m]];
  for (const [stage, s] of Object.entries(m.stages ?? {})) {
    rows.push([stage, s]);
  }
  if (m.baseline?.kmeans) rows.push(["k-means on pixels", m.baseline.kmeans]);
  t.replaceChildren(
    el(
      "tr",
      {},
      ...["", "ACC", "NMI", "ARI"].map((h) => el("th", { text: h })),
    ),
    ...rows.map(([name, s]) =>
      el(
        "tr",
        {},
        el("td", { text: name }),
        ...["acc", "nmi", "ari"].map((k) => el("td", { text: fmt(s?.[k]) })),
      )
    ),
  );
  if (typeof m.neighbour_purity === "number") state.purity = m.neighbour_purity;
}

function renderConfusion(c) {
  const t = $("confusion");
  const max = Math.max(1, ...c.matrix.flat());
  t.replaceChildren(
    el(
      "tr",
      {},
      el("th", { text: "class \\ cluster" }),
      ...c.clusters.map((k) => el("th", { text: k < 0 ? "–" : String(k) })),
    ),
    ...c.matrix.map((row, i) =>
      el(
        "tr",
        {},
        el("th", { text: String(c.classes[i]) }),
        ...row.map((v, j) => {
          const td = el("td", { text: v ? String(v) : "" });
          const a = v / max;
          td.style.background = i === j
            ? `rgba(37,99,235,${a})`
            : `rgba(220,38,38,${a})`;
          td.style.color = a > 0.55 ? "#fff" : "#1d2330";
          return td;
        }),
      )
    ),
  );
}

function thumb(run, r, opts = {}) {
  const img = el("img", {
    src: url(`api/runs/${encodeURIComponent(run)}/images/${r.index}.png`),
    alt: `image ${r.index}`,
    title: `#${r.index} ${
      r.name ?? ""
    } cluster ${r.cluster} label ${r.label} conf ${fmt(r.confidence, 2)}`,
    onclick: () => showNeighbours(run, r.index),
  });
  if (opts.wrong) img.classList.add("wrong");
  return img;
}

function renderGallery(run, g) {
  const box = $("gallery");
  if (!g.imagesAvailable) {
    box.replaceChildren(
      el("div", {
        class: "muted",
        text: g.message ?? "images unavailable for this run",
      }),
    );
    return;
  }
  box.replaceChildren(
    ...g.clusters.map((c) =>
      el(
        "div",
        { class: "cluster-row" },
        el("span", {
          class: "cluster-name",
          text: `cluster ${c.cluster} (${c.size})`,
        }),
        el("div", { class: "thumbs" }, ...c.top.map((r) => thumb(run, r))),
      )
    ),
  );
}

async function showNeighbours(run, index) {
  const box = $("neighbours");
  try {
    const n = await getJson(
      `api/runs/${encodeURIComponent(run)}/neighbours/${index}`,
    );
    const q = n.query;
    box.replaceChildren(
      el(
        "div",
        { class: "cluster-row" },
        el("span", { class: "cluster-name", text: `image ${index}` }),
        el("div", { class: "thumbs" }, thumb(run, q)),
        el("span", {
          class: "muted",
          text: `cluster ${q.cluster}, label ${q.label < 0 ? "?" : q.label}; ` +
            `${n.k} neighbours, purity ${
              n.purity === null ? "–" : fmt(n.purity, 2)
            } (red: other label)`,
        }),
      ),
      el(
        "div",
        { class: "thumbs" },
        ...n.neighbours.map((r) =>
          thumb(run, r, {
            wrong: q.label >= 0 && r.label >= 0 && r.label !== q.label,
          })
        ),
      ),
    );
  } catch (err) {
    box.replaceChildren(el("div", { class: "muted", text: err.message }));
  }
  $("neighbour-card").scrollIntoView({ behavior: "smooth", block: "nearest" });
}

let mapData = null;
let mapBy = "cluster";
function renderMap() {
  if (!charts.map || !mapData) return;
  const groups = new Map();
  for (const p of mapData.points) {
    const key = mapBy === "cluster" ? p.cluster : p.label;
    let g = groups.get(key);
    if (!g) groups.set(key, g = []);
    g.push({ x: p.x, y: p.y });
  }
  charts.map.data.datasets = [...groups.entries()].sort((a, b) => a[0] - b[0])
    .map(([k, data]) => ({
      label: k < 0 ? "unknown" : `${mapBy} ${k}`,
      data,
      backgroundColor: colour(k),
      borderColor: colour(k),
    }));
  charts.map.update("none");
  $("map-note").textContent = `${mapData.points.length} of ${mapData.n} images`;
}

async function loadFilePanels(run) {
  const enc = encodeURIComponent(run);
  const soft = (p) => p.catch((err) => ({ error: err.message }));
  const [summary, clusters, confusion, gallery] = await Promise.all([
    soft(getJson(`api/runs/${enc}`)),
    soft(getJson(`api/runs/${enc}/clusters`)),
    soft(getJson(`api/runs/${enc}/confusion`)),
    soft(getJson(`api/runs/${enc}/gallery`)),
  ]);
  if (run !== runName) return;
  renderMetrics(summary.error ? null : summary.metrics);
  $("run-state").textContent = summary.status?.state ?? "";
  if (!clusters.error) {
    drawClusterSizes(
      clusters.sizes,
      clusters.source === "assignments"
        ? "final"
        : `${clusters.phase}, epoch ${clusters.epoch}`,
    );
  }
  if (confusion.error) {
    $("confusion").replaceChildren(
      el("tr", {}, el("td", { class: "muted", text: confusion.error })),
    );
  } else renderConfusion(confusion);
  if (gallery.error) {
    $("gallery").replaceChildren(
      el("div", { class: "muted", text: gallery.error }),
    );
  } else renderGallery(run, gallery);
  $("map-note").textContent = "computing map…";
  const map = await soft(getJson(`api/runs/${enc}/map`));
  if (run !== runName) return;
  if (map.error) $("map-note").textContent = map.error;
  else {
    mapData = map;
    renderMap();
  }
  dirty = true;
}

// ---- following a run ----
function setConnection(text, cls) {
  const b = $("connection");
  b.textContent = text;
  b.className = `badge ${cls}`;
}

function selectRun(name) {
  if (source) source.close();
  runName = name;
  state = freshState();
  mapData = null;
  renderTabs();
  $("run-select").value = name;
  const p = new URLSearchParams(location.search);
  p.set("run", name);
  history.replaceState(null, "", `?${p}`);
  for (const tr of $("runs-table").querySelectorAll("tr.clickable")) {
    tr.classList.toggle(
      "current",
      tr.firstChild.textContent.replace(" (live)", "") === name,
    );
  }
  // EventSource resends Last-Event-ID itself when it reconnects
  source = new EventSource(url(`api/runs/${encodeURIComponent(name)}/stream`));
  source.onopen = () => setConnection("live", "live");
  source.onmessage = (msg) => handle(JSON.parse(msg.data));
  source.addEventListener("end", () => {
    source.close();
    setConnection("finished", "done");
    loadFilePanels(name);
    loadRuns().catch(() => {});
  });
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      setConnection("disconnected", "off");
    } else setConnection("reconnecting", "off");
  };
  loadFilePanels(name);
}

async function main() {
  setupCharts();
  $("map-by-cluster").addEventListener("click", () => {
    mapBy = "cluster";
    $("map-by-cluster").classList.add("on");
    $("map-by-label").classList.remove("on");
    renderMap();
  });
  $("map-by-label").addEventListener("click", () => {
    mapBy = "label";
    $("map-by-label").classList.add("on");
    $("map-by-cluster").classList.remove("on");
    renderMap();
  });
  $("run-select").addEventListener(
    "change",
    (ev) => selectRun(ev.target.value),
  );
  let data;
  try {
    data = await loadRuns();
  } catch (err) {
    $("banner").hidden = false;
    $("banner").textContent = err.message;
    return;
  }
  const wanted = params.get("run");
  const live = data.runs.find((r) => r.live);
  const first = data.runs.find((r) => r.name === wanted) ?? live ??
    data.runs[data.runs.length - 1];
  if (first) selectRun(first.name);
  else $("progress-text").textContent = "no runs yet";
  setInterval(frame, 500);
  // the runs table changes as runs finish; refresh it now and then
  setInterval(() => loadRuns().catch(() => {}), 15000);
}

main();
