/**
 * OpenBLAS reached through Deno's FFI: the one native dependency of the
 * `native` backend. Float32Arrays (and their subarrays: the view's byte
 * offset is honoured) go to `cblas_sgemm` without copies.
 *
 * @module
 */
import { BackendError } from "../../core/errors.ts";

const ROW_MAJOR = 101;
const NO_TRANS = 111;
const TRANS = 112;

const SGEMM = {
  parameters: [
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "f32",
    "buffer",
    "i32",
    "buffer",
    "i32",
    "f32",
    "buffer",
    "i32",
  ],
  result: "void",
} as const;

/** The library names tried, in order: Debian's pthread OpenBLAS first. */
export const BLAS_CANDIDATES: readonly string[] = [
  "libopenblas.so.0",
  "libopenblas.so",
  "libopenblasp.so.0",
  "libopenblas.dylib",
  "libblas.so.3",
];

/** The one-line message shown when no usable BLAS is installed. */
export const BLAS_MISSING =
  "native backend needs OpenBLAS: apt-get install libopenblas0-pthread";

/** A row-major single-precision GEMM, `C = alpha * op(A) op(B) + beta * C`. */
export interface Blas {
  /** The library file that answered. */
  readonly library: string;
  /** OpenBLAS's thread count, when the library reports it. */
  readonly threads?: number;
  sgemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Float32Array,
    lda: number,
    b: Float32Array,
    ldb: number,
    beta: number,
    c: Float32Array,
    ldc: number,
  ): void;
}

let loaded: Blas | undefined;

function tryOpen(path: string): Blas | undefined {
  let lib;
  try {
    lib = Deno.dlopen(path, { cblas_sgemm: SGEMM });
  } catch {
    return undefined;
  }
  let threads: number | undefined;
  try {
    const extra = Deno.dlopen(path, {
      openblas_get_num_threads: { parameters: [], result: "i32" },
    });
    threads = extra.symbols.openblas_get_num_threads();
    extra.close();
  } catch {
    // reference BLAS has no thread query; the count stays unknown
  }
  const f = lib.symbols.cblas_sgemm;
  return {
    library: path,
    threads,
    sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) {
      if (m === 0 || n === 0) return;
      f(
        ROW_MAJOR,
        transA ? TRANS : NO_TRANS,
        transB ? TRANS : NO_TRANS,
        m,
        n,
        k,
        alpha,
        a,
        lda,
        b,
        ldb,
        beta,
        c,
        ldc,
      );
    },
  };
}

/**
 * Opens OpenBLAS once per process. Throws a BackendError naming the Debian
 * package when no candidate library exports `cblas_sgemm`, or when the
 * process lacks `--allow-ffi`.
 */
export function openBlas(): Blas {
  if (loaded) return loaded;
  const ffi = Deno.permissions.querySync({ name: "ffi" });
  if (ffi.state !== "granted") {
    throw new BackendError(
      "native backend needs FFI permission: run deno with --allow-ffi (or -A)",
    );
  }
  for (const path of BLAS_CANDIDATES) {
    const blas = tryOpen(path);
    if (blas) {
      loaded = blas;
      return blas;
    }
  }
  throw new BackendError(BLAS_MISSING);
}
