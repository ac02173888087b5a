/**
 * Batch normalisation whose training pass is one op with one gradient, on
 * backends that provide the two kernels below (the `native` backend does).
 *
 * tfjs-layers normalises a training batch with `moments` (a mean, a squared
 * difference, another mean) and `batchNorm`, and autodiff differentiates
 * each of them separately: about twenty full-size elementwise passes per
 * layer and step, more than the convolutions' memory traffic. The kernels
 * named here compute the batch statistics and the output in two passes and
 * the three gradients in two more.
 *
 * The layer keeps tfjs's class name, configuration and weights, so saved
 * models are unchanged and load back as this layer. On backends without the
 * kernels, and for inference, it is tfjs's own layer.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/**
 * Inputs `x` `[..., C]`, `scale` and `offset` `[C]`, attribute
 * `varianceEpsilon`; outputs the normalised `y`, the batch `mean` and the
 * biased batch `variance` (both `[C]`), reducing over every axis but the last.
 */
export const BN_TRAIN_KERNEL = "ClknnBatchNormTrain";

/**
 * Inputs `dy`, `x`, `mean`, `variance`, `scale`, attribute
 * `varianceEpsilon`; outputs `dx`, `dScale` and `dOffset` of
 * {@linkcode BN_TRAIN_KERNEL}, with the batch statistics differentiated too.
 */
export const BN_GRAD_KERNEL = "ClknnBatchNormGrad";

/** True when the current backend has both fused batch-norm kernels. */
export function hasFusedBatchNorm(): boolean {
  const backend = tf.getBackend();
  return tf.getKernel(BN_TRAIN_KERNEL, backend) !== undefined &&
    tf.getKernel(BN_GRAD_KERNEL, backend) !== undefined;
}

/**
 * Training-mode batch normalisation over every axis but the last, as one
 * differentiable op: `y = (x - mean) / sqrt(variance + eps) * scale +
 * offset` with the batch's own statistics. Returns `y` with the statistics
 * (which the caller disposes); needs {@linkcode hasFusedBatchNorm}.
 */
export function batchNormTraining(
  x: tf.Tensor,
  scale: tf.Tensor1D,
  offset: tf.Tensor1D,
  epsilon: number,
): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  let stats: tf.Tensor1D[] = [];
  const attrs = { varianceEpsilon: epsilon };
  const op = tf.customGrad(
    // customGrad's typing puts `save` among the tensors; it comes last
    ((
      xIn: tf.Tensor,
      scaleIn: tf.Tensor,
      offsetIn: tf.Tensor,
      save: tf.GradSaveFunc,
    ) => {
      const [y, mean, variance] = tf.engine().runKernel(
        BN_TRAIN_KERNEL,
        { x: xIn, scale: scaleIn, offset: offsetIn },
        attrs as unknown as tf.NamedAttrMap,
      ) as tf.Tensor[];
      save([xIn, mean, variance, scaleIn]);
      // customGrad returns one tensor; the statistics leave through the closure
      stats = [tf.keep(mean as tf.Tensor1D), tf.keep(variance as tf.Tensor1D)];
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xs, ms, vs, ss] = saved;
          return tf.engine().runKernel(
            BN_GRAD_KERNEL,
            { dy, x: xs, mean: ms, variance: vs, scale: ss },
            attrs as unknown as tf.NamedAttrMap,
          ) as tf.Tensor[];
        },
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  );
  const y = op(x, scale, offset);
  return { y, mean: stats[0], variance: stats[1] };
}

/** The fields of tfjs-layers' BatchNormalization this layer reads. */
interface BatchNormFields {
  axis: number;
  momentum: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma: tf.LayerVariable;
  beta: tf.LayerVariable;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}

type LayerArgs = Parameters<typeof tf.layers.batchNormalization>[0];
type Kwargs = Record<string, unknown>;

// tfjs-layers does not export the class itself; its instances know it
const TfjsBatchNormalization = tf.layers.batchNormalization({})
  .constructor as new (args?: LayerArgs) => tf.layers.Layer;

/**
 * tfjs's BatchNormalization layer, with the training pass on
 * {@linkcode batchNormTraining} when the backend has the fused kernels and
 * the layer normalises the last axis with both scale and offset.
 */
export class FusedBatchNormalization extends TfjsBatchNormalization {
  /** tfjs's own class name: saved models stay loadable without this file. */
  static className = "BatchNormalization";

  override call(
    inputs: tf.Tensor | tf.Tensor[],
    kwargs: Kwargs,
  ): tf.Tensor | tf.Tensor[] {
    const self = this as unknown as BatchNormFields;
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const lastAxis = self.axis === -1 || self.axis === x.rank - 1;
    if (
      !kwargs["training"] || !lastAxis || !self.center || !self.scale ||
      x.dtype !== "float32" || !hasFusedBatchNorm()
    ) {
      return super.call(inputs, kwargs);
    }
    return tf.tidy(() => {
      const { y, mean, variance } = batchNormTraining(
        x,
        self.gamma.read() as tf.Tensor1D,
        self.beta.read() as tf.Tensor1D,
        self.epsilon,
      );
      // the moving averages exactly as tfjs-layers updates them
      const decay = 1 - self.momentum;
      for (
        const [v, value] of [
          [self.movingMean, mean],
          [self.movingVariance, variance],
        ] as const
      ) {
        tf.tidy(() => {
          const orig = v.read();
          v.write(tf.sub(orig, tf.mul(tf.sub(orig, value), decay)));
        });
      }
      tf.dispose([mean, variance]);
      return y;
    });
  }
}
tf.serialization.registerClass(
  FusedBatchNormalization as unknown as tf.serialization.SerializableConstructor<
    tf.serialization.Serializable
  >,
);

/** A {@linkcode FusedBatchNormalization} layer, with tfjs's options. */
export function fusedBatchNormalization(args: LayerArgs): tf.layers.Layer {
  return new FusedBatchNormalization(args);
}
