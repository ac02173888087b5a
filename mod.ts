/**
 * clknn: unsupervised image clustering with CLKNN (contrastive learning and
 * K nearest neighbours), as a toolkit of swappable plugins.
 *
 * @example Run the default preset from a script
 * ```ts
 * import { bundledRegistries, EventBus, resolveConfig, train } from "./mod.ts";
 * const config = resolveConfig({ preset: "default", sets: ["representation.epochs=1"] });
 * const events = new EventBus();
 * events.on((e) => e.type === "epoch" && console.log(e.phase, e.epoch, e.loss));
 * const metrics = await train({ config, events, runDir: "runs/example" });
 * console.log(metrics.acc, metrics.baseline.kmeans);
 * ```
 *
 * @module
 */
import { EventBus } from "./core/events.ts";
import type { Config } from "./core/config.ts";
import type { Registries } from "./core/registries.ts";
import {
  type RunMetrics,
  runPipeline,
  type StageName,
} from "./core/pipeline.ts";
import { buildPlugins } from "./core/setup.ts";
import { loadPluginFile } from "./core/resolve.ts";
import { bundledRegistries } from "./plugins/bundled.ts";
import { VERSION } from "./core/version.ts";

export * from "./core/errors.ts";
export * from "./core/events.ts";
export * from "./core/interfaces.ts";
export * from "./core/options.ts";
export { type PluginDef, Registry } from "./core/registry.ts";
export {
  createRegistries,
  PLUGIN_KINDS,
  type Registries,
} from "./core/registries.ts";
export { Rng } from "./core/random.ts";
export {
  applySet,
  checkConfig,
  type Config,
  configToYaml,
  deepMerge,
  parseYaml,
  type PluginRef,
} from "./core/config.ts";
export {
  loadPluginFile,
  loadPreset,
  presetNames,
  resolveConfig,
} from "./core/resolve.ts";
export { buildPlugins, type RunPlugins } from "./core/setup.ts";
export {
  OUTPUTS,
  type RunMetrics,
  type RunOptions,
  runPipeline,
  type StageName,
  STAGES,
} from "./core/pipeline.ts";
export { loadModel, saveModel } from "./core/model_io.ts";
export {
  assignClusters,
  type Assignments,
  loadRun,
  type LoadRunOptions,
  type TrainedRun,
} from "./core/predict.ts";
export { bundledRegistries, registerBundled } from "./plugins/bundled.ts";
export { VERSION } from "./core/version.ts";

/** What {@linkcode train} takes. */
export interface TrainOptions {
  config: Config;
  runDir: string;
  /** Subscribe to this to see progress; a fresh bus is used if absent. */
  events?: EventBus;
  /** Defaults to the bundled plugins plus `config.plugins` files. */
  registries?: Registries;
  stages?: StageName[];
  from?: string;
  resume?: boolean;
}

/** Runs CLKNN from a script: the same pipeline `deno task train` runs. */
export async function train(options: TrainOptions): Promise<RunMetrics> {
  const registries = options.registries ?? bundledRegistries();
  if (!options.registries) {
    for (const file of options.config.plugins) {
      await loadPluginFile(file, registries);
    }
  }
  return runPipeline({
    config: options.config,
    plugins: buildPlugins(options.config, registries),
    events: options.events ?? new EventBus(),
    runDir: options.runDir,
    stages: options.stages,
    from: options.from,
    resume: options.resume,
    version: VERSION,
  });
}
