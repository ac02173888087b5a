/**
 * The `native` backend: tensors live in host memory as in tfjs's pure-JS cpu
 * backend, but convolutions and matrix products run on OpenBLAS (through
 * Deno's FFI, multithreaded by OpenBLAS), and the ops that dominate a
 * ResNet training step have tight single-pass kernels.
 *
 * Needs `libopenblas0-pthread` (Debian) and `--allow-ffi`. Known limits: the
 * remaining elementwise and reduction kernels are tfjs's single-threaded JS.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import type { KernelFunc } from "@tensorflow/tfjs-core";
import type { Backend, BackendInfo } from "../../core/interfaces.ts";
import type { PluginDef } from "../../core/registry.ts";
import { type Blas, openBlas } from "./native_blas.ts";
import { nativeKernels } from "./native_kernels.ts";
import { fastKernels } from "./native_fast.ts";

/** The tfjs backend name the native backend registers. */
export const NATIVE_ENGINE = "clknn-native";

let registered = false;

/**
 * Registers the `clknn-native` tfjs backend (once per process): every cpu
 * kernel, with the native ones in place of the heavy kernels.
 */
export function registerNativeBackend(blas: Blas): void {
  if (registered) return;
  tf.registerBackend(NATIVE_ENGINE, () => {
    const backend = new MathBackendCPU();
    // the cpu backend's first write prints an advert for tfjs-node; library code stays silent
    (backend as unknown as { firstUse: boolean }).firstUse = false;
    return backend;
  }, 0);
  const cpu = new Map<string, KernelFunc>();
  for (const k of tf.getKernelsForBackend("cpu")) {
    cpu.set(k.kernelName, k.kernelFunc);
  }
  const replaced = [
    ...nativeKernels(blas, NATIVE_ENGINE, cpu),
    ...fastKernels(NATIVE_ENGINE, cpu),
  ];
  const own = new Set(replaced.map((k) => k.kernelName));
  for (const k of tf.getKernelsForBackend("cpu")) {
    if (!own.has(k.kernelName)) {
      tf.registerKernel({ ...k, backendName: NATIVE_ENGINE });
    }
  }
  for (const k of replaced) tf.registerKernel(k);
  registered = true;
}

const schema = {} as const;

/** Loads OpenBLAS, registers `clknn-native` and makes it tfjs's backend. */
export const native: PluginDef<Backend, typeof schema> = {
  name: "native",
  description:
    "host-memory tensors with OpenBLAS convolutions and matrix products (needs libopenblas0-pthread)",
  options: schema,
  create(): Backend {
    return {
      name: "native",
      async load(): Promise<BackendInfo> {
        const blas = openBlas();
        registerNativeBackend(blas);
        await tf.setBackend(NATIVE_ENGINE);
        await tf.ready();
        return {
          name: "native",
          engine: NATIVE_ENGINE,
          threads: blas.threads,
          detail: `OpenBLAS ${blas.library}${
            blas.threads ? `, ${blas.threads} threads` : ""
          }`,
        };
      },
    };
  },
};
