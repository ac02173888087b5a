/**
 * `deno task train`: runs CLKNN end to end (or chosen stages) from a preset,
 * a YAML config and command-line overrides.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { ConfigError, oneOf, UserError } from "../core/errors.ts";
import { EventBus } from "../core/events.ts";
import type { Dataset, Reporter } from "../core/interfaces.ts";
import {
  markFailed,
  runPipeline,
  type StageName,
  STAGES,
} from "../core/pipeline.ts";
import { PLUGIN_KINDS, type Registries } from "../core/registries.ts";
import { loadPluginFile, presetNames, resolveConfig } from "../core/resolve.ts";
import { buildPlugins } from "../core/setup.ts";
import { CONFIG_SCHEMA } from "../core/config.ts";
import { bundledRegistries, parseFlags, runMain, VERSION } from "./cli.ts";

const USAGE = "see deno task train --help";

const FLAGS = {
  config: { type: "string", short: "c" },
  preset: { type: "string", short: "p" },
  set: { type: "string", short: "s", multiple: true },
  plugin: { type: "string", multiple: true },
  backend: { type: "string" },
  name: { type: "string" },
  output: { type: "string" },
  stage: { type: "string" },
  from: { type: "string" },
  resume: { type: "string" },
  dashboard: { type: "boolean" },
  "dashboard-host": { type: "string" },
  "dashboard-port": { type: "string" },
  "dashboard-token": { type: "string" },
  "print-config": { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
} as const;

function help(registries: Registries): string {
  const lines = [
    `clknn ${VERSION} - unsupervised image clustering (CLKNN: contrastive learning + K nearest neighbours)`,
    "",
    "usage: deno task train [options]",
    "",
    "options:",
    "  -c, --config FILE        YAML config (keys as in tasks/presets/base.yaml)",
    '  -p, --preset NAME        start from a preset (default: the config\'s `preset`, else "default")',
    "  -s, --set KEY=VALUE      override one key, e.g. --set representation.epochs=20 (repeatable)",
    "      --plugin FILE        load a third-party plugin file first (repeatable)",
    "      --backend NAME       same as --set backend=NAME",
    "      --name NAME          run folder name (default <preset>-<date-time>)",
    "      --output DIR         parent folder of run folders (default runs)",
    `      --stage LIST         run only these stages, comma-separated: ${
      STAGES.join(", ")
    }`,
    "      --from RUN_DIR       a finished run whose outputs feed the first --stage",
    "      --resume RUN_DIR     continue a stopped run from its last checkpoint",
    "      --dashboard          serve a live dashboard (127.0.0.1:8080 unless --dashboard-host/-port)",
    "      --dashboard-token T  access token (required, and generated if absent, off 127.0.0.1)",
    "      --print-config       print the resolved config as YAML and exit",
    "  -q, --quiet              no terminal output but errors (the JSONL log is still written)",
    "  -h, --help               this help;  -V, --version  the version",
    "",
    `presets: ${presetNames().join(", ")}`,
    "",
    "config keys:",
    ...configKeys(CONFIG_SCHEMA, ""),
    "",
    "plugins (name, description, options):",
  ];
  for (const kind of PLUGIN_KINDS) {
    lines.push(`${kind}:`);
    lines.push(...registries[kind].help());
  }
  lines.push(
    "",
    "examples:",
    "  deno task train                                   # default preset, embedded Fashion-MNIST",
    "  deno task train -p fashion-mnist --set backend=native",
    "  deno task train --set model.backbone.options.width=0.25 --set mine.k=20",
    "  deno task train --stage mine,clustering --from runs/default-x --set mine.k=10",
    "  deno task train --resume runs/default-x",
  );
  return lines.join("\n");
}

type SchemaNode = typeof CONFIG_SCHEMA;
function configKeys(node: SchemaNode, prefix: string): string[] {
  if (node.type !== "section") {
    return [`  ${prefix.padEnd(34)} ${"doc" in node ? node.doc : ""}`];
  }
  return Object.entries(node.keys).flatMap(([k, child]) =>
    configKeys(child as SchemaNode, prefix ? `${prefix}.${k}` : k)
  );
}

function parseStages(text: string | undefined): StageName[] | undefined {
  if (text === undefined) return undefined;
  const names = text.split(",").map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) {
    throw new ConfigError(
      `--stage ${JSON.stringify(text)} names no stage; expected ${
        oneOf(STAGES)
      } (comma-separated), or leave --stage out to run them all`,
    );
  }
  for (const n of names) {
    if (!STAGES.includes(n as StageName)) {
      throw new ConfigError(
        `--stage ${JSON.stringify(n)} is not a stage; expected ${
          oneOf(STAGES)
        } (comma-separated)`,
      );
    }
  }
  // keep the pipeline's order whatever the order given
  return STAGES.filter((s) => names.includes(s));
}

function checkWritable(dir: string) {
  try {
    Deno.mkdirSync(dir, { recursive: true });
    const probe = join(dir, `.write-test-${Deno.pid}`);
    Deno.writeFileSync(probe, new Uint8Array(1024 * 1024));
    Deno.removeSync(probe);
  } catch (err) {
    throw new UserError(
      `Cannot write to run folder ${dir}: ${
        (err as Error).message.split("\n")[0]
      }; choose a writable --output with free space`,
    );
  }
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(
    0,
    15,
  );
}

/**
 * The task's body, exported so tests can drive the CLI in-process: returns
 * the exit code, or throws a UserError that runMain prints as one line.
 */
export async function main(args: string[] = Deno.args): Promise<number> {
  const { values: flags } = parseFlags(args, FLAGS, USAGE);
  const registries = bundledRegistries();
  // each file once, whether named by --plugin, the config, or both (a resumed
  // run's config lists the --plugin files it was started with)
  const pluginFiles: string[] = [];
  const loadPlugin = async (file: string) => {
    if (pluginFiles.includes(resolve(file))) return;
    pluginFiles.push(resolve(file));
    await loadPluginFile(file, registries);
  };
  for (const file of flags.plugin ?? []) await loadPlugin(file);
  if (flags.help) {
    console.log(help(registries));
    return 0;
  }
  if (flags.version) {
    console.log(`clknn ${VERSION}`);
    return 0;
  }

  // config: preset <- file <- --set; a resumed run starts from its own config
  const sets = [...(flags.set ?? [])];
  if (flags.backend) sets.push(`backend=${flags.backend}`);
  if (flags.name) sets.push(`name=${flags.name}`);
  if (flags.output) sets.push(`output=${flags.output}`);
  if (flags.resume && (flags.config || flags.preset)) {
    throw new ConfigError(
      `--resume ${flags.resume} continues that run with its own config; drop --config/--preset`,
    );
  }
  if (flags.resume && flags.from) {
    throw new ConfigError(
      "--resume and --from cannot be combined; --resume continues a run, --from starts a new one from a finished run",
    );
  }
  if (flags.from && !flags.stage) {
    throw new ConfigError(
      `--from ${flags.from} needs --stage, e.g. --stage mine,clustering`,
    );
  }
  const stages = parseStages(flags.stage);
  if (flags.resume) {
    try {
      Deno.statSync(join(flags.resume, "config.yaml"));
    } catch {
      throw new ConfigError(
        `--resume ${flags.resume} is not a clknn run folder (no config.yaml); expected a folder written by deno task train`,
      );
    }
  }
  const dashboardPort = flags["dashboard-port"] === undefined
    ? 8080
    : Number(flags["dashboard-port"]);
  if (
    !Number.isInteger(dashboardPort) || dashboardPort < 0 ||
    dashboardPort > 65535
  ) {
    throw new ConfigError(
      `--dashboard-port ${
        JSON.stringify(flags["dashboard-port"])
      } is not a port; expected an integer 0-65535`,
    );
  }
  const config = resolveConfig({
    preset: flags.preset,
    file: flags.resume ? join(flags.resume, "config.yaml") : flags.config,
    sets,
  });
  for (const file of config.plugins) await loadPlugin(file);
  config.plugins = pluginFiles;
  const plugins = buildPlugins(config, registries);
  if (flags.dashboard && !registries.reporter.has("dashboard")) {
    throw new ConfigError(
      "--dashboard needs the dashboard reporter, which is not registered",
    );
  }
  if (flags["print-config"]) {
    const { configToYaml } = await import("../core/config.ts");
    console.log(configToYaml(config));
    return 0;
  }

  const runDir = flags.resume
    ? resolve(flags.resume)
    : resolve(config.output, config.name || `${config.preset}-${timestamp()}`);
  if (!flags.resume) {
    try {
      Deno.statSync(join(runDir, "checkpoint.bin"));
      throw new ConfigError(
        `Run folder ${runDir} already holds a run; continue it with --resume ${runDir} or choose another --name`,
      );
    } catch (err) {
      if (err instanceof ConfigError) throw err;
    }
  }
  if (flags.from) {
    try {
      Deno.statSync(join(flags.from, "checkpoint.bin"));
    } catch {
      throw new ConfigError(
        `--from ${flags.from} is not a clknn run folder (no checkpoint.bin)`,
      );
    }
  }
  checkWritable(runDir);

  // reporters subscribe to the event stream; core never prints
  const events = new EventBus();
  const reporters: Reporter[] = [];
  if (!flags.quiet) {
    reporters.push(
      registries.reporter.build("terminal", { interval: config.log.interval }),
    );
  }
  reporters.push(
    registries.reporter.build("jsonl", { path: join(runDir, "events.jsonl") }),
  );
  let shareDataset: ((d: Dataset) => void) | undefined;
  if (flags.dashboard) {
    const dash = registries.reporter.build("dashboard", {
      runs: resolve(config.output),
      run: runDir.split("/").pop(),
      host: flags["dashboard-host"] ?? "127.0.0.1",
      port: dashboardPort,
      ...(flags["dashboard-token"] ? { token: flags["dashboard-token"] } : {}),
    });
    reporters.push(dash);
    shareDataset = (dash as Reporter & { setDataset?: (d: Dataset) => void })
      .setDataset?.bind(dash);
  }
  for (const r of reporters) r.attach(events);

  const onSignal = () => {
    events.emit({
      type: "warning",
      message:
        `interrupted; the last finished epoch is checkpointed: continue with deno task train --resume ${runDir}`,
    });
    markFailed(runDir);
    for (const r of reporters) r.close().catch(() => {});
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    await runPipeline({
      config,
      plugins,
      events,
      runDir,
      stages,
      from: flags.from,
      resume: Boolean(flags.resume),
      version: VERSION,
      onDataset: shareDataset,
    });
  } catch (err) {
    markFailed(runDir);
    if (err instanceof UserError && !(err instanceof ConfigError)) {
      events.emit({ type: "warning", message: `stopped: ${err.message}` });
    }
    throw err;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    for (const r of reporters) await r.close();
  }
  console.error(`outputs in ${runDir}`);
  return 0;
}

if (import.meta.main) await runMain(() => main());
