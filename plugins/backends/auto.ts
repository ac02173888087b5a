/**
 * The `auto` backend: loads the fastest backend that works on this machine
 * and says which one it chose and why it passed over the faster ones.
 *
 * It tries, in order, `tensorflow-gpu` and `tensorflow` (which look for their
 * package and native binding on disk and fail at once, importing and
 * downloading nothing, when they are absent), `native` (OpenBLAS), `wasm`,
 * then `cpu`. `webgpu` is left out: without a GPU it runs on a software
 * device slower than wasm, and with one it has not been measured against the
 * others yet.
 *
 * It does not import the other backends: it is given the backend registry
 * (see `plugins/bundled.ts`), so a registry with other plugins under those
 * names is honoured, and tests can put failing stand-ins there.
 *
 * @module
 */
import { BackendError, UserError } from "../../core/errors.ts";
import type { Backend, BackendInfo } from "../../core/interfaces.ts";
import type { PluginDef } from "../../core/registry.ts";

/** The backends `auto` tries, fastest first. */
export const AUTO_ORDER: readonly string[] = [
  "tensorflow-gpu",
  "tensorflow",
  "native",
  "wasm",
  "cpu",
];

/** What `auto` needs from the backend registry. */
export interface BackendSource {
  has(name: string): boolean;
  build(name: string, options?: unknown): Backend;
}

/** The part of a backend's error that says why, for the one-line summary. */
function why(name: string, err: unknown): string {
  const text = (err instanceof Error ? err.message : String(err)).split(
    "\n",
  )[0];
  // "<name> backend: X; do Y" -> "X": what to do is in the backend's own error
  return text.replace(new RegExp(`^${name} backend:? `), "").split("; ")[0];
}

/**
 * An `auto` backend over `backends`, trying `order`. Errors that are not
 * UserErrors (bugs) are reported like the others, so one broken backend
 * cannot stop a run that another backend could do.
 */
export function autoBackend(
  backends: BackendSource,
  order: readonly string[] = AUTO_ORDER,
): Backend {
  return {
    name: "auto",
    async load(): Promise<BackendInfo> {
      const skipped: string[] = [];
      for (const name of order) {
        if (!backends.has(name)) {
          skipped.push(`${name} (not registered)`);
          continue;
        }
        let info: BackendInfo;
        try {
          info = await backends.build(name).load();
        } catch (err) {
          const kind = err instanceof UserError ? "" : "error: ";
          skipped.push(`${name} (${kind}${why(name, err)})`);
          continue;
        }
        const chose = `auto chose ${name}${
          info.detail ? `: ${info.detail}` : ""
        }`;
        return {
          ...info,
          detail: skipped.length > 0
            ? `${chose}; skipped ${skipped.join(", ")}`
            : chose,
        };
      }
      throw new BackendError(
        `auto backend: no backend loaded; tried ${skipped.join(", ")}`,
      );
    },
  };
}

const schema = {} as const;

/** The `auto` plugin over the given backend registry. */
export function autoPlugin(
  backends: BackendSource,
): PluginDef<Backend, typeof schema> {
  return {
    name: "auto",
    description: `the fastest backend that loads here, of ${
      AUTO_ORDER.join(", ")
    }; says which it chose and why`,
    options: schema,
    create: () => autoBackend(backends),
  };
}
