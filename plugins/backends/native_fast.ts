/**
 * Single-pass JS kernels for the cheap-but-frequent ops of a training step
 * on the `native` backend. tfjs's cpu kernels handle every broadcast, axis
 * and slice through per-element index arithmetic (and reduce over leading
 * axes by transposing first); a ResNet step spends most of its time there.
 * These cover the shapes a training step produces — same-shape operands,
 * scalars, a trailing-axes vector repeated over the leading axes, reductions
 * over leading or trailing axes, contiguous-run slices and pads — and hand
 * anything else to the cpu kernel.
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
import { pool } from "./native_pool.ts";

type Inputs = Record<string, TensorInfo | undefined>;
type Args = { inputs: Inputs; backend: MathBackendCPU; attrs?: NamedAttrMap };

function f32(backend: MathBackendCPU, t: TensorInfo): Float32Array | undefined {
  if (t.dtype !== "float32") return undefined;
  const v = backend.data.get(t.dataId).values;
  return v instanceof Float32Array ? v : undefined;
}

function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** True when `small`, without leading ones, is a suffix of `big`. */
function isTrailing(small: readonly number[], big: readonly number[]): boolean {
  let s = 0;
  while (s < small.length && small[s] === 1) s++;
  const rest = small.length - s;
  if (rest > big.length) return false;
  for (let i = 0; i < rest; i++) {
    if (small[s + i] !== big[big.length - rest + i]) return false;
  }
  return true;
}

const enum Op {
  Add,
  Sub,
  Mul,
  Div,
  SqDiff,
}

/**
 * `out[i] = a[i % na] op b[i % nb]` where one of `na`, `nb` equals
 * `out.length` and the other divides it. Each op has its own loops so that
 * V8 keeps them monomorphic.
 */
export function binaryPeriodic(
  op: Op,
  a: Float32Array,
  na: number,
  b: Float32Array,
  nb: number,
  out: Float32Array,
): void {
  const n = out.length;
  switch (op) {
    case Op.Add:
      if (na === n && nb === n) {
        for (let i = 0; i < n; i++) out[i] = a[i] + b[i];
      } else if (nb === 1) {
        const s = b[0];
        for (let i = 0; i < n; i++) out[i] = a[i] + s;
      } else if (na === 1) {
        const s = a[0];
        for (let i = 0; i < n; i++) out[i] = s + b[i];
      } else if (na === n) {
        for (let o = 0; o < n; o += nb) {
          for (let j = 0; j < nb; j++) out[o + j] = a[o + j] + b[j];
        }
      } else {for (let o = 0; o < n; o += na) {
          for (let j = 0; j < na; j++) out[o + j] = a[j] + b[o + j];
        }}
      return;
    case Op.Sub:
      if (na === n && nb === n) {
        for (let i = 0; i < n; i++) out[i] = a[i] - b[i];
      } else if (nb === 1) {
        const s = b[0];
        for (let i = 0; i < n; i++) out[i] = a[i] - s;
      } else if (na === 1) {
        const s = a[0];
        for (let i = 0; i < n; i++) out[i] = s - b[i];
      } else if (na === n) {
        for (let o = 0; o < n; o += nb) {
          for (let j = 0; j < nb; j++) out[o + j] = a[o + j] - b[j];
        }
      } else {for (let o = 0; o < n; o += na) {
          for (let j = 0; j < na; j++) out[o + j] = a[j] - b[o + j];
        }}
      return;
    case Op.Mul:
      if (na === n && nb === n) {
        for (let i = 0; i < n; i++) out[i] = a[i] * b[i];
      } else if (nb === 1) {
        const s = b[0];
        for (let i = 0; i < n; i++) out[i] = a[i] * s;
      } else if (na === 1) {
        const s = a[0];
        for (let i = 0; i < n; i++) out[i] = s * b[i];
      } else if (na === n) {
        for (let o = 0; o < n; o += nb) {
          for (let j = 0; j < nb; j++) out[o + j] = a[o + j] * b[j];
        }
      } else {for (let o = 0; o < n; o += na) {
          for (let j = 0; j < na; j++) out[o + j] = a[j] * b[o + j];
        }}
      return;
    case Op.Div:
      if (na === n && nb === n) {
        for (let i = 0; i < n; i++) out[i] = a[i] / b[i];
      } else if (nb === 1) {
        const s = b[0];
        for (let i = 0; i < n; i++) out[i] = a[i] / s;
      } else if (na === 1) {
        const s = a[0];
        for (let i = 0; i < n; i++) out[i] = s / b[i];
      } else if (na === n) {
        for (let o = 0; o < n; o += nb) {
          for (let j = 0; j < nb; j++) out[o + j] = a[o + j] / b[j];
        }
      } else {for (let o = 0; o < n; o += na) {
          for (let j = 0; j < na; j++) out[o + j] = a[j] / b[o + j];
        }}
      return;
    case Op.SqDiff:
      if (na === n && nb === n) {
        for (let i = 0; i < n; i++) {
          const d = a[i] - b[i];
          out[i] = d * d;
        }
      } else if (nb === 1) {
        const s = b[0];
        for (let i = 0; i < n; i++) {
          const d = a[i] - s;
          out[i] = d * d;
        }
      } else if (na === 1) {
        const s = a[0];
        for (let i = 0; i < n; i++) {
          const d = s - b[i];
          out[i] = d * d;
        }
      } else if (na === n) {
        for (let o = 0; o < n; o += nb) {
          for (let j = 0; j < nb; j++) {
            const d = a[o + j] - b[j];
            out[o + j] = d * d;
          }
        }
      } else {for (let o = 0; o < n; o += na) {
          for (let j = 0; j < na; j++) {
            const d = a[j] - b[o + j];
            out[o + j] = d * d;
          }
        }}
      return;
  }
}

/**
 * For a `small` operand broadcast against `big` (the output's shape): the
 * split `[outer, middle, inner]` of `big` where `small` has the outer and
 * inner extents and ones in between (`[B, 1, 1, C]` against `[B, H, W, C]`,
 * a per-image `[B, 1, 1, 1]`, a trailing `[C]`); undefined for any other
 * broadcast.
 */
export function blockSplit(
  small: readonly number[],
  big: readonly number[],
): [number, number, number] | undefined {
  const r = big.length;
  if (small.length > r) return undefined;
  const s = [...new Array(r - small.length).fill(1), ...small];
  let i = 0;
  while (i < r && s[i] === big[i]) i++;
  let j = i;
  while (j < r && s[j] === 1) j++;
  for (let k = j; k < r; k++) if (s[k] !== big[k]) return undefined;
  return [
    sizeOf(big.slice(0, i)),
    sizeOf(big.slice(i, j)),
    sizeOf(big.slice(j)),
  ];
}

function binary(op: Op, name: string, cpu: ReadonlyMap<string, KernelFunc>) {
  return (args: Args): TensorInfo => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const av = f32(args.backend, a), bv = f32(args.backend, b);
    if (av && bv) {
      const shape = tf.broadcast_util.assertAndGetBroadcastShape(
        a.shape,
        b.shape,
      );
      const n = sizeOf(shape);
      const na = av.length, nb = bv.length;
      const split = n === 0 || (na === n && nb === n)
        ? [1, 1, n]
        : na === n
        ? blockSplit(b.shape, shape)
        : nb === n
        ? blockSplit(a.shape, shape)
        : undefined;
      if (split) {
        const out = pool.take(n);
        const [outer, middle, inner] = split;
        if (n === 0) {
          // nothing to compute
        } else if (outer === 1) {
          binaryPeriodic(op, av, na, bv, nb, out);
        } else {
          // each outer block is a plain periodic broadcast of `inner` values
          const block = middle * inner;
          const sa = na === n ? block : inner, sb = nb === n ? block : inner;
          for (let o = 0; o < outer; o++) {
            binaryPeriodic(
              op,
              av.subarray(o * sa, (o + 1) * sa),
              sa,
              bv.subarray(o * sb, (o + 1) * sb),
              sb,
              out.subarray(o * block, (o + 1) * block),
            );
          }
        }
        return args.backend.makeTensorInfo(shape, "float32", out);
      }
    }
    return cpu.get(name)!(args as never) as TensorInfo;
  };
}

/** A float32 same-shape map whose loop is `body`; other dtypes go to the cpu kernel. */
function unary(
  name: string,
  cpu: ReadonlyMap<string, KernelFunc>,
  body: (xv: Float32Array, out: Float32Array) => void,
) {
  return (args: Args): TensorInfo => {
    const { x } = args.inputs as { x: TensorInfo };
    const xv = f32(args.backend, x);
    if (!xv) return cpu.get(name)!(args as never) as TensorInfo;
    const out = pool.take(xv.length);
    body(xv, out);
    return args.backend.makeTensorInfo(x.shape, "float32", out);
  };
}

/**
 * `out = max(x, 0)` with NaN kept. A data-dependent branch mispredicts on
 * the half-negative inputs a ReLU sees (23 ms against 4 ms per 4M floats),
 * so the loop multiplies by a 0/1 mask; `+ 0` turns the -0 of negative
 * inputs into 0, and the rare -Infinity (mask times it is NaN) takes a
 * second, branching loop.
 */
export function reluValues(x: Float32Array, out: Float32Array): void {
  let negInf = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    out[i] = v * +(v > 0) + 0;
    negInf |= +(v === -Infinity);
  }
  if (negInf) {
    for (let i = 0; i < x.length; i++) {
      out[i] = x[i] > 0 || x[i] !== x[i] ? x[i] : 0;
    }
  }
}

/**
 * The gradient of a float32 ReLU, `dy * (x > 0)`, in one pass instead of
 * tfjs's Step then Multiply. Inputs `dy` and `x` of one shape.
 */
export const RELU_GRAD_KERNEL = "ClknnReluGrad";

/** Sorted, non-negative reduction axes. */
function axesOf(axis: unknown, rank: number): number[] {
  const list = Array.isArray(axis) ? axis as number[] : [axis as number];
  return [...new Set(list.map((a) => (a < 0 ? a + rank : a)))].sort((p, q) =>
    p - q
  );
}

function reduce(
  mean: boolean,
  name: string,
  cpu: ReadonlyMap<string, KernelFunc>,
) {
  return (args: Args): TensorInfo => {
    const { x } = args.inputs as { x: TensorInfo };
    const xv = f32(args.backend, x);
    const rank = x.shape.length;
    const axes = axesOf(args.attrs!.axis, rank);
    const keepDims = Boolean(args.attrs!.keepDims);
    // one contiguous run of axes: [outer, reduced, inner] (global pooling reduces the middle)
    const contiguous = axes.every((a, i) => a === axes[0] + i);
    if (!xv || axes.length === 0 || !contiguous) {
      return cpu.get(name)!(args as never) as TensorInfo;
    }
    const reduced = sizeOf(axes.map((a) => x.shape[a]));
    const inner = sizeOf(x.shape.slice(axes[axes.length - 1] + 1));
    const kept = reduced === 0 ? 0 : xv.length / reduced;
    const out = pool.take(kept);
    const scale = mean ? 1 / reduced : 1;
    if (inner === 1) {
      for (let r = 0; r < kept; r++) {
        let s = 0;
        const o = r * reduced;
        for (let j = 0; j < reduced; j++) s += xv[o + j];
        out[r] = s * scale;
      }
    } else {
      const acc = new Float64Array(inner);
      const block = reduced * inner;
      for (let b = 0; b * inner < kept; b++) {
        acc.fill(0);
        const end = (b + 1) * block;
        for (let o = b * block; o < end; o += inner) {
          for (let j = 0; j < inner; j++) acc[j] += xv[o + j];
        }
        for (let j = 0; j < inner; j++) out[b * inner + j] = acc[j] * scale;
      }
    }
    const shape = keepDims
      ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
      : x.shape.filter((_, i) => !axes.includes(i));
    return args.backend.makeTensorInfo(shape, "float32", out);
  };
}

/**
 * Copies `x` (shape `shape`) into `out` (shape `outShape`) where input
 * element `idx` lands at `idx + offsets` (a pad) or output element `idx`
 * comes from `idx + offsets` (a slice, `sliceMode`), moving whole runs.
 */
function blockCopy(
  x: Float32Array,
  shape: readonly number[],
  out: Float32Array,
  outShape: readonly number[],
  offsets: readonly number[],
  sliceMode: boolean,
): void {
  const rank = shape.length;
  // the run: everything from the innermost axis where the shapes differ (or are offset)
  const small = sliceMode ? outShape : shape;
  const big = sliceMode ? shape : outShape;
  let k = rank - 1;
  while (k > 0 && small[k] === big[k] && offsets[k] === 0) k--;
  let inner = 1;
  for (let i = k + 1; i < rank; i++) inner *= big[i];
  const run = small[k] * inner;
  const bigStrides = new Array<number>(rank).fill(0);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    bigStrides[i] = s;
    s *= big[i];
  }
  const count = sizeOf(small.slice(0, k));
  const idx = new Array<number>(k).fill(0);
  let smallOff = 0;
  for (let c = 0; c < count; c++) {
    let bigOff = offsets[k] * bigStrides[k];
    for (let i = 0; i < k; i++) bigOff += (idx[i] + offsets[i]) * bigStrides[i];
    if (sliceMode) {
      if (run >= 32) out.set(x.subarray(bigOff, bigOff + run), smallOff);
      else for (let j = 0; j < run; j++) out[smallOff + j] = x[bigOff + j];
    } else {
      if (run >= 32) out.set(x.subarray(smallOff, smallOff + run), bigOff);
      else for (let j = 0; j < run; j++) out[bigOff + j] = x[smallOff + j];
    }
    smallOff += run;
    for (let i = k - 1; i >= 0; i--) {
      if (++idx[i] < small[i]) break;
      idx[i] = 0;
    }
  }
}

/**
 * Mirror padding (`reflect` repeats no edge value, `symmetric` repeats it):
 * each axis gets a table from output to input index, and the output is
 * walked once with the innermost axis read through its table.
 */
export function mirrorPadValues(
  x: Float32Array,
  shape: readonly number[],
  paddings: readonly (readonly [number, number])[],
  symmetric: boolean,
  out: Float32Array,
): void {
  const rank = shape.length;
  const outShape = shape.map((d, i) => paddings[i][0] + d + paddings[i][1]);
  const maps = shape.map((d, k) => {
    const m = new Int32Array(outShape[k]);
    for (let o = 0; o < m.length; o++) {
      let i = o - paddings[k][0];
      if (i < 0) i = symmetric ? -i - 1 : -i;
      else if (i >= d) i = symmetric ? 2 * d - 1 - i : 2 * (d - 1) - i;
      m[o] = i;
    }
    return m;
  });
  const strides = new Array<number>(rank).fill(1);
  for (let k = rank - 2; k >= 0; k--) {
    strides[k] = strides[k + 1] * shape[k + 1];
  }
  const last = maps[rank - 1], runs = out.length / last.length;
  const idx = new Array<number>(rank - 1).fill(0);
  let o = 0;
  for (let r = 0; r < runs; r++) {
    let base = 0;
    for (let k = 0; k < rank - 1; k++) base += maps[k][idx[k]] * strides[k];
    for (let j = 0; j < last.length; j++) out[o++] = x[base + last[j]];
    for (let k = rank - 2; k >= 0; k--) {
      if (++idx[k] < outShape[k]) break;
      idx[k] = 0;
    }
  }
}

/** Kernel configs for `backendName`; `cpu` holds the fallbacks. */
export function fastKernels(
  backendName: string,
  cpu: ReadonlyMap<string, KernelFunc>,
): KernelConfig[] {
  const kernels: Record<string, (args: Args) => TensorInfo> = {
    Add: binary(Op.Add, "Add", cpu),
    Sub: binary(Op.Sub, "Sub", cpu),
    Multiply: binary(Op.Mul, "Multiply", cpu),
    RealDiv: binary(Op.Div, "RealDiv", cpu),
    SquaredDifference: binary(Op.SqDiff, "SquaredDifference", cpu),
    Sum: reduce(false, "Sum", cpu),
    Mean: reduce(true, "Mean", cpu),
    Relu: (args) => {
      const { x } = args.inputs as { x: TensorInfo };
      const xv = f32(args.backend, x);
      if (!xv) return cpu.get("Relu")!(args as never) as TensorInfo;
      const out = pool.take(xv.length);
      reluValues(xv, out);
      return args.backend.makeTensorInfo(x.shape, "float32", out);
    },
    [RELU_GRAD_KERNEL]: (args) => {
      const { dy, x } = args.inputs as { dy: TensorInfo; x: TensorInfo };
      const dyv = f32(args.backend, dy)!, xv = f32(args.backend, x)!;
      const out = pool.take(xv.length);
      // multiplying by the 0/1 mask keeps the stock gradient's NaN for an infinite dy
      for (let i = 0; i < xv.length; i++) out[i] = dyv[i] * +(xv[i] > 0);
      return args.backend.makeTensorInfo(x.shape, "float32", out);
    },
    Square: unary("Square", cpu, (xv, out) => {
      for (let i = 0; i < xv.length; i++) out[i] = xv[i] * xv[i];
    }),
    Sqrt: unary("Sqrt", cpu, (xv, out) => {
      for (let i = 0; i < xv.length; i++) out[i] = Math.sqrt(xv[i]);
    }),
    Rsqrt: unary("Rsqrt", cpu, (xv, out) => {
      for (let i = 0; i < xv.length; i++) out[i] = 1 / Math.sqrt(xv[i]);
    }),
    Neg: unary("Neg", cpu, (xv, out) => {
      for (let i = 0; i < xv.length; i++) out[i] = -xv[i];
    }),
    Step: (args) => {
      const { x } = args.inputs as { x: TensorInfo };
      const xv = f32(args.backend, x);
      const alpha = args.attrs!.alpha as number;
      if (!xv) return cpu.get("Step")!(args as never) as TensorInfo;
      const out = pool.take(xv.length);
      for (let i = 0; i < xv.length; i++) {
        const v = xv[i];
        out[i] = v > 0 ? 1 : v !== v ? NaN : alpha;
      }
      return args.backend.makeTensorInfo(x.shape, "float32", out);
    },
    Tile: (args) => {
      const { x } = args.inputs as { x: TensorInfo };
      const reps = args.attrs!.reps as number[];
      const xv = f32(args.backend, x);
      // fast when every repeated axis is a size-1 axis before all the kept ones
      const firstKept = x.shape.findIndex((d) => d > 1);
      const ok = xv !== undefined &&
        reps.every((r, i) =>
          r === 1 || (x.shape[i] === 1 && (firstKept < 0 || i < firstKept))
        );
      if (!ok) return cpu.get("Tile")!(args as never) as TensorInfo;
      const times = sizeOf(reps);
      const out = pool.take(xv.length * times);
      for (let t = 0; t < times; t++) out.set(xv, t * xv.length);
      return args.backend.makeTensorInfo(
        x.shape.map((d, i) => d * reps[i]),
        "float32",
        out,
      );
    },
    Slice: (args) => {
      const { x } = args.inputs as { x: TensorInfo };
      const xv = f32(args.backend, x);
      if (!xv || x.shape.length === 0) {
        return cpu.get("Slice")!(args as never) as TensorInfo;
      }
      const [begin, size] = tf.slice_util.parseSliceParams(
        x as never,
        args.attrs!.begin as number[],
        args.attrs!.size as number[],
      );
      const out = pool.take(sizeOf(size));
      if (out.length > 0) blockCopy(xv, x.shape, out, size, begin, true);
      return args.backend.makeTensorInfo(size, "float32", out);
    },
    MirrorPad: (args) => {
      const { x } = args.inputs as { x: TensorInfo };
      const xv = f32(args.backend, x);
      const paddings = args.attrs!.paddings as [number, number][];
      const mode = args.attrs!.mode as string;
      if (!xv || x.shape.length === 0 || xv.length === 0) {
        return cpu.get("MirrorPad")!(args as never) as TensorInfo;
      }
      const shape = x.shape.map((d, i) => paddings[i][0] + d + paddings[i][1]);
      const out = pool.take(sizeOf(shape));
      mirrorPadValues(xv, x.shape, paddings, mode === "symmetric", out);
      return args.backend.makeTensorInfo(shape, "float32", out);
    },
    PadV2: (args) => {
      const { x } = args.inputs as { x: TensorInfo };
      const xv = f32(args.backend, x);
      const paddings = args.attrs!.paddings as [number, number][];
      const value = args.attrs!.constantValue as number;
      if (!xv || x.shape.length === 0) {
        return cpu.get("PadV2")!(args as never) as TensorInfo;
      }
      const shape = x.shape.map((d, i) => paddings[i][0] + d + paddings[i][1]);
      const out = value === 0
        ? pool.zeros(sizeOf(shape))
        : pool.take(sizeOf(shape)).fill(value);
      if (xv.length > 0) {
        blockCopy(xv, x.shape, out, shape, paddings.map((p) => p[0]), false);
      }
      return args.backend.makeTensorInfo(shape, "float32", out);
    },
    FusedBatchNorm: (args) => {
      const { x, mean, variance, offset, scale } = args.inputs;
      const eps = (args.attrs!.varianceEpsilon as number | undefined) ?? 0.001;
      const b = args.backend;
      const xv = f32(b, x!), mv = f32(b, mean!), vv = f32(b, variance!);
      const ov = offset ? f32(b, offset) : undefined;
      const sv = scale ? f32(b, scale) : undefined;
      const c = x!.shape[x!.shape.length - 1];
      const perChannel = (t: TensorInfo | undefined, v?: Float32Array) =>
        !t ||
        (v !== undefined && v.length === c && isTrailing(t.shape, x!.shape));
      if (
        !xv || !perChannel(mean, mv) || !perChannel(variance, vv) ||
        !perChannel(offset, ov) || !perChannel(scale, sv)
      ) return cpu.get("FusedBatchNorm")!(args as never) as TensorInfo;
      const mul = new Float32Array(c), add = new Float32Array(c);
      for (let j = 0; j < c; j++) {
        mul[j] = (sv ? sv[j] : 1) / Math.sqrt(vv![j] + eps);
        add[j] = (ov ? ov[j] : 0) - mv![j] * mul[j];
      }
      const out = pool.take(xv.length);
      for (let o = 0; o < xv.length; o += c) {
        for (let j = 0; j < c; j++) out[o + j] = xv[o + j] * mul[j] + add[j];
      }
      return b.makeTensorInfo(x!.shape, "float32", out);
    },
  };
  return Object.entries(kernels).map(([kernelName, f]) => ({
    kernelName,
    backendName,
    kernelFunc: f as unknown as KernelFunc,
  }));
}
