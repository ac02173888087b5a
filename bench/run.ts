/**
 * Runs the benchmark: every requested backend that loads, every case, and
 * the PyTorch reference; returns the results as one JSON-ready object.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Registries } from "../core/registries.ts";
import { resolveConfig } from "../core/resolve.ts";
import { type BenchCase, caseCost, prepare } from "./cases.ts";
import { type Spread, spread, throughput } from "./stats.ts";
import { runTorch, type TorchRun } from "./torch.ts";

/** The result of one case on one engine. */
export interface CaseResult {
  backend: string;
  case: string;
  status: "ok" | "skipped" | "error";
  reason?: string;
  /** Seconds per step (per search, for mining). */
  seconds?: Spread;
  /** Images per second (train, stage1): batch / step time. */
  imagesPerSecond?: Spread;
  /** Highest process RSS seen after a step of this case, MiB. */
  peakRssMiB?: number;
  /** Size of the wasm heap after the case, MiB (wasm backend only). */
  wasmHeapMiB?: number;
  /** Speed relative to PyTorch's: torch median seconds / our median seconds. */
  ratioToTorch?: number;
}

/** Whether a backend loaded, and what it said. */
export interface BackendStatus {
  name: string;
  loaded: boolean;
  reason?: string;
  engine?: string;
  detail?: string;
  threads?: number;
}

/** Everything one run measured. */
export interface BenchReport {
  date: string;
  quick: boolean;
  machine: {
    cpu: string;
    cores: number;
    loadAverageStart: number[];
    loadAverageEnd: number[];
    deno: string;
    tfjs: string;
  };
  cases: BenchCase[];
  backends: BackendStatus[];
  torch: TorchRun;
  results: CaseResult[];
  /** Process peak RSS (VmHWM) at the end, MiB: the largest over all backends. */
  processPeakRssMiB?: number;
}

/** What {@linkcode runBench} needs. */
export interface BenchPlan {
  cases: BenchCase[];
  registries: Registries;
  /** Backend names to try, in order. */
  backends: string[];
  torch: boolean;
  maxStepSeconds: number;
  /** Progress lines (the task prints them; tests stay quiet). */
  log?: (line: string) => void;
}

function readText(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

function loadAverage(): number[] {
  return readText("/proc/loadavg").split(" ").slice(0, 3).map(Number).filter(
    (v) => Number.isFinite(v),
  );
}

function cpuModel(): string {
  const m = readText("/proc/cpuinfo").match(/model name\s*:\s*(.*)/);
  return m ? m[1].trim() : Deno.build.arch;
}

function mib(bytes: number): number {
  return Math.round(bytes / 2 ** 20);
}

/** VmHWM of this process in MiB, where /proc has it. */
function processPeakRss(): number | undefined {
  const m = readText("/proc/self/status").match(/VmHWM:\s*(\d+)\s*kB/);
  return m ? Math.round(Number(m[1]) / 1024) : undefined;
}

function wasmHeap(): number | undefined {
  const backend = tf.backend() as unknown as {
    wasm?: { HEAPU8?: Uint8Array };
  };
  const heap = backend.wasm?.HEAPU8;
  return heap ? mib(heap.byteLength) : undefined;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0];
}

async function timeSteps(
  c: BenchCase,
  step: () => Promise<void>,
  maxStepSeconds: number,
  peak: { rss: number },
): Promise<number[] | string> {
  const seconds: number[] = [];
  for (let i = 0; i < c.warmup + c.repeats; i++) {
    const t0 = performance.now();
    await step();
    const dt = (performance.now() - t0) / 1000;
    peak.rss = Math.max(peak.rss, Deno.memoryUsage().rss);
    if (i === 0 && dt > maxStepSeconds) {
      return `one step took ${
        dt.toFixed(1)
      } s, over --max-step-seconds ${maxStepSeconds}`;
    }
    if (i >= c.warmup) seconds.push(dt);
  }
  return seconds;
}

async function loadBackend(
  registries: Registries,
  name: string,
): Promise<BackendStatus> {
  try {
    const info = await registries.backend.build(name).load();
    return {
      name,
      loaded: true,
      engine: info.engine,
      detail: info.detail,
      threads: info.threads,
    };
  } catch (err) {
    return { name, loaded: false, reason: firstLine(err) };
  }
}

/** Runs every case on every backend that loads, then PyTorch. */
export async function runBench(plan: BenchPlan): Promise<BenchReport> {
  const log = plan.log ?? (() => {});
  const config = resolveConfig({ preset: "base" });
  const report: BenchReport = {
    date: new Date().toISOString(),
    quick: false,
    machine: {
      cpu: cpuModel(),
      cores: navigator.hardwareConcurrency,
      loadAverageStart: loadAverage(),
      loadAverageEnd: [],
      deno: Deno.version.deno,
      tfjs: tf.version.tfjs,
    },
    cases: plan.cases,
    backends: [],
    torch: { available: false, reason: "not run", results: {} },
    results: [],
  };
  for (const name of plan.backends) {
    const status = await loadBackend(plan.registries, name);
    report.backends.push(status);
    if (!status.loaded) {
      log(`backend ${name}: skipped (${status.reason})`);
      continue;
    }
    log(`backend ${name}: ${status.detail ?? status.engine}`);
    // per kind, the slowest seconds-per-cost seen: predicts the cases still to run
    const rate = new Map<string, number>();
    const ordered = [...plan.cases].sort((a, b) => caseCost(a) - caseCost(b));
    for (const c of ordered) {
      const result: CaseResult = { backend: name, case: c.id, status: "ok" };
      const known = rate.get(c.kind);
      const predicted = known === undefined ? 0 : known * caseCost(c);
      if (predicted > plan.maxStepSeconds) {
        result.status = "skipped";
        result.reason = `predicted ${
          predicted.toFixed(0)
        } s a step from a smaller case, over --max-step-seconds ${plan.maxStepSeconds}`;
      } else {
        let prepared;
        const peak = { rss: Deno.memoryUsage().rss };
        try {
          prepared = prepare(c, plan.registries, config);
          const seconds = await timeSteps(
            c,
            () => prepared!.step(),
            plan.maxStepSeconds,
            peak,
          );
          if (typeof seconds === "string") {
            result.status = "skipped";
            result.reason = seconds;
            rate.set(c.kind, Infinity);
          } else {
            result.seconds = spread(seconds);
            if (c.kind !== "mine") {
              result.imagesPerSecond = throughput(c.batch!, seconds);
            }
            rate.set(
              c.kind,
              Math.max(known ?? 0, result.seconds.median / caseCost(c)),
            );
          }
        } catch (err) {
          result.status = "error";
          result.reason = firstLine(err);
        } finally {
          try {
            prepared?.dispose();
          } catch {
            // a case that failed half-built may hold nothing to free
          }
        }
        result.peakRssMiB = mib(peak.rss);
        result.wasmHeapMiB = wasmHeap();
      }
      report.results.push(result);
      log(`  ${c.id}: ${describe(result)}`);
    }
  }
  if (plan.torch) {
    log("pytorch reference ...");
    report.torch = await runTorch(plan.cases);
    for (const r of report.results) {
      const t = report.torch.results[r.case];
      if (r.seconds && t?.seconds && t.seconds.length > 0) {
        r.ratioToTorch = spread(t.seconds).median / r.seconds.median;
      }
    }
    log(
      `pytorch: ${
        report.torch.available ? report.torch.blasNote : report.torch.reason
      }`,
    );
  } else {
    report.torch = { available: false, reason: "--no-torch", results: {} };
  }
  report.machine.loadAverageEnd = loadAverage();
  report.processPeakRssMiB = processPeakRss();
  return report;
}

/** One line about a result, for progress output. */
export function describe(r: CaseResult): string {
  if (r.status !== "ok") return `${r.status}: ${r.reason}`;
  const s = r.imagesPerSecond ?? r.seconds!;
  const unit = r.imagesPerSecond ? "img/s" : "s";
  return `${s.median.toPrecision(3)} ${unit} (${s.min.toPrecision(3)}-${
    s.max.toPrecision(3)
  }), rss ${r.peakRssMiB} MiB`;
}
