/**
 * The live dashboard: a read-only Hono app over a folder of runs (and,
 * optionally, the run being trained in this process), with one HTML page.
 *
 * Safe by default: it binds 127.0.0.1; any other host needs a token
 * (generated when not given), checked on every request. Only GET and HEAD
 * are answered, run names are checked before any file is touched, and the
 * page loads nothing from outside the dashboard (Chart.js comes from the
 * installed npm package).
 *
 * Known limits: resuming a run restarts event seq numbers in events.jsonl,
 * so `Last-Event-ID` resume is only exact within one process's events; the
 * map's UMAP result is cached in memory only (recomputed after a restart).
 *
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { secureHeaders } from "hono/secure-headers";
import { streamSSE } from "hono/streaming";
import type { SSEStreamingApi } from "hono/streaming";
import { timingSafeEqual } from "node:crypto";
import { dirname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { EventBus, Stamped } from "../../../core/events.ts";
import type { Dataset } from "../../../core/interfaces.ts";
import { confusionAfterMatching } from "../../metrics/clustering_metrics.ts";
import { LiveRun } from "./live_run.ts";
import { sampleIndices, umap2d } from "./map.ts";
import { encodePng } from "./png.ts";
import {
  type Assignment,
  configDifferences,
  flattenConfig,
  isValidRunName,
  matrixFile,
  parseAssignments,
  readConfig,
  readEvents,
  readMetrics,
  readRows,
  readStatus,
} from "./run_files.ts";

/** What the dashboard serves. */
export interface DashboardOptions {
  /** The folder holding one folder per run. */
  runsDir: string;
  /** The run trained in this process: its events come from memory. A bare bus takes its name from `run-start`. */
  live?: { runName?: string; events: EventBus } | LiveRun;
  /** Opens the dataset of a run, for gallery images; without it the gallery says images are unavailable. */
  openDataset?: (runName: string) => Promise<Dataset | undefined>;
  /** When set, every request must carry it (`Authorization: Bearer` or `?token=`). */
  token?: string;
  /** Chart.js UMD bundle; found under node_modules when not given. */
  chartJsPath?: string;
}

/** The app plus what the host process needs to manage it. */
export interface Dashboard {
  app: Hono;
  /** The live run, when one was given. */
  live?: LiveRun;
  /** Ends SSE clients and stops following the bus. */
  close(): void;
}

const MAX_URL = 2048;
const MAP_POINTS = 2000;
const PING_MS = 15_000;
const TAIL_POLL_MS = 500;

/** Hostnames that only this machine can reach. */
export function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h.endsWith(".localhost") || h === "::1" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** A random URL-safe token of 32 hex characters. */
export function generateToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function sameToken(given: string, expected: string): boolean {
  const a = new TextEncoder().encode(given);
  const b = new TextEncoder().encode(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Finds node_modules/chart.js/dist/chart.umd.js above this module or the working directory. */
export function findChartJs(): string | undefined {
  const rel = join("node_modules", "chart.js", "dist", "chart.umd.js");
  const starts = [Deno.cwd()];
  if (import.meta.url.startsWith("file:")) {
    starts.unshift(dirname(fileURLToPath(import.meta.url)));
  }
  for (const start of starts) {
    for (let dir = start;; dir = dirname(dir)) {
      try {
        if (Deno.statSync(join(dir, rel)).isFile) return join(dir, rel);
      } catch {
        // keep walking up
      }
      if (dirname(dir) === dir) break;
    }
  }
  return undefined;
}

function fail(status: 400 | 404 | 503, message: string): never {
  throw new HTTPException(status, { message });
}

function intParam(
  raw: string | undefined,
  what: string,
  dflt: number,
  max: number,
): number {
  if (raw === undefined || raw === "") return dflt;
  if (!/^\d{1,15}$/.test(raw) || Number(raw) > max) {
    fail(
      400,
      `${what} is ${JSON.stringify(raw)}; expected an integer 0..${max}`,
    );
  }
  return Number(raw);
}

/** A small cache that forgets its oldest entry beyond `max`. */
class Lru<V> {
  #map = new Map<string, V>();
  constructor(readonly max: number) {}
  get(key: string): V | undefined {
    const v = this.#map.get(key);
    if (v !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, v);
    }
    return v;
  }
  delete(key: string): void {
    this.#map.delete(key);
  }
  set(key: string, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    while (this.#map.size > this.max) {
      this.#map.delete(this.#map.keys().next().value!);
    }
  }
}

/** Builds the dashboard app; see {@linkcode startDashboard} to serve it. */
export function createDashboard(options: DashboardOptions): Dashboard {
  const runsDir = resolve(options.runsDir);
  const live = options.live instanceof LiveRun
    ? options.live
    : options.live
    ? new LiveRun(options.live.events, options.live.runName)
    : undefined;
  const token = options.token;
  const chartJsPath = options.chartJsPath ?? findChartJs();
  const here = new URL(".", import.meta.url);
  const assets = new Map<string, Promise<Uint8Array<ArrayBuffer>>>();
  const asset = (file: string) => {
    let p = assets.get(file);
    if (!p) {
      p = Deno.readFile(new URL(file, here));
      p.catch(() => assets.delete(file));
      assets.set(file, p);
    }
    return p;
  };
  const assignmentCache = new Lru<{ stamp: string; rows: Assignment[] }>(8);
  const mapCache = new Lru<Promise<unknown>>(8);
  const datasets = new Lru<Promise<Dataset | undefined>>(4);

  const tails = new Set<SSEStreamingApi>();
  const isLive = (name: string) => live !== undefined && live.name === name;

  /** The checked folder of a run; 400 for a bad name, 404 for an unknown run. */
  async function runDir(name: string): Promise<string> {
    if (!isValidRunName(name)) {
      fail(
        400,
        `Run name ${
          JSON.stringify(name)
        } is not valid: use letters, digits, ".", "_" and "-"`,
      );
    }
    if (isLive(name) && live!.runDir) return resolve(live!.runDir);
    const dir = join(runsDir, name);
    try {
      // a symlink must not lead out of the runs folder
      const [real, root] = await Promise.all([
        Deno.realPath(dir),
        Deno.realPath(runsDir),
      ]);
      if (!real.startsWith(root + sep)) {
        fail(404, `No run named ${JSON.stringify(name)}`);
      }
      if (!(await Deno.stat(real)).isDirectory) {
        fail(404, `No run named ${JSON.stringify(name)}`);
      }
      return real;
    } catch (err) {
      if (err instanceof HTTPException) throw err;
      if (isLive(name)) return dir;
      fail(404, `No run named ${JSON.stringify(name)}`);
    }
  }

  async function runNames(): Promise<string[]> {
    const names = new Set<string>();
    try {
      for await (const entry of Deno.readDir(runsDir)) {
        if (
          (entry.isDirectory || entry.isSymlink) && isValidRunName(entry.name)
        ) {
          names.add(entry.name);
        }
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    if (live?.name) names.add(live.name);
    return [...names].sort();
  }

  async function assignments(dir: string): Promise<Assignment[] | undefined> {
    const path = join(dir, "assignments.csv");
    let stamp: string;
    try {
      const info = await Deno.stat(path);
      stamp = `${info.mtime?.getTime()}:${info.size}`;
    } catch {
      return undefined;
    }
    const cached = assignmentCache.get(dir);
    if (cached?.stamp === stamp) return cached.rows;
    const rows = parseAssignments(await Deno.readTextFile(path));
    assignmentCache.set(dir, { stamp, rows });
    return rows;
  }

  async function requireAssignments(name: string, dir: string) {
    const rows = await assignments(dir);
    if (!rows) {
      fail(
        404,
        `Run ${
          JSON.stringify(name)
        } has no assignments.csv yet (it is written when the run finishes)`,
      );
    }
    return rows;
  }

  function dataset(name: string): Promise<Dataset | undefined> {
    if (!options.openDataset) return Promise.resolve(undefined);
    let p = datasets.get(name);
    if (!p) {
      p = options.openDataset(name).catch(() => undefined);
      datasets.set(name, p);
      // a live run's dataset may arrive later: only keep what was found
      p.then((d) => d ?? datasets.delete(name));
    }
    return p;
  }

  async function eventsOf(name: string, dir: string, after: number) {
    if (!isLive(name)) return await readEvents(dir, after);
    const memory = live!.events(after);
    const oldest = live!.oldestSeq;
    if (oldest === undefined || oldest <= after + 1) return memory;
    // the ring dropped some: take those from the file the pipeline writes
    const older = (await readEvents(dir, after)).filter((e) => e.seq < oldest);
    return [...older, ...memory];
  }

  const app = new Hono();

  app.use(secureHeaders({
    strictTransportSecurity: false,
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", "data:"],
      connectSrc: ["'self'"],
      fontSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'none'"],
      frameAncestors: ["'none'"],
    },
  }));

  app.use(async (c, next) => {
    if (c.req.url.length > MAX_URL) {
      return c.json({ error: `URL longer than ${MAX_URL} characters` }, 414);
    }
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      c.header("Allow", "GET, HEAD");
      return c.json({ error: "The dashboard is read-only: use GET" }, 405);
    }
    if (token !== undefined) {
      const auth = c.req.header("Authorization");
      const given = auth?.startsWith("Bearer ")
        ? auth.slice(7).trim()
        : c.req.query("token");
      if (given === undefined || !sameToken(given, token)) {
        c.header("WWW-Authenticate", "Bearer");
        return c.json({
          error:
            "A valid token is required (open the URL the dashboard printed)",
        }, 401);
      }
    } else if (!isLoopback(new URL(c.req.url).hostname)) {
      // without a token only loopback names are served, which defeats DNS rebinding
      return c.json({ error: "Host not allowed" }, 403);
    }
    await next();
    if (c.req.path.startsWith("/api/") && !c.res.headers.has("Cache-Control")) {
      c.header("Cache-Control", "no-store");
    }
    return undefined;
  });

  app.onError((err, c) => {
    if (err instanceof HTTPException) {
      return c.json({ error: err.message }, err.status);
    }
    return c.json({ error: "Internal error" }, 500);
  });
  app.notFound((c) => c.json({ error: "Not found" }, 404));

  const page = (file: string, type: string) => async (c: Context) => {
    c.header("Content-Type", type);
    c.header("Cache-Control", "no-cache");
    return c.body(await asset(file));
  };
  app.get("/", page("page.html", "text/html; charset=utf-8"));
  app.get("/app.js", page("app.js", "text/javascript; charset=utf-8"));
  app.get("/style.css", page("style.css", "text/css; charset=utf-8"));
  let chartJs: Promise<Uint8Array<ArrayBuffer>> | undefined;
  app.get("/vendor/chart.umd.js", async (c) => {
    if (!chartJsPath) {
      fail(503, "Chart.js is not installed: run `deno install` in the project");
    }
    chartJs ??= Deno.readFile(chartJsPath);
    c.header("Content-Type", "text/javascript; charset=utf-8");
    c.header("Cache-Control", "max-age=86400");
    return c.body(await chartJs);
  });

  app.get("/api/runs", async (c) => {
    const names = await runNames();
    const found = await Promise.all(names.map(async (name) => {
      let dir: string;
      try {
        dir = await runDir(name);
      } catch {
        // e.g. a symlink out of the runs folder: not a run we serve
        return undefined;
      }
      const [status, metrics, config] = await Promise.all([
        readStatus(dir),
        readMetrics(dir),
        readConfig(dir),
      ]);
      const liveNow = isLive(name);
      return {
        name,
        live: liveNow,
        status: liveNow && !live!.ended && status.state === "unknown"
          ? { ...status, state: "running" }
          : status,
        metrics: metrics ?? null,
        flat: flattenConfig(config ?? {}),
      };
    }));
    const runs = found.filter((r) => r !== undefined);
    const differing = configDifferences(runs.map((r) => r.flat));
    return c.json({
      differing,
      runs: runs.map(({ flat, ...r }) => ({
        ...r,
        config: Object.fromEntries(differing.map((k) => [k, flat[k] ?? null])),
      })),
    });
  });

  app.get("/api/runs/:run", async (c) => {
    const name = c.req.param("run");
    const dir = await runDir(name);
    const [status, metrics, config, features, neighbours, rows] = await Promise
      .all([
        readStatus(dir),
        readMetrics(dir),
        readConfig(dir),
        matrixFile(dir, "features"),
        matrixFile(dir, "neighbours"),
        assignments(dir),
      ]);
    return c.json({
      name,
      live: isLive(name),
      status,
      config: config ?? null,
      metrics: metrics ?? null,
      images: rows?.length ?? null,
      has: {
        assignments: rows !== undefined,
        features: features !== undefined,
        neighbours: neighbours !== undefined,
        labels: rows?.some((r) => r.label >= 0) ?? false,
      },
    });
  });

  app.get("/api/runs/:run/events", async (c) => {
    const name = c.req.param("run");
    const dir = await runDir(name);
    const after = intParam(
      c.req.query("after"),
      "after",
      0,
      Number.MAX_SAFE_INTEGER,
    );
    return c.json(await eventsOf(name, dir, after));
  });

  app.get("/api/runs/:run/stream", async (c) => {
    const name = c.req.param("run");
    const dir = await runDir(name);
    const after = intParam(
      c.req.header("Last-Event-ID") ?? c.req.query("lastEventId"),
      "Last-Event-ID",
      0,
      Number.MAX_SAFE_INTEGER,
    );
    if (c.req.method === "HEAD") {
      // Hono answers HEAD with the GET handler and drops the body; a stream here would never end
      c.header("Content-Type", "text/event-stream");
      return c.body(null);
    }
    if (isLive(name)) {
      const oldest = live!.oldestSeq;
      const older = oldest !== undefined && oldest > after + 1
        ? (await readEvents(dir, after)).filter((e) => e.seq < oldest)
        : [];
      // subscribing is synchronous with reading the ring: no gap, no repeat
      const sub = live!.subscribe(after);
      return streamSSE(c, async (stream) => {
        stream.onAbort(() => sub.close());
        // an overflowed client may be blocked in a write: aborting frees it
        sub.onClose(() => stream.abort());
        try {
          for (const e of older) await send(stream, e);
          for (;;) {
            const e = await sub.next(PING_MS);
            if (e === undefined || stream.aborted) break;
            if (e === "idle") await stream.write(": ping\n\n");
            else {
              await send(stream, e);
              if (e.type === "run-end") {
                await stream.writeSSE({ event: "end", data: "run-end" });
                break;
              }
            }
          }
        } finally {
          sub.close();
        }
      });
    }
    return streamSSE(c, async (stream) => {
      tails.add(stream);
      try {
        await tailFile(stream, dir, after);
      } finally {
        tails.delete(stream);
      }
    });
  });

  app.get("/api/runs/:run/clusters", async (c) => {
    const name = c.req.param("run");
    const dir = await runDir(name);
    const rows = await assignments(dir);
    if (rows) {
      const k = rows.reduce((m, r) => Math.max(m, r.cluster + 1), 0);
      const sizes = new Array<number>(k).fill(0);
      for (const r of rows) if (r.cluster >= 0) sizes[r.cluster]++;
      return c.json({ source: "assignments", sizes });
    }
    const events = await eventsOf(name, dir, 0);
    for (let i = events.length - 1; i >= 0; i--) {
      const e = events[i];
      if (e.type === "epoch" && e.clusterSizes) {
        return c.json({
          source: "epoch",
          phase: e.phase,
          epoch: e.epoch,
          sizes: e.clusterSizes,
        });
      }
    }
    fail(404, `Run ${JSON.stringify(name)} has no cluster sizes yet`);
  });

  app.get("/api/runs/:run/confusion", async (c) => {
    const name = c.req.param("run");
    const rows = await requireAssignments(name, await runDir(name));
    const labelled = rows.filter((r) => r.label >= 0);
    if (labelled.length === 0) {
      fail(
        404,
        `Run ${JSON.stringify(name)} has no true labels to compare with`,
      );
    }
    const m = confusionAfterMatching(
      labelled.map((r) => r.cluster),
      labelled.map((r) => r.label),
    );
    const hits = m.matrix.reduce((s, row, i) => s + (row[i] ?? 0), 0);
    return c.json({ ...m, n: labelled.length, acc: hits / labelled.length });
  });

  app.get("/api/runs/:run/gallery", async (c) => {
    const name = c.req.param("run");
    const dir = await runDir(name);
    const per = intParam(c.req.query("per"), "per", 8, 64);
    const rows = await requireAssignments(name, dir);
    const byCluster = new Map<number, Assignment[]>();
    for (const r of rows) {
      let list = byCluster.get(r.cluster);
      if (!list) byCluster.set(r.cluster, list = []);
      list.push(r);
    }
    const ds = await dataset(name);
    return c.json({
      imagesAvailable: ds !== undefined,
      message: ds ? undefined : "images unavailable for this run",
      clusters: [...byCluster.entries()].sort((a, b) => a[0] - b[0]).map((
        [cluster, list],
      ) => ({
        cluster,
        size: list.length,
        top: list.toSorted((a, b) => b.confidence - a.confidence).slice(0, per),
      })),
    });
  });

  app.get("/api/runs/:run/images/:file", async (c) => {
    const name = c.req.param("run");
    await runDir(name);
    const m = /^(\d{1,10})\.png$/.exec(c.req.param("file"));
    if (!m) fail(400, "Image names are <index>.png");
    const ds = await dataset(name);
    if (!ds) {
      fail(404, `Images are unavailable for run ${JSON.stringify(name)}`);
    }
    const index = Number(m[1]);
    if (index >= ds.size) {
      fail(404, `Image ${index} is out of range 0..${ds.size - 1}`);
    }
    const png = encodePng(ds.read([index]), ds.shape);
    c.header("Content-Type", "image/png");
    c.header("Cache-Control", "private, max-age=3600");
    return c.body(png);
  });

  app.get("/api/runs/:run/neighbours/:index", async (c) => {
    const name = c.req.param("run");
    const dir = await runDir(name);
    const file = await matrixFile(dir, "neighbours");
    if (!file) {
      fail(404, `Run ${JSON.stringify(name)} has no neighbours.i32 yet`);
    }
    const index = intParam(c.req.param("index"), "index", 0, file.n - 1);
    const bytes = await readRows(file, [index]);
    const ids = new Int32Array(bytes.buffer, 0, file.cols);
    const rows = await assignments(dir);
    const info = (i: number) => {
      const r = rows?.[i];
      return r?.index === i
        ? r
        : { index: i, name: "", cluster: -1, confidence: NaN, label: -1 };
    };
    const query = info(index);
    const neighbours = Array.from(ids, info);
    const labelled = neighbours.filter((r) => r.label >= 0);
    return c.json({
      index,
      k: file.cols,
      query,
      neighbours,
      purity: query.label >= 0 && labelled.length
        ? labelled.filter((r) => r.label === query.label).length /
          labelled.length
        : null,
    });
  });

  app.get("/api/runs/:run/map", async (c) => {
    const name = c.req.param("run");
    const dir = await runDir(name);
    const file = await matrixFile(dir, "features");
    if (!file) {
      fail(
        404,
        `Run ${
          JSON.stringify(name)
        } has no features.f32 yet (written after stage 1)`,
      );
    }
    const stamp = `${dir}:${(await Deno.stat(file.path)).mtime?.getTime()}`;
    let result = mapCache.get(stamp);
    if (!result) {
      result = (async () => {
        const idx = sampleIndices(file.n, MAP_POINTS, 0);
        const bytes = await readRows(file, idx);
        const coords = await umap2d(
          new Float32Array(bytes.buffer),
          idx.length,
          file.cols,
          0,
        );
        return { n: file.n, idx, coords };
      })();
      result.catch(() => mapCache.delete(stamp));
      mapCache.set(stamp, result);
    }
    const { n, idx, coords } = await result as {
      n: number;
      idx: number[];
      coords: number[][];
    };
    const rows = await assignments(dir);
    return c.json({
      n,
      points: idx.map((i, p) => ({
        index: i,
        x: coords[p][0],
        y: coords[p][1],
        cluster: rows?.[i]?.cluster ?? -1,
        label: rows?.[i]?.label ?? -1,
      })),
    });
  });

  return {
    app,
    live,
    close: () => {
      live?.close();
      for (const t of tails) t.abort();
    },
  };
}

/** The app alone; see {@linkcode createDashboard}. */
export function createDashboardApp(options: DashboardOptions): Hono {
  return createDashboard(options).app;
}

function send(stream: SSEStreamingApi, e: Stamped): Promise<void> {
  return stream.writeSSE({ data: JSON.stringify(e), id: String(e.seq) });
}

/**
 * Streams events.jsonl after seq `after`, then follows it while status.json
 * says the run is running (another process is training it), then ends.
 */
async function tailFile(stream: SSEStreamingApi, dir: string, after: number) {
  const path = join(dir, "events.jsonl");
  let offset = 0;
  let last = after;
  let pending = new Uint8Array(0);
  let quietSince = Date.now();
  const decoder = new TextDecoder();
  while (!stream.aborted) {
    let chunk = new Uint8Array(0);
    try {
      using f = await Deno.open(path, { read: true });
      await f.seek(offset, Deno.SeekMode.Start);
      const size = (await f.stat()).size;
      if (size > offset) {
        chunk = new Uint8Array(size - offset);
        let got = 0;
        while (got < chunk.length) {
          const n = await f.read(chunk.subarray(got));
          if (n === null) break;
          got += n;
        }
        chunk = chunk.subarray(0, got);
        offset += got;
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    if (chunk.length) {
      const joined = new Uint8Array(pending.length + chunk.length);
      joined.set(pending);
      joined.set(chunk, pending.length);
      const end = joined.lastIndexOf(10) + 1;
      pending = joined.slice(end);
      for (const line of decoder.decode(joined.subarray(0, end)).split("\n")) {
        if (!line.trim()) continue;
        let e: Stamped;
        try {
          e = JSON.parse(line);
        } catch {
          continue;
        }
        if (typeof e?.seq !== "number" || e.seq <= last) continue;
        last = e.seq;
        await send(stream, e);
        if (stream.aborted) return;
      }
      quietSince = Date.now();
      continue;
    }
    if ((await readStatus(dir)).state !== "running") break;
    if (Date.now() - quietSince > PING_MS) {
      await stream.write(": ping\n\n");
      quietSince = Date.now();
    }
    await new Promise((r) => setTimeout(r, TAIL_POLL_MS));
  }
  if (!stream.aborted) {
    await stream.writeSSE({ event: "end", data: "finished" });
  }
}

/** Where and how to listen. */
export interface StartOptions extends DashboardOptions {
  /** Default `"127.0.0.1"`. Any non-loopback host requires a token (generated when not given). */
  hostname?: string;
  /** Default 0: any free port. */
  port?: number;
}

/** A listening dashboard. */
export interface RunningDashboard {
  /** The page's URL, with `?token=` when a token is required. */
  url: string;
  /** The token every request needs, if any. */
  token?: string;
  /** Live SSE clients and buffered events of the live run. */
  stats(): { subscribers: number; buffered: number };
  /** Ends every client and stops listening. */
  close(): Promise<void>;
}

/** Serves the dashboard with Deno.serve. */
export async function startDashboard(
  options: StartOptions,
): Promise<RunningDashboard> {
  const hostname = options.hostname ?? "127.0.0.1";
  const token = options.token ??
    (isLoopback(hostname) ? undefined : generateToken());
  const dash = createDashboard({ ...options, token });
  const ac = new AbortController();
  const { promise: listening, resolve: onListen } = Promise.withResolvers<
    Deno.NetAddr
  >();
  const server = Deno.serve({
    hostname,
    port: options.port ?? 0,
    signal: ac.signal,
    onListen: (addr) => onListen(addr as Deno.NetAddr),
  }, dash.app.fetch);
  const addr = await listening;
  const host = addr.hostname.includes(":")
    ? `[${addr.hostname}]`
    : addr.hostname;
  const url = `http://${host}:${addr.port}/` +
    (token ? `?token=${encodeURIComponent(token)}` : "");
  return {
    url,
    token,
    stats: () => ({
      subscribers: dash.live?.subscribers ?? 0,
      buffered: dash.live?.buffered ?? 0,
    }),
    close: async () => {
      dash.close();
      ac.abort();
      await server.finished;
    },
  };
}
