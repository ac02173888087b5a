/**
 * What every command-line task shares: argument parsing with one-line
 * errors, the registries with the bundled plugins, and the rule that a
 * user's mistake is one line and a non-zero exit, never a stack trace.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { ConfigError, UserError } from "../core/errors.ts";
export { VERSION } from "../core/version.ts";
export { bundledRegistries } from "../plugins/bundled.ts";

/** node:util parseArgs, with its errors turned into one ConfigError line. */
export function parseFlags<T extends ParseArgsConfig["options"]>(
  args: string[],
  options: T,
  usage: string,
) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false });
  } catch (err) {
    const message = String((err as Error).message).split("\n")[0]
      .replace(/\. To specify a positional argument.*$/, "");
    throw new ConfigError(`${message}; ${usage}`);
  }
}

/**
 * Runs a task's main function: a UserError prints its message as one line
 * and exits 2 (bad input) or 1 (a run that stopped); any other error is a
 * bug, printed as one line unless CLKNN_DEBUG=1 asks for the stack.
 */
export async function runMain(
  main: () => Promise<number | void>,
): Promise<never> {
  try {
    const code = await main();
    Deno.exit(code ?? 0);
  } catch (err) {
    const debug = Deno.env.get("CLKNN_DEBUG") === "1";
    if (err instanceof UserError) {
      console.error(`error: ${err.message}`);
      if (debug) console.error(err.stack);
      Deno.exit(err instanceof ConfigError ? 2 : 1);
    }
    const message = err instanceof Error
      ? err.message.split("\n")[0]
      : String(err);
    console.error(
      `error: ${message} (an internal error of clknn; rerun with CLKNN_DEBUG=1 for the stack trace and report it)`,
    );
    if (debug) console.error((err as Error)?.stack);
    Deno.exit(1);
  }
}
