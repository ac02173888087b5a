/**
 * The double contrastive loss of CLKNN (paper eq. 6): the instance-level
 * loss plus the cluster-level loss, as in Contrastive Clustering (CC).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { PluginDef } from "../../core/registry.ts";
import type { LossValue, RepresentationLoss } from "../../core/interfaces.ts";
import { ConfigError } from "../../core/errors.ts";
import { instanceNtXent } from "./instance_ntxent.ts";
import { clusterContrastive } from "./cluster_contrastive.ts";

/** Settings of {@linkcode doubleContrastive}. */
export interface DoubleContrastiveSettings {
  instanceTemperature: number;
  clusterTemperature: number;
  entropyWeight: number;
  /** Include the instance term; at least one of the two must be on. */
  instance: boolean;
  /** Include the cluster term and its entropy term. */
  cluster: boolean;
}

/**
 * `L_rep = L_I + L_C` (eq. 6) where `L_C` carries CC's entropy term with
 * weight `entropyWeight`. Terms of a switched-off part are left out of
 * `terms` (they are not computed).
 */
export function doubleContrastive(
  z1: tf.Tensor2D,
  z2: tf.Tensor2D,
  c1: tf.Tensor2D,
  c2: tf.Tensor2D,
  s: DoubleContrastiveSettings,
): LossValue {
  return tf.tidy(() => {
    const terms: Record<string, tf.Scalar> = {};
    const parts: tf.Scalar[] = [];
    if (s.instance) {
      terms.instance = instanceNtXent(z1, z2, s.instanceTemperature);
      parts.push(terms.instance);
    }
    if (s.cluster) {
      const c = clusterContrastive(
        c1,
        c2,
        s.clusterTemperature,
        s.entropyWeight,
      );
      terms.cluster = c.cluster;
      terms.entropy = c.entropy;
      parts.push(c.total);
    }
    const total = parts.length === 1 ? parts[0] : tf.addN(parts) as tf.Scalar;
    return { total, terms };
  });
}

const schema = {
  instance_temperature: {
    type: "number",
    default: 0.5,
    min: 0,
    exclusiveMin: true,
    doc: "instance NT-Xent temperature (CC: 0.5)",
  },
  cluster_temperature: {
    type: "number",
    default: 1.0,
    min: 0,
    exclusiveMin: true,
    doc: "cluster NT-Xent temperature (CC: 1.0)",
  },
  entropy_weight: {
    type: "number",
    default: 1.0,
    min: 0,
    doc: "weight of the cluster-size entropy term (CC: 1.0)",
  },
  instance: {
    type: "boolean",
    default: true,
    doc: "include the instance-level loss (ablation switch)",
  },
  cluster: {
    type: "boolean",
    default: true,
    doc: "include the cluster-level loss (ablation switch)",
  },
} as const;

/** `double-contrastive`: CLKNN's stage-1 loss, instance + cluster level (eq. 6). */
export const doubleContrastiveLoss: PluginDef<
  RepresentationLoss,
  typeof schema
> = {
  name: "double-contrastive",
  description:
    "Instance NT-Xent + cluster NT-Xent + cluster-size entropy (CLKNN eq. 6, CC)",
  options: schema,
  create(o) {
    if (!o.instance && !o.cluster) {
      throw new ConfigError(
        `loss "double-contrastive": options "instance" and "cluster" are both false; set at least one of them to true`,
      );
    }
    const settings: DoubleContrastiveSettings = {
      instanceTemperature: o.instance_temperature,
      clusterTemperature: o.cluster_temperature,
      entropyWeight: o.entropy_weight,
      instance: o.instance,
      cluster: o.cluster,
    };
    return {
      name: "double-contrastive",
      stage: "representation",
      uses: { instance: o.instance, cluster: o.cluster },
      compute({ z1, z2, c1, c2 }) {
        return doubleContrastive(z1, z2, c1, c2, settings);
      },
    };
  },
};
