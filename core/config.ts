/**
 * The run configuration: defaults, presets, a YAML file and `--set`
 * overrides merged in that order, then checked key by key so that a typo
 * fails at once with one line naming the key, the bad value and what would
 * be right.
 *
 * @module
 */
import YAML from "yaml";
import { ConfigError, oneOf, show } from "./errors.ts";

/** A plugin reference: its registered name and its options. */
export interface PluginRef {
  name: string;
  options: Record<string, unknown>;
}

/** The resolved configuration of a run. */
export interface Config {
  /** Run folder name under `output`; empty means "<preset>-<time>". */
  name: string;
  /** Parent folder of run folders. */
  output: string;
  /** Which preset this config started from (informational). */
  preset: string;
  seed: number;
  backend: string;
  /** Where downloads are cached; empty means $CLKNN_CACHE or ~/.cache/clknn. */
  cache_dir: string;
  /** Files of third-party plugins to load before anything is built. */
  plugins: string[];
  dataset: PluginRef;
  model: {
    backbone: PluginRef;
    instance_head: PluginRef;
    cluster_head: PluginRef;
    /** Instance embedding size (CC: 128). */
    instance_dim: number;
    /** Number of clusters C; 0 means the dataset's number of classes. */
    clusters: number;
  };
  augment: {
    /** "double": two independent draws per image; "single": the image and one draw. */
    views: "double" | "single";
    pipeline: PluginRef[];
  };
  representation: {
    epochs: number;
    batch_size: number;
    lr: number;
    weight_decay: number;
    loss: PluginRef;
  };
  mine: {
    k: number;
    search: PluginRef;
    /** Which features to mine on: the instance head's output (SCAN) or the backbone's. */
    features: "instance" | "backbone";
  };
  clustering: {
    epochs: number;
    batch_size: number;
    lr: number;
    weight_decay: number;
    /** Number of clustering heads trained at once; the lowest-loss one is kept. */
    heads: number;
    head: PluginRef;
    loss: PluginRef;
    /** Update the backbone too (SCAN) or only the head. */
    update_backbone: boolean;
    /** Augment anchors and neighbours with the augmentation pipeline. */
    augment: boolean;
  };
  selflabel: {
    enabled: boolean;
    epochs: number;
    batch_size: number;
    lr: number;
    weight_decay: number;
    loss: PluginRef;
  };
  baseline: {
    kmeans: boolean;
    /** k-means runs on at most this many images (0 = all). */
    max_points: number;
    restarts: number;
  };
  evaluate: {
    /** Score each epoch against labels when they exist (monitoring only; never used to choose). */
    every_epoch: boolean;
  };
  log: {
    /** Seconds between step lines in the terminal. */
    interval: number;
  };
}

type Leaf =
  | { type: "int"; min?: number; max?: number; doc: string }
  | { type: "number"; min?: number; exclusiveMin?: boolean; doc: string }
  | { type: "string"; oneOf?: readonly string[]; doc: string }
  | { type: "boolean"; doc: string }
  | { type: "strings"; doc: string }
  | { type: "plugin"; kind: string; doc: string }
  | { type: "plugins"; kind: string; doc: string };
type Node = Leaf | { type: "section"; keys: Record<string, Node> };

const section = (keys: Record<string, Node>): Node => ({
  type: "section",
  keys,
});

const optimiser = (what: string) => ({
  epochs: { type: "int", min: 0, doc: `epochs of ${what}` },
  batch_size: { type: "int", min: 2, doc: `images per step in ${what}` },
  lr: { type: "number", min: 0, exclusiveMin: true, doc: "Adam learning rate" },
  weight_decay: { type: "number", min: 0, doc: "L2 weight decay" },
} as const);

/** The shape of a config: every key, its type and a one-line doc. */
export const CONFIG_SCHEMA: Node = section({
  name: { type: "string", doc: "run folder name (default <preset>-<time>)" },
  output: { type: "string", doc: "parent folder of runs" },
  preset: { type: "string", doc: "the preset this config starts from" },
  seed: { type: "int", min: 0, doc: "seed of every random draw" },
  backend: { type: "string", doc: "compute backend (see --help)" },
  cache_dir: { type: "string", doc: "download cache folder" },
  plugins: { type: "strings", doc: "third-party plugin files to load" },
  dataset: { type: "plugin", kind: "dataset", doc: "the images" },
  model: section({
    backbone: { type: "plugin", kind: "backbone", doc: "feature extractor" },
    instance_head: { type: "plugin", kind: "head", doc: "instance head" },
    cluster_head: { type: "plugin", kind: "head", doc: "stage-1 cluster head" },
    instance_dim: { type: "int", min: 2, doc: "instance embedding size" },
    clusters: {
      type: "int",
      min: 0,
      doc: "number of clusters (0 = number of classes)",
    },
  }),
  augment: section({
    views: {
      type: "string",
      oneOf: ["double", "single"],
      doc: "two augmented views, or the image and one view",
    },
    pipeline: {
      type: "plugins",
      kind: "augmentation",
      doc: "augmentations in order",
    },
  }),
  representation: section({
    ...optimiser("representation learning"),
    loss: { type: "plugin", kind: "loss", doc: "stage-1 loss" },
  }),
  mine: section({
    k: { type: "int", min: 1, doc: "neighbours per image" },
    search: { type: "plugin", kind: "search", doc: "neighbour search" },
    features: {
      type: "string",
      oneOf: ["instance", "backbone"],
      doc: "features to mine on",
    },
  }),
  clustering: section({
    ...optimiser("clustering"),
    heads: { type: "int", min: 1, max: 20, doc: "clustering heads" },
    head: { type: "plugin", kind: "head", doc: "clustering head" },
    loss: { type: "plugin", kind: "loss", doc: "stage-2 loss" },
    update_backbone: { type: "boolean", doc: "fine-tune the backbone" },
    augment: { type: "boolean", doc: "augment anchors and neighbours" },
  }),
  selflabel: section({
    enabled: { type: "boolean", doc: "run self-labelling (beyond the paper)" },
    ...optimiser("self-labelling"),
    loss: { type: "plugin", kind: "loss", doc: "stage-3 loss" },
  }),
  baseline: section({
    kmeans: { type: "boolean", doc: "k-means on raw pixels" },
    max_points: { type: "int", min: 0, doc: "images for k-means (0 = all)" },
    restarts: { type: "int", min: 1, doc: "k-means restarts" },
  }),
  evaluate: section({
    every_epoch: { type: "boolean", doc: "score each epoch (monitoring)" },
  }),
  log: section({
    interval: {
      type: "number",
      min: 0,
      doc: "seconds between terminal step lines",
    },
  }),
});

function describe(leaf: Leaf): string {
  switch (leaf.type) {
    case "int":
      return `an integer${leaf.min !== undefined ? ` >= ${leaf.min}` : ""}${
        leaf.max !== undefined ? ` and <= ${leaf.max}` : ""
      }`;
    case "number":
      return `a number ${leaf.exclusiveMin ? ">" : ">="} ${leaf.min ?? 0}`;
    case "string":
      return leaf.oneOf ? oneOf(leaf.oneOf) : "a string";
    case "boolean":
      return "true or false";
    case "strings":
      return "a list of strings";
    case "plugin":
      return `a ${leaf.kind} name, or {name, options}`;
    case "plugins":
      return `a list of ${leaf.kind} names or {name, options}`;
  }
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function checkPlugin(key: string, value: unknown, leaf: Leaf): PluginRef {
  if (typeof value === "string" && value.length > 0) {
    return { name: value, options: {} };
  }
  if (isMapping(value)) {
    for (const k of Object.keys(value)) {
      if (k !== "name" && k !== "options") {
        throw new ConfigError(
          `Unknown config key "${key}.${k}": expected "name" or "options"`,
        );
      }
    }
    if (typeof value.name !== "string" || value.name.length === 0) {
      throw new ConfigError(
        `Config key "${key}.name" is ${show(value.name)}; expected ${
          describe(leaf)
        }`,
      );
    }
    const options = value.options ?? {};
    if (!isMapping(options)) {
      throw new ConfigError(
        `Config key "${key}.options" is ${
          show(options)
        }; expected a mapping of option names to values`,
      );
    }
    return { name: value.name, options: { ...options } };
  }
  throw new ConfigError(
    `Config key "${key}" is ${show(value)}; expected ${describe(leaf)}`,
  );
}

function checkNode(key: string, value: unknown, node: Node): unknown {
  const bad = () =>
    new ConfigError(
      `Config key "${key}" is ${show(value)}; expected ${
        describe(node as Leaf)
      }`,
    );
  switch (node.type) {
    case "section": {
      if (!isMapping(value)) {
        throw new ConfigError(
          `Config key "${key}" is ${
            show(value)
          }; expected a mapping with keys ${oneOf(Object.keys(node.keys))}`,
        );
      }
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(value)) {
        if (!(k in node.keys)) {
          const path = key ? `${key}.${k}` : k;
          throw new ConfigError(
            `Unknown config key "${path}": expected ${
              oneOf(Object.keys(node.keys))
            }${suggest(k, Object.keys(node.keys))}`,
          );
        }
      }
      for (const [k, child] of Object.entries(node.keys)) {
        const path = key ? `${key}.${k}` : k;
        if (!(k in value)) {
          throw new ConfigError(
            `Config key "${path}" is missing; expected ${
              child.type === "section" ? "a mapping" : describe(child)
            }`,
          );
        }
        out[k] = checkNode(path, value[k], child);
      }
      return out;
    }
    case "int":
      if (typeof value !== "number" || !Number.isInteger(value)) throw bad();
      if (node.min !== undefined && value < node.min) throw bad();
      if (node.max !== undefined && value > node.max) throw bad();
      return value;
    case "number":
      if (typeof value !== "number" || !Number.isFinite(value)) throw bad();
      if (
        node.exclusiveMin ? value <= (node.min ?? 0) : value < (node.min ?? 0)
      ) {
        throw bad();
      }
      return value;
    case "string":
      if (typeof value !== "string") throw bad();
      if (node.oneOf && !node.oneOf.includes(value)) throw bad();
      return value;
    case "boolean":
      if (typeof value !== "boolean") throw bad();
      return value;
    case "strings":
      if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
        throw bad();
      }
      return [...value];
    case "plugin":
      return checkPlugin(key, value, node);
    case "plugins":
      if (!Array.isArray(value)) throw bad();
      return value.map((v, i) => checkPlugin(`${key}[${i}]`, v, node));
  }
}

function suggest(word: string, choices: string[]): string {
  let best = "";
  let bestDist = 3;
  for (const c of choices) {
    const d = editDistance(word, c);
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  return best ? ` (did you mean "${best}"?)` : "";
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(
        dp[j] + 1,
        dp[j - 1] + 1,
        prev + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      prev = tmp;
    }
  }
  return dp[b.length];
}

/** Checks a merged raw config against {@linkcode CONFIG_SCHEMA}. */
export function checkConfig(raw: unknown): Config {
  return checkNode("", raw, CONFIG_SCHEMA) as Config;
}

/** A mapping of only `name` and `options`: how a config names a plugin. */
function isPluginRef(v: Record<string, unknown>): boolean {
  return typeof v.name === "string" &&
    Object.keys(v).every((k) => k === "name" || k === "options");
}

/**
 * Recursively merges `over` into `base`: mappings merge, everything else
 * replaces. A plugin reference whose name changes is replaced whole: the old
 * plugin's options mean nothing to the new one (instance-ntxent has no
 * `instance_temperature`), so the new plugin starts from its own defaults.
 */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (
    isMapping(base) && isMapping(over) && isPluginRef(base) &&
    typeof over.name === "string" && over.name !== base.name
  ) {
    return { options: {}, ...structuredClone(over) };
  }
  if (isMapping(base) && isMapping(over)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(over)) {
      out[k] = k in base ? deepMerge(base[k], v) : v;
    }
    return out;
  }
  return structuredClone(over);
}

/** Parses YAML text into a mapping, with a one-line error naming the source. */
export function parseYaml(
  text: string,
  source: string,
): Record<string, unknown> {
  let value: unknown;
  try {
    value = YAML.parse(text);
  } catch (err) {
    // the yaml package ends its first line with ":" before a code excerpt
    const first = String((err as Error).message).split("\n")[0]
      .replace(/:\s*$/, "");
    throw new ConfigError(`${source} is not valid YAML: ${first}`);
  }
  if (value === null || value === undefined) return {};
  if (!isMapping(value)) {
    throw new ConfigError(
      `${source} must hold a YAML mapping of config keys, not ${show(value)}`,
    );
  }
  return value;
}

/** The schema node at a key path, or undefined where the schema has none. */
function nodeAt(path: readonly string[]): Node | undefined {
  let node: Node = CONFIG_SCHEMA;
  for (const [i, p] of path.entries()) {
    if (node.type === "section" && Object.hasOwn(node.keys, p)) {
      node = node.keys[p];
    } else if (
      node.type === "plugin" && p === "name" && i === path.length - 1
    ) {
      return { type: "string", doc: "plugin name" };
    } else {
      return undefined;
    }
  }
  return node;
}

/**
 * Applies one `--set a.b=value` override; the value is read as YAML
 * (so `5` is a number, `true` a boolean, `[0.2, 1]` a list), except that
 * a key the schema types as a string keeps the text as written.
 */
export function applySet(
  raw: Record<string, unknown>,
  assignment: string,
): Record<string, unknown> {
  const eq = assignment.indexOf("=");
  if (eq <= 0) {
    throw new ConfigError(
      `--set ${
        show(assignment)
      } is malformed; expected key.path=value, e.g. --set representation.epochs=5`,
    );
  }
  const path = assignment.slice(0, eq).trim().split(".");
  if (path.some((p) => p === "" || p === "__proto__" || p === "constructor")) {
    throw new ConfigError(
      `--set ${
        show(assignment)
      } has an invalid key path; expected dot-separated names such as representation.epochs`,
    );
  }
  let value: unknown;
  const text = assignment.slice(eq + 1);
  try {
    value = text === "" ? "" : YAML.parse(text);
  } catch {
    value = text;
  }
  // a string key keeps its text: --set name=2024 names a run, not a number
  if (nodeAt(path)?.type === "string" && typeof value !== "string") {
    value = text;
  }
  let over: unknown = value;
  for (let i = path.length - 1; i >= 0; i--) over = { [path[i]]: over };
  return deepMerge(raw, over) as Record<string, unknown>;
}

/** Serialises a resolved config as YAML (written next to a run's outputs). */
export function configToYaml(config: Config): string {
  return YAML.stringify(config);
}
