/**
 * The source of a third-party plugin file, as the README shows one, for the
 * tests that load plugin files from a temp folder.
 *
 * @module
 */
import { resolve } from "node:path";

const MOD = resolve(import.meta.dirname!, "..", "mod.ts");

/** A third-party backbone as the README shows: flatten + one dense layer. */
export const TINY_MLP = `
import * as tf from "@tensorflow/tfjs";
import type { Backbone, PluginDef, Registries } from "${MOD}";

const tiny: PluginDef<Backbone, { units: { type: "number"; default: 64; min: 1; integer: true } }> = {
  name: "tiny-mlp",
  description: "Flatten + one dense layer (a toy backbone)",
  options: { units: { type: "number", default: 64, min: 1, integer: true } },
  create: ({ units }) => ({
    name: "tiny-mlp",
    featureDim: units,
    build(shape, seed) {
      const input = tf.input({ shape: [...shape] });
      const flat = tf.layers.flatten().apply(input);
      const out = tf.layers.dense({
        units,
        kernelInitializer: tf.initializers.heNormal({ seed }),
      }).apply(flat);
      return tf.model({ inputs: input, outputs: out as tf.SymbolicTensor });
    },
  }),
};

export default function register(registries: Registries) {
  registries.backbone.register(tiny);
}
`;
