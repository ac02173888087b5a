/**
 * The cluster-level contrastive loss of CLKNN (paper eq. 4-5): NT-Xent over
 * the columns of the two views' soft assignment matrices, plus CC's
 * cluster-size entropy term that keeps clusters from collapsing.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { PluginDef } from "../../core/registry.ts";
import type { RepresentationLoss } from "../../core/interfaces.ts";
import { ntXent } from "./instance_ntxent.ts";

/** Cluster-size probabilities are clamped to at least this inside the log (a column of zeros would give NaN). */
const PROB_EPS = 1e-12;

/**
 * NT-Xent over the 2C columns of `c1` and `c2` (`[N, C]` softmax rows):
 * column k of view 1 and column k of view 2 are the positive pair, cosine
 * similarity, every other of the 2C - 1 columns a negative (CC's code).
 *
 * The paper's printed eq. 4 differs: its denominator sums same-view terms
 * `sim(C_i^1, C_j^1) + sim(C_i^2, C_j^2)` over all j, including j = i and
 * never the cross-view negatives. We implement CC's form, which is what the
 * paper's reported results come from.
 */
export function clusterNtXent(
  c1: tf.Tensor2D,
  c2: tf.Tensor2D,
  temperature = 1.0,
): tf.Scalar {
  return tf.tidy(() => ntXent(tf.transpose(c1), tf.transpose(c2), temperature));
}

/**
 * `log C + sum_k p_k log p_k` for the cluster-size distribution `p` (column
 * sums of `c`, `[N, C]`, normalised to sum 1): 0 when clusters are equally
 * used, log C when one cluster takes everything. CC adds it once per view.
 */
export function clusterSizeNegEntropy(c: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const cols = tf.sum(c, 0); // [C]
    const p = tf.div(cols, tf.sum(cols));
    const plogp = tf.sum(tf.mul(p, tf.log(tf.maximum(p, PROB_EPS))));
    return tf.add(Math.log(c.shape[1]), plogp) as tf.Scalar;
  });
}

/** The parts of the cluster-level loss; `total = cluster + entropyWeight * entropy`. */
export interface ClusterContrastiveParts {
  total: tf.Scalar;
  /** The column NT-Xent (eq. 4-5). */
  cluster: tf.Scalar;
  /** Sum over both views of `log C + sum p log p` (>= 0). */
  entropy: tf.Scalar;
}

/** The cluster-level loss of eq. 4-5 with CC's entropy term, weighted by `entropyWeight`. */
export function clusterContrastive(
  c1: tf.Tensor2D,
  c2: tf.Tensor2D,
  temperature = 1.0,
  entropyWeight = 1.0,
): ClusterContrastiveParts {
  return tf.tidy(() => {
    const cluster = clusterNtXent(c1, c2, temperature);
    const entropy = tf.add(
      clusterSizeNegEntropy(c1),
      clusterSizeNegEntropy(c2),
    ) as tf.Scalar;
    const total = tf.add(cluster, tf.mul(entropy, entropyWeight)) as tf.Scalar;
    return { total, cluster, entropy };
  });
}

const schema = {
  temperature: {
    type: "number",
    default: 1.0,
    min: 0,
    exclusiveMin: true,
    doc: "column NT-Xent temperature (CC: 1.0)",
  },
  entropy_weight: {
    type: "number",
    default: 1.0,
    min: 0,
    doc: "weight of the cluster-size entropy term (CC: 1.0)",
  },
} as const;

/** `cluster-contrastive`: the cluster-level contrastive loss alone (CC's cluster loss). */
export const clusterContrastiveLoss: PluginDef<
  RepresentationLoss,
  typeof schema
> = {
  name: "cluster-contrastive",
  description:
    "NT-Xent over assignment columns plus cluster-size entropy (CLKNN eq. 4-5, CC)",
  options: schema,
  create({ temperature, entropy_weight }) {
    return {
      name: "cluster-contrastive",
      stage: "representation",
      uses: { instance: false, cluster: true },
      compute({ c1, c2 }) {
        const { total, cluster, entropy } = clusterContrastive(
          c1,
          c2,
          temperature,
          entropy_weight,
        );
        return { total, terms: { cluster, entropy } };
      },
    };
  },
};
