/**
 * Training kernels that tfjs-backend-wasm 4.22.0 lacks or runs slowly,
 * built from the wasm backend's own kernels (XNNPACK convolutions,
 * transposes, pads) so that they run on the wasm heap at wasm speed.
 *
 * - `Conv2DBackpropFilter` is missing from wasm, so no conv net trains there.
 *   Here it is a forward convolution of the input (batch and channels
 *   swapped) with the output gradient as the filter, dilated by the stride.
 * - wasm's `Conv2DBackpropInput` is a naive loop (about half of a training
 *   step). Here it is a forward convolution of the zero-stuffed output
 *   gradient with the spatially flipped, in/out-swapped filter.
 * - wasm's `Identity` copies every tensor the engine keeps for backprop;
 *   this one shares the buffer (tensors are immutable, as on the cpu backend).
 * - wasm's `MaxPoolGrad` sends the gradient to the wrong input when every
 *   value in a pooling window is negative (found by tests/backends_test.ts;
 *   ResNet's stem pools after a ReLU, so it was not hit there). This one is a
 *   plain loop that, like the cpu backend, picks the first largest value.
 *
 * Known limits: NHWC only (the wasm backend's only layout) and dilation 1
 * (tfjs's conv2d gradient itself refuses dilated convolutions). The gradient
 * of depthwise convolutions is still missing on wasm; clknn only runs them
 * forward, in augmentations.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

type Shape4 = [number, number, number, number];

/** What these kernels need from tfjs-backend-wasm's `BackendWasm`. */
interface WasmBackendLike extends tf.KernelBackend {
  incRef(dataId: tf.DataId): void;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): tf.TypedArray;
}

/** What tfjs passes a kernel function. */
interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

/** Runs one of the wasm backend's registered kernels directly on TensorInfos. */
function run(
  backend: WasmBackendLike,
  name: string,
  inputs: Record<string, tf.TensorInfo>,
  attrs: Record<string, unknown>,
): tf.TensorInfo {
  const kernel = tf.getKernel(name, "wasm");
  if (!kernel) throw new Error(`wasm kernel ${name} is not registered`);
  return kernel.kernelFunc({
    inputs,
    backend,
    attrs: attrs as tf.NamedAttrMap,
  }) as tf.TensorInfo;
}

/**
 * Returns rows `[from, to)` of axes 1 and 2 of a 4-D tensor, reading zeros
 * outside it: negative pads become slices, so any conv geometry fits.
 * Disposes nothing; the caller owns both input and output.
 */
function window2d(
  backend: WasmBackendLike,
  x: tf.TensorInfo,
  rows: [number, number],
  cols: [number, number],
  temps: tf.TensorInfo[],
): tf.TensorInfo {
  const [n, h, w, c] = x.shape as Shape4;
  const r0 = Math.max(rows[0], 0), r1 = Math.min(rows[1], h);
  const c0 = Math.max(cols[0], 0), c1 = Math.min(cols[1], w);
  let out = x;
  if (r0 !== 0 || c0 !== 0 || r1 !== h || c1 !== w) {
    out = run(backend, "Slice", { x: out }, {
      begin: [0, r0, c0, 0],
      size: [n, r1 - r0, c1 - c0, c],
    });
    temps.push(out);
  }
  const padding = [
    [0, 0],
    [r0 - rows[0], rows[1] - r1],
    [c0 - cols[0], cols[1] - c1],
    [0, 0],
  ];
  if (padding.some(([a, b]) => a !== 0 || b !== 0)) {
    out = run(backend, "PadV2", { x: out }, {
      paddings: padding,
      constantValue: 0,
    });
    temps.push(out);
  }
  return out;
}

function convInfoOf(
  inShape: Shape4,
  filterShape: Shape4,
  attrs: tf.NamedAttrMap,
): tf.backend_util.Conv2DInfo {
  const format = tf.backend_util.convertConv2DDataFormat(
    (attrs.dataFormat as "NHWC" | "NCHW" | undefined) ?? "NHWC",
  );
  if (format !== "channelsLast") {
    throw new Error("clknn's wasm conv gradients support only NHWC tensors");
  }
  return tf.backend_util.computeConv2DInfo(
    inShape,
    filterShape,
    attrs.strides as number | [number, number],
    1,
    attrs.pad as "same" | "valid",
    attrs.dimRoundingMode as "floor" | "round" | "ceil" | undefined,
    false,
    format,
  );
}

/**
 * dW[kh, kw, ci, co] = sum over n, oh, ow of
 * x[n, oh*s + kh - top, ow*s + kw - left, ci] * dy[n, oh, ow, co],
 * computed as conv2d(x^T [Cin, H, W, N], dy^T [Ho, Wo, N, Cout],
 * dilation = stride) -> [Cin, KH, KW, Cout], then transposed back.
 */
function conv2DBackpropFilter(
  args: KernelArgs,
): tf.TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const attrs = args.attrs ?? {};
  const filterShape = attrs.filterShape as Shape4;
  const info = convInfoOf(x.shape as Shape4, filterShape, attrs);
  const { strideHeight: sh, strideWidth: sw } = info;
  const { filterHeight: kh, filterWidth: kw } = info;
  const { outHeight: oh, outWidth: ow } = info;
  const { top, left } = info.padInfo;
  const temps: tf.TensorInfo[] = [];
  try {
    const xT = run(backend, "Transpose", { x }, { perm: [3, 1, 2, 0] });
    temps.push(xT);
    // rows read: -top .. (kh - 1) + (oh - 1) * sh - top, inclusive
    const xW = window2d(
      backend,
      xT,
      [-top, kh + (oh - 1) * sh - top],
      [-left, kw + (ow - 1) * sw - left],
      temps,
    );
    const dyT = run(backend, "Transpose", { x: dy }, { perm: [1, 2, 0, 3] });
    temps.push(dyT);
    const dwT = run(backend, "Conv2D", { x: xW, filter: dyT }, {
      strides: [1, 1],
      pad: "valid",
      dilations: [sh, sw],
      dataFormat: "NHWC",
    });
    temps.push(dwT);
    return run(backend, "Transpose", { x: dwT }, { perm: [1, 2, 0, 3] });
  } finally {
    for (const t of temps) backend.disposeData(t.dataId);
  }
}

/**
 * dx = conv2d(zero-stuffed dy, W flipped in space with in/out channels
 * swapped), stride 1, windowed so the output is exactly the input's shape.
 */
function conv2DBackpropInput(
  args: KernelArgs,
): tf.TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const { dy, filter } = args.inputs as {
    dy: tf.TensorInfo;
    filter: tf.TensorInfo;
  };
  const attrs = args.attrs ?? {};
  const inputShape = attrs.inputShape as Shape4;
  const info = convInfoOf(inputShape, filter.shape as Shape4, attrs);
  const { strideHeight: sh, strideWidth: sw } = info;
  const { filterHeight: kh, filterWidth: kw } = info;
  const { inHeight: h, inWidth: w } = info;
  const { top, left } = info.padInfo;
  const [n, oh, ow, co] = dy.shape as Shape4;
  const temps: tf.TensorInfo[] = [];
  try {
    let stuffed = dy;
    if (sh > 1 || sw > 1) {
      // [N, Ho, 1, Wo, 1, C] padded to [N, Ho, sh, Wo, sw, C]: every value
      // followed by stride-1 zeros along both spatial axes.
      const r = run(backend, "Reshape", { x: dy }, {
        shape: [n, oh, 1, ow, 1, co],
      });
      temps.push(r);
      const p = run(backend, "PadV2", { x: r }, {
        paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]],
        constantValue: 0,
      });
      temps.push(p);
      stuffed = run(backend, "Reshape", { x: p }, {
        shape: [n, oh * sh, ow * sw, co],
      });
      temps.push(stuffed);
    }
    // Output row i reads stuffed rows i - (kh - 1 - top) .. i + top.
    const win = window2d(
      backend,
      stuffed,
      [top - (kh - 1), h + top],
      [left - (kw - 1), w + left],
      temps,
    );
    const flipped = run(backend, "Reverse", { x: filter }, { dims: [0, 1] });
    temps.push(flipped);
    const swapped = run(backend, "Transpose", { x: flipped }, {
      perm: [0, 1, 3, 2],
    });
    temps.push(swapped);
    return run(backend, "Conv2D", { x: win, filter: swapped }, {
      strides: [1, 1],
      pad: "valid",
      dilations: [1, 1],
      dataFormat: "NHWC",
    });
  } finally {
    for (const t of temps) backend.disposeData(t.dataId);
  }
}

/** Shares the input's buffer instead of copying it. */
function identity(
  args: KernelArgs,
): tf.TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const x = args.inputs.x as tf.TensorInfo;
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/**
 * dx[n, r, c, ch] = sum of dy over the windows whose first largest input is
 * x[n, r, c, ch]. Runs in JavaScript on the wasm heap; max pooling appears
 * once per ResNet (the ImageNet stem), so its cost is small next to the
 * convolutions.
 */
function maxPoolGrad(
  args: KernelArgs,
): tf.TensorInfo {
  const backend = args.backend as WasmBackendLike;
  const { dy, input } = args.inputs as {
    dy: tf.TensorInfo;
    input: tf.TensorInfo;
  };
  const attrs = args.attrs ?? {};
  const info = tf.backend_util.computePool2DInfo(
    input.shape as Shape4,
    attrs.filterSize as number | [number, number],
    attrs.strides as number | [number, number],
    1,
    attrs.pad as "same" | "valid" | number,
    attrs.dimRoundingMode as "floor" | "round" | "ceil" | undefined,
  );
  const { batchSize, inHeight: h, inWidth: w, inChannels: ch } = info;
  const { outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw } = info;
  const { filterHeight: fh, filterWidth: fw } = info;
  const { top, left } = info.padInfo;
  // allocate first: a growing heap would detach views taken before
  const out = backend.makeOutput(input.shape, "float32");
  const x = backend.readSync(input.dataId) as Float32Array;
  const g = backend.readSync(dy.dataId) as Float32Array;
  const dx = backend.typedArrayFromHeap(out) as Float32Array;
  dx.fill(0);
  for (let n = 0; n < batchSize; n++) {
    for (let r = 0; r < oh; r++) {
      const r0 = r * sh - top;
      for (let c = 0; c < ow; c++) {
        const c0 = c * sw - left;
        const gBase = ((n * oh + r) * ow + c) * ch;
        for (let k = 0; k < ch; k++) {
          let best = -Infinity, at = -1;
          for (let i = Math.max(r0, 0); i < Math.min(r0 + fh, h); i++) {
            for (let j = Math.max(c0, 0); j < Math.min(c0 + fw, w); j++) {
              const idx = ((n * h + i) * w + j) * ch + k;
              if (x[idx] > best) {
                best = x[idx];
                at = idx;
              }
            }
          }
          if (at >= 0) dx[at] += g[gBase + k];
        }
      }
    }
  }
  return out;
}

/** The kernels this module installs on the wasm backend, by tfjs kernel name. */
export const WASM_KERNELS: Readonly<Record<string, tf.KernelFunc>> = {
  Conv2DBackpropFilter: conv2DBackpropFilter as unknown as tf.KernelFunc,
  Conv2DBackpropInput: conv2DBackpropInput as unknown as tf.KernelFunc,
  Identity: identity as unknown as tf.KernelFunc,
  MaxPoolGrad: maxPoolGrad as unknown as tf.KernelFunc,
};

/**
 * Installs {@linkcode WASM_KERNELS} on the `"wasm"` backend, replacing the
 * stock ones. Idempotent: a second call changes nothing. Returns the names
 * of the kernels it (re)installed.
 */
export function registerWasmKernels(): string[] {
  const installed: string[] = [];
  for (const [name, kernelFunc] of Object.entries(WASM_KERNELS)) {
    const current = tf.getKernel(name, "wasm");
    if (current?.kernelFunc === kernelFunc) continue;
    if (current) tf.unregisterKernel(name, "wasm");
    tf.registerKernel({ kernelName: name, backendName: "wasm", kernelFunc });
    installed.push(name);
  }
  return installed;
}
