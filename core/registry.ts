/**
 * Explicit registries of plugins, one per kind. Registering a taken name
 * throws; asking for an unknown name throws and lists the known ones.
 *
 * @module
 */
import { ConfigError, oneOf } from "./errors.ts";
import {
  describeOptions,
  type Options,
  type OptionSchema,
  readOptions,
} from "./options.ts";

/** How a plugin is registered: a name, a one-line description, its options and a factory. */
export interface PluginDef<T, S extends OptionSchema = OptionSchema> {
  /** The name used in configs and on the command line, e.g. `"resnet18"`. */
  readonly name: string;
  /** One line for `--help`. */
  readonly description: string;
  /** The options the plugin takes; checked before `create` is called. */
  readonly options: S;
  /** Builds the plugin from checked options. May throw a ConfigError for cross-option checks. */
  create(options: Options<S>): T;
}

/** A typed map from plugin name to its definition, for one plugin kind. */
export class Registry<T> {
  readonly #defs = new Map<string, PluginDef<T, OptionSchema>>();

  /** @param kind the plugin kind in messages, e.g. `"backbone"`. */
  constructor(readonly kind: string) {}

  /** Adds a plugin. Throws if the name is already taken. */
  register<S extends OptionSchema>(def: PluginDef<T, S>): void {
    if (!/^[a-z0-9][a-z0-9_.-]*$/.test(def.name)) {
      throw new ConfigError(
        `Cannot register ${this.kind} ${
          JSON.stringify(def.name)
        }: names are lowercase letters, digits, "-", "_" and "."`,
      );
    }
    if (this.#defs.has(def.name)) {
      throw new ConfigError(
        `Cannot register ${this.kind} "${def.name}": the name is already taken; choose another name`,
      );
    }
    this.#defs.set(def.name, def as unknown as PluginDef<T, OptionSchema>);
  }

  /** True when a plugin of that name is registered. */
  has(name: string): boolean {
    return this.#defs.has(name);
  }

  /** The definition of a plugin. Throws, listing the known names, if unknown. */
  get(name: string): PluginDef<T, OptionSchema> {
    const def = this.#defs.get(name);
    if (!def) {
      throw new ConfigError(
        `Unknown ${this.kind} ${JSON.stringify(name)}: expected ${
          oneOf(this.names())
        }`,
      );
    }
    return def;
  }

  /** Checks `options` against the plugin's schema and builds it. */
  build(name: string, options?: unknown): T {
    const def = this.get(name);
    const checked = readOptions(`${this.kind} "${name}"`, options, def.options);
    return def.create(checked);
  }

  /** Registered names, sorted. */
  names(): string[] {
    return [...this.#defs.keys()].sort();
  }

  /** Help lines: each plugin's name, description and options. */
  help(): string[] {
    const lines: string[] = [];
    for (const name of this.names()) {
      const def = this.#defs.get(name)!;
      lines.push(`  ${name.padEnd(24)} ${def.description}`);
      for (const opt of describeOptions(def.options)) {
        lines.push(`  ${"".padEnd(24)}   ${opt}`);
      }
    }
    return lines;
  }
}
