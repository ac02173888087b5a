/**
 * What the tests that train for real share: the backend they train on, the
 * config overrides of a run on 100 embedded Fashion-MNIST images that takes
 * seconds, and a runner for the tasks as child processes.
 *
 * @module
 */

import { openBlas } from "../plugins/backends/native_blas.ts";

/**
 * The backend the tests train on: native where OpenBLAS is installed, else
 * wasm, so that `deno task test` passes on a machine with only Deno (and
 * `CLKNN_TEST_BACKEND=wasm` runs the suite as such a machine would).
 */
export const TEST_BACKEND: string = Deno.env.get("CLKNN_TEST_BACKEND") ??
  (() => {
    try {
      openBlas();
      return "native";
    } catch {
      console.log(
        "OpenBLAS not found (apt-get install libopenblas0-pthread): the tests train on wasm",
      );
      return "wasm";
    }
  })();

/** Overrides that make a real run on 100 Fashion-MNIST images take seconds. */
export const TINY = [
  `backend=${TEST_BACKEND}`,
  "dataset.options.limit=100",
  "model.backbone.options.width=0.125",
  "model.instance_head.options.hidden=32",
  "model.cluster_head.options.hidden=32",
  "representation.batch_size=50",
  "clustering.batch_size=50",
  "clustering.heads=2",
  "mine.k=5",
  "baseline.max_points=100",
  "baseline.restarts=1",
];

/** What a task run as a child process printed and returned. */
export interface TaskResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one of `tasks/*.ts` (e.g. `"train"`) as a child process, without colour. */
export async function runTask(
  task: string,
  ...args: string[]
): Promise<TaskResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `tasks/${task}.ts`, ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  };
}
