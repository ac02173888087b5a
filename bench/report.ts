/**
 * Writes a bench report as JSON and as a Markdown table.
 *
 * @module
 */
import type { BenchReport, CaseResult } from "./run.ts";
import { spread } from "./stats.ts";

function fmt(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toPrecision(3);
}

function figure(r: CaseResult): string {
  if (r.status !== "ok") return `${r.status}: ${r.reason}`;
  const s = r.imagesPerSecond ?? r.seconds!;
  return `${fmt(s.median)} (${fmt(s.min)}-${fmt(s.max)})`;
}

/** The report as Markdown: context lines, then one table row per case and engine. */
export function toMarkdown(report: BenchReport): string {
  const m = report.machine;
  const lines = [
    `# clknn benchmark${report.quick ? " (--quick)" : ""}, ${report.date}`,
    "",
    `- machine: ${m.cpu}, ${m.cores} cores; load average ${
      m.loadAverageStart.join(" ")
    } at start, ${
      m.loadAverageEnd.join(" ")
    } at end (the CPU is shared: figures move with the load)`,
    `- Deno ${m.deno}, tfjs ${m.tfjs}`,
    `- PyTorch: ${
      report.torch.available
        ? `${report.torch.version}, ${report.torch.threads} threads; ${report.torch.blasNote}`
        : `not run (${report.torch.reason})`
    }`,
    ...report.backends.map((b) =>
      `- backend ${b.name}: ${
        b.loaded ? (b.detail ?? b.engine) : `skipped (${b.reason})`
      }`
    ),
    `- train: ResNet-18 (CIFAR stem), forward + backward + Adam on mean(features^2); stage1: two augmented views, both heads, double contrastive loss, Adam (PyTorch: flip/shift views, no augmentation); mine: exact cosine top-k`,
    `- images/s is batch / step time, median (min-max) over the repeats after warm-up; mining is seconds per search; "x PyTorch" is speed relative to PyTorch (>1 is faster)`,
    "",
    "| case | engine | images/s or seconds | x PyTorch | peak RSS MiB | wasm heap MiB |",
    "|---|---|---|---|---|---|",
  ];
  for (const c of report.cases) {
    for (const r of report.results.filter((r) => r.case === c.id)) {
      lines.push(
        `| ${c.id} | ${r.backend} | ${figure(r)} | ${
          r.ratioToTorch === undefined ? "" : r.ratioToTorch.toFixed(2)
        } | ${r.peakRssMiB ?? ""} | ${r.wasmHeapMiB ?? ""} |`,
      );
    }
    const t = report.torch.results[c.id];
    if (t?.seconds && t.seconds.length > 0) {
      const s = c.kind === "mine"
        ? spread(t.seconds)
        : spread(t.seconds.map((x) => c.batch! / x));
      lines.push(
        `| ${c.id} | pytorch | ${fmt(s.median)} (${fmt(s.min)}-${
          fmt(s.max)
        }) | 1.00 | ${Math.round(t.peak_rss_mib ?? 0)} | |`,
      );
    } else if (t?.error) {
      lines.push(`| ${c.id} | pytorch | error: ${t.error} | | | |`);
    }
  }
  return lines.join("\n") + "\n";
}

/** Writes `<dir>/<name>.json` and `<dir>/<name>.md`; returns both paths. */
export function writeReport(
  report: BenchReport,
  dir: string,
  name: string,
): { json: string; markdown: string } {
  Deno.mkdirSync(dir, { recursive: true });
  const json = `${dir}/${name}.json`, markdown = `${dir}/${name}.md`;
  Deno.writeTextFileSync(json, JSON.stringify(report, null, 2) + "\n");
  Deno.writeTextFileSync(markdown, toMarkdown(report));
  return { json, markdown };
}
