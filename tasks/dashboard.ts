/**
 * `deno task dashboard --runs runs/`: serves the dashboard over a folder of
 * runs (finished ones, and ones another process is training: their
 * events.jsonl is followed while status.json says "running").
 *
 * @module
 */
import { ConfigError } from "../core/errors.ts";
import type { Dataset } from "../core/interfaces.ts";
import { startDashboard } from "../plugins/reporters/dashboard/server.ts";
import { parseFlags, runMain } from "./cli.ts";

const USAGE = "see deno task dashboard --help";

const FLAGS = {
  runs: { type: "string", short: "r" },
  host: { type: "string" },
  port: { type: "string" },
  token: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const HELP = [
  "usage: deno task dashboard [--runs DIR] [--host ADDR] [--port N] [--token T]",
  "",
  "Serves a read-only dashboard of the runs in DIR (default runs).",
  "",
  "  -r, --runs DIR     folder holding one folder per run (default runs)",
  "      --host ADDR    address to bind (default 127.0.0.1); any other address",
  "                     requires a token, generated and printed when not given",
  "      --port N       port (default 8080; 0 picks a free one)",
  "      --token T      token every request must carry (?token=T or Authorization: Bearer T)",
  "  -h, --help         this help",
].join("\n");

/**
 * The task's body. `openDataset` opens a run's dataset for gallery images;
 * the command line passes none yet (no loader for on-disk runs), so the
 * gallery says images are unavailable.
 */
export async function serveRuns(
  args: string[],
  openDataset?: (runName: string) => Promise<Dataset | undefined>,
): Promise<number> {
  const { values: flags } = parseFlags(args, FLAGS, USAGE);
  if (flags.help) {
    console.log(HELP);
    return 0;
  }
  const port = flags.port === undefined ? 8080 : Number(flags.port);
  if (!/^\d+$/.test(flags.port ?? "0") || port > 65535) {
    throw new ConfigError(
      `--port ${
        JSON.stringify(flags.port)
      } is not a port; expected an integer 0-65535`,
    );
  }
  if (flags.token !== undefined && !/^[\x21-\x7e]{8,256}$/.test(flags.token)) {
    throw new ConfigError(
      "--token must be 8 to 256 printable characters without spaces",
    );
  }
  const runsDir = flags.runs ?? "runs";
  try {
    if (!Deno.statSync(runsDir).isDirectory) throw new Error();
  } catch {
    throw new ConfigError(
      `--runs ${
        JSON.stringify(runsDir)
      } is not a folder; give the folder holding the run folders`,
    );
  }
  let dash;
  try {
    dash = await startDashboard({
      runsDir,
      hostname: flags.host ?? "127.0.0.1",
      port,
      token: flags.token,
      openDataset,
    });
  } catch (err) {
    throw new ConfigError(
      `cannot listen on ${flags.host ?? "127.0.0.1"}:${port}: ${
        (err as Error).message
      }; choose another --port (0 picks a free one)`,
    );
  }
  console.log(`dashboard: ${dash.url}`);
  if (dash.token && !flags.token) {
    console.log(`token (generated): ${dash.token}`);
  }
  await new Promise(() => {});
  return 0;
}

if (import.meta.main) runMain(() => serveRuns(Deno.args));
