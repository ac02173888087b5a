/**
 * The `webgpu` backend: `@tensorflow/tfjs-backend-webgpu` on Deno's WebGPU
 * (`navigator.gpu`, behind `--unstable-webgpu`, which the `train`, `cluster`,
 * `ablation`, `bench` and `test` tasks pass).
 *
 * On a machine without a GPU, Mesa's software Vulkan device
 * (`mesa-vulkan-drivers`, llvmpipe) answers instead; it computes the same
 * numbers but more slowly than the wasm or native backends, so `auto` never
 * picks webgpu and this backend says so in its `detail` when the adapter is
 * a fallback one. The package is imported only when this backend loads.
 *
 * What works: `deno task train` and `deno task cluster` end to end, since the
 * pipeline reads every tensor with `await tensor.data()` (a tiny 60-image run
 * matched cpu's step losses to 1e-4 on Mesa's software device, see
 * tests/webgpu_train_test.ts), and `deno task bench`.
 *
 * Known limits: tfjs-backend-webgpu reads GPU results synchronously
 * (`dataSync`, `arraySync`) through a 2D canvas, which Deno does not have, so
 * such a read stops with a one-line error ({@linkcode WEBGPU_NO_SYNC_READ});
 * only third-party plugins, or scripts, that read that way meet it. On the
 * software device one forward and backward pass of a width-32 small convnet
 * over 20 images took about 3 s. Checked for correctness on Mesa's software
 * device only; not run or timed on a real GPU.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BackendError } from "../../core/errors.ts";
import type { Backend, BackendInfo } from "../../core/interfaces.ts";
import type { PluginDef } from "../../core/registry.ts";

/** The message when Deno was started without WebGPU. */
export const WEBGPU_FLAG_MISSING =
  "webgpu backend needs Deno's WebGPU: run deno with --unstable-webgpu (the train, cluster, ablation, bench and test tasks pass it)";

/** The message when WebGPU is there but no device answers. */
export const WEBGPU_NO_ADAPTER =
  "webgpu backend found no GPU adapter: install your GPU's Vulkan driver, or Mesa's software one with `apt-get install mesa-vulkan-drivers`";

/** The message when something reads a GPU result synchronously. */
export const WEBGPU_NO_SYNC_READ =
  "webgpu backend cannot read a GPU result synchronously under Deno (tfjs-backend-webgpu does it through a 2D canvas, which Deno lacks): read it with `await tensor.data()` instead of dataSync/arraySync, or run that code on native or wasm";

/** The part of tfjs-backend-webgpu's backend that synchronous reads go through. */
interface WebGPUBackendLike {
  tensorMap: { get(id: tf.DataId): { values?: unknown } | undefined };
  readSync(id: tf.DataId): tf.backend_util.BackendValues;
}

/**
 * Makes a synchronous read of GPU-resident data throw a BackendError at once
 * instead of a TypeError from inside the canvas path; values still on the
 * CPU side are read as before.
 */
function refuseSyncGpuReads(backend: WebGPUBackendLike): void {
  const read = backend.readSync.bind(backend);
  backend.readSync = (id) => {
    if (backend.tensorMap.get(id)?.values == null) {
      throw new BackendError(WEBGPU_NO_SYNC_READ);
    }
    return read(id);
  };
}

/** What the backend needs from `navigator.gpu`, so tests can pass their own. */
export interface GpuLike {
  requestAdapter(): Promise<
    {
      info?: { description?: string; isFallbackAdapter?: boolean };
    } | null
  >;
}

/**
 * Mesa's Vulkan loader warns on stderr when XDG_RUNTIME_DIR is unset; a
 * private folder of this user's (one, reused by every run) quiets it.
 * Skipped without env or write permission: only a warning is at stake.
 */
async function quietMesa(): Promise<void> {
  try {
    if (Deno.env.get("XDG_RUNTIME_DIR")) return;
    const uid = Deno.uid();
    if (uid === null) return;
    const dir = join(tmpdir(), `clknn-runtime-${uid}`);
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const stat = await Deno.stat(dir);
    // a folder someone else made under that name is not ours to use
    if (stat.uid !== uid || ((stat.mode ?? 0) & 0o077) !== 0) return;
    Deno.env.set("XDG_RUNTIME_DIR", dir);
  } catch {
    // only a warning is at stake
  }
}

/** The navigator's WebGPU entry point, when this Deno has one. */
function navigatorGpu(): GpuLike | undefined {
  return (navigator as unknown as { gpu?: GpuLike }).gpu;
}

/** A webgpu backend that asks `gpu()` for its adapter (tests pass a fake). */
export function webgpuBackend(
  gpu: () => GpuLike | undefined = navigatorGpu,
): Backend {
  return {
    name: "webgpu",
    async load(): Promise<BackendInfo> {
      const entry = gpu();
      if (!entry) throw new BackendError(WEBGPU_FLAG_MISSING);
      await quietMesa();
      const adapter = await entry.requestAdapter();
      if (!adapter) throw new BackendError(WEBGPU_NO_ADAPTER);
      await import("@tensorflow/tfjs-backend-webgpu");
      if (!await tf.setBackend("webgpu")) {
        throw new BackendError(
          `webgpu backend: tfjs-backend-webgpu did not start on the adapter "${
            adapter.info?.description ?? "unknown"
          }"; choose native or wasm`,
        );
      }
      await tf.ready();
      refuseSyncGpuReads(tf.backend() as unknown as WebGPUBackendLike);
      const what = adapter.info?.description || "unnamed adapter";
      return {
        name: "webgpu",
        engine: "webgpu",
        detail: adapter.info?.isFallbackAdapter
          ? `${what}, a software fallback: expect it to be slower than wasm or native`
          : what,
      };
    },
  };
}

const schema = {} as const;

/** tfjs-backend-webgpu on Deno's WebGPU. */
export const webgpu: PluginDef<Backend, typeof schema> = {
  name: "webgpu",
  description:
    "tfjs-backend-webgpu on Deno's WebGPU (--unstable-webgpu; a GPU or mesa-vulkan-drivers)",
  options: schema,
  create: () => webgpuBackend(),
};
