/**
 * The `native` backend: tensors live in host memory as in tfjs's pure-JS cpu
 * backend, but convolutions run on oneDNN (when Debian's `libdnnl2` is
 * installed) or OpenBLAS im2col, matrix products on OpenBLAS (all through
 * Deno's FFI, multithreaded by the libraries), and the ops that dominate a
 * ResNet training step have tight single-pass kernels writing into recycled
 * buffers.
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
import { type Dnnl, DNNL_MISSING, openDnnl } from "./native_dnnl.ts";
import { nativeKernels } from "./native_kernels.ts";
import { fastKernels, RELU_GRAD_KERNEL } from "./native_fast.ts";
import { normKernels } from "./native_norm.ts";
import { pool } from "./native_pool.ts";

/** The tfjs backend name the native backend registers. */
export const NATIVE_ENGINE = "clknn-native";

let registered = false;

/** Where the registered kernels send convolutions: oneDNN when set, else OpenBLAS. */
const convEngine: { dnnl?: Dnnl; available?: Dnnl } = {};

/**
 * Sends the native backend's convolutions to oneDNN (`true`, the default
 * when libdnnl2 is installed) or to OpenBLAS im2col (`false`); returns
 * whether oneDNN is now in use (false when it is not installed).
 */
export function useOneDnn(on: boolean): boolean {
  convEngine.dnnl = on ? convEngine.available : undefined;
  return convEngine.dnnl !== undefined;
}

type DataId = object;
type Values = Float32Array | Int32Array | Uint8Array | Uint8Array[];

/**
 * The cpu backend with recycled kernel outputs (see native_pool.ts): every
 * tensor that stores a pooled buffer is counted, a buffer goes back to the
 * pool when its last tensor is disposed, and reads from outside the kernels
 * get a copy so they never alias memory that will be reused.
 */
class NativeBackend extends MathBackendCPU {
  override write(values: Values, shape: number[], dtype: tf.DataType): DataId {
    const id = super.write(values as never, shape, dtype);
    if (values instanceof Float32Array) pool.hold(values);
    return id;
  }

  override move(
    dataId: DataId,
    values: Values,
    shape: number[],
    dtype: tf.DataType,
    refCount: number,
  ): void {
    super.move(dataId, values as never, shape, dtype, refCount);
    if (values instanceof Float32Array) pool.hold(values);
  }

  override disposeData(dataId: DataId, force = false): boolean {
    const values = this.data.has(dataId)
      ? this.data.get(dataId).values
      : undefined;
    const done = super.disposeData(dataId, force);
    if (values instanceof Float32Array && !this.data.has(dataId)) {
      pool.release(values);
    }
    return done;
  }

  override readSync(dataId: DataId): tf.backend_util.BackendValues {
    const v = super.readSync(dataId);
    // a reader may keep the array after the tensor is gone: never hand out pooled memory
    return v instanceof Float32Array && pool.owns(v) ? v.slice() : v;
  }

  // kernels read their inputs through bufferSync while the tensors are alive: no copy needed
  override bufferSync<R extends tf.Rank, D extends tf.DataType>(
    t: tf.TensorInfo,
  ): tf.TensorBuffer<R, D> {
    const { values } = this.data.get(t.dataId);
    if (t.dtype === "float32" && values instanceof Float32Array) {
      return tf.buffer(t.shape, "float32", values) as never;
    }
    return super.bufferSync(t);
  }
}

/**
 * Registers the `clknn-native` tfjs backend (once per process): every cpu
 * kernel, with the native ones in place of the heavy kernels.
 */
export function registerNativeBackend(blas: Blas, dnnl?: Dnnl): void {
  if (registered) return;
  convEngine.dnnl = convEngine.available = dnnl;
  tf.registerBackend(NATIVE_ENGINE, () => {
    const backend = new NativeBackend();
    // the cpu backend's first write prints an advert for tfjs-node; library code stays silent
    (backend as unknown as { firstUse: boolean }).firstUse = false;
    return backend;
  }, 0);
  const cpu = new Map<string, KernelFunc>();
  for (const k of tf.getKernelsForBackend("cpu")) {
    cpu.set(k.kernelName, k.kernelFunc);
  }
  const replaced = [
    ...nativeKernels(blas, NATIVE_ENGINE, cpu, convEngine),
    ...fastKernels(NATIVE_ENGINE, cpu),
    ...normKernels(NATIVE_ENGINE),
  ];
  const own = new Set(replaced.map((k) => k.kernelName));
  for (const k of tf.getKernelsForBackend("cpu")) {
    if (!own.has(k.kernelName)) {
      tf.registerKernel({ ...k, backendName: NATIVE_ENGINE });
    }
  }
  for (const k of replaced) tf.registerKernel(k);
  registerReluGradient();
  registered = true;
}

/**
 * Replaces tfjs's ReLU gradient (global to every backend) with one that
 * runs {@linkcode RELU_GRAD_KERNEL} where the backend has it and float32
 * tensors flow, and tfjs's own `dy * step(x)` everywhere else.
 */
function registerReluGradient(): void {
  tf.registerGradient({
    kernelName: "Relu",
    inputsToSave: ["x"],
    gradFunc: (dy, saved) => {
      const [x] = saved;
      const g = dy as tf.Tensor;
      return {
        x: () =>
          g.dtype === "float32" && x.dtype === "float32" &&
            tf.getKernel(RELU_GRAD_KERNEL, tf.getBackend()) !== undefined
            ? tf.engine().runKernel(RELU_GRAD_KERNEL, { dy: g, x }) as tf.Tensor
            : tf.mul(g, tf.cast(tf.step(x), "float32")),
      };
    },
  });
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
        registerNativeBackend(blas, openDnnl());
        await tf.setBackend(NATIVE_ENGINE);
        await tf.ready();
        return {
          name: "native",
          engine: NATIVE_ENGINE,
          threads: blas.threads,
          detail: `OpenBLAS ${blas.library}${
            blas.threads ? `, ${blas.threads} threads` : ""
          }; ${
            convEngine.available
              ? "convolutions on oneDNN libdnnl.so.2"
              : DNNL_MISSING
          }`,
        };
      },
    };
  },
};
