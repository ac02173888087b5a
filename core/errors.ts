/**
 * Errors a user can fix. The CLI prints their message as one line and exits
 * non-zero without a stack trace; anything else is a bug in clknn.
 *
 * @module
 */

/** Base class of every error whose message is meant for the user. */
export class UserError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UserError";
  }
}

/** A config key, command-line flag or plugin option is wrong. */
export class ConfigError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
  }
}

/** Input data (a file, an archive, a folder of images) is missing or wrong. */
export class DataError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DataError";
  }
}

/** A compute backend could not be loaded on this machine. */
export class BackendError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BackendError";
  }
}

/** Training produced a non-finite loss; the last good checkpoint is kept. */
export class DivergenceError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DivergenceError";
  }
}

/** Renders a value for an error message: strings quoted, others as JSON. */
export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === undefined) return "undefined";
  if (typeof value === "number" && !Number.isFinite(value)) {
    return String(value);
  }
  try {
    const text = JSON.stringify(value);
    return text.length > 80 ? text.slice(0, 77) + "..." : text;
  } catch {
    return String(value);
  }
}

/** Lists choices for an error message: `"a", "b" or "c"`. */
export function oneOf(choices: readonly string[]): string {
  const quoted = choices.map((c) => JSON.stringify(c));
  if (quoted.length <= 1) return quoted.join("");
  return quoted.slice(0, -1).join(", ") + " or " + quoted[quoted.length - 1];
}
