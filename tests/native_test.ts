import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  native,
  NATIVE_ENGINE,
  useOneDnn,
} from "../plugins/backends/native.ts";
import { BLAS_MISSING, openBlas } from "../plugins/backends/native_blas.ts";
import { pool } from "../plugins/backends/native_pool.ts";
import { DNNL_MISSING } from "../plugins/backends/native_dnnl.ts";
import { fusedBatchNormalization } from "../plugins/backbones/fused_batch_norm.ts";
import { BackendError } from "../core/errors.ts";
import { Rng } from "../core/random.ts";

let reason = "";
try {
  openBlas();
} catch (e) {
  reason = e instanceof Error ? e.message : String(e);
  console.log(`native tests skipped: ${reason}`);
}
const ignore = reason !== "";

if (!ignore) await native.create({}).load();

function randomArray(n: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.next() * 2 - 1;
  return a;
}

/** Runs `f` on the cpu backend and on the native one; returns both outputs' values. */
async function onBoth(
  f: () => tf.Tensor | tf.Tensor[],
): Promise<[Float32Array[], Float32Array[]]> {
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    const outs = tf.tidy(() => {
      const r = f();
      return Array.isArray(r) ? r : [r];
    });
    const values = outs.map((t) => t.dataSync() as Float32Array);
    tf.dispose(outs);
    return values;
  };
  const cpu = await run("cpu");
  const nat = await run(NATIVE_ENGINE);
  return [cpu, nat];
}

function assertClose(
  got: Float32Array,
  want: Float32Array,
  what: string,
  tol = 1e-4,
): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let scale = 1e-6;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    worst = Math.max(worst, Math.abs(got[i] - want[i]));
  }
  assert.ok(
    worst / scale < tol,
    `${what}: relative error ${worst / scale} (max |ref| ${scale})`,
  );
}

async function compare(
  what: string,
  f: () => tf.Tensor | tf.Tensor[],
  tol?: number,
) {
  const [cpu, nat] = await onBoth(f);
  cpu.forEach((c, i) => assertClose(nat[i], c, `${what} output ${i}`, tol));
}

interface ConvCase {
  batch: number;
  size: [number, number];
  inC: number;
  outC: number;
  k: number;
  stride: number;
  pad: "same" | "valid";
}

const convCases: ConvCase[] = [];
for (const k of [1, 3, 7]) {
  for (const stride of [1, 2]) {
    for (const pad of ["same", "valid"] as const) {
      for (const inC of [1, 3]) {
        convCases.push({
          batch: 2,
          size: [9, 8],
          inC,
          outC: 4,
          k,
          stride,
          pad,
        });
      }
    }
  }
}
// even kernels pad unevenly under "same"; the stride-1 input gradient runs as a flipped convolution
for (const k of [2, 4]) {
  convCases.push({
    batch: 2,
    size: [7, 6],
    inC: 3,
    outC: 5,
    k,
    stride: 1,
    pad: "same",
  });
  convCases.push({
    batch: 2,
    size: [7, 6],
    inC: 3,
    outC: 5,
    k,
    stride: 2,
    pad: "same",
  });
}
convCases.push({
  batch: 3,
  size: [6, 6],
  inC: 8,
  outC: 5,
  k: 3,
  stride: 1,
  pad: "same",
});

// with libdnnl2 installed the convolutions run on oneDNN; both engines are checked
const engines = [false, ...(!ignore && useOneDnn(true) ? [true] : [])];

Deno.test({
  name:
    "native conv2d and both of its gradients equal the cpu backend's over strides, kernel sizes, paddings and channels, on OpenBLAS and on oneDNN",
  ignore,
  async fn() {
    for (const onednn of engines) {
      useOneDnn(onednn);
      await convCasesAgree(onednn ? "oneDNN" : "OpenBLAS");
    }
    useOneDnn(true);
  },
});

async function convCasesAgree(engine: string): Promise<void> {
  {
    const rng = new Rng(1);
    for (const c of convCases) {
      const what = `${engine} ${JSON.stringify(c)}`;
      const [h, w] = c.size;
      const x = randomArray(c.batch * h * w * c.inC, rng);
      const f = randomArray(c.k * c.k * c.inC * c.outC, rng);
      await compare(what, () => {
        const xt = tf.tensor4d(x, [c.batch, h, w, c.inC]);
        const ft = tf.tensor4d(f, [c.k, c.k, c.inC, c.outC]);
        const loss = (a: tf.Tensor, b: tf.Tensor) => {
          const y = tf.conv2d(
            a as tf.Tensor4D,
            b as tf.Tensor4D,
            c.stride,
            c.pad,
          );
          // a fixed non-uniform weighting so every output position matters differently
          return tf.sum(
            tf.mul(y, tf.sin(tf.range(0, y.size).reshape(y.shape))),
          );
        };
        const y = tf.conv2d(xt, ft, c.stride, c.pad);
        const [dx, df] = tf.grads(loss)([xt, ft]);
        return [y, dx, df];
      });
    }
  }
}

Deno.test({
  name:
    "native fused conv2d with bias and relu equals the cpu backend's, with gradients",
  ignore,
  async fn() {
    const rng = new Rng(2);
    const x = randomArray(2 * 7 * 7 * 3, rng);
    const f = randomArray(3 * 3 * 3 * 6, rng);
    const b = randomArray(6, rng);
    await compare("fused conv", () => {
      const xt = tf.tensor4d(x, [2, 7, 7, 3]);
      const ft = tf.tensor4d(f, [3, 3, 3, 6]);
      const bt = tf.tensor1d(b);
      const run = (p: tf.Tensor4D, q: tf.Tensor4D, r: tf.Tensor1D) =>
        tf.fused.conv2d({
          x: p,
          filter: q,
          bias: r,
          strides: 2,
          pad: "same",
          activation: "relu",
        });
      const [dx, df, db] = tf.grads((p, q, r) =>
        tf.sum(
          tf.square(run(p as tf.Tensor4D, q as tf.Tensor4D, r as tf.Tensor1D)),
        )
      )([xt, ft, bt]);
      return [run(xt, ft, bt), dx, df, db];
    });
  },
});

Deno.test({
  name:
    "native matMul equals the cpu backend's for every transpose pairing, batches, broadcast batches and the fused bias+relu",
  ignore,
  async fn() {
    const rng = new Rng(3);
    const cases: [number[], number[], boolean, boolean][] = [
      [[5, 7], [7, 3], false, false],
      [[7, 5], [7, 3], true, false],
      [[5, 7], [3, 7], false, true],
      [[7, 5], [3, 7], true, true],
      [[4, 5, 7], [4, 7, 3], false, false],
      [[4, 5, 7], [1, 3, 7], false, true],
      [[1, 7, 5], [4, 7, 3], true, false],
      [[1, 1], [1, 6], false, false],
    ];
    for (const [sa, sb, ta, tb] of cases) {
      const a = randomArray(sa.reduce((p, q) => p * q), rng);
      const b = randomArray(sb.reduce((p, q) => p * q), rng);
      await compare(
        `matMul ${sa} ${sb} ${ta} ${tb}`,
        () => tf.matMul(tf.tensor(a, sa), tf.tensor(b, sb), ta, tb),
      );
    }
    const a = randomArray(6 * 4, rng), b = randomArray(4 * 5, rng);
    const bias = randomArray(5, rng);
    await compare("fused matMul", () =>
      tf.fused.matMul({
        a: tf.tensor2d(a, [6, 4]),
        b: tf.tensor2d(b, [4, 5]),
        bias: tf.tensor1d(bias),
        activation: "relu",
      }));
  },
});

Deno.test({
  name:
    "native elementwise, unary, reduction, slice, pad, mirror pad, tile and batch-norm kernels equal the cpu backend's on broadcast shapes",
  ignore,
  async fn() {
    const rng = new Rng(4);
    const x = randomArray(2 * 3 * 4 * 5, rng);
    const v = randomArray(5, rng);
    const m = randomArray(4 * 5, rng);
    const pos = x.map((e) => Math.abs(e) + 0.5);
    await compare("binary ops", () => {
      const xt = tf.tensor4d(x, [2, 3, 4, 5]);
      const vt = tf.tensor1d(v);
      const mt = tf.tensor3d(m, [1, 4, 5]);
      const pt = tf.tensor4d(pos, [2, 3, 4, 5]);
      const s = tf.scalar(0.7);
      return [
        tf.add(xt, vt),
        tf.sub(vt, xt),
        tf.mul(mt, xt),
        tf.div(xt, pt),
        tf.div(s, pt),
        tf.squaredDifference(xt, tf.reshape(vt, [1, 1, 1, 5])),
        tf.mul(xt, s),
        tf.sub(xt, xt),
        // per-image, per-row and middle-axis broadcasts
        tf.mul(tf.tensor4d(x.slice(0, 2), [2, 1, 1, 1]), xt),
        tf.sub(xt, tf.tensor4d(x.slice(0, 2), [2, 1, 1, 1])),
        tf.div(tf.tensor4d(m.slice(0, 10), [2, 1, 1, 5]), pt),
        tf.add(
          tf.tensor2d(x.slice(0, 24), [4, 6]),
          tf.tensor2d(v.slice(0, 4), [4, 1]),
        ),
        tf.squaredDifference(
          tf.tensor3d(v.slice(0, 3), [3, 1, 1]),
          tf.reshape(xt, [6, 4, 5]).slice(0, 3),
        ),
        // a broadcast the fast path does not cover, answered by the fallback
        tf.add(tf.tensor2d(v, [5, 1]), tf.tensor2d(v, [1, 5])),
        tf.mul(tf.tensor4d(x.slice(0, 8), [2, 1, 4, 1]), xt),
      ];
    });
    await compare("reductions", () => {
      const xt = tf.tensor4d(x, [2, 3, 4, 5]);
      return [
        tf.sum(xt, [0, 1, 2]),
        tf.mean(xt, [0, 1, 2], true),
        tf.sum(xt, -1),
        tf.mean(xt, [2, 3]),
        tf.sum(xt),
        tf.mean(xt, [1]),
        tf.mean(xt, [1, 2]),
        tf.sum(xt, [1, 2], true),
        tf.sum(xt, [2]),
      ];
    });
    await compare("slice, pad, tile", () => {
      const xt = tf.tensor4d(x, [2, 3, 4, 5]);
      return [
        tf.slice(xt, [0, 1, 1, 0], [2, 2, 2, 5]),
        tf.slice(xt, [1, 0, 0, 2], [1, 3, 4, 3]),
        tf.slice(xt, [0, 0, 0, 0], [-1, -1, -1, -1]),
        tf.pad(xt, [[0, 0], [1, 1], [2, 1], [0, 0]]),
        tf.pad(xt, [[1, 0], [0, 0], [0, 0], [0, 2]], 0.5),
        tf.mirrorPad(xt, [[0, 0], [2, 1], [3, 3], [0, 0]], "reflect"),
        tf.mirrorPad(xt, [[1, 1], [0, 2], [4, 2], [1, 0]], "symmetric"),
        tf.mirrorPad(tf.tensor1d(v), [[3, 4]], "symmetric"),
        tf.tile(tf.reshape(tf.tensor1d(v), [1, 1, 1, 5]), [2, 3, 4, 1]),
        tf.tile(xt, [1, 2, 1, 1]),
        tf.relu(xt),
        tf.step(xt, 0.1),
        tf.square(xt),
        tf.sqrt(tf.abs(xt)),
        tf.rsqrt(tf.add(tf.abs(xt), 0.1)),
        tf.neg(xt),
      ];
    });
    await compare("batch norm", () => {
      const xt = tf.tensor4d(x, [2, 3, 4, 5]);
      const w = tf.tensor1d(v);
      return tf.batchNorm(
        xt,
        tf.mean(xt, [0, 1, 2]),
        tf.add(tf.abs(w), 0.1),
        w,
        tf.mul(w, 2),
        1e-3,
      );
    });
  },
});

Deno.test({
  name:
    "a tiny conv net with padding, batch norm, residual add and a dense head has the same gradients on native as on cpu",
  ignore,
  async fn() {
    await tf.setBackend("cpu");
    const input = tf.input({ shape: [8, 8, 3] });
    let h = tf.layers.zeroPadding2d({ padding: 1 }).apply(
      input,
    ) as tf.SymbolicTensor;
    h = tf.layers.conv2d({
      filters: 4,
      kernelSize: 3,
      useBias: false,
      kernelInitializer: tf.initializers.heNormal({ seed: 1 }),
    }).apply(h) as tf.SymbolicTensor;
    h = tf.layers.batchNormalization({ axis: -1 }).apply(
      h,
    ) as tf.SymbolicTensor;
    h = tf.layers.activation({ activation: "relu" }).apply(
      h,
    ) as tf.SymbolicTensor;
    const down = tf.layers.conv2d({
      filters: 4,
      kernelSize: 1,
      strides: 2,
      useBias: false,
      kernelInitializer: tf.initializers.heNormal({ seed: 2 }),
    }).apply(h) as tf.SymbolicTensor;
    const main = tf.layers.conv2d({
      filters: 4,
      kernelSize: 3,
      strides: 2,
      padding: "same",
      kernelInitializer: tf.initializers.heNormal({ seed: 3 }),
    }).apply(h) as tf.SymbolicTensor;
    h = tf.layers.add().apply([main, down]) as tf.SymbolicTensor;
    h = tf.layers.globalAveragePooling2d({}).apply(h) as tf.SymbolicTensor;
    const out = tf.layers.dense({
      units: 3,
      kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }),
    }).apply(h) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    const images = randomArray(4 * 8 * 8 * 3, new Rng(5));
    const grads = async (backend: string) => {
      await tf.setBackend(backend);
      const { value, grads } = tf.variableGrads(() =>
        tf.tidy(() => {
          const y = model.apply(tf.tensor4d(images, [4, 8, 8, 3]), {
            training: true,
          }) as tf.Tensor;
          return tf.sum(tf.mul(y, tf.tensor1d([1, -2, 0.5])));
        })
      );
      const names = Object.keys(grads).sort();
      const result = {
        loss: value.dataSync() as Float32Array,
        names,
        values: names.map((n) => grads[n].dataSync() as Float32Array),
      };
      tf.dispose([value, ...Object.values(grads)]);
      return result;
    };
    const cpu = await grads("cpu");
    const nat = await grads(NATIVE_ENGINE);
    assert.deepEqual(nat.names, cpu.names);
    assert.ok(cpu.names.length >= 6);
    assertClose(nat.loss, cpu.loss, "loss");
    cpu.values.forEach((g, i) =>
      assertClose(nat.values[i], g, `gradient of ${cpu.names[i]}`)
    );
    model.dispose();
  },
});

Deno.test({
  name:
    "native relu keeps NaN and maps -Infinity and -0 to 0, and its one-pass gradient equals the cpu backend's dy * step(x)",
  ignore,
  async fn() {
    await tf.setBackend(NATIVE_ENGINE);
    const special = tf.relu(
      tf.tensor1d([-Infinity, -1, -0, 0, 2, NaN, Infinity]),
    );
    assert.deepEqual([...special.dataSync()], [0, 0, 0, 0, 2, NaN, Infinity]);
    assert.ok(Object.is(special.dataSync()[2], 0));
    special.dispose();
    const rng = new Rng(7);
    const x = randomArray(3 * 5 * 4, rng);
    const w = randomArray(3 * 5 * 4, rng);
    await compare("relu gradient", () => {
      const xt = tf.tensor3d(x, [3, 5, 4]);
      const wt = tf.tensor3d(w, [3, 5, 4]);
      return [
        tf.relu(xt),
        tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.relu(a), wt)))(xt),
      ];
    });
  },
});

Deno.test({
  name:
    "the fused batch-norm layer on native gives the stock tfjs layer's cpu output, moving statistics and gradients for x, gamma and beta",
  ignore,
  async fn() {
    const rng = new Rng(6);
    // [shape, spread, shift]: the last has a mean 100 times its spread
    const cases = [
      [[4, 5, 3, 8], 1, 0],
      [[7, 16], 3, 2],
      [[2, 3, 3, 5], 0.1, 10],
    ] as const;
    for (const [shape, scaleBy, shift] of cases) {
      const n = shape.reduce((p, q) => p * q, 1);
      const c = shape[shape.length - 1];
      // a per-channel offset and spread, so the statistics matter
      const x = randomArray(n, rng).map((v, i) =>
        v * scaleBy * (1 + (i % c) / c) + shift + (i % c)
      );
      const weights = randomArray(n, rng);
      const gamma = randomArray(c, rng).map((v) => v + 1.5);
      const beta = randomArray(c, rng);
      const run = async (backend: string, fused: boolean) => {
        await tf.setBackend(backend);
        const layer = fused
          ? fusedBatchNormalization({ axis: -1, momentum: 0.9, epsilon: 1e-5 })
          : tf.layers.batchNormalization({
            axis: -1,
            momentum: 0.9,
            epsilon: 1e-5,
          });
        layer.build([...shape]);
        layer.setWeights([
          tf.tensor1d(gamma),
          tf.tensor1d(beta),
          tf.zeros([c]),
          tf.ones([c]),
        ]);
        const xt = tf.tensor(x, [...shape]);
        const wt = tf.tensor(weights, [...shape]);
        const vars = layer.trainableWeights.map((v) => v.read() as tf.Variable);
        const f = (input: tf.Tensor) =>
          tf.sum(
            tf.mul(layer.apply(input, { training: true }) as tf.Tensor, wt),
          );
        const y = layer.apply(xt, { training: true }) as tf.Tensor;
        const dx = tf.grad(f)(xt);
        const { grads } = tf.variableGrads(() => f(xt) as tf.Scalar, vars);
        const out = [
          y,
          dx,
          ...vars.map((v) => grads[v.name]),
          ...layer.getWeights().slice(2),
        ].map((t) => t.dataSync() as Float32Array);
        return out;
      };
      const want = await run("cpu", false);
      const got = await run(NATIVE_ENGINE, true);
      const names = [
        "y",
        "dx",
        "dgamma",
        "dbeta",
        "moving mean",
        "moving variance",
      ];
      want.forEach((w, i) =>
        assertClose(got[i], w, `${JSON.stringify(shape)} ${names[i]}`)
      );
    }
  },
});

Deno.test({
  name:
    "a disposed native output's buffer serves the next output of its size, while dataSync arrays and reshaped views keep their values",
  ignore,
  async fn() {
    await tf.setBackend(NATIVE_ENGINE);
    const a = tf.tensor1d([1, 2, 3, 4]);
    const sum = tf.add(a, a);
    const read = sum.dataSync();
    const shared = tf.reshape(sum, [2, 2]);
    const before = pool.freeBytes;
    sum.dispose();
    // the reshape still holds the buffer: nothing went back to the pool
    assert.equal(pool.freeBytes, before);
    shared.dispose();
    assert.equal(pool.freeBytes, before + 16);
    // the next 4-float output reuses that buffer; the array read earlier is a copy
    const product = tf.mul(a, a);
    assert.equal(pool.freeBytes, before);
    assert.deepEqual([...read], [2, 4, 6, 8]);
    assert.deepEqual([...product.dataSync()], [1, 4, 9, 16]);
    tf.dispose([a, product]);
  },
});

Deno.test("the missing-oneDNN note is one line naming the package to install", () => {
  assert.ok(!DNNL_MISSING.includes("\n"));
  assert.match(DNNL_MISSING, /apt-get install libdnnl2/);
});

Deno.test("the missing-OpenBLAS message is one line naming the package to install", () => {
  assert.ok(!BLAS_MISSING.includes("\n"));
  assert.match(BLAS_MISSING, /apt-get install libopenblas0-pthread/);
  assert.ok(new BackendError(BLAS_MISSING) instanceof Error);
});
