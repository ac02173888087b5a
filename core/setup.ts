/**
 * Builds every plugin a config names, before anything is loaded or trained,
 * so that a bad plugin name or option fails in the first second with the
 * config key it came from.
 *
 * @module
 */
import { ConfigError } from "./errors.ts";
import type { Config, PluginRef } from "./config.ts";
import type { Registries } from "./registries.ts";
import type { Registry } from "./registry.ts";
import type {
  Augmentation,
  Backbone,
  Backend,
  ClusteringLoss,
  DatasetLoader,
  Head,
  Loss,
  Metric,
  NeighbourSearch,
  RepresentationLoss,
  SelfLabelLoss,
} from "./interfaces.ts";

/** Everything a run is made of, built and checked. */
export interface RunPlugins {
  backend: Backend;
  dataset: DatasetLoader;
  backbone: Backbone;
  instanceHead: Head;
  clusterHead: Head;
  augmentations: Augmentation[];
  representationLoss: RepresentationLoss;
  search: NeighbourSearch;
  clusteringHead: Head;
  clusteringLoss: ClusteringLoss;
  selfLabelLoss: SelfLabelLoss;
  metrics: Metric[];
}

function build<T>(registry: Registry<T>, key: string, ref: PluginRef): T {
  try {
    return registry.build(ref.name, ref.options);
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new ConfigError(`${key}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

function lossFor<S extends Loss["stage"]>(
  registries: Registries,
  key: string,
  ref: PluginRef,
  stage: S,
): Extract<Loss, { stage: S }> {
  const loss = build(registries.loss, key, ref);
  if (loss.stage !== stage) {
    throw new ConfigError(
      `${key}: loss "${ref.name}" is a ${loss.stage} loss; expected a ${stage} loss such as ${
        registries.loss.names().filter((n) => {
          try {
            return registries.loss.build(n).stage === stage;
          } catch {
            return false;
          }
        }).map((n) => `"${n}"`).join(", ")
      }`,
    );
  }
  return loss as Extract<Loss, { stage: S }>;
}

/** Builds (and so validates) every plugin named in `config`. */
export function buildPlugins(
  config: Config,
  registries: Registries,
): RunPlugins {
  const plugins: RunPlugins = {
    backend: build(registries.backend, "backend", {
      name: config.backend,
      options: {},
    }),
    dataset: build(registries.dataset, "dataset", config.dataset),
    backbone: build(
      registries.backbone,
      "model.backbone",
      config.model.backbone,
    ),
    instanceHead: build(
      registries.head,
      "model.instance_head",
      config.model.instance_head,
    ),
    clusterHead: build(
      registries.head,
      "model.cluster_head",
      config.model.cluster_head,
    ),
    augmentations: config.augment.pipeline.map((ref, i) =>
      build(registries.augmentation, `augment.pipeline[${i}]`, ref)
    ),
    representationLoss: lossFor(
      registries,
      "representation.loss",
      config.representation.loss,
      "representation",
    ),
    search: build(registries.search, "mine.search", config.mine.search),
    clusteringHead: build(
      registries.head,
      "clustering.head",
      config.clustering.head,
    ),
    clusteringLoss: lossFor(
      registries,
      "clustering.loss",
      config.clustering.loss,
      "clustering",
    ),
    selfLabelLoss: lossFor(
      registries,
      "selflabel.loss",
      config.selflabel.loss,
      "selflabel",
    ),
    metrics: ["acc", "nmi", "ari"].map((name) =>
      build(registries.metric, "metrics", { name, options: {} })
    ),
  };
  return plugins;
}
