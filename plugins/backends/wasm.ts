/**
 * The `wasm` backend: `@tensorflow/tfjs-backend-wasm` (XNNPACK kernels, SIMD)
 * plus clknn's training kernels from `wasm_kernels.ts`, without which conv
 * nets do not train on wasm at all.
 *
 * Threads: the package sees Node compatibility in Deno and so always loads
 * its single-threaded build. This plugin loads the threaded build itself:
 * Deno's `node:worker_threads` cannot start a worker from the `blob:` URL the
 * package would make, so the worker script goes to a temporary `.cjs` file
 * (removed once the workers have started); the C++ side allows at most half
 * the logical cores it is told about, so it is told twice the count asked
 * for. When the threaded build cannot start, the backend falls back to one
 * thread and says why in its `detail`.
 *
 * Known limits: the wasm heap stops at 4 GiB; the threaded build starts a
 * fixed pool of 8 workers (about 115 MB more resident memory, measured), so
 * at most 8 threads; the thread count is fixed by the first load in a
 * process; Mean, Transpose, Gather, Slice and Reverse run on one thread
 * whatever the count.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { BackendWasm, setThreadsCount } from "@tensorflow/tfjs-backend-wasm";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { BackendError } from "../../core/errors.ts";
import type { Backend, BackendInfo } from "../../core/interfaces.ts";
import type { PluginDef } from "../../core/registry.ts";
import { registerWasmKernels } from "./wasm_kernels.ts";

/** Workers the threaded build starts at once: more threads would need more. */
export const WASM_MAX_THREADS = 8;

const schema = {
  threads: {
    type: "number",
    default: 0,
    integer: true,
    min: 0,
    max: WASM_MAX_THREADS,
    doc:
      `compute threads (0 = one per logical core, at most ${WASM_MAX_THREADS})`,
  },
} as const;

/** What a process's wasm module ended up with. */
interface WasmState {
  simd: boolean;
  threads: number;
  /** Why the threaded build was not used, when it was asked for and not used. */
  fallback?: string;
}

let state: Promise<WasmState> | undefined;

/** How long the threaded build may take to start its workers. */
const START_TIMEOUT_MS = 30_000;

/** The part of an Emscripten module tfjs's `BackendWasm` expects. */
interface EmscriptenModule {
  cwrap(name: string, ret: string | null, args: string[]): unknown;
  tfjs?: Record<string, unknown>;
  PThread?: { runningWorkers: { unref(): void }[] };
}

type Factory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;

/** Starts the threaded SIMD build with `threads` threads. */
async function startThreaded(threads: number): Promise<EmscriptenModule> {
  const main = import.meta.resolve("@tensorflow/tfjs-backend-wasm");
  if (!main.startsWith("file:")) {
    throw new Error(`the package is not in a local folder (${main})`);
  }
  const out = new URL("../wasm-out/", main);
  const file = (name: string) => fileURLToPath(new URL(name, out));
  const require = createRequire(main);
  const script = file("tfjs-backend-wasm-threaded-simd.js");
  const factory = require(script) as Factory;
  const { wasmWorkerContents } = require(
    file("tfjs-backend-wasm-threaded-simd.worker.js"),
  ) as { wasmWorkerContents: string };
  const binary = await Deno.readFile(
    file("tfjs-backend-wasm-threaded-simd.wasm"),
  );
  const workerFile = await Deno.makeTempFile({
    prefix: "clknn-wasm-worker-",
    suffix: ".cjs",
  });
  // The script assigns `location`, a getter-only property in Deno's worker
  // scope; redefining it first keeps that assignment from throwing. Its
  // string literals hold raw newlines that must stay escaped in a file.
  await Deno.writeTextFile(
    workerFile,
    'Object.defineProperty(globalThis, "location", { value: { href: __filename }, writable: true, configurable: true });\n' +
      wasmWorkerContents.replace(/\n/g, "\\n"),
  );
  // In Node mode the build replaces the global Worker with node's; Deno's own
  // is put back once the pool exists (the dashboard's UMAP worker needs it).
  const webWorker = globalThis.Worker;
  try {
    const { module } = await new Promise<{ module: EmscriptenModule }>(
      (resolve, reject) => {
        const config: Record<string, unknown> = {
          locateFile: (path: string) =>
            path.endsWith(".worker.js") ? workerFile : file(path),
          // the workers evaluate this file to get the module's code
          mainScriptUrlOrBlob: script,
          instantiateWasm(
            imports: { env: Record<string, unknown> },
            receive: (i: WebAssembly.Instance, m: WebAssembly.Module) => void,
          ) {
            // the C++ side uses at most half the cores it is told about
            imports.env.emscripten_num_logical_cores = () => 2 * threads;
            WebAssembly.instantiate(binary, imports as WebAssembly.Imports)
              .then((r) => receive(r.instance, r.module), reject);
            return {};
          },
          onAbort: (what: unknown) => reject(new Error(`aborted: ${what}`)),
        };
        const started = factory(config);
        globalThis.Worker = webWorker;
        // workers that never report back would otherwise hang the load
        const timer = setTimeout(() => {
          (config.PThread as { terminateAllThreads?(): void } | undefined)
            ?.terminateAllThreads?.();
          reject(new Error(`workers not ready after ${START_TIMEOUT_MS} ms`));
        }, START_TIMEOUT_MS);
        started.finally(() => clearTimeout(timer));
        // wrapped so that a thenable module is not awaited again
        started.then((module) => resolve({ module }), reject);
      },
    );
    return module;
  } finally {
    globalThis.Worker = webWorker;
    await Deno.remove(workerFile).catch(() => {});
  }
}

/** The bridge tfjs's own loader adds to the module before `BackendWasm` uses it. */
function addBridge(module: EmscriptenModule): void {
  module.tfjs = {
    init: module.cwrap("init", null, []),
    initWithThreadsCount: module.cwrap("init_with_threads_count", null, [
      "number",
    ]),
    getThreadsCount: module.cwrap("get_threads_count", "number", []),
    registerTensor: module.cwrap("register_tensor", null, [
      "number",
      "number",
      "number",
    ]),
    disposeData: module.cwrap("dispose_data", null, ["number"]),
    dispose: module.cwrap("dispose", null, []),
  };
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0];
}

async function initialise(threads: number): Promise<WasmState> {
  const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT") as boolean;
  let fallback: string | undefined;
  if (threads > 1 && !simd) {
    fallback = "the threaded build needs WebAssembly SIMD";
  } else if (threads > 1 && tf.findBackend("wasm")) {
    // replacing a started backend would drop the tensors living on it
    fallback = "the single-threaded build was already started in this process";
  } else if (threads > 1) {
    try {
      const module = await startThreaded(threads);
      addBridge(module);
      setThreadsCount(threads);
      tf.removeBackend("wasm");
      tf.registerBackend("wasm", () => {
        const backend = new BackendWasm(module as never);
        // The pool's threads have started by now and wait for work forever;
        // Emscripten holds the process open while a thread runs, so without
        // this a finished run would never exit.
        for (const worker of module.PThread?.runningWorkers ?? []) {
          worker.unref();
        }
        return backend;
      }, 2);
    } catch (err) {
      fallback = `threaded build failed: ${firstLine(err)}`;
    }
  }
  registerWasmKernels();
  if (!await tf.setBackend("wasm")) {
    throw new BackendError(
      "wasm backend failed to initialise: reinstall npm:@tensorflow/tfjs-backend-wasm with `deno install`",
    );
  }
  const started = tf.backend() as unknown as {
    wasm: { tfjs: { getThreadsCount(): number } };
  };
  return { simd, threads: started.wasm.tfjs.getThreadsCount(), fallback };
}

/** tfjs-backend-wasm with SIMD, clknn's training kernels and worker threads. */
export const wasm: PluginDef<Backend, typeof schema> = {
  name: "wasm",
  description:
    "tfjs-backend-wasm (XNNPACK, SIMD, threads) with clknn's training kernels: needs nothing installed",
  options: schema,
  create(options): Backend {
    const wanted = options.threads === 0
      ? Math.min(navigator.hardwareConcurrency || 1, WASM_MAX_THREADS)
      : options.threads;
    return {
      name: "wasm",
      async load(): Promise<BackendInfo> {
        // the first load in a process fixes the module and its threads
        state ??= initialise(wanted);
        let s;
        try {
          s = await state;
        } catch (err) {
          state = undefined;
          throw err;
        }
        if (tf.getBackend() !== "wasm") await tf.setBackend("wasm");
        await tf.ready();
        const notes = [
          `SIMD ${s.simd ? "on" : "off"}`,
          `${s.threads} thread${s.threads === 1 ? "" : "s"}`,
        ];
        if (s.fallback) notes.push(`${wanted} asked for; ${s.fallback}`);
        else if (s.threads !== wanted) {
          notes.push(`${wanted} asked for; fixed by the first load`);
        }
        return {
          name: "wasm",
          engine: "wasm",
          threads: s.threads,
          detail: notes.join(", "),
        };
      },
    };
  },
};
