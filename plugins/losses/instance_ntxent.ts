/**
 * The instance-level contrastive loss of CLKNN (paper eq. 1-3), in the
 * symmetric NT-Xent form of SimCLR and Contrastive Clustering (CC).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { PluginDef } from "../../core/registry.ts";
import type { RepresentationLoss } from "../../core/interfaces.ts";

/** Rows shorter than this are treated as having this norm, so a zero row gives zeros, not NaN. */
const NORM_EPS = 1e-12;

/** Scales every row of `x` to unit L2 norm (rows of norm below 1e-12 are divided by 1e-12). */
export function l2NormalizeRows(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const sq = tf.sum(tf.square(x), 1, true);
    return tf.mul(x, tf.rsqrt(tf.maximum(sq, NORM_EPS * NORM_EPS)));
  });
}

/**
 * Symmetric NT-Xent over the 2N rows of `a` and `b` (`[N, D]` each), where
 * row i of `a` and row i of `b` are the positive pair. Similarity is cosine
 * (rows are L2-normalised here, so callers need not normalise). For each of
 * the 2N rows the loss is `-log(exp(s_pos / t) / sum_{j != self} exp(s_j / t))`
 * over the 2N - 1 other rows (both views), averaged over the 2N rows.
 *
 * This is the form of SimCLR and of CC's code, which the paper builds on.
 * The paper's printed eq. 2 differs: its denominator sums, over j = 1..N,
 * only the cross-view terms `sim(I_i^1, I_j^2) + sim(I_i^2, I_j^1)` (so the
 * positive appears twice and same-view negatives never). We follow the
 * standard form because the paper cites SimCLR/CC for it and reports
 * numbers from that code; the printed denominator reads as a typo.
 *
 * @param temperature must be > 0 (not checked here; the plugin checks it).
 * @returns a scalar.
 */
export function ntXent(
  a: tf.Tensor2D,
  b: tf.Tensor2D,
  temperature: number,
): tf.Scalar {
  return tf.tidy(() => {
    const n = a.shape[0];
    const z = l2NormalizeRows(tf.concat([a, b], 0)); // [2N, D]
    // An explicit transpose: matMul with transposeB is far slower on wasm.
    const sim = tf.div(tf.matMul(z, tf.transpose(z)), temperature); // [2N, 2N]
    // Masking the diagonal with a huge negative removes self-pairs from the
    // log-sum-exp exactly (exp underflows to 0) and gives them zero gradient.
    const masked = tf.sub(sim, tf.mul(tf.eye(2 * n), 1e9));
    const lse = tf.logSumExp(masked, 1); // [2N]
    const pos = tf.div(
      tf.sum(tf.mul(z.slice([0, 0], [n, -1]), z.slice([n, 0], [n, -1])), 1),
      temperature,
    ); // [N]
    const positives = tf.concat([pos, pos], 0); // [2N]
    return tf.mean(tf.sub(lse, positives)) as tf.Scalar;
  });
}

/** The instance loss of eq. 3 on two views' embeddings `[N, D]`. */
export function instanceNtXent(
  z1: tf.Tensor2D,
  z2: tf.Tensor2D,
  temperature = 0.5,
): tf.Scalar {
  return ntXent(z1, z2, temperature);
}

const schema = {
  temperature: {
    type: "number",
    default: 0.5,
    min: 0,
    exclusiveMin: true,
    doc: "NT-Xent temperature (CC: 0.5)",
  },
} as const;

/** `instance-ntxent`: the instance-level contrastive loss alone (SimCLR-style). */
export const instanceNtXentLoss: PluginDef<RepresentationLoss, typeof schema> =
  {
    name: "instance-ntxent",
    description:
      "Symmetric NT-Xent over the 2N augmented views (CLKNN eq. 1-3, SimCLR/CC)",
    options: schema,
    create({ temperature }) {
      return {
        name: "instance-ntxent",
        stage: "representation",
        uses: { instance: true, cluster: false },
        compute({ z1, z2 }) {
          const instance = instanceNtXent(z1, z2, temperature);
          return { total: instance, terms: { instance } };
        },
      };
    },
  };
