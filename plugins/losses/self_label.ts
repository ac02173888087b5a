/**
 * SCAN's optional third step, self-labelling (Van Gansbeke et al., ECCV
 * 2020): cross-entropy of strong-view predictions against the confident
 * weak-view predictions. Not part of the CLKNN paper.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { PluginDef } from "../../core/registry.ts";
import type {
  LossValue,
  PseudoLabels,
  SelfLabelLoss,
} from "../../core/interfaces.ts";

/**
 * Per-sample weights of the confidence-masked cross-entropy, from the weak
 * predictions `[n, c]` (row-major): 0 for samples whose top probability is
 * not above `threshold`, else 1 or, with `balance`, `m / count(class)` where
 * m is the number of confident samples (SCAN's class balancing, so each
 * pseudo-class weighs the same in total). Also returns the pseudo-labels.
 */
export function selfLabelWeights(
  weak: Float32Array | ArrayLike<number>,
  n: number,
  c: number,
  threshold: number,
  balance: boolean,
): PseudoLabels {
  const targets = new Int32Array(n);
  const weights = new Float32Array(n);
  const counts = new Float64Array(c);
  let confident = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < c; j++) {
      if (weak[i * c + j] > weak[i * c + best]) best = j;
    }
    targets[i] = best;
    if (weak[i * c + best] > threshold) {
      weights[i] = 1;
      counts[best]++;
      confident++;
    }
  }
  if (balance) {
    for (let i = 0; i < n; i++) {
      if (weights[i] > 0) weights[i] = confident / counts[targets[i]];
    }
  }
  return { weights, targets, confident };
}

/**
 * {@linkcode selfLabelWeights} of a weak-prediction tensor `[n, c]`, read
 * with `await data()` so that it works on every backend, webgpu included.
 */
export async function readPseudoLabels(
  weak: tf.Tensor2D,
  threshold = 0.99,
  balance = true,
): Promise<PseudoLabels> {
  const [n, c] = weak.shape;
  return selfLabelWeights(await weak.data(), n, c, threshold, balance);
}

/**
 * The self-labelling loss: `sum_i w_i CE(strong_i, y_i) / sum_i w_i` over
 * the confident samples (PyTorch's weighted-mean cross-entropy, as SCAN),
 * with `y_i` the argmax of the weak prediction and `w_i` from
 * {@linkcode selfLabelWeights}. `weak` carries no gradient (it is read into
 * JS). When no sample is confident the loss is 0 with a zero gradient (it is
 * `0 * sum(strongLogits)`, so optimisers still see the variables connected).
 *
 * Pass `pseudo` from {@linkcode readPseudoLabels} (as the pipeline does) to
 * compute it without reading `weak`; without it `weak` is read
 * synchronously, which the webgpu backend refuses.
 *
 * Terms: `cross_entropy` (equal to total) and `confident`, the share of
 * samples above the threshold, a diagnostic that is not part of the total.
 */
export function selfLabelLoss(
  weak: tf.Tensor2D,
  strongLogits: tf.Tensor2D,
  threshold = 0.99,
  balance = true,
  pseudo?: PseudoLabels,
): LossValue {
  const [n, c] = weak.shape;
  const { weights, targets, confident } = pseudo ??
    selfLabelWeights(weak.dataSync(), n, c, threshold, balance);
  return tf.tidy(() => {
    const share = tf.scalar(n === 0 ? 0 : confident / n);
    if (confident === 0) {
      const zero = tf.mul(tf.sum(strongLogits), 0) as tf.Scalar;
      return { total: zero, terms: { cross_entropy: zero, confident: share } };
    }
    const logp = tf.logSoftmax(strongLogits); // [N, C]
    const picked = tf.sum(tf.mul(logp, tf.oneHot(targets, c)), 1); // [N]
    const w = tf.tensor1d(weights);
    const wsum = weights.reduce((a, b) => a + b, 0);
    const ce = tf.div(tf.neg(tf.sum(tf.mul(picked, w))), wsum) as tf.Scalar;
    return { total: ce, terms: { cross_entropy: ce, confident: share } };
  });
}

const schema = {
  threshold: {
    type: "number",
    default: 0.99,
    min: 0,
    max: 1,
    exclusiveMin: true,
    doc:
      "confidence above which a weak prediction becomes a pseudo-label (SCAN: 0.99)",
  },
  class_balance: {
    type: "boolean",
    default: true,
    doc: "weight pseudo-classes inversely to their frequency (SCAN: true)",
  },
} as const;

/** `self-label`: SCAN's confidence-based cross-entropy for the self-labelling step. */
export const selfLabel: PluginDef<SelfLabelLoss, typeof schema> = {
  name: "self-label",
  description:
    "Cross-entropy of strong views against confident weak-view pseudo-labels (SCAN)",
  options: schema,
  create({ threshold, class_balance }) {
    return {
      name: "self-label",
      stage: "selflabel",
      pseudoLabels(weak) {
        return readPseudoLabels(weak, threshold, class_balance);
      },
      compute({ weak, strongLogits, pseudo }) {
        return selfLabelLoss(
          weak,
          strongLogits,
          threshold,
          class_balance,
          pseudo,
        );
      },
    };
  },
};
