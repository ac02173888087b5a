import assert from "node:assert/strict";
import { join } from "node:path";
import {
  bundledRegistries,
  PLUGIN_KINDS,
  presetNames,
  resolveConfig,
  VERSION,
} from "../mod.ts";
import { TINY_MLP } from "./tiny_plugin.ts";
import { runTask, type TaskResult, TEST_BACKEND } from "./tiny.ts";

/** Runs `deno task train` as a child process. */
const train = (...args: string[]) => runTask("train", ...args);

/** Asserts a user error: exit 2, nothing on stdout, one stderr line "error: ...", no stack. */
function assertOneLineError(result: TaskResult, what: string): string {
  assert.equal(result.code, 2, `${what}: exit code (stderr: ${result.stderr})`);
  assert.equal(result.stdout, "", `${what}: stdout`);
  assert.doesNotMatch(result.stderr, / {4}at /, `${what}: stack trace`);
  const lines = result.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `${what}: one line, got:\n${result.stderr}`);
  assert.match(lines[0], /^error: /, what);
  return lines[0];
}

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "clknn-cli-" });
}

function listing(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

Deno.test("--help lists every plugin kind, every registered plugin with its description, and the presets", async () => {
  const result = await train("--help");
  assert.equal(result.code, 0);
  assert.equal(result.stderr, "");
  const help = result.stdout;
  const registries = bundledRegistries();
  for (const kind of PLUGIN_KINDS) {
    assert.match(help, new RegExp(`^${kind}:$`, "m"), `kind ${kind}`);
    for (const name of registries[kind].names()) {
      const { description } = registries[kind].get(name);
      assert.ok(
        help.includes(`  ${name.padEnd(24)} ${description}`),
        `${kind} ${name}`,
      );
    }
  }
  assert.ok(help.includes(`presets: ${presetNames().join(", ")}`));
  for (const flag of ["--config", "--set", "--plugin", "--stage", "--resume"]) {
    assert.ok(help.includes(flag), flag);
  }
  // every config key, with its doc
  assert.match(
    help,
    /^ {2}representation\.epochs +epochs of representation learning$/m,
  );
});

Deno.test("--help with --plugin lists the third-party plugin too", async () => {
  const dir = await tempDir();
  const file = join(dir, "tiny.ts");
  await Deno.writeTextFile(file, TINY_MLP);
  const result = await train("--plugin", file, "--help");
  assert.equal(result.code, 0, result.stderr);
  assert.ok(
    result.stdout.includes(
      `  ${"tiny-mlp".padEnd(24)} Flatten + one dense layer (a toy backbone)`,
    ),
  );
  assert.ok(result.stdout.includes("units: an integer >= 1 (default 64)"));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("--version prints the version of deno.json", async () => {
  const result = await train("--version");
  assert.equal(result.code, 0);
  const version = JSON.parse(Deno.readTextFileSync("deno.json")).version;
  assert.equal(VERSION, version);
  assert.equal(result.stdout, `clknn ${version}\n`);
});

Deno.test("every mistake exits 2 with one line and makes no run folder", async () => {
  const dir = await tempDir();
  const output = join(dir, "runs");
  const badYaml = join(dir, "bad.yaml");
  await Deno.writeTextFile(badYaml, "mine:\n  k: [3\n");
  const empty = join(dir, "empty.ts");
  await Deno.writeTextFile(empty, "export default function register() {}\n");
  const notRun = join(dir, "not-a-run");
  await Deno.mkdir(notRun);
  const cases: [string[], RegExp][] = [
    [
      ["--bogus"],
      /^error: Unknown option '--bogus'; see deno task train --help$/,
    ],
    [["extra"], /^error: Unexpected argument 'extra'/],
    [
      ["--set", "representation.epochs"],
      /^error: --set "representation\.epochs" is malformed/,
    ],
    [
      ["--set", "representation.epoch=3"],
      /^error: Unknown config key "representation\.epoch": .* \(did you mean "epochs"\?\)$/,
    ],
    [
      ["--set", "clustering.heads=21"],
      /^error: Config key "clustering\.heads" is 21; expected an integer >= 1 and <= 20$/,
    ],
    [["--preset", "cifar11"], /^error: Unknown preset "cifar11": expected /],
    [
      ["--config", join(dir, "missing.yaml")],
      /^error: Cannot read config file /,
    ],
    [
      ["--config", badYaml],
      /^error: config file .*bad\.yaml is not valid YAML: .* at line 3, column 1$/,
    ],
    [
      ["--set", "model.backbone.name=resnet19"],
      /^error: model\.backbone: Unknown backbone "resnet19": expected "resnet18", /,
    ],
    [
      ["--set", "model.backbone.options.width=0.3"],
      /^error: model\.backbone: backbone "resnet18": option "width" is 0\.3; expected one of 1, 0\.5, 0\.25, 0\.125$/,
    ],
    [["--plugin", empty], /^error: Plugin file .*empty\.ts registered nothing/],
    [
      ["--stage", "mining"],
      /^error: --stage "mining" is not a stage; expected /,
    ],
    [["--from", notRun], /^error: --from .* needs --stage/],
    [
      ["--resume", notRun],
      /^error: --resume .*not-a-run is not a clknn run folder \(no config\.yaml\)/,
    ],
    [
      ["--dashboard", "--dashboard-port", "http"],
      /^error: --dashboard-port "http" is not a port; expected an integer 0-65535$/,
    ],
  ];
  for (const [args, message] of cases) {
    const result = await train(
      "--backend",
      TEST_BACKEND,
      "--output",
      output,
      "--name",
      "x",
      ...args,
    );
    const line = assertOneLineError(result, args.join(" "));
    assert.match(line, message, args.join(" "));
    let made: string[] = [];
    try {
      made = listing(output);
    } catch {
      // no output folder at all: nothing was made
    }
    assert.deepEqual(made, [], `${args.join(" ")} made ${made.join(", ")}`);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a folder that already holds a run is refused and left as it was", async () => {
  const dir = await tempDir();
  await Deno.mkdir(join(dir, "x"));
  await Deno.writeTextFile(join(dir, "x", "checkpoint.bin"), "keep");
  const result = await train(
    "-q",
    "--backend",
    TEST_BACKEND,
    "--output",
    dir,
    "--name",
    "x",
  );
  const line = assertOneLineError(result, "existing run");
  assert.ok(line.includes("already holds a run; continue it with --resume"));
  assert.deepEqual(listing(join(dir, "x")), ["checkpoint.bin"]);
  assert.equal(Deno.readTextFileSync(join(dir, "x", "checkpoint.bin")), "keep");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a mistake found only once the data is loaded stops before training and leaves no checkpoint", async () => {
  const dir = await tempDir();
  const result = await train(
    "-q",
    "--backend",
    TEST_BACKEND,
    "--output",
    dir,
    "--name",
    "x",
    "--set",
    "dataset.options.limit=50",
    "--set",
    "representation.batch_size=64",
  );
  const line = assertOneLineError(result, "batch larger than the dataset");
  assert.equal(
    line,
    'error: representation.batch_size is 64 but dataset "fashion-mnist" has 50 images; expected at most 50',
  );
  // only what a run writes before its first epoch: no checkpoint, no model
  assert.deepEqual(listing(join(dir, "x")), [
    "config.yaml",
    "events.jsonl",
    "status.json",
  ]);
  const status = JSON.parse(
    Deno.readTextFileSync(join(dir, "x", "status.json")),
  );
  assert.equal(status.state, "failed");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("--print-config prints a config that reads back as itself", async () => {
  const dir = await tempDir();
  const plugin = join(dir, "tiny.ts");
  await Deno.writeTextFile(plugin, TINY_MLP);
  const sets = [
    "--set",
    "mine.k=7",
    "--set",
    "model.backbone={name: tiny-mlp, options: {units: 16}}",
    "--set",
    "name=2024",
  ];
  const first = await train(
    "--backend",
    "native",
    "--plugin",
    plugin,
    ...sets,
    "--print-config",
  );
  assert.equal(first.code, 0, first.stderr);
  const printed = join(dir, "printed.yaml");
  await Deno.writeTextFile(printed, first.stdout);
  const config = resolveConfig({ file: printed });
  assert.equal(config.mine.k, 7);
  assert.equal(config.name, "2024");
  assert.equal(config.backend, "native");
  assert.deepEqual(config.model.backbone, {
    name: "tiny-mlp",
    options: { units: 16 },
  });
  // the --plugin file is part of the resolved config, so the run can be resumed
  assert.deepEqual(config.plugins, [plugin]);
  assert.deepEqual(
    config,
    resolveConfig({
      sets: [
        "backend=native",
        `plugins=[${plugin}]`,
        "mine.k=7",
        "model.backbone={name: tiny-mlp, options: {units: 16}}",
        "name=2024",
      ],
    }),
  );
  // printed again from the printed file (its plugins: loads the file): the same text
  const second = await train("--config", printed, "--print-config");
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.stdout, first.stdout);
  await Deno.remove(dir, { recursive: true });
});
