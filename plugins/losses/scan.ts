/**
 * The K-nearest-neighbour clustering loss of CLKNN (paper eq. 7-8), which
 * is the SCAN loss (Van Gansbeke et al., ECCV 2020).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { PluginDef } from "../../core/registry.ts";
import type { ClusteringLoss, LossValue } from "../../core/interfaces.ts";

/**
 * Dot products of anchor and neighbour assignments are clamped to at least
 * this before the log, so an anchor whose neighbour has an orthogonal
 * assignment costs at most -log(1e-7) ~= 16.1 instead of infinity.
 */
export const SCAN_DOT_EPS = 1e-7;
/** The mean assignment is clamped to at least this inside `p log p` (SCAN uses 1e-8 too). */
export const SCAN_PROB_EPS = 1e-8;

/**
 * The SCAN loss on softmax assignments `[N, C]` of anchors and of one
 * neighbour per anchor:
 *
 * - consistency `L_K = -mean_i log max(<p(a_i), p(n_i)>, 1e-7)` (eq. 7, one
 *   neighbour per anchor per step as in SCAN's code; averaging over steps
 *   covers all K neighbours);
 * - entropy `H(mean_i p(a_i))` of the mean assignment over the batch;
 * - `total = consistency - entropyWeight * entropy`.
 *
 * The paper's eq. 8 adds the entropy with no weight (and with a sign that
 * would reward collapse if taken literally); SCAN's code subtracts it with
 * weight 5.0, which is our default. Like SCAN, the entropy is taken over
 * the anchors' assignments only.
 */
export function scanLoss(
  anchors: tf.Tensor2D,
  neighbours: tf.Tensor2D,
  entropyWeight = 5.0,
): LossValue {
  return tf.tidy(() => {
    const dots = tf.sum(tf.mul(anchors, neighbours), 1); // [N]
    const consistency = tf.neg(
      tf.mean(tf.log(tf.maximum(dots, SCAN_DOT_EPS))),
    ) as tf.Scalar;
    const p = tf.mean(anchors, 0); // [C]
    const entropy = tf.neg(
      tf.sum(tf.mul(p, tf.log(tf.maximum(p, SCAN_PROB_EPS)))),
    ) as tf.Scalar;
    const total = tf.sub(
      consistency,
      tf.mul(entropy, entropyWeight),
    ) as tf.Scalar;
    return { total, terms: { consistency, entropy } };
  });
}

const schema = {
  entropy_weight: {
    type: "number",
    default: 5.0,
    min: 0,
    doc: "weight of the (subtracted) assignment entropy (SCAN: 5.0)",
  },
} as const;

/** `scan`: CLKNN's stage-2 K-nearest-neighbour loss (eq. 7-8, SCAN). */
export const scan: PluginDef<ClusteringLoss, typeof schema> = {
  name: "scan",
  description:
    "Neighbour consistency minus weighted assignment entropy (CLKNN eq. 7-8, SCAN)",
  options: schema,
  create({ entropy_weight }) {
    return {
      name: "scan",
      stage: "clustering",
      compute({ anchors, neighbours }) {
        return scanLoss(anchors, neighbours, entropy_weight);
      },
    };
  },
};
