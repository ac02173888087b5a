/**
 * The `tensorflow` and `tensorflow-gpu` backends: `@tensorflow/tfjs-node` and
 * `@tensorflow/tfjs-node-gpu` 4.22.0, TensorFlow's C library under tfjs.
 *
 * They are not dependencies of clknn: their npm install script downloads
 * libtensorflow (and for the GPU build needs CUDA 11.2 and cuDNN 8.1 on Linux
 * x86-64), which most machines clknn runs on cannot or need not do. So the
 * package is looked for on disk first, without importing or downloading
 * anything, and imported (from where it was found) only when it is there
 * with its native binding built. Otherwise `load()` throws a one-line
 * BackendError saying what to run.
 *
 * Known limit: clknn's tests only check these failure messages; the backends
 * themselves have not been run where libtensorflow could be downloaded.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { BackendError } from "../../core/errors.ts";
import type { Backend, BackendInfo } from "../../core/interfaces.ts";
import type { PluginDef } from "../../core/registry.ts";

/** The tfjs-node version that matches clknn's tfjs. */
export const TFJS_NODE_VERSION = "4.22.0";

/** The two builds: which npm package, and what the machine needs. */
export type TensorflowVariant = "tensorflow" | "tensorflow-gpu";

const PACKAGE: Record<TensorflowVariant, string> = {
  "tensorflow": "tfjs-node",
  "tensorflow-gpu": "tfjs-node-gpu",
};

const GPU_NEEDS = "CUDA 11.2 and cuDNN 8.1 on Linux x86-64";

/** Where a package was found, and its native binding when it was built. */
export interface TfjsNodeInstall {
  dir: string;
  binding?: string;
}

/**
 * The folders npm packages are installed in, next to clknn's own tfjs:
 * a `node_modules` folder (with Deno's `.deno` store), or Deno's global npm
 * cache.
 */
export function defaultSearchDirs(): string[] {
  let tfjs: string;
  try {
    const url = import.meta.resolve("@tensorflow/tfjs");
    if (!url.startsWith("file:")) return [];
    tfjs = fileURLToPath(url);
  } catch {
    return [];
  }
  const registry = tfjs.indexOf("/registry.npmjs.org/");
  if (registry >= 0) {
    return [tfjs.slice(0, registry + "/registry.npmjs.org".length)];
  }
  // the first node_modules folder is the project's; Deno's .deno store is in it
  const nm = tfjs.indexOf("/node_modules/");
  return nm >= 0 ? [tfjs.slice(0, nm + "/node_modules".length)] : [];
}

function readVersion(dir: string): string | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).version;
  } catch {
    return undefined;
  }
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Finds `@tensorflow/<pkg>@4.22.0` under `searchDirs` by looking at files
 * only: a `node_modules` folder (top level and Deno's `.deno` store) or a
 * registry cache folder (`<dir>/@tensorflow/<pkg>/<version>`). Prefers an
 * install whose `lib/napi-v*\/tfjs_binding.node` exists.
 */
export function findTfjsNode(
  pkg: string,
  searchDirs: readonly string[],
): TfjsNodeInstall | undefined {
  const candidates: string[] = [];
  for (const root of searchDirs) {
    candidates.push(join(root, "@tensorflow", pkg));
    candidates.push(join(root, "@tensorflow", pkg, TFJS_NODE_VERSION));
    const store = join(root, ".deno");
    for (const entry of list(store)) {
      if (entry.startsWith(`@tensorflow+${pkg}@${TFJS_NODE_VERSION}`)) {
        candidates.push(join(store, entry, "node_modules", "@tensorflow", pkg));
      }
    }
  }
  let found: TfjsNodeInstall | undefined;
  for (const dir of candidates) {
    if (readVersion(dir) !== TFJS_NODE_VERSION) continue;
    const lib = join(dir, "lib");
    for (const napi of list(lib).filter((d) => d.startsWith("napi-v"))) {
      const binding = join(lib, napi, "tfjs_binding.node");
      if (existsSync(binding)) return { dir, binding };
    }
    found ??= { dir };
  }
  return found;
}

/** The one-line error for a variant that cannot load, with what to run. */
export function missingMessage(
  variant: TensorflowVariant,
  install: TfjsNodeInstall | undefined,
): string {
  const pkg = `@tensorflow/${PACKAGE[variant]}`;
  const spec = `npm:${pkg}@${TFJS_NODE_VERSION}`;
  const gpu = variant === "tensorflow-gpu" ? `; it needs ${GPU_NEEDS}` : "";
  if (!install) {
    return `${variant} backend: ${pkg}@${TFJS_NODE_VERSION} is not installed; where the network allows, run \`deno install --allow-scripts=npm:${pkg} ${spec}\` (its install script downloads libtensorflow; \`deno approve-scripts\` runs it for a package already added) or \`npm rebuild ${pkg}\` in an npm project${gpu}`;
  }
  return `${variant} backend: ${pkg}@${TFJS_NODE_VERSION} in ${install.dir} has no native binding because its install script never ran (Deno skips install scripts); where the network allows, run \`deno approve-scripts npm:${pkg}\` or \`npm rebuild ${pkg}\`, which downloads libtensorflow${gpu}`;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0];
}

/**
 * A `tensorflow` or `tensorflow-gpu` backend that looks for its package in
 * `searchDirs` (by default next to clknn's tfjs; tests pass their own).
 */
export function tensorflowBackend(
  variant: TensorflowVariant,
  searchDirs: readonly string[] = defaultSearchDirs(),
): Backend {
  return {
    name: variant,
    async load(): Promise<BackendInfo> {
      const pkg = `@tensorflow/${PACKAGE[variant]}`;
      if (
        variant === "tensorflow-gpu" &&
        (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64")
      ) {
        throw new BackendError(
          `tensorflow-gpu backend: ${pkg} runs only with ${GPU_NEEDS}; this machine is ${Deno.build.os} ${Deno.build.arch}: choose native, wasm or webgpu`,
        );
      }
      const install = findTfjsNode(PACKAGE[variant], searchDirs);
      if (!install?.binding) {
        throw new BackendError(missingMessage(variant, install));
      }
      try {
        const manifest = JSON.parse(
          readFileSync(join(install.dir, "package.json"), "utf8"),
        );
        const main = join(install.dir, manifest.main ?? "index.js");
        // imported from the folder that was checked, so nothing is fetched
        await import(pathToFileURL(main).href);
      } catch (err) {
        throw new BackendError(
          `${variant} backend: ${pkg} from ${
            dirname(install.binding)
          } failed to load (${firstLine(err)})${
            variant === "tensorflow-gpu"
              ? `; it needs ${GPU_NEEDS}`
              : `; rebuild it with \`npm rebuild ${pkg}\` where the network allows`
          }`,
        );
      }
      if (!await tf.setBackend("tensorflow")) {
        throw new BackendError(
          `${variant} backend: ${pkg} loaded but its "tensorflow" engine did not start${
            variant === "tensorflow-gpu" ? `; check ${GPU_NEEDS}` : ""
          }`,
        );
      }
      await tf.ready();
      return {
        name: variant,
        engine: "tensorflow",
        detail: `libtensorflow through ${pkg}@${TFJS_NODE_VERSION}`,
      };
    },
  };
}

const schema = {} as const;

/** tfjs-node: TensorFlow's C library on the CPU. */
export const tensorflow: PluginDef<Backend, typeof schema> = {
  name: "tensorflow",
  description:
    "@tensorflow/tfjs-node (libtensorflow, CPU): only when installed with its install script",
  options: schema,
  create: () => tensorflowBackend("tensorflow"),
};

/** tfjs-node-gpu: TensorFlow's C library with CUDA. */
export const tensorflowGpu: PluginDef<Backend, typeof schema> = {
  name: "tensorflow-gpu",
  description:
    `@tensorflow/tfjs-node-gpu (libtensorflow, CUDA): only when installed with its install script; needs ${GPU_NEEDS}`,
  options: schema,
  create: () => tensorflowBackend("tensorflow-gpu"),
};
