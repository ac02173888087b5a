/**
 * oneDNN (Debian's `libdnnl2`, the library PyTorch's CPU convolutions run
 * on) reached through Deno's FFI: NHWC convolutions forward, backward-data
 * and backward-weights for the `native` backend, on host Float32Arrays
 * without copies of the activations.
 *
 * Activations stay in tfjs's NHWC layout (oneDNN's JIT kernels read
 * channels-last directly); filters are reordered between tfjs's
 * `[KH, KW, C, N]` and whatever blocked layout oneDNN picks, which costs a
 * pass over the filter, small next to the convolution. Primitives are built
 * once per convolution shape and cached.
 *
 * Optional: when `libdnnl.so.2` is missing the backend keeps its OpenBLAS
 * im2col convolutions. Known limits: dilated and grouped convolutions are
 * not routed here; the cache holds every shape seen for the life of the
 * process (a handful per network).
 *
 * @module
 */

/** The one-line note shown when oneDNN is not installed. */
export const DNNL_MISSING =
  "oneDNN not found (apt-get install libdnnl2 for faster convolutions)";

const F32 = 3;
const FORMAT_ANY = 1;
const FORWARD_TRAINING = 64;
const CONV_DIRECT = 1;
const CPU = 1;
const IN_ORDER = 1;
const ARG_SRC = 1;
const ARG_DST = 17;
const ARG_WEIGHTS = 33;
const ARG_DIFF_SRC = 129;
const ARG_DIFF_DST = 145;
const ARG_DIFF_WEIGHTS = 161;
const QUERY_IMPL_INFO = 8;
const QUERY_SRC_MD = 129;
const QUERY_DIFF_SRC_MD = 130;
const QUERY_WEIGHTS_MD = 131;
const QUERY_DIFF_WEIGHTS_MD = 132;
const QUERY_DST_MD = 133;
const QUERY_DIFF_DST_MD = 134;

/** Bytes reserved for one oneDNN descriptor struct (each is under 8 KiB in 2.x). */
const MD_BYTES = 8 << 10;
const OP_BYTES = 64 << 10;

const symbols = {
  dnnl_engine_create: { parameters: ["buffer", "i32", "usize"], result: "i32" },
  dnnl_stream_create: {
    parameters: ["buffer", "pointer", "u32"],
    result: "i32",
  },
  dnnl_memory_desc_init_by_strides: {
    parameters: ["buffer", "i32", "buffer", "i32", "buffer"],
    result: "i32",
  },
  dnnl_memory_desc_init_by_tag: {
    parameters: ["buffer", "i32", "buffer", "i32", "i32"],
    result: "i32",
  },
  dnnl_memory_desc_equal: {
    parameters: ["pointer", "pointer"],
    result: "i32",
  },
  dnnl_convolution_forward_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "i32",
      "buffer",
      "buffer",
      "pointer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_convolution_backward_data_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_convolution_backward_weights_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "buffer",
      "buffer",
      "pointer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_primitive_desc_create: {
    parameters: ["buffer", "buffer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_reorder_primitive_desc_create: {
    parameters: [
      "buffer",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
    ],
    result: "i32",
  },
  dnnl_primitive_desc_query_md: {
    parameters: ["pointer", "i32", "i32"],
    result: "pointer",
  },
  dnnl_primitive_desc_query: {
    parameters: ["pointer", "i32", "i32", "buffer"],
    result: "i32",
  },
  dnnl_primitive_create: { parameters: ["buffer", "pointer"], result: "i32" },
  dnnl_memory_create: {
    parameters: ["buffer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_memory_set_data_handle: {
    parameters: ["pointer", "pointer"],
    result: "i32",
  },
  dnnl_primitive_execute: {
    parameters: ["pointer", "pointer", "i32", "buffer"],
    result: "i32",
  },
  dnnl_stream_wait: { parameters: ["pointer"], result: "i32" },
  dnnl_memory_get_data_handle: {
    parameters: ["pointer", "buffer"],
    result: "i32",
  },
} as const;

type Lib = Deno.DynamicLibrary<typeof symbols>["symbols"];
type Ptr = Deno.PointerValue;

/** The geometry of one NHWC convolution, as the backend knows it. */
export interface ConvShape {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  outChannels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padLeft: number;
  padBottom: number;
  padRight: number;
}

/** Convolutions on oneDNN; each call blocks until the result is written. */
export interface Dnnl {
  /** oneDNN's implementation names, e.g. `jit:avx512_core`, by direction. */
  readonly impls: Map<string, string>;
  /** `y [B, OH, OW, N] = conv(x [B, H, W, C], w [KH, KW, C, N])`. */
  forward(
    s: ConvShape,
    x: Float32Array,
    w: Float32Array,
    y: Float32Array,
  ): void;
  /** `dx [B, H, W, C]` from `dy [B, OH, OW, N]` and `w`. */
  backwardData(
    s: ConvShape,
    dy: Float32Array,
    w: Float32Array,
    dx: Float32Array,
  ): void;
  /** `dw [KH, KW, C, N]` from `x` and `dy`. */
  backwardWeights(
    s: ConvShape,
    x: Float32Array,
    dy: Float32Array,
    dw: Float32Array,
  ): void;
}

function check(status: number, what: string): void {
  if (status !== 0) {
    throw new Error(`oneDNN ${what} failed with status ${status}`);
  }
}

function dims(values: number[]): BigInt64Array {
  const d = new BigInt64Array(12);
  values.forEach((v, i) => (d[i] = BigInt(v)));
  return d;
}

function readPointer(buf: BigUint64Array): Ptr {
  return Deno.UnsafePointer.create(buf[0]);
}

/** A plain-layout memory descriptor: logical `dims` with explicit element `strides`. */
function stridedMd(lib: Lib, d: number[], strides: number[]): Uint8Array {
  const md = new Uint8Array(MD_BYTES);
  check(
    lib.dnnl_memory_desc_init_by_strides(
      md,
      d.length,
      dims(d),
      F32,
      dims(strides),
    ),
    "memory descriptor",
  );
  return md;
}

function anyMd(lib: Lib, d: number[]): Uint8Array {
  const md = new Uint8Array(MD_BYTES);
  check(
    lib.dnnl_memory_desc_init_by_tag(md, d.length, dims(d), F32, FORMAT_ANY),
    "memory descriptor",
  );
  return md;
}

/** Logical NCHW dims over tfjs's NHWC memory. */
function nhwc(lib: Lib, n: number, h: number, w: number, c: number) {
  return stridedMd(lib, [n, c, h, w], [h * w * c, 1, w * c, c]);
}

/** Logical OIHW dims over tfjs's `[KH, KW, I, O]` filter. */
function hwio(lib: Lib, s: ConvShape) {
  const { filterHeight: kh, filterWidth: kw } = s;
  const i = s.inChannels, o = s.outChannels;
  return stridedMd(lib, [o, i, kh, kw], [1, o, kw * i * o, i * o]);
}

/** One primitive with its memory objects, whose data handles are set per call. */
interface Bound {
  prim: Ptr;
  /** Memory objects by execute-argument id. */
  mems: Map<number, Ptr>;
  args: Uint8Array;
  impl: string;
}

/**
 * Opens oneDNN once per process, or returns undefined (and never throws)
 * when `libdnnl.so.2` is absent or does not answer as version 2.
 */
export function openDnnl(): Dnnl | undefined {
  // oneDNN's OpenMP threads spin for a while after each parallel region; on
  // a small shared machine they then take the cores from OpenBLAS's threads
  // and from everyone else (a width-1/4 ResNet step: 1.5 s spinning, 0.38 s
  // passive). libgomp reads this when it loads, so it is set before dlopen;
  // a value the user chose wins.
  if (Deno.env.get("OMP_WAIT_POLICY") === undefined) {
    Deno.env.set("OMP_WAIT_POLICY", "PASSIVE");
  }
  let lib: Lib;
  try {
    lib = Deno.dlopen("libdnnl.so.2", symbols).symbols;
  } catch {
    return undefined;
  }
  const out = new BigUint64Array(1);
  if (lib.dnnl_engine_create(new Uint8Array(out.buffer), CPU, 0n) !== 0) {
    return undefined;
  }
  const engine = readPointer(out);
  if (
    lib.dnnl_stream_create(new Uint8Array(out.buffer), engine, IN_ORDER) !== 0
  ) return undefined;
  const stream = readPointer(out);

  const pdOf = (op: Uint8Array, hint: Ptr): Ptr => {
    check(
      lib.dnnl_primitive_desc_create(
        new Uint8Array(out.buffer),
        op,
        null,
        engine,
        hint,
      ),
      "primitive descriptor",
    );
    return readPointer(out);
  };
  const primOf = (pd: Ptr): Ptr => {
    check(
      lib.dnnl_primitive_create(new Uint8Array(out.buffer), pd),
      "primitive",
    );
    return readPointer(out);
  };
  const memOf = (md: Ptr | Uint8Array, handle: Ptr): Ptr => {
    const mdPtr = md instanceof Uint8Array ? Deno.UnsafePointer.of(md) : md;
    check(
      lib.dnnl_memory_create(new Uint8Array(out.buffer), mdPtr, engine, handle),
      "memory",
    );
    return readPointer(out);
  };
  const implOf = (pd: Ptr): string => {
    const r = new BigUint64Array(1);
    if (
      lib.dnnl_primitive_desc_query(
        pd,
        QUERY_IMPL_INFO,
        0,
        new Uint8Array(r.buffer),
      ) !== 0
    ) return "?";
    const p = Deno.UnsafePointer.create(r[0]);
    return p ? Deno.UnsafePointerView.getCString(p) : "?";
  };
  // DNNL_MEMORY_ALLOCATE: the library owns the buffer
  const ALLOCATE = Deno.UnsafePointer.create(0xffffffffffffffffn);
  const bind = (pd: Ptr, args: [number, Ptr][]): Bound => {
    const mems = new Map<number, Ptr>();
    const argBuf = new Uint8Array(16 * args.length);
    const view = new DataView(argBuf.buffer);
    args.forEach(([id, mem], i) => {
      mems.set(id, mem);
      view.setInt32(16 * i, id, true);
      view.setBigUint64(16 * i + 8, Deno.UnsafePointer.value(mem), true);
    });
    return { prim: primOf(pd), mems, args: argBuf, impl: implOf(pd) };
  };
  const run = (b: Bound, handles: [number, Float32Array | Ptr][]): void => {
    for (const [id, h] of handles) {
      const p = h instanceof Float32Array ? Deno.UnsafePointer.of(h) : h;
      check(
        lib.dnnl_memory_set_data_handle(b.mems.get(id)!, p),
        "set data handle",
      );
    }
    check(
      lib.dnnl_primitive_execute(b.prim, stream, b.mems.size, b.args),
      "execute",
    );
    check(lib.dnnl_stream_wait(stream), "stream wait");
  };
  /** A reorder between two memory descriptors, or undefined when they are equal. */
  const reorder = (from: Ptr, to: Ptr): Bound | undefined => {
    if (lib.dnnl_memory_desc_equal(from, to)) return undefined;
    check(
      lib.dnnl_reorder_primitive_desc_create(
        new Uint8Array(out.buffer),
        from,
        engine,
        to,
        engine,
        null,
      ),
      "reorder descriptor",
    );
    const pd = readPointer(out);
    return bind(pd, [[ARG_SRC, memOf(from, null)], [ARG_DST, memOf(to, null)]]);
  };

  interface Prepared {
    fwd: Bound;
    bwdData: Bound;
    bwdWeights: Bound;
    /** tfjs filter -> the forward's weights layout, with the buffer it fills. */
    toFwdWeights?: Bound;
    fwdWeights?: Ptr;
    toBwdWeights?: Bound;
    bwdWeights_?: Ptr;
    /** The backward-weights layout -> tfjs filter. */
    fromDiffWeights?: Bound;
    diffWeights?: Ptr;
  }
  const cache = new Map<string, Prepared>();
  const impls = new Map<string, string>();

  const prepare = (s: ConvShape): Prepared => {
    const key = JSON.stringify(s);
    const hit = cache.get(key);
    if (hit) return hit;
    const src = nhwc(lib, s.batch, s.inHeight, s.inWidth, s.inChannels);
    const dst = nhwc(lib, s.batch, s.outHeight, s.outWidth, s.outChannels);
    const user = hwio(lib, s);
    const wAny = anyMd(lib, [
      s.outChannels,
      s.inChannels,
      s.filterHeight,
      s.filterWidth,
    ]);
    const strides = dims([s.strideHeight, s.strideWidth]);
    const padL = dims([s.padTop, s.padLeft]);
    const padR = dims([s.padBottom, s.padRight]);

    const fwdOp = new Uint8Array(OP_BYTES);
    check(
      lib.dnnl_convolution_forward_desc_init(
        fwdOp,
        FORWARD_TRAINING,
        CONV_DIRECT,
        src,
        wAny,
        null,
        dst,
        strides,
        padL,
        padR,
      ),
      "convolution descriptor",
    );
    const fwdPd = pdOf(fwdOp, null);
    const bdOp = new Uint8Array(OP_BYTES);
    check(
      lib.dnnl_convolution_backward_data_desc_init(
        bdOp,
        CONV_DIRECT,
        src,
        wAny,
        dst,
        strides,
        padL,
        padR,
      ),
      "backward-data descriptor",
    );
    const bdPd = pdOf(bdOp, fwdPd);
    const bwOp = new Uint8Array(OP_BYTES);
    check(
      lib.dnnl_convolution_backward_weights_desc_init(
        bwOp,
        CONV_DIRECT,
        src,
        wAny,
        null,
        dst,
        strides,
        padL,
        padR,
      ),
      "backward-weights descriptor",
    );
    const bwPd = pdOf(bwOp, fwdPd);

    const userPtr = Deno.UnsafePointer.of(user)!;
    const q = (pd: Ptr, what: number) =>
      lib.dnnl_primitive_desc_query_md(pd, what, 0);
    const fwdW = q(fwdPd, QUERY_WEIGHTS_MD);
    const bdW = q(bdPd, QUERY_WEIGHTS_MD);
    const bwW = q(bwPd, QUERY_DIFF_WEIGHTS_MD);
    const p: Prepared = {
      fwd: bind(fwdPd, [
        [ARG_SRC, memOf(q(fwdPd, QUERY_SRC_MD), null)],
        [ARG_WEIGHTS, memOf(fwdW, null)],
        [ARG_DST, memOf(q(fwdPd, QUERY_DST_MD), null)],
      ]),
      bwdData: bind(bdPd, [
        [ARG_DIFF_DST, memOf(q(bdPd, QUERY_DIFF_DST_MD), null)],
        [ARG_WEIGHTS, memOf(bdW, null)],
        [ARG_DIFF_SRC, memOf(q(bdPd, QUERY_DIFF_SRC_MD), null)],
      ]),
      bwdWeights: bind(bwPd, [
        [ARG_SRC, memOf(q(bwPd, QUERY_SRC_MD), null)],
        [ARG_DIFF_DST, memOf(q(bwPd, QUERY_DIFF_DST_MD), null)],
        [ARG_DIFF_WEIGHTS, memOf(bwW, null)],
      ]),
    };
    // library-owned buffers for filters in oneDNN's layouts
    p.toFwdWeights = reorder(userPtr, fwdW);
    if (p.toFwdWeights) p.fwdWeights = bufferOf(fwdW);
    p.toBwdWeights = reorder(userPtr, bdW);
    if (p.toBwdWeights) p.bwdWeights_ = bufferOf(bdW);
    p.fromDiffWeights = reorder(bwW, userPtr);
    if (p.fromDiffWeights) p.diffWeights = bufferOf(bwW);
    impls.set("forward", p.fwd.impl);
    impls.set("backward data", p.bwdData.impl);
    impls.set("backward weights", p.bwdWeights.impl);
    // keep the descriptors' backing buffers alive with the cache entry
    (p as unknown as { keep: unknown[] }).keep = [src, dst, user, wAny];
    cache.set(key, p);
    return p;
  };

  /** A library-owned buffer laid out as `md` (it lives as long as the process). */
  function bufferOf(md: Ptr): Ptr {
    const mem = memOf(md, ALLOCATE);
    const r = new BigUint64Array(1);
    check(
      lib.dnnl_memory_get_data_handle(mem, new Uint8Array(r.buffer)),
      "data handle",
    );
    return Deno.UnsafePointer.create(r[0]);
  }

  return {
    impls,
    forward(s, x, w, y) {
      const p = prepare(s);
      let wh: Float32Array | Ptr = w;
      if (p.toFwdWeights) {
        run(p.toFwdWeights, [[ARG_SRC, w], [ARG_DST, p.fwdWeights!]]);
        wh = p.fwdWeights!;
      }
      run(p.fwd, [[ARG_SRC, x], [ARG_WEIGHTS, wh], [ARG_DST, y]]);
    },
    backwardData(s, dy, w, dx) {
      const p = prepare(s);
      let wh: Float32Array | Ptr = w;
      if (p.toBwdWeights) {
        run(p.toBwdWeights, [[ARG_SRC, w], [ARG_DST, p.bwdWeights_!]]);
        wh = p.bwdWeights_!;
      }
      run(p.bwdData, [[ARG_DIFF_DST, dy], [ARG_WEIGHTS, wh], [
        ARG_DIFF_SRC,
        dx,
      ]]);
    },
    backwardWeights(s, x, dy, dw) {
      const p = prepare(s);
      const target = p.fromDiffWeights ? p.diffWeights! : dw;
      run(p.bwdWeights, [[ARG_SRC, x], [ARG_DIFF_DST, dy], [
        ARG_DIFF_WEIGHTS,
        target,
      ]]);
      if (p.fromDiffWeights) {
        run(p.fromDiffWeights, [[ARG_SRC, target], [ARG_DST, dw]]);
      }
    },
  };
}
