/**
 * `deno task bench [--quick]`: training throughput, a stage-1 step, neighbour
 * mining and peak memory on every registered backend that loads, side by
 * side with PyTorch; results go to bench/results/ as JSON and Markdown.
 *
 * @module
 */
import { parseBenchArgs, USAGE } from "../bench/args.ts";
import { UserError } from "../core/errors.ts";

let args;
try {
  args = parseBenchArgs(Deno.args);
} catch (err) {
  if (!(err instanceof UserError)) throw err;
  console.error(`bench: ${err.message}`);
  Deno.exit(2);
}
if (args.help) {
  console.log(USAGE);
  Deno.exit(0);
}

// heavy imports only after the flags are known to be good
const { bundledRegistries } = await import("../plugins/bundled.ts");
const { planCases } = await import("../bench/cases.ts");
const { runBench } = await import("../bench/run.ts");
const { writeReport } = await import("../bench/report.ts");

const registries = bundledRegistries();
const known = registries.backend.names();
const unknown = (args.backends ?? []).filter((b) => !known.includes(b));
if (unknown.length > 0) {
  console.error(
    `bench: unknown backend ${JSON.stringify(unknown[0])}: expected one of ${
      known.map((k) => `"${k}"`).join(", ")
    }`,
  );
  Deno.exit(2);
}
const report = await runBench({
  cases: planCases(args.quick),
  registries,
  // auto would only measure one of the others a second time
  backends: args.backends ?? known.filter((b) => b !== "auto"),
  torch: args.torch,
  maxStepSeconds: args.maxStepSeconds,
  log: (line) => console.log(line),
});
report.quick = args.quick;
const paths = writeReport(report, args.out, args.name);
console.log(`results: ${paths.json}, ${paths.markdown}`);
