/**
 * Declarative checks for plugin options, so that every plugin validates its
 * options the same way when it is built and a bad value fails at once with
 * one line naming the key, the value and what would be right.
 *
 * @example
 * ```ts
 * import { readOptions } from "./options.ts";
 * const opts = readOptions("backbone resnet18", { width: 0.5 }, {
 *   width: { type: "number", default: 1, oneOf: [1, 0.5, 0.25] },
 * });
 * ```
 *
 * @module
 */
import { ConfigError, oneOf, show } from "./errors.ts";

/** The description of one option. */
export type OptionSpec =
  | {
    type: "number";
    default?: number;
    min?: number;
    max?: number;
    /** Bounds are exclusive when true (e.g. a temperature must be > 0). */
    exclusiveMin?: boolean;
    integer?: boolean;
    oneOf?: readonly number[];
    doc?: string;
  }
  | {
    type: "string";
    default?: string;
    oneOf?: readonly string[];
    doc?: string;
  }
  | { type: "boolean"; default?: boolean; doc?: string }
  | {
    type: "range";
    default?: readonly [number, number];
    min?: number;
    max?: number;
    doc?: string;
  }
  | { type: "number[]"; default?: readonly number[]; doc?: string };

/** A map from option name to its description. */
export type OptionSchema = Record<string, OptionSpec>;

type ValueOf<S extends OptionSpec> = S extends { type: "number" } ? number
  : S extends { type: "string" } ? string
  : S extends { type: "boolean" } ? boolean
  : S extends { type: "range" } ? [number, number]
  : number[];

/** The checked options, typed from the schema. */
export type Options<S extends OptionSchema> = { [K in keyof S]: ValueOf<S[K]> };

function describe(spec: OptionSpec): string {
  switch (spec.type) {
    case "number": {
      if (spec.oneOf) return `one of ${spec.oneOf.join(", ")}`;
      const parts = [spec.integer ? "an integer" : "a number"];
      if (spec.min !== undefined) {
        parts.push(`${spec.exclusiveMin ? ">" : ">="} ${spec.min}`);
      }
      if (spec.max !== undefined) parts.push(`<= ${spec.max}`);
      return parts.join(" ");
    }
    case "string":
      return spec.oneOf ? oneOf(spec.oneOf) : "a string";
    case "boolean":
      return "true or false";
    case "range":
      return `a pair [low, high] with ${spec.min ?? "-inf"} <= low <= high <= ${
        spec.max ?? "inf"
      }`;
    case "number[]":
      return "a list of numbers";
  }
}

function check(where: string, key: string, value: unknown, spec: OptionSpec) {
  const bad = () =>
    new ConfigError(
      `${where}: option "${key}" is ${show(value)}; expected ${describe(spec)}`,
    );
  switch (spec.type) {
    case "number": {
      if (typeof value !== "number" || !Number.isFinite(value)) throw bad();
      if (spec.integer && !Number.isInteger(value)) throw bad();
      if (spec.oneOf && !spec.oneOf.includes(value)) throw bad();
      if (spec.min !== undefined) {
        if (spec.exclusiveMin ? value <= spec.min : value < spec.min) {
          throw bad();
        }
      }
      if (spec.max !== undefined && value > spec.max) throw bad();
      return value;
    }
    case "string":
      if (typeof value !== "string") throw bad();
      if (spec.oneOf && !spec.oneOf.includes(value)) throw bad();
      return value;
    case "boolean":
      if (typeof value !== "boolean") throw bad();
      return value;
    case "range": {
      if (
        !Array.isArray(value) || value.length !== 2 ||
        !value.every((v) => typeof v === "number" && Number.isFinite(v))
      ) throw bad();
      const [lo, hi] = value as [number, number];
      if (lo > hi) throw bad();
      if (spec.min !== undefined && lo < spec.min) throw bad();
      if (spec.max !== undefined && hi > spec.max) throw bad();
      return [lo, hi];
    }
    case "number[]":
      if (
        !Array.isArray(value) ||
        !value.every((v) => typeof v === "number" && Number.isFinite(v))
      ) throw bad();
      return [...value];
  }
}

/**
 * Checks `raw` against `schema`: unknown keys, wrong types and out-of-range
 * values throw a {@linkcode ConfigError}; missing keys take their default.
 * `where` names the owner in messages, e.g. `backbone "resnet18"`.
 */
export function readOptions<S extends OptionSchema>(
  where: string,
  raw: unknown,
  schema: S,
): Options<S> {
  const given = raw ?? {};
  if (typeof given !== "object" || Array.isArray(given)) {
    throw new ConfigError(
      `${where}: options are ${
        show(raw)
      }; expected a mapping of option names to values`,
    );
  }
  const known = Object.keys(schema);
  for (const key of Object.keys(given)) {
    if (!(key in schema)) {
      throw new ConfigError(
        `${where}: unknown option "${key}"; expected ${
          known.length ? oneOf(known) : "no options"
        }`,
      );
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema)) {
    const value = (given as Record<string, unknown>)[key];
    if (value === undefined) {
      if (spec.default === undefined) {
        throw new ConfigError(
          `${where}: option "${key}" is missing; expected ${describe(spec)}`,
        );
      }
      out[key] = Array.isArray(spec.default) ? [...spec.default] : spec.default;
    } else {
      out[key] = check(where, key, value, spec);
    }
  }
  return out as Options<S>;
}

/** One line per option, for `--help`. */
export function describeOptions(schema: OptionSchema): string[] {
  return Object.entries(schema).map(([key, spec]) => {
    const def = spec.default === undefined
      ? "required"
      : `default ${JSON.stringify(spec.default)}`;
    return `${key}: ${describe(spec)} (${def})${
      spec.doc ? ` - ${spec.doc}` : ""
    }`;
  });
}
