/**
 * `deno task ablation`: the paper's Table 3 ablation. Runs the four
 * ablation presets (origin, double augmentation, double contrastive loss,
 * both = CLKNN) one after another, each in its own run folder, and writes
 * one table of ACC / NMI / ARI per row (Markdown and JSON).
 *
 * A row whose run folder already finished is not run again; one that was
 * stopped is resumed, so the task itself can be restarted after a crash.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseFlags, runMain } from "./cli.ts";
import { UserError } from "../core/errors.ts";

const ROWS = [
  { preset: "ablation-origin", label: "origin (single aug., instance loss)" },
  { preset: "ablation-double-augmentation", label: "+ double augmentation" },
  { preset: "ablation-double-loss", label: "+ double contrastive loss" },
  { preset: "ablation-clknn", label: "CLKNN (both)" },
] as const;

const FLAGS = {
  output: { type: "string" },
  set: { type: "string", short: "s", multiple: true },
  quiet: { type: "boolean", short: "q" },
  help: { type: "boolean", short: "h" },
} as const;

const HELP =
  `usage: deno task ablation [--output runs/ablation] [--set key=value ...] [-q]

Runs the presets ${ROWS.map((r) => r.preset).join(", ")}
(each --set applies to all four), then writes ablation.md and ablation.json
into the output folder. Finished rows are skipped, stopped ones resumed.`;

interface Row {
  preset: string;
  label: string;
  acc?: number;
  nmi?: number;
  ari?: number;
  kmeans?: { acc: number; nmi: number; ari: number };
}

const pct = (x: number | undefined) =>
  x === undefined ? "-" : (100 * x).toFixed(1);

/** The Markdown table of the ablation rows. */
export function ablationTable(rows: Row[]): string {
  const lines = [
    "| setting | ACC % | NMI % | ARI % |",
    "|---|---|---|---|",
    ...rows.map((r) =>
      `| ${r.label} | ${pct(r.acc)} | ${pct(r.nmi)} | ${pct(r.ari)} |`
    ),
  ];
  const km = rows.find((r) => r.kmeans)?.kmeans;
  if (km) {
    lines.push(
      `| k-means on pixels (baseline) | ${pct(km.acc)} | ${pct(km.nmi)} | ${
        pct(km.ari)
      } |`,
    );
  }
  return lines.join("\n") + "\n";
}

async function main(): Promise<number> {
  const { values } = parseFlags(
    Deno.args,
    FLAGS,
    "see deno task ablation --help",
  );
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const output = resolve(values.output ?? "runs/ablation");
  const train = fileURLToPath(new URL("./train.ts", import.meta.url));
  const rows: Row[] = [];
  for (const row of ROWS) {
    const runDir = join(output, row.preset);
    const status = readJson(join(runDir, "status.json")) as
      | { state?: string }
      | undefined;
    if (status?.state !== "finished") {
      const args = status
        ? ["--resume", runDir]
        : ["--preset", row.preset, "--output", output, "--name", row.preset];
      for (const s of values.set ?? []) if (!status) args.push("--set", s);
      if (values.quiet) args.push("-q");
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", train, ...args],
        stdout: "inherit",
        stderr: "inherit",
      });
      const { code } = await child.output();
      if (code !== 0) {
        throw new UserError(
          `ablation row ${row.preset} stopped (exit ${code}); rerun deno task ablation to resume it`,
        );
      }
    }
    const metrics = readJson(join(runDir, "metrics.json")) as Row & {
      baseline?: { kmeans?: Row["kmeans"] };
    };
    rows.push({
      ...row,
      acc: metrics?.acc,
      nmi: metrics?.nmi,
      ari: metrics?.ari,
      kmeans: metrics?.baseline?.kmeans,
    });
  }
  const table = ablationTable(rows);
  Deno.writeTextFileSync(join(output, "ablation.md"), table);
  Deno.writeTextFileSync(
    join(output, "ablation.json"),
    JSON.stringify(rows, null, 2) + "\n",
  );
  console.log(table);
  console.log(`written ${join(output, "ablation.md")}`);
  return 0;
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(Deno.readTextFileSync(path));
  } catch {
    return undefined;
  }
}

if (import.meta.main) await runMain(main);
