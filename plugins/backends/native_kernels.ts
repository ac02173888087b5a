/**
 * The heavy tfjs kernels of the `native` backend: convolutions as im2col +
 * OpenBLAS `sgemm` on NHWC data, and batched matrix products straight on
 * `sgemm`. Everything else runs on the pure-JS cpu kernels, which see the
 * same host-memory tensors.
 *
 * Known limits: NCHW convolutions, dilated backprop, and matrix products
 * whose batch dimensions broadcast other than "equal or one of them 1" fall
 * back to the (slow) cpu kernels; so do non-float32 inputs.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type {
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  TensorInfo,
} from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import type { Blas } from "./native_blas.ts";
import type { ConvShape, Dnnl } from "./native_dnnl.ts";
import { pool } from "./native_pool.ts";

type ConvInfo = tf.backend_util.Conv2DInfo;
type Inputs = Record<string, TensorInfo | undefined>;
type Args = { inputs: Inputs; backend: MathBackendCPU; attrs?: NamedAttrMap };

/** im2col blocks hold about this many floats (16 MiB), so they stay cache-friendly and small. */
const COL_BLOCK = 4 << 20;

let scratch = new Float32Array(0);
function scratchOf(n: number): Float32Array {
  if (scratch.length < n) scratch = new Float32Array(n);
  return scratch;
}

/** The float32 values behind a tensor, or undefined when it is not float32. */
function f32(backend: MathBackendCPU, t: TensorInfo): Float32Array | undefined {
  if (t.dtype !== "float32") return undefined;
  const v = backend.data.get(t.dataId).values;
  return v instanceof Float32Array ? v : undefined;
}

function out(
  backend: MathBackendCPU,
  shape: number[],
  values: Float32Array,
): TensorInfo {
  return backend.makeTensorInfo(shape, "float32", values);
}

/**
 * Copies the receptive fields of images `b0 .. b0+nb-1` of NHWC `x` into
 * `col` as rows of `KH*KW*C` values (zeros where the window hangs over the
 * padding), in the order of the `[KH, KW, C, N]` filter.
 */
export function im2col(
  x: Float32Array,
  ci: ConvInfo,
  b0: number,
  nb: number,
  col: Float32Array,
): void {
  const H = ci.inHeight, W = ci.inWidth, C = ci.inChannels;
  const OH = ci.outHeight, OW = ci.outWidth;
  const KH = ci.filterHeight, KW = ci.filterWidth;
  const SH = ci.strideHeight, SW = ci.strideWidth;
  const DH = ci.dilationHeight, DW = ci.dilationWidth;
  const pt = ci.padInfo.top, pl = ci.padInfo.left;
  const rowLen = KW * C;
  let o = 0;
  for (let b = b0; b < b0 + nb; b++) {
    const xb = b * H * W * C;
    for (let oy = 0; oy < OH; oy++) {
      const iy0 = oy * SH - pt;
      for (let ox = 0; ox < OW; ox++) {
        const ix0 = ox * SW - pl;
        for (let ky = 0; ky < KH; ky++) {
          const iy = iy0 + ky * DH;
          if (iy < 0 || iy >= H) {
            col.fill(0, o, o + rowLen);
            o += rowLen;
            continue;
          }
          const xr = xb + iy * W * C;
          if (DW === 1 && ix0 >= 0 && ix0 + KW <= W) {
            // the whole filter row is one contiguous run of the input row
            const s = xr + ix0 * C;
            if (rowLen >= 64) col.set(x.subarray(s, s + rowLen), o);
            else for (let i = 0; i < rowLen; i++) col[o + i] = x[s + i];
            o += rowLen;
            continue;
          }
          for (let kx = 0; kx < KW; kx++) {
            const ix = ix0 + kx * DW;
            if (ix < 0 || ix >= W) {
              for (let c = 0; c < C; c++) col[o + c] = 0;
            } else {
              const s = xr + ix * C;
              for (let c = 0; c < C; c++) col[o + c] = x[s + c];
            }
            o += C;
          }
        }
      }
    }
  }
}

/** The adjoint of {@linkcode im2col}: adds each column row back onto `dx`. */
export function col2imAdd(
  col: Float32Array,
  ci: ConvInfo,
  b0: number,
  nb: number,
  dx: Float32Array,
): void {
  const H = ci.inHeight, W = ci.inWidth, C = ci.inChannels;
  const OH = ci.outHeight, OW = ci.outWidth;
  const KH = ci.filterHeight, KW = ci.filterWidth;
  const SH = ci.strideHeight, SW = ci.strideWidth;
  const DH = ci.dilationHeight, DW = ci.dilationWidth;
  const pt = ci.padInfo.top, pl = ci.padInfo.left;
  const rowLen = KW * C;
  let o = 0;
  for (let b = b0; b < b0 + nb; b++) {
    const xb = b * H * W * C;
    for (let oy = 0; oy < OH; oy++) {
      const iy0 = oy * SH - pt;
      for (let ox = 0; ox < OW; ox++) {
        const ix0 = ox * SW - pl;
        for (let ky = 0; ky < KH; ky++) {
          const iy = iy0 + ky * DH;
          if (iy < 0 || iy >= H) {
            o += rowLen;
            continue;
          }
          const xr = xb + iy * W * C;
          if (DW === 1 && ix0 >= 0 && ix0 + KW <= W) {
            const s = xr + ix0 * C;
            for (let i = 0; i < rowLen; i++) dx[s + i] += col[o + i];
            o += rowLen;
            continue;
          }
          for (let kx = 0; kx < KW; kx++) {
            const ix = ix0 + kx * DW;
            if (ix >= 0 && ix < W) {
              const s = xr + ix * C;
              for (let c = 0; c < C; c++) dx[s + c] += col[o + c];
            }
            o += C;
          }
        }
      }
    }
  }
}

function isPointwise(ci: ConvInfo): boolean {
  return ci.filterHeight === 1 && ci.filterWidth === 1 &&
    ci.strideHeight === 1 && ci.strideWidth === 1 &&
    ci.padInfo.top === 0 && ci.padInfo.left === 0;
}

/** Images per im2col block. */
function blockImages(ci: ConvInfo): number {
  const perImage = ci.outHeight * ci.outWidth * ci.filterHeight *
    ci.filterWidth * ci.inChannels;
  return Math.max(1, Math.min(ci.batchSize, Math.floor(COL_BLOCK / perImage)));
}

/** The oneDNN view of an undilated convolution, or undefined for a dilated one. */
function dnnlShape(ci: ConvInfo): ConvShape | undefined {
  if (ci.dilationHeight !== 1 || ci.dilationWidth !== 1) return undefined;
  return {
    batch: ci.batchSize,
    inHeight: ci.inHeight,
    inWidth: ci.inWidth,
    inChannels: ci.inChannels,
    outHeight: ci.outHeight,
    outWidth: ci.outWidth,
    outChannels: ci.outChannels,
    filterHeight: ci.filterHeight,
    filterWidth: ci.filterWidth,
    strideHeight: ci.strideHeight,
    strideWidth: ci.strideWidth,
    padTop: ci.padInfo.top,
    padLeft: ci.padInfo.left,
    padBottom: ci.padInfo.bottom,
    padRight: ci.padInfo.right,
  };
}

/**
 * NHWC convolution `y = x * w` for filter `[KH, KW, C, N]`: on oneDNN when
 * given and the convolution is undilated, else im2col + OpenBLAS.
 */
export function conv2dForward(
  blas: Blas,
  x: Float32Array,
  w: Float32Array,
  ci: ConvInfo,
  dnnl?: Dnnl,
): Float32Array {
  const N = ci.outChannels;
  const P = ci.outHeight * ci.outWidth;
  const K = ci.filterHeight * ci.filterWidth * ci.inChannels;
  const y = pool.take(ci.batchSize * P * N);
  const shape = dnnl && dnnlShape(ci);
  if (shape) {
    dnnl!.forward(shape, x, w, y);
    return y;
  }
  if (isPointwise(ci)) {
    blas.sgemm(false, false, ci.batchSize * P, N, K, 1, x, K, w, N, 0, y, N);
    return y;
  }
  const per = blockImages(ci);
  for (let b0 = 0; b0 < ci.batchSize; b0 += per) {
    const nb = Math.min(per, ci.batchSize - b0);
    const col = scratchOf(nb * P * K);
    im2col(x, ci, b0, nb, col);
    blas.sgemm(
      false,
      false,
      nb * P,
      N,
      K,
      1,
      col,
      K,
      w,
      N,
      0,
      y.subarray(b0 * P * N),
      N,
    );
  }
  return y;
}

/**
 * Largest input-to-output area ratio at which the input gradient runs as a
 * flipped convolution: measured on ResNet-18's maps, 34x34 from 32x32 (1.13)
 * was 1.75x faster than col2im, 6x6 from 4x4 (2.25) 2.2x slower.
 */
const MAX_TRANSPOSED_EXTRA = 1.2;

/**
 * For a stride-1, undilated convolution: the forward convolution whose
 * output is the input gradient, reading `dy` with the spatially flipped,
 * in/out-swapped filter and the complementary padding.
 */
function transposedInfo(ci: ConvInfo): ConvInfo | undefined {
  if (
    ci.strideHeight !== 1 || ci.strideWidth !== 1 ||
    ci.dilationHeight !== 1 || ci.dilationWidth !== 1
  ) return undefined;
  const KH = ci.filterHeight, KW = ci.filterWidth;
  const p = ci.padInfo;
  const pads = [
    KH - 1 - p.top,
    KH - 1 - p.bottom,
    KW - 1 - p.left,
    KW - 1 - p.right,
  ];
  if (pads.some((v) => v < 0)) return undefined;
  const t = tf.backend_util.computeConv2DInfo(
    [ci.batchSize, ci.outHeight, ci.outWidth, ci.outChannels],
    [KH, KW, ci.outChannels, ci.inChannels],
    1,
    1,
    [[0, 0], [pads[0], pads[1]], [pads[2], pads[3]], [0, 0]],
    undefined,
    false,
    "channelsLast",
  );
  if (t.outHeight !== ci.inHeight || t.outWidth !== ci.inWidth) {
    return undefined;
  }
  // the flipped convolution also computes the gradient of the input's padding
  // border: on small images (ResNet pads 4x4 maps to 6x6) that multiplies the
  // GEMM's work by up to 2.25, more than col2im costs
  const extra = (ci.inHeight * ci.inWidth) / (ci.outHeight * ci.outWidth);
  return extra <= MAX_TRANSPOSED_EXTRA ? t : undefined;
}

/** `[KH, KW, C, N]` filter to `[KH, KW, N, C]`, flipped in both spatial axes. */
function flipSwap(w: Float32Array, ci: ConvInfo): Float32Array {
  const KH = ci.filterHeight, KW = ci.filterWidth;
  const C = ci.inChannels, N = ci.outChannels;
  const out = pool.take(w.length);
  for (let ky = 0; ky < KH; ky++) {
    for (let kx = 0; kx < KW; kx++) {
      const src = (ky * KW + kx) * C * N;
      const dst = ((KH - 1 - ky) * KW + (KW - 1 - kx)) * N * C;
      for (let c = 0; c < C; c++) {
        for (let n = 0; n < N; n++) out[dst + n * C + c] = w[src + c * N + n];
      }
    }
  }
  return out;
}

/**
 * The gradient of {@linkcode conv2dForward} with respect to `x`. Stride-1
 * convolutions run it as a forward convolution of `dy` (an im2col copy and
 * one GEMM); strided ones scatter-add the GEMM's columns back (col2im),
 * which reads and writes `dx` once per filter tap.
 */
export function conv2dBackpropInput(
  blas: Blas,
  dy: Float32Array,
  w: Float32Array,
  ci: ConvInfo,
  dnnl?: Dnnl,
): Float32Array {
  const N = ci.outChannels;
  const P = ci.outHeight * ci.outWidth;
  const K = ci.filterHeight * ci.filterWidth * ci.inChannels;
  const shape = dnnl && dnnlShape(ci);
  if (shape) {
    const dx = pool.take(
      ci.batchSize * ci.inHeight * ci.inWidth * ci.inChannels,
    );
    dnnl!.backwardData(shape, dy, w, dx);
    return dx;
  }
  const t = isPointwise(ci) ? undefined : transposedInfo(ci);
  if (t) {
    const wt = flipSwap(w, ci);
    const dx = conv2dForward(blas, dy, wt, t);
    pool.give(wt);
    return dx;
  }
  const dx = pool.zeros(
    ci.batchSize * ci.inHeight * ci.inWidth * ci.inChannels,
  );
  if (isPointwise(ci)) {
    blas.sgemm(false, true, ci.batchSize * P, K, N, 1, dy, N, w, N, 0, dx, K);
    return dx;
  }
  const per = blockImages(ci);
  for (let b0 = 0; b0 < ci.batchSize; b0 += per) {
    const nb = Math.min(per, ci.batchSize - b0);
    const col = scratchOf(nb * P * K);
    blas.sgemm(
      false,
      true,
      nb * P,
      K,
      N,
      1,
      dy.subarray(b0 * P * N),
      N,
      w,
      N,
      0,
      col,
      K,
    );
    col2imAdd(col, ci, b0, nb, dx);
  }
  return dx;
}

/** The gradient of {@linkcode conv2dForward} with respect to the filter. */
export function conv2dBackpropFilter(
  blas: Blas,
  x: Float32Array,
  dy: Float32Array,
  ci: ConvInfo,
  dnnl?: Dnnl,
): Float32Array {
  const N = ci.outChannels;
  const P = ci.outHeight * ci.outWidth;
  const K = ci.filterHeight * ci.filterWidth * ci.inChannels;
  const dw = pool.take(K * N);
  const shape = dnnl && dnnlShape(ci);
  if (shape) {
    dnnl!.backwardWeights(shape, x, dy, dw);
    return dw;
  }
  if (isPointwise(ci)) {
    blas.sgemm(true, false, K, N, ci.batchSize * P, 1, x, K, dy, N, 0, dw, N);
    return dw;
  }
  const per = blockImages(ci);
  for (let b0 = 0; b0 < ci.batchSize; b0 += per) {
    const nb = Math.min(per, ci.batchSize - b0);
    const col = scratchOf(nb * P * K);
    im2col(x, ci, b0, nb, col);
    blas.sgemm(
      true,
      false,
      K,
      N,
      nb * P,
      1,
      col,
      K,
      dy.subarray(b0 * P * N),
      N,
      b0 === 0 ? 0 : 1,
      dw,
      N,
    );
  }
  return dw;
}

/**
 * Batched `op(a) op(b)` over the leading dimensions; undefined when those
 * broadcast in a way this path does not cover.
 */
function batchMatMulValues(
  blas: Blas,
  a: TensorInfo,
  av: Float32Array,
  b: TensorInfo,
  bv: Float32Array,
  transposeA: boolean,
  transposeB: boolean,
): { shape: number[]; values: Float32Array } | undefined {
  const ra = a.shape.length, rb = b.shape.length;
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (k !== kb) return undefined;
  const outerA = a.shape.slice(0, -2), outerB = b.shape.slice(0, -2);
  const batchA = outerA.reduce((p, q) => p * q, 1);
  const batchB = outerB.reduce((p, q) => p * q, 1);
  const sameOuter = outerA.length === outerB.length &&
    outerA.every((d, i) => d === outerB[i]);
  if (!sameOuter && batchA !== 1 && batchB !== 1) return undefined;
  const outer = sameOuter
    ? outerA
    : tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  const batch = Math.max(batchA, batchB);
  const values = pool.take(batch * m * n);
  const lda = a.shape[ra - 1], ldb = b.shape[rb - 1];
  for (let i = 0; i < batch; i++) {
    const ia = batchA === 1 ? 0 : i, ib = batchB === 1 ? 0 : i;
    blas.sgemm(
      transposeA,
      transposeB,
      m,
      n,
      k,
      1,
      ia === 0 ? av : av.subarray(ia * m * k),
      lda,
      ib === 0 ? bv : bv.subarray(ib * k * n),
      ldb,
      0,
      batch === 1 ? values : values.subarray(i * m * n),
      n,
    );
  }
  return { shape: [...outer, m, n], values };
}

/** Adds a per-channel (last axis) bias and applies relu or nothing, in place. */
function biasActivateInPlace(
  y: Float32Array,
  bias: Float32Array | undefined,
  relu: boolean,
): void {
  if (bias) {
    const n = bias.length;
    for (let i = 0; i < y.length; i += n) {
      for (let j = 0; j < n; j++) y[i + j] += bias[j];
    }
  }
  if (relu) {
    for (let i = 0; i < y.length; i++) if (y[i] < 0) y[i] = 0;
  }
}

/**
 * Builds the native kernel configs for `backendName`, falling back to
 * `cpu[name]`; convolutions go to `engine.dnnl` whenever it is set.
 */
export function nativeKernels(
  blas: Blas,
  backendName: string,
  cpu: ReadonlyMap<string, KernelFunc>,
  engine: { readonly dnnl?: Dnnl } = {},
): KernelConfig[] {
  const fallback = (name: string, args: Args): TensorInfo =>
    cpu.get(name)!(args as never) as TensorInfo;

  const convInfoOf = (
    xShape: number[],
    filterShape: number[],
    attrs: NamedAttrMap,
    dilations: number | [number, number],
  ): ConvInfo | undefined => {
    const format = tf.backend_util.convertConv2DDataFormat(
      attrs.dataFormat as "NHWC" | "NCHW",
    );
    if (format !== "channelsLast") return undefined;
    return tf.backend_util.computeConv2DInfo(
      xShape as [number, number, number, number],
      filterShape as [number, number, number, number],
      attrs.strides as [number, number],
      dilations,
      attrs.pad as "same",
      attrs.dimRoundingMode as "floor" | undefined,
      false,
      format,
    );
  };

  const conv2d = (args: Args, name: string): TensorInfo => {
    const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
    const attrs = args.attrs!;
    const ci = convInfoOf(
      x.shape,
      filter.shape,
      attrs,
      attrs.dilations as [number, number],
    );
    const xv = f32(args.backend, x), wv = f32(args.backend, filter);
    if (!ci || !xv || !wv) return fallback(name, args);
    return out(
      args.backend,
      ci.outShape,
      conv2dForward(blas, xv, wv, ci, engine.dnnl),
    );
  };

  const fusedActivations = new Set(["linear", "relu"]);

  const kernels: Record<string, (args: Args) => TensorInfo> = {
    Conv2D: (args) => conv2d(args, "Conv2D"),
    FusedConv2D: (args) => {
      const { x, filter, bias, preluActivationWeights } = args.inputs;
      const attrs = args.attrs!;
      const activation = (attrs.activation as string | undefined) ?? "linear";
      const bv = bias ? f32(args.backend, bias) : undefined;
      const simpleBias = !bias ||
        (bv !== undefined && bias.shape.length === 1 &&
          bias.shape[0] === filter!.shape[3]);
      if (
        !fusedActivations.has(activation) || preluActivationWeights ||
        !simpleBias
      ) return fallback("FusedConv2D", args);
      const y = conv2d(
        { inputs: { x, filter }, backend: args.backend, attrs },
        "Conv2D",
      );
      const yv = f32(args.backend, y);
      if (!yv) return fallback("FusedConv2D", args);
      biasActivateInPlace(yv, bv, activation === "relu");
      return y;
    },
    Conv2DBackpropInput: (args) => {
      const { dy, filter } = args.inputs as {
        dy: TensorInfo;
        filter: TensorInfo;
      };
      const attrs = args.attrs!;
      const ci = convInfoOf(
        attrs.inputShape as number[],
        filter.shape,
        attrs,
        1,
      );
      const dyv = f32(args.backend, dy), wv = f32(args.backend, filter);
      if (!ci || !dyv || !wv) return fallback("Conv2DBackpropInput", args);
      return out(
        args.backend,
        ci.inShape,
        conv2dBackpropInput(blas, dyv, wv, ci, engine.dnnl),
      );
    },
    Conv2DBackpropFilter: (args) => {
      const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
      const attrs = args.attrs!;
      const ci = convInfoOf(x.shape, attrs.filterShape as number[], attrs, 1);
      const xv = f32(args.backend, x), dyv = f32(args.backend, dy);
      if (!ci || !xv || !dyv) return fallback("Conv2DBackpropFilter", args);
      return out(
        args.backend,
        ci.filterShape,
        conv2dBackpropFilter(blas, xv, dyv, ci, engine.dnnl),
      );
    },
    BatchMatMul: (args) => {
      const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
      const attrs = args.attrs!;
      const av = f32(args.backend, a), bv = f32(args.backend, b);
      const r = av && bv
        ? batchMatMulValues(
          blas,
          a,
          av,
          b,
          bv,
          Boolean(attrs.transposeA),
          Boolean(attrs.transposeB),
        )
        : undefined;
      if (!r) return fallback("BatchMatMul", args);
      return out(args.backend, r.shape, r.values);
    },
    _FusedMatMul: (args) => {
      const { a, b, bias, preluActivationWeights } = args.inputs as {
        a: TensorInfo;
        b: TensorInfo;
        bias?: TensorInfo;
        preluActivationWeights?: TensorInfo;
      };
      const attrs = args.attrs!;
      const activation = (attrs.activation as string | undefined) ?? "linear";
      const av = f32(args.backend, a), bv = f32(args.backend, b);
      const biasv = bias ? f32(args.backend, bias) : undefined;
      const r = av && bv
        ? batchMatMulValues(
          blas,
          a,
          av,
          b,
          bv,
          Boolean(attrs.transposeA),
          Boolean(attrs.transposeB),
        )
        : undefined;
      const n = r ? r.shape[r.shape.length - 1] : -1;
      const simpleBias = !bias ||
        (biasv !== undefined && bias.shape.length === 1 && bias.shape[0] === n);
      if (
        !r || !fusedActivations.has(activation) || preluActivationWeights ||
        !simpleBias
      ) return fallback("_FusedMatMul", args);
      biasActivateInPlace(r.values, biasv, activation === "relu");
      return out(args.backend, r.shape, r.values);
    },
  };

  return Object.entries(kernels).map(([kernelName, f]) => ({
    kernelName,
    backendName,
    kernelFunc: f as unknown as KernelFunc,
  }));
}
