/**
 * The `cpu` backend: tfjs's own pure-JavaScript kernels, single-threaded.
 * It needs nothing installed and is the reference the other backends are
 * checked against, but it is slow: PROBE_NOTES.md measured well under one
 * image per second for a width-64 ResNet-18 training step. Use it for tests
 * and tiny runs, or when neither OpenBLAS nor WebAssembly is available.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { BackendError } from "../../core/errors.ts";
import type { Backend, BackendInfo } from "../../core/interfaces.ts";
import type { PluginDef } from "../../core/registry.ts";

const schema = {} as const;

/** Makes tfjs's pure-JS `cpu` backend current. */
export const cpu: PluginDef<Backend, typeof schema> = {
  name: "cpu",
  description:
    "tfjs's pure-JavaScript kernels, single-threaded: needs nothing, slowest",
  options: schema,
  create(): Backend {
    return {
      name: "cpu",
      async load(): Promise<BackendInfo> {
        if (!await tf.setBackend("cpu")) {
          throw new BackendError(
            "cpu backend failed to initialise: reinstall npm:@tensorflow/tfjs with `deno install`",
          );
        }
        await tf.ready();
        // its first write prints an advert for tfjs-node; library code stays silent
        (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
        return {
          name: "cpu",
          engine: "cpu",
          threads: 1,
          detail: "pure JavaScript, 1 thread",
        };
      },
    };
  },
};
