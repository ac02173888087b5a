/**
 * The registries of every plugin kind. Bundled plugins are registered
 * explicitly by `plugins/bundled.ts`; third-party plugin files export a
 * `register(registries)` function (see {@linkcode loadPluginFile}).
 *
 * @module
 */
import { Registry } from "./registry.ts";
import type {
  Augmentation,
  Backbone,
  Backend,
  DatasetLoader,
  Head,
  Loss,
  Metric,
  NeighbourSearch,
  Reporter,
} from "./interfaces.ts";

/** One registry per plugin kind. */
export interface Registries {
  backend: Registry<Backend>;
  backbone: Registry<Backbone>;
  head: Registry<Head>;
  augmentation: Registry<Augmentation>;
  loss: Registry<Loss>;
  search: Registry<NeighbourSearch>;
  dataset: Registry<DatasetLoader>;
  metric: Registry<Metric>;
  reporter: Registry<Reporter>;
}

/** The plugin kinds, in the order `--help` lists them. */
export const PLUGIN_KINDS = [
  "dataset",
  "backend",
  "backbone",
  "head",
  "augmentation",
  "loss",
  "search",
  "metric",
  "reporter",
] as const satisfies readonly (keyof Registries)[];

/** Fresh, empty registries (tests use their own; the CLI uses {@linkcode defaultRegistries}). */
export function createRegistries(): Registries {
  return {
    backend: new Registry<Backend>("backend"),
    backbone: new Registry<Backbone>("backbone"),
    head: new Registry<Head>("head"),
    augmentation: new Registry<Augmentation>("augmentation"),
    loss: new Registry<Loss>("loss"),
    search: new Registry<NeighbourSearch>("neighbour search"),
    dataset: new Registry<DatasetLoader>("dataset"),
    metric: new Registry<Metric>("metric"),
    reporter: new Registry<Reporter>("reporter"),
  };
}
