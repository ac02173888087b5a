import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../core/random.ts";
import { ConfigError } from "../core/errors.ts";
import { readOptions } from "../core/options.ts";
import type { OptionSchema } from "../core/options.ts";
import type { PluginDef } from "../core/registry.ts";
import type {
  ClusteringLoss,
  RepresentationLoss,
  SelfLabelLoss,
} from "../core/interfaces.ts";
import {
  instanceNtXent,
  instanceNtXentLoss,
} from "../plugins/losses/instance_ntxent.ts";
import {
  clusterContrastive,
  clusterContrastiveLoss,
} from "../plugins/losses/cluster_contrastive.ts";
import {
  doubleContrastive,
  doubleContrastiveLoss,
} from "../plugins/losses/double_contrastive.ts";
import { scan, scanLoss } from "../plugins/losses/scan.ts";
import { selfLabel, selfLabelLoss } from "../plugins/losses/self_label.ts";

await tf.setBackend("cpu");

type Mat = number[][];

function randn(rng: Rng, n: number, d: number): Mat {
  return Array.from(
    { length: n },
    () => Array.from({ length: d }, () => rng.normal()),
  );
}

function softmaxRows(x: Mat): Mat {
  return x.map((row) => {
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  });
}

function transpose(x: Mat): Mat {
  return x[0].map((_, j) => x.map((row) => row[j]));
}

// --- naive references, plain loops in float64 ---

function naiveNtXent(a: Mat, b: Mat, t: number): number {
  const rows = [...a, ...b].map((r) => {
    const norm = Math.sqrt(r.reduce((s, v) => s + v * v, 0));
    return r.map((v) => v / norm);
  });
  const n2 = rows.length;
  const n = n2 / 2;
  let total = 0;
  for (let i = 0; i < n2; i++) {
    const pos = (i + n) % n2;
    let denom = 0;
    let posSim = 0;
    for (let j = 0; j < n2; j++) {
      if (j === i) continue;
      let dot = 0;
      for (let k = 0; k < rows[i].length; k++) dot += rows[i][k] * rows[j][k];
      denom += Math.exp(dot / t);
      if (j === pos) posSim = dot / t;
    }
    total += -Math.log(Math.exp(posSim) / denom);
  }
  return total / n2;
}

function naiveNegEntropy(c: Mat): number {
  const k = c[0].length;
  const cols = new Array(k).fill(0);
  for (const row of c) for (let j = 0; j < k; j++) cols[j] += row[j];
  const s = cols.reduce((a, b) => a + b, 0);
  let v = Math.log(k);
  for (const col of cols) v += (col / s) * Math.log(col / s);
  return v;
}

function naiveScan(a: Mat, nb: Mat, w: number) {
  let cons = 0;
  for (let i = 0; i < a.length; i++) {
    let dot = 0;
    for (let j = 0; j < a[i].length; j++) dot += a[i][j] * nb[i][j];
    cons -= Math.log(dot);
  }
  cons /= a.length;
  let ent = 0;
  for (let j = 0; j < a[0].length; j++) {
    let p = 0;
    for (const row of a) p += row[j];
    p /= a.length;
    ent -= p * Math.log(p);
  }
  return { total: cons - w * ent, consistency: cons, entropy: ent };
}

function naiveSelfLabel(weak: Mat, logits: Mat, thr: number, balance: boolean) {
  const targets: number[] = [];
  const rows: number[] = [];
  for (let i = 0; i < weak.length; i++) {
    const m = Math.max(...weak[i]);
    if (m > thr) {
      rows.push(i);
      targets.push(weak[i].indexOf(m));
    }
  }
  const count = new Map<number, number>();
  for (const t of targets) count.set(t, (count.get(t) ?? 0) + 1);
  let num = 0;
  let den = 0;
  rows.forEach((i, r) => {
    const w = balance ? targets.length / count.get(targets[r])! : 1;
    const row = logits[i];
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    num += w * (lse - row[targets[r]]);
    den += w;
  });
  return den === 0 ? 0 : num / den;
}

function close(actual: number, expected: number, rel = 1e-5) {
  const err = Math.abs(actual - expected) / Math.max(1, Math.abs(expected));
  assert.ok(err <= rel, `got ${actual}, expected ${expected} (rel err ${err})`);
}

const SHAPES: [number, number][] = [];
for (const n of [2, 5, 16]) for (const d of [3, 10, 128]) SHAPES.push([n, d]);

function value(t: tf.Tensor): number {
  return t.dataSync()[0];
}

function build<T, S extends OptionSchema>(
  def: PluginDef<T, S>,
  raw: unknown,
): T {
  return def.create(readOptions(`loss "${def.name}"`, raw, def.options));
}

Deno.test("instanceNtXent equals a naive loop reference on random inputs", () => {
  const rng = new Rng(1);
  for (const [n, d] of SHAPES) {
    for (const t of [0.5, 0.1]) {
      const a = randn(rng, n, d);
      const b = randn(rng, n, d);
      const got = tf.tidy(() =>
        value(instanceNtXent(tf.tensor2d(a), tf.tensor2d(b), t))
      );
      close(got, naiveNtXent(a, b, t));
    }
  }
});

Deno.test("clusterContrastive equals a column NT-Xent plus CC's entropy term computed by loops", () => {
  const rng = new Rng(2);
  for (const [n, c] of SHAPES) {
    const a = softmaxRows(randn(rng, n, c));
    const b = softmaxRows(randn(rng, n, c));
    const got = tf.tidy(() => {
      const r = clusterContrastive(tf.tensor2d(a), tf.tensor2d(b), 1.0, 0.7);
      return [value(r.total), value(r.cluster), value(r.entropy)];
    });
    const cl = naiveNtXent(transpose(a), transpose(b), 1.0);
    const ent = naiveNegEntropy(a) + naiveNegEntropy(b);
    close(got[1], cl);
    close(got[2], ent);
    close(got[0], cl + 0.7 * ent);
  }
});

Deno.test("doubleContrastive is the instance loss plus the cluster loss, and ablations drop a part", () => {
  const rng = new Rng(3);
  for (const [n, d] of SHAPES) {
    const z1 = randn(rng, n, d);
    const z2 = randn(rng, n, d);
    const c1 = softmaxRows(randn(rng, n, 10));
    const c2 = softmaxRows(randn(rng, n, 10));
    const inst = naiveNtXent(z1, z2, 0.5);
    const clu = naiveNtXent(transpose(c1), transpose(c2), 1.0);
    const ent = naiveNegEntropy(c1) + naiveNegEntropy(c2);
    for (
      const [instance, cluster] of [[true, true], [true, false], [false, true]]
    ) {
      const loss = build(doubleContrastiveLoss, { instance, cluster });
      assert.deepEqual(loss.uses, { instance, cluster });
      const got = tf.tidy(() => {
        const v = loss.compute({
          z1: tf.tensor2d(z1),
          z2: tf.tensor2d(z2),
          c1: tf.tensor2d(c1),
          c2: tf.tensor2d(c2),
        });
        return {
          total: value(v.total),
          keys: Object.keys(v.terms).sort(),
        };
      });
      const expected = (instance ? inst : 0) + (cluster ? clu + ent : 0);
      close(got.total, expected);
      const keys = [
        ...(cluster ? ["cluster", "entropy"] : []),
        ...(instance ? ["instance"] : []),
      ];
      assert.deepEqual(got.keys, keys);
    }
    const direct = tf.tidy(() =>
      value(
        doubleContrastive(
          tf.tensor2d(z1),
          tf.tensor2d(z2),
          tf.tensor2d(c1),
          tf.tensor2d(c2),
          {
            instanceTemperature: 0.2,
            clusterTemperature: 0.5,
            entropyWeight: 2,
            instance: true,
            cluster: true,
          },
        ).total,
      )
    );
    close(
      direct,
      naiveNtXent(z1, z2, 0.2) +
        naiveNtXent(transpose(c1), transpose(c2), 0.5) + 2 * ent,
    );
  }
});

Deno.test("scanLoss equals a naive loop reference of consistency minus weighted entropy", () => {
  const rng = new Rng(4);
  for (const [n, c] of SHAPES) {
    const a = softmaxRows(randn(rng, n, c));
    const b = softmaxRows(randn(rng, n, c));
    for (const w of [5, 0, 1.5]) {
      const got = tf.tidy(() => {
        const v = scanLoss(tf.tensor2d(a), tf.tensor2d(b), w);
        return [
          value(v.total),
          value(v.terms.consistency),
          value(v.terms.entropy),
        ];
      });
      const ref = naiveScan(a, b, w);
      close(got[0], ref.total);
      close(got[1], ref.consistency);
      close(got[2], ref.entropy);
    }
  }
});

Deno.test("scanLoss clamps a zero anchor-neighbour dot product to 1e-7", () => {
  const got = tf.tidy(() =>
    value(scanLoss(tf.tensor2d([[1, 0]]), tf.tensor2d([[0, 1]]), 0).total)
  );
  close(got, -Math.log(1e-7));
});

Deno.test("selfLabelLoss equals a naive weighted cross-entropy over confident samples", () => {
  const rng = new Rng(5);
  for (const [n, c] of SHAPES) {
    // Sharp weak predictions so that some, not all, pass the threshold.
    const weak = softmaxRows(randn(rng, n, c).map((r) => r.map((v) => v * 6)));
    const logits = randn(rng, n, c);
    for (const balance of [true, false]) {
      for (const thr of [0.5, 0.9]) {
        const got = tf.tidy(() =>
          value(
            selfLabelLoss(tf.tensor2d(weak), tf.tensor2d(logits), thr, balance)
              .total,
          )
        );
        close(got, naiveSelfLabel(weak, logits, thr, balance));
      }
    }
  }
});

Deno.test("selfLabelLoss is zero with a zero gradient when no sample is confident", () => {
  const weak = tf.tensor2d([[0.5, 0.5], [0.4, 0.6]]);
  const logits = tf.variable(tf.tensor2d([[1, 2], [3, -1]]));
  const { value: v, grads } = tf.variableGrads(
    () => selfLabelLoss(weak, logits, 0.99).total,
    [logits],
  );
  assert.equal(value(v), 0);
  assert.deepEqual([...grads[logits.name].dataSync()], [0, 0, 0, 0]);
  const share = tf.tidy(() =>
    value(selfLabelLoss(weak, logits, 0.55).terms.confident)
  );
  close(share, 0.5);
  tf.dispose([weak, logits, v, grads[logits.name]]);
});

Deno.test("the self-label plugin's pseudo-labels, read asynchronously before the tape, give the very loss and gradient of a synchronous read", async () => {
  const rng = new Rng(11);
  const loss: SelfLabelLoss = build(selfLabel, { threshold: 0.9 });
  const weak = tf.tensor2d(
    softmaxRows(randn(rng, 16, 10).map((r) => r.map((v) => v * 6))),
  );
  const logits = tf.variable(tf.tensor2d(randn(rng, 16, 10)));
  const pseudo = await loss.pseudoLabels!(weak);
  assert.ok(pseudo.confident > 0 && pseudo.confident < 16);
  const [withPseudo, withoutPseudo] = [pseudo, undefined].map((p) =>
    tf.variableGrads(
      () => loss.compute({ weak, strongLogits: logits, pseudo: p }).total,
      [logits],
    )
  );
  assert.equal(value(withPseudo.value), value(withoutPseudo.value));
  assert.deepEqual(
    [...withPseudo.grads[logits.name].dataSync()],
    [...withoutPseudo.grads[logits.name].dataSync()],
  );
  tf.dispose([
    weak,
    logits,
    withPseudo.value,
    withoutPseudo.value,
    withPseudo.grads[logits.name],
    withoutPseudo.grads[logits.name],
  ]);
});

// --- each loss falls over a few Adam steps, with finite gradients ---

function descend(
  vars: tf.Variable[],
  f: () => tf.Scalar,
  steps = 20,
  lr = 0.05,
): { first: number; last: number } {
  const opt = tf.train.adam(lr);
  let first = NaN;
  for (let s = 0; s < steps; s++) {
    const { value: v, grads } = tf.variableGrads(f, vars);
    for (const g of Object.values(grads)) {
      assert.ok(g.dataSync().every(Number.isFinite), "gradient is not finite");
    }
    if (s === 0) first = value(v);
    opt.applyGradients(
      grads as tf.NamedTensorMap as Record<string, tf.Variable>,
    );
    tf.dispose([v, ...Object.values(grads)]);
  }
  const last = value(tf.tidy(f));
  opt.dispose();
  tf.dispose(vars);
  return { first, last };
}

function falls(first: number, last: number, margin: number) {
  assert.ok(
    last < first - margin,
    `loss went from ${first} to ${last}; expected a drop of more than ${margin}`,
  );
}

Deno.test("each representation loss falls over 20 Adam steps on a tiny batch", () => {
  const rng = new Rng(6);
  for (
    const def of [
      instanceNtXentLoss,
      clusterContrastiveLoss,
      doubleContrastiveLoss,
    ]
  ) {
    const loss: RepresentationLoss = build(
      def as PluginDef<RepresentationLoss>,
      {},
    );
    const z1 = tf.variable(tf.tensor2d(randn(rng, 8, 6)));
    const z2 = tf.variable(tf.tensor2d(randn(rng, 8, 6)));
    const l1 = tf.variable(tf.tensor2d(randn(rng, 8, 4)));
    const l2 = tf.variable(tf.tensor2d(randn(rng, 8, 4)));
    const { first, last } = descend([z1, z2, l1, l2], () =>
      loss.compute({
        z1,
        z2,
        c1: tf.softmax(l1),
        c2: tf.softmax(l2),
      }).total);
    falls(first, last, 0.1);
  }
});

Deno.test("the scan loss falls over 20 Adam steps on a tiny batch", () => {
  const rng = new Rng(7);
  const loss: ClusteringLoss = build(scan, {});
  const a = tf.variable(tf.tensor2d(randn(rng, 8, 4)));
  const b = tf.variable(tf.tensor2d(randn(rng, 8, 4)));
  const { first, last } = descend(
    [a, b],
    () =>
      loss.compute({ anchors: tf.softmax(a), neighbours: tf.softmax(b) }).total,
  );
  falls(first, last, 0.5);
});

Deno.test("the self-label loss falls over 20 Adam steps on a tiny batch", () => {
  const rng = new Rng(8);
  const loss: SelfLabelLoss = build(selfLabel, { threshold: 0.9 });
  const weak = tf.softmax(tf.tensor2d(randn(rng, 8, 4)).mul(8)) as tf.Tensor2D;
  const logits = tf.variable(tf.tensor2d(randn(rng, 8, 4)));
  const { first, last } = descend(
    [logits],
    () => loss.compute({ weak, strongLogits: logits }).total,
  );
  falls(first, last, 0.5);
  weak.dispose();
});

Deno.test("invalid loss options fail with a ConfigError naming the option", () => {
  const cases: [PluginDef<unknown>, Record<string, unknown>, string][] = [
    [
      instanceNtXentLoss as PluginDef<unknown>,
      { temperature: 0 },
      "temperature",
    ],
    [
      clusterContrastiveLoss as PluginDef<unknown>,
      { temperature: -1 },
      "temperature",
    ],
    [
      clusterContrastiveLoss as PluginDef<unknown>,
      { entropy_weight: -0.5 },
      "entropy_weight",
    ],
    [
      doubleContrastiveLoss as PluginDef<unknown>,
      { instance_temperature: 0 },
      "instance_temperature",
    ],
    [
      doubleContrastiveLoss as PluginDef<unknown>,
      { cluster_temperature: 0 },
      "cluster_temperature",
    ],
    [
      doubleContrastiveLoss as PluginDef<unknown>,
      { entropy_weight: -1 },
      "entropy_weight",
    ],
    [doubleContrastiveLoss as PluginDef<unknown>, {
      instance: false,
      cluster: false,
    }, "instance"],
    [scan as PluginDef<unknown>, { entropy_weight: -5 }, "entropy_weight"],
    [selfLabel as PluginDef<unknown>, { threshold: 0 }, "threshold"],
    [selfLabel as PluginDef<unknown>, { threshold: 1.5 }, "threshold"],
  ];
  for (const [def, raw, key] of cases) {
    assert.throws(
      () => build(def, raw),
      (e: unknown) =>
        e instanceof ConfigError && e.message.includes(`"${key}"`),
      `${def.name} ${JSON.stringify(raw)}`,
    );
  }
});
