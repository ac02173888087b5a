/**
 * Turns presets, a config file and `--set` overrides into one checked
 * {@linkcode Config}, and loads third-party plugin files.
 *
 * @module
 */
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  applySet,
  checkConfig,
  type Config,
  deepMerge,
  parseYaml,
} from "./config.ts";
import { ConfigError, oneOf } from "./errors.ts";
import { PLUGIN_KINDS, type Registries } from "./registries.ts";

const PRESET_DIR = join(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "tasks",
  "presets",
);

/** Names of the bundled presets (YAML files in tasks/presets/). */
export function presetNames(): string[] {
  return [...Deno.readDirSync(PRESET_DIR)]
    .filter((e) => e.isFile && e.name.endsWith(".yaml"))
    .map((e) => e.name.slice(0, -5))
    .sort();
}

/**
 * The raw mapping of a preset, its `extends` chain resolved on top of
 * `base`. Throws listing the known presets if the name is unknown.
 */
export function loadPreset(
  name: string,
  seen: string[] = [],
): Record<string, unknown> {
  const names = presetNames();
  if (!names.includes(name)) {
    throw new ConfigError(
      `Unknown preset ${JSON.stringify(name)}: expected ${oneOf(names)}`,
    );
  }
  if (seen.includes(name)) {
    throw new ConfigError(
      `Preset "${name}" extends itself (${[...seen, name].join(" -> ")})`,
    );
  }
  const raw = parseYaml(
    Deno.readTextFileSync(join(PRESET_DIR, `${name}.yaml`)),
    `preset ${name}`,
  );
  const parent = typeof raw.extends === "string"
    ? raw.extends
    : name === "base"
    ? undefined
    : "base";
  delete raw.extends;
  return parent
    ? deepMerge(loadPreset(parent, [...seen, name]), raw) as Record<
      string,
      unknown
    >
    : raw;
}

/** Where a config comes from, lowest priority first. */
export interface ConfigSources {
  /** A preset name (default: the config file's `preset` key, else "default"). */
  preset?: string;
  /** Path of a YAML config file. */
  file?: string;
  /** A YAML mapping given directly (e.g. by a script via mod.ts). */
  overrides?: Record<string, unknown>;
  /** `key.path=value` assignments, applied last. */
  sets?: string[];
}

/** Merges the sources and checks the result. */
export function resolveConfig(sources: ConfigSources): Config {
  let fileRaw: Record<string, unknown> = {};
  if (sources.file) {
    let text: string;
    try {
      text = Deno.readTextFileSync(sources.file);
    } catch (err) {
      throw new ConfigError(
        `Cannot read config file ${sources.file}: ${
          (err as Error).message.split("\n")[0]
        }`,
      );
    }
    fileRaw = parseYaml(text, `config file ${sources.file}`);
    // plugin paths in a config file are relative to that file
    if (Array.isArray(fileRaw.plugins)) {
      fileRaw.plugins = fileRaw.plugins.map((p) =>
        typeof p === "string" && !isAbsolute(p)
          ? resolve(dirname(sources.file!), p)
          : p
      );
    }
  }
  const presetKey = typeof fileRaw.preset === "string"
    ? fileRaw.preset
    : undefined;
  const preset = sources.preset ?? presetKey ?? "default";
  let raw = deepMerge(loadPreset(preset), fileRaw) as Record<string, unknown>;
  if (sources.overrides) {
    raw = deepMerge(raw, sources.overrides) as Record<string, unknown>;
  }
  for (const s of sources.sets ?? []) raw = applySet(raw, s);
  // absolute, so that the config written to the run folder still finds them
  // when the run is resumed or used from another working directory
  if (Array.isArray(raw.plugins)) {
    raw.plugins = raw.plugins.map((p) =>
      typeof p === "string" && p !== "" && !isAbsolute(p) ? resolve(p) : p
    );
  }
  raw.preset = preset;
  return checkConfig(raw);
}

/**
 * Imports a third-party plugin file. Its default export must be a function
 * taking the registries and registering at least one plugin.
 */
export async function loadPluginFile(
  path: string,
  registries: Registries,
): Promise<string[]> {
  const count = () =>
    PLUGIN_KINDS.reduce((n, k) => n + registries[k].names().length, 0);
  const before = new Map(
    PLUGIN_KINDS.map((k) => [k, new Set(registries[k].names())]),
  );
  let mod: { default?: unknown };
  try {
    mod = await import(pathToFileURL(resolve(path)).href);
  } catch (err) {
    const first = String((err as Error).message ?? err).split("\n")[0];
    throw new ConfigError(`Cannot load plugin file ${path}: ${first}`);
  }
  if (typeof mod.default !== "function") {
    throw new ConfigError(
      `Plugin file ${path} has no default export function; expected \`export default function register(registries) { registries.backbone.register(...) }\``,
    );
  }
  const n0 = count();
  try {
    await mod.default(registries);
  } catch (err) {
    throw new ConfigError(
      `Plugin file ${path} failed to register: ${
        String((err as Error).message ?? err).split("\n")[0]
      }`,
    );
  }
  if (count() === n0) {
    throw new ConfigError(
      `Plugin file ${path} registered nothing; its default export must call registries.<kind>.register(...)`,
    );
  }
  return PLUGIN_KINDS.flatMap((k) =>
    registries[k].names().filter((n) => !before.get(k)!.has(n)).map((n) =>
      `${k} ${n}`
    )
  );
}
