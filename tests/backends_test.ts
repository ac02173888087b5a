import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { BackendError } from "../core/errors.ts";
import type { Backend, BackendInfo } from "../core/interfaces.ts";
import { type PluginDef, Registry } from "../core/registry.ts";
import { Rng } from "../core/random.ts";
import { bundledRegistries } from "../plugins/bundled.ts";
import { buildSmallConvnet } from "../plugins/backbones/small_convnet.ts";
import { autoBackend } from "../plugins/backends/auto.ts";
import { cpu } from "../plugins/backends/cpu.ts";
import { BLAS_MISSING, openBlas } from "../plugins/backends/native_blas.ts";
import {
  defaultSearchDirs,
  findTfjsNode,
  tensorflowBackend,
  type TensorflowVariant,
  TFJS_NODE_VERSION,
} from "../plugins/backends/tensorflow.ts";
import { wasm, WASM_MAX_THREADS } from "../plugins/backends/wasm.ts";
import { WASM_KERNELS } from "../plugins/backends/wasm_kernels.ts";
import {
  WEBGPU_FLAG_MISSING,
  WEBGPU_NO_ADAPTER,
  WEBGPU_NO_SYNC_READ,
  webgpuBackend,
} from "../plugins/backends/webgpu.ts";

// The wasm module is started once per process; every test below shares it.
const wasmInfo = await wasm.create({ threads: 0 }).load();

let gpuSkip = "";
try {
  await webgpuBackend().load();
} catch (err) {
  if (!(err instanceof BackendError)) throw err;
  gpuSkip = err.message;
  console.log(
    `webgpu tests skipped: ${gpuSkip} (apt-get install mesa-vulkan-drivers gives a software device)`,
  );
}

let blasMissing = "";
try {
  openBlas();
} catch (err) {
  blasMissing = (err as Error).message;
}

// through the plugin, which silences the cpu backend's advert for tfjs-node
await cpu.create({}).load();

function randomArray(n: number, rng: Rng, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform(lo, hi);
  return a;
}

/** Largest absolute difference over the largest absolute reference value. */
function relativeError(got: ArrayLike<number>, want: ArrayLike<number>) {
  assert.equal(got.length, want.length, "lengths differ");
  let scale = 1e-12, worst = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]));
    worst = Math.max(worst, Math.abs(got[i] - want[i]));
  }
  return worst / scale;
}

/** Runs `f` on `backend` and reads every output back. */
async function valuesOn(
  backend: string,
  f: () => tf.Tensor[],
): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(f);
  const values = await Promise.all(
    outs.map(async (t) => Float32Array.from(await t.data())),
  );
  tf.dispose(outs);
  return values;
}

/** `f`'s outputs on `backend` and on cpu agree to `tol` relative error. */
async function assertMatchesCpu(
  backend: string,
  what: string,
  f: () => tf.Tensor[],
  tol: number,
): Promise<number> {
  const want = await valuesOn("cpu", f);
  const got = await valuesOn(backend, f);
  let worst = 0;
  got.forEach((g, i) => {
    const err = relativeError(g, want[i]);
    assert.ok(
      err < tol,
      `${what}: output ${i} on ${backend} is off by ${err} relative to cpu (limit ${tol})`,
    );
    assert.ok(
      want[i].some((v) => v !== 0),
      `${what}: output ${i} is all zeros, so it checks nothing`,
    );
    worst = Math.max(worst, err);
  });
  await tf.setBackend("cpu");
  return worst;
}

/**
 * An op's value and its gradients with respect to every input, under a loss
 * that weighs each output element differently (so every gradient entry is
 * checked, not only their sum).
 */
function withGrads(
  inputs: { values: Float32Array; shape: number[] }[],
  op: (...xs: tf.Tensor[]) => tf.Tensor,
  weightSeed: number,
): () => tf.Tensor[] {
  return () => {
    const xs = inputs.map((i) => tf.tensor(i.values, i.shape));
    const y = op(...xs);
    const w = tf.tensor(randomArray(y.size, new Rng(weightSeed)), y.shape);
    const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(op(...a), w)))(
      xs,
    );
    return [y, ...grads];
  };
}

Deno.test("wasm loads with SIMD and one thread per core, up to 8, and says so", () => {
  const cores = Math.min(navigator.hardwareConcurrency, WASM_MAX_THREADS);
  assert.equal(wasmInfo.engine, "wasm");
  assert.equal(wasmInfo.threads, cores, wasmInfo.detail);
  assert.equal(
    wasmInfo.detail,
    `SIMD on, ${cores} thread${cores === 1 ? "" : "s"}`,
  );
});

Deno.test({
  name:
    "wasm with 2 threads hands a real share of a convolution to a second thread",
  ignore: wasmInfo.threads! < 2 || Deno.build.os !== "linux",
  async fn() {
    // user + system CPU ticks from a /proc stat file (Linux only)
    const ticks = (path: string) => {
      const stat = Deno.readTextFileSync(path);
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return Number(f[11]) + Number(f[12]);
    };
    // Emscripten's threads are Deno workers, named worker-<n>
    const workerTicks = () => {
      let sum = 0;
      for (const t of Deno.readDirSync("/proc/self/task")) {
        const dir = `/proc/self/task/${t.name}`;
        if (Deno.readTextFileSync(`${dir}/comm`).startsWith("worker")) {
          sum += ticks(`${dir}/stat`);
        }
      }
      return sum;
    };
    await tf.setBackend("wasm");
    const x = tf.randomUniform([32, 32, 32, 32], -1, 1, "float32", 1);
    const w = tf.randomUniform([3, 3, 32, 32], -1, 1, "float32", 2);
    const w0 = workerTicks(), p0 = ticks("/proc/self/stat");
    for (let i = 0; i < 8; i++) {
      const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, "same");
      await y.data();
      y.dispose();
    }
    const worker = workerTicks() - w0, all = ticks("/proc/self/stat") - p0;
    tf.dispose([x, w]);
    await tf.setBackend("cpu");
    // with one thread the workers would use nothing; evenly shared, half
    assert.ok(
      worker >= 0.15 * all,
      `worker threads used ${worker} of the process's ${all} CPU ticks: the second thread did not share the work`,
    );
  },
});

Deno.test("wasm has clknn's Conv2DBackpropFilter, Conv2DBackpropInput, Identity and MaxPoolGrad installed, and Identity shares its input's buffer", async () => {
  for (const [name, kernelFunc] of Object.entries(WASM_KERNELS)) {
    assert.equal(tf.getKernel(name, "wasm")?.kernelFunc, kernelFunc, name);
  }
  await tf.setBackend("wasm");
  const x = tf.tensor1d([1.5, -2, 3]);
  const y = tf.clone(x); // runs the Identity kernel
  // no copy: the same data id, which outlives the input's disposal
  assert.equal(y.dataId, x.dataId);
  x.dispose();
  assert.deepEqual(Array.from(await y.data()), [1.5, -2, 3]);
  y.dispose();
  await tf.setBackend("cpu");
});

Deno.test("wasm conv2d, stride 1 and 2, same and valid padding, 1x1 and 3x3, with both gradients, matches cpu to 1e-4", async () => {
  const rng = new Rng(11);
  let checked = 0;
  for (const stride of [1, 2]) {
    for (const pad of ["same", "valid"] as const) {
      for (const k of [1, 3]) {
        // odd and even sizes give symmetric and lopsided "same" padding
        for (const [h, w] of [[7, 6], [8, 8]]) {
          const x = {
            values: randomArray(2 * h * w * 3, rng),
            shape: [2, h, w, 3],
          };
          const f = {
            values: randomArray(k * k * 3 * 5, rng),
            shape: [k, k, 3, 5],
          };
          await assertMatchesCpu(
            "wasm",
            `conv2d ${k}x${k} stride ${stride} ${pad} on ${h}x${w}`,
            withGrads(
              [x, f],
              (a, b) =>
                tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad),
              checked,
            ),
            1e-4,
          );
          checked++;
        }
      }
    }
  }
  assert.equal(checked, 16);
});

Deno.test("wasm fused conv2d with bias and relu (what conv layers with a bias run) and its three gradients match cpu to 1e-4", async () => {
  const rng = new Rng(12);
  await assertMatchesCpu(
    "wasm",
    "fused conv2d",
    withGrads(
      [
        { values: randomArray(2 * 9 * 9 * 4, rng), shape: [2, 9, 9, 4] },
        { values: randomArray(3 * 3 * 4 * 6, rng), shape: [3, 3, 4, 6] },
        { values: randomArray(6, rng), shape: [6] },
      ],
      (x, f, b) =>
        tf.fused.conv2d({
          x: x as tf.Tensor4D,
          filter: f as tf.Tensor4D,
          bias: b,
          strides: 2,
          pad: "same",
          activation: "relu",
        }),
      1,
    ),
    1e-4,
  );
});

Deno.test("wasm gradients of dense, batch norm, relu, add, zero padding, max-pool, avg-pool, global pool, softmax and log match cpu to 1e-4", async () => {
  const rng = new Rng(13);
  const t = (shape: number[], lo = -1, hi = 1) => ({
    values: randomArray(shape.reduce((a, b) => a * b), rng, lo, hi),
    shape,
  });
  const cases: [string, () => tf.Tensor[]][] = [
    [
      "dense (fused matMul + bias + relu)",
      withGrads(
        [t([6, 10]), t([10, 7]), t([7])],
        (x, w, b) =>
          tf.fused.matMul({
            a: x as tf.Tensor2D,
            b: w as tf.Tensor2D,
            bias: b,
            activation: "relu",
          }),
        2,
      ),
    ],
    [
      "dense (matMul + bias, linear)",
      withGrads(
        [t([6, 10]), t([10, 7]), t([7])],
        (x, w, b) => tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), b),
        3,
      ),
    ],
    [
      "batch norm in training mode (batch moments)",
      withGrads(
        [t([4, 5, 5, 6]), t([6], 0.5, 1.5), t([6])],
        (x, gamma, beta) => {
          const { mean, variance } = tf.moments(x, [0, 1, 2]);
          return tf.batchNorm(x, mean, variance, beta, gamma, 1e-5);
        },
        4,
      ),
    ],
    ["relu", withGrads([t([3, 4, 4, 5])], (x) => tf.relu(x), 5)],
    [
      "add with a broadcast bias",
      withGrads([t([2, 3, 4, 5]), t([5])], (a, b) => tf.add(a, b), 6),
    ],
    [
      "add of two branches",
      withGrads([t([2, 3, 4, 5]), t([2, 3, 4, 5])], (a, b) => tf.add(a, b), 7),
    ],
    [
      "zero padding",
      withGrads(
        [t([2, 5, 5, 3])],
        (x) => tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]),
        8,
      ),
    ],
    [
      "max-pool 3x3 stride 2 valid",
      withGrads(
        [t([2, 9, 9, 3])],
        (x) => tf.maxPool(x as tf.Tensor4D, 3, 2, "valid"),
        9,
      ),
    ],
    [
      // wasm's own kernel got windows of only negative values wrong
      "max-pool 2x2 stride 1 valid on negative values",
      withGrads(
        [t([2, 6, 6, 3], -1, -0.1)],
        (x) => tf.maxPool(x as tf.Tensor4D, 2, 1, "valid"),
        15,
      ),
    ],
    [
      "ResNet's ImageNet stem pooling: relu, zero padding, max-pool 3x3 stride 2",
      withGrads(
        [t([2, 12, 12, 4])],
        (x) =>
          tf.maxPool(
            tf.pad(tf.relu(x), [[0, 0], [1, 1], [1, 1], [0, 0]]) as tf.Tensor4D,
            3,
            2,
            "valid",
          ),
        16,
      ),
    ],
    [
      "max-pool 2x2 stride 2 same",
      withGrads(
        [t([2, 7, 7, 3])],
        (x) => tf.maxPool(x as tf.Tensor4D, 2, 2, "same"),
        10,
      ),
    ],
    [
      "avg-pool 2x2 stride 2 valid",
      withGrads(
        [t([2, 8, 8, 3])],
        (x) => tf.avgPool(x as tf.Tensor4D, 2, 2, "valid"),
        11,
      ),
    ],
    [
      "global average pool",
      withGrads([t([3, 5, 4, 6])], (x) => tf.mean(x, [1, 2]), 12),
    ],
    ["softmax", withGrads([t([5, 10], -3, 3)], (x) => tf.softmax(x), 13)],
    ["log", withGrads([t([4, 9], 0.05, 3)], (x) => tf.log(x), 14)],
  ];
  for (const [what, f] of cases) {
    await assertMatchesCpu("wasm", what, f, 1e-4);
  }
});

/** The same small net, inputs and targets for every backend. */
function smallNetProblem() {
  const rng = new Rng(21);
  const images = randomArray(4 * 8 * 8 * 1, rng, 0, 1);
  const targets = randomArray(4 * 16, rng);
  return { images, targets };
}

interface StepResult {
  lossBefore: number;
  lossAfter: number;
  weights: Float32Array[];
}

/** One SGD step of the small convnet (width 4) on the current backend. */
async function trainOneStep(init: tf.Tensor[]): Promise<StepResult> {
  const { images, targets } = smallNetProblem();
  const model = buildSmallConvnet([8, 8, 1], 4, 5);
  model.setWeights(init);
  const x = tf.tensor4d(images, [4, 8, 8, 1]);
  const y = tf.tensor2d(targets, [4, 16]);
  const loss = () =>
    tf.tidy(() =>
      tf.losses.meanSquaredError(
        y,
        model.apply(x, { training: true }) as tf.Tensor,
      )
    ) as tf.Scalar;
  const optimizer = tf.train.sgd(0.5);
  const { value, grads } = tf.variableGrads(loss);
  optimizer.applyGradients(grads);
  const lossBefore = (await value.data())[0];
  const after = loss();
  const lossAfter = (await after.data())[0];
  const weights = await Promise.all(
    model.trainableWeights.map(async (w) =>
      Float32Array.from(await w.read().data())
    ),
  );
  tf.dispose([value, after, x, y, ...Object.values(grads)]);
  optimizer.dispose();
  model.dispose();
  return { lossBefore, lossAfter, weights };
}

Deno.test("every backend that loads here trains one step of the small convnet to the same weights as cpu, and lowers the loss", async () => {
  await tf.setBackend("cpu");
  const init = buildSmallConvnet([8, 8, 1], 4, 5).getWeights().map((w) =>
    tf.keep(w.clone())
  );
  const registries = bundledRegistries();
  const reference = await trainOneStep(init);
  assert.ok(reference.lossAfter < reference.lossBefore);
  const trained: string[] = [];
  const skipped: string[] = [];
  // auto only ever loads one of the others
  for (const name of registries.backend.names().filter((n) => n !== "auto")) {
    let info: BackendInfo;
    try {
      info = await registries.backend.build(name).load();
    } catch (err) {
      assert.ok(err instanceof BackendError, `${name}: ${err}`);
      skipped.push(name);
      continue;
    }
    assert.equal(info.name, name);
    assert.equal(tf.getBackend(), info.engine);
    const got = await trainOneStep(init);
    assert.ok(
      Math.abs(got.lossBefore - reference.lossBefore) <
        1e-4 * reference.lossBefore,
      `${name}: loss ${got.lossBefore}, cpu ${reference.lossBefore}`,
    );
    assert.ok(
      got.lossAfter < got.lossBefore,
      `${name}: loss went from ${got.lossBefore} to ${got.lossAfter}`,
    );
    got.weights.forEach((w, i) => {
      const err = relativeError(w, reference.weights[i]);
      assert.ok(err < 1e-4, `${name}: weight ${i} off by ${err}`);
    });
    trained.push(name);
  }
  await tf.setBackend("cpu");
  tf.dispose(init);
  // these need nothing installed, so they must have trained
  for (const name of ["cpu", "wasm"]) assert.ok(trained.includes(name));
  if (!blasMissing) assert.ok(trained.includes("native"));
  if (!gpuSkip) assert.ok(trained.includes("webgpu"));
  for (const name of ["tensorflow", "tensorflow-gpu"]) {
    const built = findTfjsNode(
      name === "tensorflow" ? "tfjs-node" : "tfjs-node-gpu",
      defaultSearchDirs(),
    )?.binding;
    if (!built) assert.ok(skipped.includes(name), name);
  }
});

/** A backend plugin that fails to load the way a missing dependency does. */
function failing(name: string, message: string): PluginDef<Backend> {
  return {
    name,
    description: "a stand-in that cannot load",
    options: {},
    create: () => ({
      name,
      load: () => Promise.reject(new BackendError(message)),
    }),
  };
}

Deno.test(
  "auto picks native here when OpenBLAS is present and names what it skipped",
  {
    ignore: blasMissing !== "",
  },
  async () => {
    const info = await bundledRegistries().backend.build("auto").load();
    assert.equal(info.name, "native");
    assert.equal(info.engine, "clknn-native");
    assert.match(info.detail!, /^auto chose native: OpenBLAS libopenblas/);
    for (const pkg of ["tfjs-node-gpu", "tfjs-node"]) {
      if (!findTfjsNode(pkg, defaultSearchDirs())) {
        assert.ok(
          info.detail!.includes(
            `(@tensorflow/${pkg}@${TFJS_NODE_VERSION} is not installed)`,
          ),
          info.detail,
        );
      }
    }
    await tf.setBackend("cpu");
  },
);

Deno.test("auto falls back to wasm when OpenBLAS is missing and says why it skipped each faster backend", async () => {
  const backends = new Registry<Backend>("backend");
  backends.register(
    failing(
      "tensorflow-gpu",
      "tensorflow-gpu backend: @tensorflow/tfjs-node-gpu@4.22.0 is not installed; run this",
    ),
  );
  backends.register(failing("native", BLAS_MISSING));
  backends.register(wasm);
  backends.register(cpu);
  const info = await autoBackend(backends).load();
  assert.equal(info.name, "wasm");
  assert.equal(tf.getBackend(), "wasm");
  assert.equal(
    info.detail,
    `auto chose wasm: ${wasmInfo.detail}; skipped tensorflow-gpu (@tensorflow/tfjs-node-gpu@4.22.0 is not installed), tensorflow (not registered), native (needs OpenBLAS: apt-get install libopenblas0-pthread)`,
  );
  await tf.setBackend("cpu");
});

Deno.test("auto skips a backend that crashes, and fails in one line listing every reason when none loads", async () => {
  const backends = new Registry<Backend>("backend");
  backends.register(failing("native", BLAS_MISSING));
  backends.register({
    name: "wasm",
    description: "a stand-in with a bug",
    options: {},
    create: () => ({
      name: "wasm",
      load: () => Promise.reject(new TypeError("x is undefined")),
    }),
  });
  backends.register(cpu);
  const info = await autoBackend(backends, ["native", "wasm", "cpu"]).load();
  assert.equal(info.name, "cpu");
  assert.match(info.detail!, /wasm \(error: x is undefined\)/);
  await assert.rejects(
    autoBackend(backends, ["native", "wasm"]).load(),
    (err: Error) => {
      assert.ok(err instanceof BackendError);
      assert.equal(
        err.message,
        "auto backend: no backend loaded; tried native (needs OpenBLAS: apt-get install libopenblas0-pthread), wasm (error: x is undefined)",
      );
      return true;
    },
  );
  await tf.setBackend("cpu");
});

/** Loads a tensorflow variant and returns its one-line error, timed. */
async function tensorflowError(
  variant: TensorflowVariant,
  dirs?: string[],
): Promise<{ message: string; ms: number }> {
  const t0 = performance.now();
  const err = await tensorflowBackend(variant, dirs).load().then(
    () => undefined,
    (e) => e,
  );
  const ms = performance.now() - t0;
  assert.ok(err instanceof BackendError, `${variant}: ${err}`);
  assert.ok(!err.message.includes("\n"), err.message);
  return { message: err.message, ms };
}

Deno.test({
  name:
    "tensorflow and tensorflow-gpu fail here at once, in one line naming the package, the install command and what the GPU build needs",
  ignore: [["tfjs-node"], ["tfjs-node-gpu"]].some(([p]) =>
    findTfjsNode(p, defaultSearchDirs())?.binding
  ),
  async fn() {
    const cpuOnly = await tensorflowError("tensorflow");
    assert.ok(cpuOnly.ms < 1000, `took ${cpuOnly.ms} ms`);
    assert.match(
      cpuOnly.message,
      /^tensorflow backend: @tensorflow\/tfjs-node@4\.22\.0 is not installed; /,
    );
    assert.ok(
      cpuOnly.message.includes(
        "`deno install --allow-scripts=npm:@tensorflow/tfjs-node npm:@tensorflow/tfjs-node@4.22.0`",
      ),
    );
    assert.ok(cpuOnly.message.includes("`deno approve-scripts`"));
    assert.ok(cpuOnly.message.includes("`npm rebuild @tensorflow/tfjs-node`"));
    assert.ok(!cpuOnly.message.includes("CUDA"));
    const gpu = await tensorflowError("tensorflow-gpu");
    assert.ok(gpu.ms < 1000, `took ${gpu.ms} ms`);
    assert.match(
      gpu.message,
      /^tensorflow-gpu backend: @tensorflow\/tfjs-node-gpu@4\.22\.0 is not installed; /,
    );
    assert.ok(
      gpu.message.endsWith(
        "; it needs CUDA 11.2 and cuDNN 8.1 on Linux x86-64",
      ),
    );
  },
});

Deno.test("tensorflow finds an install without its native binding, in node_modules or Deno's .deno store, and says to run its install script", async () => {
  const root = await Deno.makeTempDir({ prefix: "clknn-tfnode-" });
  try {
    const write = async (dir: string, version: string) => {
      await Deno.mkdir(dir, { recursive: true });
      await Deno.writeTextFile(
        join(dir, "package.json"),
        JSON.stringify({ name: "x", version, main: "dist/index.js" }),
      );
    };
    // a different version is not the one clknn's tfjs needs
    await write(join(root, "@tensorflow", "tfjs-node"), "4.21.0");
    assert.match(
      (await tensorflowError("tensorflow", [root])).message,
      /is not installed/,
    );
    const stored = join(
      root,
      ".deno",
      "@tensorflow+tfjs-node-gpu@4.22.0",
      "node_modules",
      "@tensorflow",
      "tfjs-node-gpu",
    );
    await write(stored, "4.22.0");
    const { message, ms } = await tensorflowError("tensorflow-gpu", [root]);
    assert.ok(ms < 1000);
    assert.equal(
      message,
      `tensorflow-gpu backend: @tensorflow/tfjs-node-gpu@4.22.0 in ${stored} has no native binding because its install script never ran (Deno skips install scripts); where the network allows, run \`deno approve-scripts npm:@tensorflow/tfjs-node-gpu\` or \`npm rebuild @tensorflow/tfjs-node-gpu\`, which downloads libtensorflow; it needs CUDA 11.2 and cuDNN 8.1 on Linux x86-64`,
    );
    // with the binding file present it is reported as built
    await Deno.mkdir(join(stored, "lib", "napi-v8"), { recursive: true });
    await Deno.writeFile(
      join(stored, "lib", "napi-v8", "tfjs_binding.node"),
      new Uint8Array(1),
    );
    assert.equal(
      findTfjsNode("tfjs-node-gpu", [root])?.binding,
      join(stored, "lib", "napi-v8", "tfjs_binding.node"),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("webgpu without navigator.gpu or without an adapter fails in one line saying what to do", async () => {
  await assert.rejects(
    webgpuBackend(() => undefined).load(),
    (err: Error) =>
      err instanceof BackendError && err.message === WEBGPU_FLAG_MISSING,
  );
  await assert.rejects(
    webgpuBackend(() => ({ requestAdapter: () => Promise.resolve(null) }))
      .load(),
    (err: Error) =>
      err instanceof BackendError && err.message === WEBGPU_NO_ADAPTER,
  );
  assert.match(WEBGPU_FLAG_MISSING, /--unstable-webgpu/);
  assert.match(WEBGPU_NO_ADAPTER, /apt-get install mesa-vulkan-drivers/);
});

Deno.test({
  name:
    "webgpu computes a small conv net's softmax output and every weight gradient as cpu does, to 1e-4, and refuses synchronous reads of GPU results in one line",
  ignore: gpuSkip !== "",
  async fn() {
    await tf.setBackend("cpu");
    const input = tf.input({ shape: [8, 8, 3] });
    let h = input;
    const rng = new Rng(31);
    for (const [filters, strides] of [[6, 1], [8, 2]]) {
      h = tf.layers.conv2d({
        filters,
        kernelSize: 3,
        strides,
        padding: "same",
        // a bias before batch norm has a zero gradient: nothing to compare
        useBias: false,
        kernelInitializer: tf.initializers.heNormal({ seed: rng.seed() }),
      }).apply(h) as tf.SymbolicTensor;
      h = tf.layers.batchNormalization({}).apply(h) as tf.SymbolicTensor;
      h = tf.layers.activation({ activation: "relu" }).apply(
        h,
      ) as tf.SymbolicTensor;
    }
    h = tf.layers.flatten().apply(h) as tf.SymbolicTensor;
    const out = tf.layers.dense({
      units: 5,
      activation: "softmax",
      kernelInitializer: tf.initializers.glorotUniform({ seed: rng.seed() }),
    }).apply(h) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    const images = randomArray(4 * 8 * 8 * 3, rng, 0, 1);
    const weights = randomArray(4 * 5, rng);
    const run = () => {
      const x = tf.tensor4d(images, [4, 8, 8, 3]);
      const w = tf.tensor2d(weights, [4, 5]);
      const f = () =>
        tf.sum(
          tf.mul(model.apply(x, { training: true }) as tf.Tensor, w),
        ) as tf.Scalar;
      const { grads } = tf.variableGrads(f);
      const names = Object.keys(grads).sort();
      return [
        model.apply(x, { training: true }) as tf.Tensor,
        ...names.map((n) => grads[n]),
      ];
    };
    const worst = await assertMatchesCpu("webgpu", "small conv net", run, 1e-4);
    assert.ok(worst < 1e-4);
    assert.equal(model.trainableWeights.length, 8);
    model.dispose();
    // a GPU result cannot be read synchronously; data still on the CPU can
    await tf.setBackend("webgpu");
    const onCpuSide = tf.tensor1d([1, 2, 3]);
    assert.deepEqual(Array.from(onCpuSide.dataSync()), [1, 2, 3]);
    // large enough that tfjs does not hand it to the CPU
    const onGpu = tf.tidy(() =>
      tf.matMul(tf.ones([64, 64]), tf.fill([64, 64], 0.5))
    );
    assert.throws(
      () => onGpu.dataSync(),
      (err: Error) =>
        err instanceof BackendError && err.message === WEBGPU_NO_SYNC_READ,
    );
    assert.ok((await onGpu.data()).every((v) => v === 32));
    tf.dispose([onCpuSide, onGpu]);
    await tf.setBackend("cpu");
  },
});
