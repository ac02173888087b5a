import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import {
  applySet,
  ConfigError,
  configToYaml,
  deepMerge,
  loadPreset,
  parseYaml,
  presetNames,
  resolveConfig,
} from "../mod.ts";

/** The one-line message of the ConfigError `fn` throws. */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError: ${err}`);
    assert.ok(!err.message.includes("\n"), `one line: ${err.message}`);
    return err.message;
  }
  assert.fail("expected a ConfigError");
}

const withSets = (...sets: string[]) => () => resolveConfig({ sets });

Deno.test("a YAML syntax error is one line naming the source, the problem and its line and column", () => {
  assert.match(
    errorOf(() => parseYaml("seed: 1\nmine: { k: 3\nlog: 2\n", "my.yaml")),
    /^my\.yaml is not valid YAML: Flow map .*end with a \} at line 3, column 1$/,
  );
  assert.equal(
    errorOf(() => parseYaml("seed: 1\nseed: 2\n", "my.yaml")),
    "my.yaml is not valid YAML: Map keys must be unique at line 2, column 1",
  );
  assert.equal(
    errorOf(() => parseYaml("- seed\n- 2\n", "my.yaml")),
    'my.yaml must hold a YAML mapping of config keys, not ["seed",2]',
  );
  assert.deepEqual(parseYaml("# only a comment\n", "empty.yaml"), {});
});

Deno.test("a YAML error in a config file names the file and the line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "clknn-config-" });
  const file = join(dir, "bad.yaml");
  await Deno.writeTextFile(file, "mine:\n  k: 3\n search: exact\n");
  assert.equal(
    errorOf(() => resolveConfig({ file })),
    `config file ${file} is not valid YAML: All mapping items must start at the same column at line 3, column 1`,
  );
  assert.match(
    errorOf(() => resolveConfig({ file: join(dir, "missing.yaml") })),
    /^Cannot read config file .*missing\.yaml: No such file/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("an unknown key names its path, the keys expected there and the nearest one", () => {
  assert.equal(
    errorOf(withSets("representation.epoch=3")),
    'Unknown config key "representation.epoch": expected "epochs", "batch_size", "lr", "weight_decay" or "loss" (did you mean "epochs"?)',
  );
  assert.equal(
    errorOf(withSets("clustring.epochs=3")),
    'Unknown config key "clustring": expected "name", "output", "preset", "seed", "backend", "cache_dir", "plugins", "dataset", "model", "augment", "representation", "mine", "clustering", "selflabel", "baseline", "evaluate" or "log" (did you mean "clustering"?)',
  );
  // nothing close: no suggestion
  assert.doesNotMatch(errorOf(withSets("mine.zzzzzz=1")), /did you mean/);
  assert.equal(
    errorOf(withSets("model.backbone.option.width=0.5")),
    'Unknown config key "model.backbone.option": expected "name" or "options"',
  );
});

Deno.test("a value of the wrong type names the key, the value and the type expected", () => {
  const cases: [string, string][] = [
    [
      "representation.epochs=abc",
      'Config key "representation.epochs" is "abc"; expected an integer >= 0',
    ],
    [
      "selflabel.enabled=yes",
      'Config key "selflabel.enabled" is "yes"; expected true or false',
    ],
    [
      "mine.k=[3]",
      'Config key "mine.k" is [3]; expected an integer >= 1',
    ],
    [
      "model.backbone=3",
      'Config key "model.backbone" is 3; expected a backbone name, or {name, options}',
    ],
    [
      "model.backbone.options=3",
      'Config key "model.backbone.options" is 3; expected a mapping of option names to values',
    ],
    [
      "augment.pipeline=horizontal-flip",
      'Config key "augment.pipeline" is "horizontal-flip"; expected a list of augmentation names or {name, options}',
    ],
    [
      "plugins=./a.ts",
      'Config key "plugins" is "./a.ts"; expected a list of strings',
    ],
    [
      "mine=null",
      'Config key "mine" is null; expected a mapping with keys "k", "search" or "features"',
    ],
  ];
  for (const [set, message] of cases) {
    assert.equal(errorOf(withSets(set)), message, set);
  }
});

Deno.test("values out of range are refused past their bounds and accepted on them", () => {
  const refused: [string, string][] = [
    ["clustering.heads=0", "an integer >= 1 and <= 20"],
    ["clustering.heads=21", "an integer >= 1 and <= 20"],
    ["representation.lr=0", "a number > 0"],
    ["representation.weight_decay=-0.1", "a number >= 0"],
    ["representation.batch_size=1", "an integer >= 2"],
    ["seed=1.5", "an integer >= 0"],
    ["log.interval=.inf", "a number >= 0"],
    ["augment.views=triple", 'expected "double" or "single"'],
    ["mine.features=pixels", 'expected "instance" or "backbone"'],
  ];
  for (const [set, expected] of refused) {
    assert.ok(errorOf(withSets(set)).endsWith(expected), set);
  }
  const config = resolveConfig({
    sets: [
      "clustering.heads=1",
      "selflabel.epochs=0",
      "representation.lr=1e-9",
      "representation.weight_decay=0",
      "representation.batch_size=2",
      "log.interval=0",
    ],
  });
  assert.equal(config.clustering.heads, 1);
  assert.equal(config.representation.lr, 1e-9);
  assert.equal(
    resolveConfig({ sets: ["clustering.heads=20"] }).clustering.heads,
    20,
  );
});

Deno.test("--set reads numbers, booleans and lists as YAML and keeps the text of string keys", () => {
  const config = resolveConfig({
    sets: [
      "representation.lr=3e-4",
      "representation.epochs=12",
      "selflabel.enabled=true",
      "clustering.update_backbone=false",
      "model.backbone.options.width=0.5",
      "augment.pipeline=[horizontal-flip, {name: gaussian-blur, options: {sigma: [0.5, 1]}}]",
      "name=2024",
      "output=/tmp/runs 1",
      "dataset.options.split=test",
    ],
  });
  assert.equal(config.representation.lr, 0.0003);
  assert.equal(config.representation.epochs, 12);
  assert.equal(config.selflabel.enabled, true);
  assert.equal(config.clustering.update_backbone, false);
  // a plugin option merges into the preset's options of the same plugin
  assert.deepEqual(config.model.backbone, {
    name: "resnet18",
    options: { width: 0.5, stem: "cifar" },
  });
  assert.deepEqual(config.augment.pipeline, [
    { name: "horizontal-flip", options: {} },
    { name: "gaussian-blur", options: { sigma: [0.5, 1] } },
  ]);
  assert.equal(config.name, "2024");
  assert.equal(config.output, "/tmp/runs 1");
  assert.deepEqual(config.dataset, {
    name: "fashion-mnist",
    options: { split: "test" },
  });
  // a value holding "=" keeps everything after the first one
  assert.equal(
    resolveConfig({ sets: ["dataset.options.md5=a=b"] }).dataset.options.md5,
    "a=b",
  );
});

Deno.test("a plugin whose name changes drops the old plugin's options", () => {
  const config = resolveConfig({
    sets: [
      "model.backbone.name=small-convnet",
      "representation.loss=instance-ntxent",
    ],
  });
  assert.deepEqual(config.model.backbone, {
    name: "small-convnet",
    options: {},
  });
  assert.deepEqual(config.representation.loss, {
    name: "instance-ntxent",
    options: {},
  });
  // the same name keeps them
  assert.deepEqual(
    deepMerge(
      { name: "resnet18", options: { width: 0.5 } },
      { name: "resnet18", options: { stem: "cifar" } },
    ),
    { name: "resnet18", options: { width: 0.5, stem: "cifar" } },
  );
});

Deno.test("a malformed --set is refused with an example of the right form", () => {
  for (const set of ["representation.epochs", "=3", "mine..k=3", ".k=3"]) {
    assert.match(
      errorOf(() => applySet({}, set)),
      /^--set ".*" (is malformed|has an invalid key path); expected /,
      set,
    );
  }
  assert.match(
    errorOf(() => applySet({}, "__proto__.polluted=1")),
    /invalid key path/,
  );
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

Deno.test("presets inherit from base, the ablation rows from default, and all of them resolve", () => {
  const base = resolveConfig({ preset: "base" });
  const def = resolveConfig({ preset: "default" });
  const origin = resolveConfig({ preset: "ablation-origin" });
  assert.equal(base.representation.epochs, 500);
  assert.equal(def.representation.epochs, 10);
  // default leaves the loss to base
  assert.deepEqual(def.representation.loss, base.representation.loss);
  // the ablation row changes the views and keeps default's budget
  assert.equal(origin.augment.views, "single");
  assert.equal(origin.representation.epochs, def.representation.epochs);
  assert.deepEqual(origin.model.backbone, def.model.backbone);
  assert.equal(origin.preset, "ablation-origin");
  assert.deepEqual(
    loadPreset("default"),
    deepMerge(
      loadPreset("base"),
      parseYaml(
        Deno.readTextFileSync("tasks/presets/default.yaml"),
        "default.yaml",
      ),
    ),
  );
  for (const name of presetNames()) {
    assert.equal(resolveConfig({ preset: name }).preset, name);
  }
  assert.match(
    errorOf(() => resolveConfig({ preset: "cifar11" })),
    /^Unknown preset "cifar11": expected "ablation-clknn", .* "default", .*"stl10"$/,
  );
});

Deno.test("a config file overrides its preset and --set overrides the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "clknn-config-" });
  const file = join(dir, "run.yaml");
  await Deno.writeTextFile(
    file,
    "preset: ablation-origin\nmine: { k: 7 }\nclustering:\n  heads: 3\n",
  );
  const fromFile = resolveConfig({ file });
  assert.equal(fromFile.preset, "ablation-origin");
  assert.equal(fromFile.augment.views, "single");
  assert.equal(fromFile.mine.k, 7);
  assert.equal(fromFile.clustering.heads, 3);
  const overridden = resolveConfig({ file, sets: ["mine.k=9"] });
  assert.equal(overridden.mine.k, 9);
  assert.equal(overridden.clustering.heads, 3);
  // an explicit preset wins over the file's
  assert.equal(
    resolveConfig({ file, preset: "default" }).augment.views,
    "double",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("plugin paths given by --set are made absolute from the working directory", () => {
  const config = resolveConfig({
    sets: ["plugins=[./my_plugin.ts, /abs/other.ts]"],
  });
  assert.deepEqual(config.plugins, [resolve("my_plugin.ts"), "/abs/other.ts"]);
});

Deno.test("the resolved config written as YAML reads back as the same config", async () => {
  const dir = await Deno.makeTempDir({ prefix: "clknn-config-" });
  const config = resolveConfig({
    preset: "ablation-double-loss",
    sets: [
      "name=2024",
      "model.backbone.options.width=0.25",
      "augment.pipeline=[{name: random-resized-crop, options: {scale: [0.2, 1]}}]",
      "representation.lr=3e-4",
      "plugins=[/abs/p.ts]",
    ],
  });
  const file = join(dir, "config.yaml");
  await Deno.writeTextFile(file, configToYaml(config));
  assert.deepEqual(resolveConfig({ file }), config);
  await Deno.remove(dir, { recursive: true });
});
