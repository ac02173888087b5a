/**
 * The toolkit version (from deno.json), written into checkpoints and
 * metrics so a run can tell which clknn made it.
 *
 * @module
 */
export const VERSION: string = JSON.parse(
  Deno.readTextFileSync(new URL("../deno.json", import.meta.url)),
).version;
