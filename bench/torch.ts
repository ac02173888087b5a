/**
 * Runs bench/torch_reference.py with Debian's /usr/bin/python3 (the one with
 * torch) and reads its JSON answer.
 *
 * @module
 */
import type { BenchCase } from "./cases.ts";

/** The PyTorch side of a run. */
export interface TorchRun {
  available: boolean;
  /** Why it did not run, when it did not. */
  reason?: string;
  version?: string;
  threads?: number;
  /** The BLAS/LAPACK libraries the torch process had mapped. */
  blas?: string[];
  /** One sentence on which BLAS that is. */
  blasNote?: string;
  results: Record<
    string,
    { seconds?: number[]; peak_rss_mib?: number; error?: string }
  >;
}

/** The interpreter Debian's python3-torch installs into. */
export const PYTHON = "/usr/bin/python3";

const SCRIPT = new URL("./torch_reference.py", import.meta.url).pathname;

/** Says whether torch's BLAS is Debian's pthread OpenBLAS. */
export function blasNote(libs: readonly string[]): string {
  if (libs.some((l) => l.includes("openblas-pthread"))) {
    return "torch/numpy use libopenblas0-pthread (" +
      libs.filter((l) => l.includes("openblas")).map((l) => l.split("/").pop())
        .join(", ") +
      ")";
  }
  if (libs.some((l) => l.includes("openblas"))) {
    return `torch/numpy use an OpenBLAS that is not Debian's pthread build: ${
      libs.join(", ")
    }`;
  }
  return `torch/numpy do NOT use OpenBLAS (${
    libs.join(", ") || "no BLAS mapped"
  }): Debian falls back to the reference BLAS; apt-get install libopenblas0-pthread`;
}

/** Runs the cases in PyTorch with 2 threads; never throws. */
export async function runTorch(cases: BenchCase[]): Promise<TorchRun> {
  const plan = JSON.stringify({ threads: 2, cases });
  let output;
  try {
    output = await new Deno.Command(PYTHON, {
      args: [SCRIPT, plan],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (err) {
    return {
      available: false,
      reason: `${PYTHON} did not start: ${
        (err as Error).message.split("\n")[0]
      }`,
      results: {},
    };
  }
  if (!output.success) {
    const err = new TextDecoder().decode(output.stderr).trim().split("\n");
    const last = err[err.length - 1] ?? "";
    return {
      available: false,
      reason: /No module named 'torch'/.test(last)
        ? `${PYTHON} has no torch: apt-get install python3-torch`
        : `torch reference failed: ${last}`,
      results: {},
    };
  }
  const parsed = JSON.parse(new TextDecoder().decode(output.stdout));
  return {
    available: true,
    version: parsed.torch,
    threads: parsed.threads,
    blas: parsed.blas,
    blasNote: blasNote(parsed.blas),
    results: parsed.results,
  };
}
