/**
 * The terminal reporter: turns the event stream into what a person watching a
 * run reads. On a terminal, one progress bar per phase (cli-progress); in a
 * log file or a pipe, one line per `interval` seconds with fixed fields and
 * units, after nanoGPT's and DINO's training logs.
 *
 * Time is taken from each stamped event's `time`, never from the wall clock,
 * so the interval and the ETA follow the run and tests are deterministic.
 *
 * @module
 */
import cliProgress from "cli-progress";
import type { EventBus, Phase, Scores, Stamped } from "../../core/events.ts";
import type { Reporter } from "../../core/interfaces.ts";
import type { Options } from "../../core/options.ts";
import type { PluginDef } from "../../core/registry.ts";

/** Where the reporter writes: stderr in a run, a string buffer in tests. */
export interface Sink {
  write(text: string): void;
  /** True when a person is watching: enables bars and colour in "auto" mode. */
  readonly isTerminal: boolean;
  /** Width in characters, when known. */
  readonly columns?: number;
}

/** A sink writing to `Deno.stderr`, so stdout stays free for results. */
export function stderrSink(): Sink {
  const encoder = new TextEncoder();
  let columns: number | undefined;
  try {
    columns = Deno.consoleSize().columns;
  } catch {
    // not a console: no width, which cli-progress handles
  }
  return {
    isTerminal: Deno.stderr.isTerminal(),
    columns,
    write(text: string) {
      const bytes = encoder.encode(text);
      let done = 0;
      while (done < bytes.length) {
        done += Deno.stderr.writeSync(bytes.subarray(done));
      }
    },
  };
}

/**
 * A duration for people: `"1h02m"`, `"12m03s"`, `"45s"`; `"?"` when unknown.
 *
 * @example
 * ```ts
 * formatDuration(723); // "12m03s"
 * ```
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const pad = (n: number) => String(n).padStart(2, "0");
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  // minutes are rounded here, not truncated, so 1h59m59s reads "2h00m"
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)}h${pad(m % 60)}m`;
}

/**
 * Seconds left in a phase, assuming the rate seen so far holds:
 * `elapsed` seconds took the phase from fraction `fromFraction` to
 * `nowFraction` (both in [0, 1]; `fromFraction` is above 0 for a resumed
 * phase). Undefined until some progress has been made.
 *
 * @example
 * ```ts
 * eta(60, 0, 0.25); // 180
 * ```
 */
export function eta(
  elapsed: number,
  fromFraction: number,
  nowFraction: number,
): number | undefined {
  const progressed = nowFraction - fromFraction;
  if (!(progressed > 0) || !(elapsed >= 0)) return undefined;
  return elapsed * Math.max(0, 1 - nowFraction) / progressed;
}

/**
 * Fraction of a phase done after `step` (1-based, within the epoch) of
 * `epoch` (1-based) out of `epochs` x `stepsPerEpoch`.
 */
export function phaseFraction(
  epoch: number,
  epochs: number,
  step: number,
  stepsPerEpoch: number,
): number {
  const total = epochs * stepsPerEpoch;
  if (!(total > 0)) return 0;
  const done = (epoch - 1) * stepsPerEpoch + step;
  return Math.min(1, Math.max(0, done / total));
}

/** A percentage with one decimal, from a fraction: `0.8034` gives `"80.3%"`. */
export function percent(fraction: number): string {
  return Number.isFinite(fraction) ? `${(100 * fraction).toFixed(1)}%` : "?";
}

/** Scores as percentages: `"acc 80.3%  nmi 68.6%  ari 63.8%"`. */
export function formatScores(scores: Scores): string {
  return `acc ${percent(scores.acc)}  nmi ${percent(scores.nmi)}  ari ${
    percent(scores.ari)
  }`;
}

/** A loss and its terms: `"5.1234 (instance 4.9012 cluster 0.2222)"`. */
export function formatLoss(
  loss: number,
  terms: Record<string, number>,
): string {
  const parts = Object.entries(terms).map(([k, v]) => `${k} ${v.toFixed(4)}`);
  return parts.length
    ? `${loss.toFixed(4)} (${parts.join(" ")})`
    : loss.toFixed(4);
}

/**
 * Cluster sizes summarised to catch collapse: the smallest and largest
 * cluster's share of the data, and whether the smallest is under 10% of the
 * uniform share (1/C).
 */
export function clusterShares(
  sizes: readonly number[],
): { min: number; max: number; collapsed: boolean } | undefined {
  const total = sizes.reduce((a, b) => a + b, 0);
  if (sizes.length === 0 || !(total > 0)) return undefined;
  const min = Math.min(...sizes) / total;
  const max = Math.max(...sizes) / total;
  return { min, max, collapsed: min < 0.1 / sizes.length };
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Depth-first search for the first value under a key accepted by `match`. */
function findKey(
  x: unknown,
  match: (key: string) => boolean,
  depth = 0,
): unknown {
  if (!isRecord(x) || depth > 4) return undefined;
  for (const [k, v] of Object.entries(x)) {
    if (match(k) && v !== undefined && v !== null) return v;
  }
  for (const v of Object.values(x)) {
    const found = findKey(v, match, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

function nameOf(x: unknown): string | undefined {
  if (typeof x === "string") return x;
  if (isRecord(x) && typeof x.name === "string") return x.name;
  return undefined;
}

const TRAINED: readonly Phase[] = ["representation", "clustering", "selflabel"];
const isBatchKey = (k: string) => /^batch(_?size)?$/i.test(k);

/**
 * The resolved config in a few lines: dataset, backbone and width, epochs
 * and batch size per stage, K. The config's shape belongs to the lead's
 * config module, so this looks keys up by name (`dataset`, `backbone`,
 * `width`, `epochs`, `batchSize`, `k`, with stages under their phase names)
 * and leaves out what it cannot find rather than guessing.
 */
export function summariseConfig(config: unknown): string[] {
  const lines: string[] = [];
  const dataset = nameOf(findKey(config, (k) => k === "dataset"));
  if (dataset) lines.push(`dataset   ${dataset}`);
  const backboneRaw = findKey(config, (k) => k === "backbone");
  const backbone = nameOf(backboneRaw);
  if (backbone) {
    const width = findKey(backboneRaw, (k) => k === "width") ??
      (isRecord(config) ? config.width : undefined);
    lines.push(
      `backbone  ${backbone}${
        typeof width === "number" ? ` width ${width}` : ""
      }`,
    );
  }
  const epochs: string[] = [];
  const batches: string[] = [];
  for (const stage of TRAINED) {
    const section = findKey(config, (k) => k === stage);
    // a stage switched off (selflabel by default) trains no epochs
    if (isRecord(section) && section.enabled === false) continue;
    const e = findKey(section, (k) => k === "epochs");
    const b = findKey(section, isBatchKey);
    if (typeof e === "number") epochs.push(`${stage} ${e}`);
    if (typeof b === "number") batches.push(`${stage} ${b}`);
  }
  if (epochs.length) lines.push(`epochs    ${epochs.join("  ")}`);
  if (batches.length) lines.push(`batch     ${batches.join("  ")}`);
  const k = findKey(config, (key) => key === "k" || key === "K");
  if (typeof k === "number") lines.push(`K         ${k}`);
  return lines;
}

interface Row {
  name: string;
  scores?: Scores;
  seconds?: number;
}

function asScores(x: unknown): Scores | undefined {
  if (
    isRecord(x) && typeof x.acc === "number" && typeof x.nmi === "number" &&
    typeof x.ari === "number"
  ) return { acc: x.acc, nmi: x.nmi, ari: x.ari };
  return undefined;
}

/**
 * The final metrics as a table in percent, from a run-end `metrics` object
 * `{acc, nmi, ari, baseline: {kmeans: {...}}, stages: {<name>: {...}},
 * seconds: {<stage>: s}}`; missing parts are left out.
 */
export function metricsTable(metrics: unknown): string[] {
  if (!isRecord(metrics)) return [];
  const rows: Row[] = [];
  const seconds = isRecord(metrics.seconds) ? metrics.seconds : {};
  const secondsOf = (name: string) =>
    typeof seconds[name] === "number" ? seconds[name] as number : undefined;
  if (isRecord(metrics.baseline)) {
    for (const [name, s] of Object.entries(metrics.baseline)) {
      rows.push({ name, scores: asScores(s), seconds: secondsOf(name) });
    }
  }
  const stageNames = new Set<string>();
  if (isRecord(metrics.stages)) {
    for (const [name, s] of Object.entries(metrics.stages)) {
      stageNames.add(name);
      rows.push({ name, scores: asScores(s), seconds: secondsOf(name) });
    }
  }
  for (const name of Object.keys(seconds)) {
    const isBaseline = isRecord(metrics.baseline) && name in metrics.baseline;
    if (!stageNames.has(name) && !isBaseline) {
      rows.push({ name, seconds: secondsOf(name) });
    }
  }
  const final = asScores(metrics);
  if (final) rows.push({ name: "final", scores: final });
  if (rows.length === 0) return [];
  const w = Math.max(8, ...rows.map((r) => r.name.length));
  const num = (x: number | undefined) =>
    (x === undefined ? "" : (100 * x).toFixed(1)).padStart(7);
  const lines = [
    `${"results".padEnd(w)}${"acc %".padStart(7)}${"nmi %".padStart(7)}${
      "ari %".padStart(7)
    }${"time".padStart(9)}`,
  ];
  for (const r of rows) {
    const time = r.seconds === undefined ? "" : formatDuration(r.seconds);
    lines.push(
      (r.name.padEnd(w) + num(r.scores?.acc) + num(r.scores?.nmi) +
        num(r.scores?.ari) + time.padStart(9)).trimEnd(),
    );
  }
  return lines;
}

/** A download or other counted progress, in MB when counted in bytes. */
export function formatAmount(done: number, total: number, unit: string) {
  if (/^(b|bytes?)$/i.test(unit)) {
    const mb = (x: number) => (x / 1e6).toFixed(1);
    return `${mb(done)}/${mb(total)} MB`;
  }
  return `${done}/${total} ${unit}`;
}

const terminalSchema = {
  interval: {
    type: "number",
    default: 10,
    min: 0,
    doc: "seconds between step lines in lines mode",
  },
  progress: {
    type: "string",
    default: "auto",
    oneOf: ["auto", "bar", "lines"],
    doc: "bars on a terminal and lines otherwise when auto",
  },
  color: {
    type: "string",
    default: "auto",
    oneOf: ["auto", "always", "never"],
    doc: "auto colours a terminal unless NO_COLOR is set",
  },
} as const;

/** The checked options of the terminal reporter. */
export type TerminalOptions = Options<typeof terminalSchema>;

interface BarLike {
  update(value: number, payload?: Record<string, unknown>): void;
}
interface MultiBarLike {
  create(
    total: number,
    start: number,
    payload?: Record<string, unknown>,
  ): BarLike;
  log(text: string): void;
  update(): void;
  stop(): void;
}

const ANSI = { bold: "1", dim: "2", yellow: "33", cyan: "36", green: "32" };

interface PhaseState {
  phase: Phase;
  startTime?: number;
  fromFraction?: number;
  lastLine?: number;
  bar?: BarLike;
}

/**
 * Writes the event stream to a {@linkcode Sink}. Assumes `step` events count
 * epochs and steps from 1, as the step line shows them.
 */
export class TerminalReporter implements Reporter {
  readonly name = "terminal";
  readonly #sink: Sink;
  readonly #interval: number;
  readonly #bars: boolean;
  readonly #color: boolean;
  #off?: () => void;
  #phase?: PhaseState;
  #multi?: MultiBarLike;
  #downloads = new Map<string, { lastLine?: number; bar?: BarLike }>();

  constructor(
    options: TerminalOptions,
    sink: Sink,
    env: { noColor?: boolean } = {},
  ) {
    this.#sink = sink;
    this.#interval = options.interval;
    this.#bars = options.progress === "bar" ||
      (options.progress === "auto" && sink.isTerminal);
    this.#color = options.color === "always" ||
      (options.color === "auto" && sink.isTerminal && !env.noColor);
  }

  attach(events: EventBus): void {
    this.#off?.();
    this.#off = events.on((e) => this.handle(e));
  }

  close(): Promise<void> {
    this.#off?.();
    this.#off = undefined;
    this.#stopBars();
    return Promise.resolve();
  }

  /** Handles one event; public so a log can be replayed without a bus. */
  handle(e: Stamped): void {
    const t = Date.parse(e.time) / 1000;
    switch (e.type) {
      case "run-start": {
        const head = `clknn ${e.version}  backend ${e.backend}  ${
          e.resumed ? "resumed run" : "new run"
        }`;
        this.#line(this.#paint(head, ANSI.bold));
        this.#line(`run dir   ${e.runDir}`);
        for (const l of summariseConfig(e.config)) this.#line(l);
        return;
      }
      case "phase-start": {
        this.#stopBars();
        this.#phase = { phase: e.phase, startTime: t };
        const size = e.epochs !== undefined
          ? `: ${e.epochs} epochs${
            e.stepsPerEpoch !== undefined ? ` x ${e.stepsPerEpoch} steps` : ""
          }`
          : "";
        this.#line(this.#paint(`== ${e.phase}${size} ==`, ANSI.cyan));
        return;
      }
      case "phase-end": {
        this.#stopBars();
        this.#phase = undefined;
        const scores = e.scores ? `  ${formatScores(e.scores)}` : "";
        this.#line(
          this.#paint(
            `== ${e.phase} done in ${formatDuration(e.seconds)}${scores} ==`,
            ANSI.cyan,
          ),
        );
        return;
      }
      case "step":
        return this.#step(e, t);
      case "epoch": {
        const sizes = e.clusterSizes && clusterShares(e.clusterSizes);
        let line = `${e.phase}  epoch ${e.epoch}/${e.epochs}  loss ${
          formatLoss(e.loss, e.terms)
        }  ${e.seconds.toFixed(1)}s`;
        if (e.scores) line += `  ${formatScores(e.scores)}`;
        if (sizes) {
          line += `  clusters ${e.clusterSizes!.length} min ${
            percent(sizes.min)
          } max ${percent(sizes.max)}`;
          if (sizes.collapsed) line += " (smallest < 10% of uniform)";
        }
        this.#line(sizes?.collapsed ? this.#paint(line, ANSI.yellow) : line);
        return;
      }
      case "checkpoint":
        this.#line(
          this.#paint(
            `checkpoint  ${e.phase} epoch ${e.epoch}  ${e.path}`,
            ANSI.dim,
          ),
        );
        return;
      case "neighbours": {
        const purity = e.purity === undefined
          ? ""
          : `  purity ${percent(e.purity)}`;
        this.#line(
          `neighbours  K ${e.k}${purity}  ${e.seconds.toFixed(1)}s`,
        );
        return;
      }
      case "progress":
        return this.#progress(e, t);
      case "info":
        this.#line(e.message);
        return;
      case "warning":
        this.#line(this.#paint(`warning: ${e.message}`, ANSI.yellow));
        return;
      case "run-end": {
        this.#stopBars();
        for (const l of metricsTable(e.metrics)) this.#line(l);
        this.#line(
          this.#paint(`total time ${formatDuration(e.seconds)}`, ANSI.bold),
        );
        return;
      }
    }
  }

  #step(e: Extract<Stamped, { type: "step" }>, t: number) {
    let state = this.#phase;
    if (!state || state.phase !== e.phase) {
      // attached mid-phase: measure from this step on
      state = this.#phase = { phase: e.phase };
    }
    const now = phaseFraction(e.epoch, e.epochs, e.step, e.stepsPerEpoch);
    if (state.fromFraction === undefined) {
      // the first step's own time is in the elapsed time when the phase-start
      // was seen, so the phase was one step less done at its start
      const oneStep = 1 / (e.epochs * e.stepsPerEpoch);
      state.fromFraction = state.startTime === undefined
        ? now
        : Math.max(0, now - oneStep);
      state.startTime ??= t;
    }
    const left = eta(t - state.startTime!, state.fromFraction, now);
    const etaText = left === undefined ? "?" : formatDuration(left);
    const lossText = e.loss.toFixed(4);
    const ips = `${e.imagesPerSecond.toFixed(1)} img/s`;
    if (this.#bars) {
      const total = e.epochs * e.stepsPerEpoch;
      const done = (e.epoch - 1) * e.stepsPerEpoch + e.step;
      const payload = {
        phase: e.phase,
        epoch: `${e.epoch}/${e.epochs}`,
        loss: lossText,
        ips,
        eta: etaText,
      };
      if (!state.bar) {
        state.bar = this.#multibar().create(total, done, payload);
      } else state.bar.update(done, payload);
      return;
    }
    if (state.lastLine !== undefined && t - state.lastLine < this.#interval) {
      return;
    }
    state.lastLine = t;
    this.#line(
      `${e.phase}  epoch ${e.epoch}/${e.epochs}  step ${e.step}/${e.stepsPerEpoch}  loss ${
        formatLoss(e.loss, e.terms)
      }  lr ${e.lr.toExponential(1)}  ${ips}  eta ${etaText}`,
    );
  }

  #progress(e: Extract<Stamped, { type: "progress" }>, t: number) {
    let d = this.#downloads.get(e.label);
    if (!d) this.#downloads.set(e.label, d = {});
    const finished = e.done >= e.total;
    const amount = formatAmount(e.done, e.total, e.unit);
    if (this.#bars) {
      const payload = {
        phase: e.label,
        epoch: "",
        loss: "",
        ips: amount,
        eta: "",
      };
      if (!d.bar) d.bar = this.#multibar().create(e.total, e.done, payload);
      else d.bar.update(e.done, payload);
    } else if (
      finished || d.lastLine === undefined || t - d.lastLine >= this.#interval
    ) {
      d.lastLine = t;
      const share = e.total > 0 ? `  ${percent(e.done / e.total)}` : "";
      this.#line(`${e.label}  ${amount}${share}`);
    }
    if (finished) this.#downloads.delete(e.label);
  }

  #multibar(): MultiBarLike {
    if (!this.#multi) {
      const sink = this.#sink;
      const stream = {
        isTTY: true,
        columns: sink.columns,
        write(s: string) {
          sink.write(s);
          return true;
        },
      };
      this.#multi = new cliProgress.MultiBar({
        stream,
        format:
          "{phase} [{bar}] {percentage}% {value}/{total} {epoch} | loss {loss} | {ips} | eta {eta}",
        hideCursor: false,
        barsize: 30,
        fps: 5,
      }) as MultiBarLike;
    }
    return this.#multi;
  }

  #stopBars() {
    if (this.#multi) {
      // stop() alone would drop lines still waiting in the log buffer
      this.#multi.update();
      this.#multi.stop();
      this.#multi = undefined;
    }
    if (this.#phase) this.#phase.bar = undefined;
    this.#downloads.clear();
  }

  #line(text: string) {
    if (this.#multi) this.#multi.log(text + "\n");
    else this.#sink.write(text + "\n");
  }

  #paint(text: string, code: string): string {
    return this.#color ? `\x1b[${code}m${text}\x1b[0m` : text;
  }
}

function noColorSet(): boolean {
  try {
    return (Deno.env.get("NO_COLOR") ?? "") !== "";
  } catch {
    // no env permission: nothing asked us to turn colour off
    return false;
  }
}

/** The terminal reporter plugin, writing to stderr. */
export const terminal: PluginDef<Reporter, typeof terminalSchema> = {
  name: "terminal",
  description:
    "progress bars on a terminal, or one fixed-format line per interval in a log",
  options: terminalSchema,
  create: (options) =>
    new TerminalReporter(options, stderrSink(), { noColor: noColorSet() }),
};
