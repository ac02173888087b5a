import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import * as tf from "@tensorflow/tfjs";
import {
  type Backbone,
  buildPlugins,
  bundledRegistries,
  ConfigError,
  createRegistries,
  loadPluginFile,
  type OptionSchema,
  PLUGIN_KINDS,
  type PluginDef,
  Registry,
  resolveConfig,
} from "../mod.ts";
import { TINY_MLP } from "./tiny_plugin.ts";

await tf.setBackend("cpu");

/** A plugin definition whose `create` counts its calls. */
function counted<S extends OptionSchema>(name: string, options: S) {
  const calls: unknown[] = [];
  const def: PluginDef<{ name: string }, S> = {
    name,
    description: `the ${name} plugin`,
    options,
    create: (opts) => {
      calls.push(opts);
      return { name };
    },
  };
  return { def, calls };
}

/** Writes a plugin file into a fresh temp folder and returns its path. */
async function pluginFile(source: string, name = "plugin.ts") {
  const dir = await Deno.makeTempDir({ prefix: "clknn-plugin-" });
  const path = join(dir, name);
  await Deno.writeTextFile(path, source);
  return path;
}

function oneLine(err: unknown): string {
  assert.ok(err instanceof ConfigError, `expected a ConfigError: ${err}`);
  assert.ok(!err.message.includes("\n"), `one line: ${err.message}`);
  return err.message;
}

Deno.test("registering a taken name throws and keeps the first plugin", () => {
  const registry = new Registry<{ name: string }>("backbone");
  const first = counted("net", {});
  registry.register(first.def);
  assert.throws(
    () => registry.register(counted("net", {}).def),
    (err) =>
      oneLine(err) ===
        'Cannot register backbone "net": the name is already taken; choose another name',
  );
  registry.build("net");
  assert.equal(first.calls.length, 1);
  assert.deepEqual(registry.names(), ["net"]);
});

Deno.test("a plugin name with capitals or spaces is refused at registration", () => {
  const registry = new Registry<{ name: string }>("head");
  for (const name of ["Big", "two words", "", "-dash-first"]) {
    assert.throws(
      () => registry.register(counted(name, {}).def),
      (err) =>
        oneLine(err).startsWith(`Cannot register head ${JSON.stringify(name)}`),
    );
  }
  assert.deepEqual(registry.names(), []);
});

Deno.test("asking for an unknown name throws and lists the known names, sorted", () => {
  const registry = new Registry<{ name: string }>("loss");
  for (const name of ["scan", "instance-ntxent", "self-label"]) {
    registry.register(counted(name, {}).def);
  }
  assert.throws(
    () => registry.get("scann"),
    (err) =>
      oneLine(err) ===
        'Unknown loss "scann": expected "instance-ntxent", "scan" or "self-label"',
  );
  assert.throws(() => registry.build("nope"), /Unknown loss "nope"/);
  assert.equal(registry.has("scan"), true);
  assert.equal(registry.has("scann"), false);
});

Deno.test("build checks options against the plugin's schema before create runs", () => {
  const registry = new Registry<{ name: string }>("backbone");
  const { def, calls } = counted("net", {
    width: { type: "number", default: 1, oneOf: [1, 0.5] },
    depth: { type: "number", default: 2, min: 1, max: 8, integer: true },
    temperature: { type: "number", default: 0.5, min: 0, exclusiveMin: true },
    stem: { type: "string", default: "auto", oneOf: ["auto", "cifar"] },
    scale: { type: "range", default: [0.08, 1], min: 0, max: 1 },
    flag: { type: "boolean", default: false },
    mean: { type: "number[]", default: [0.5] },
    path: { type: "string" },
  });
  registry.register(def);
  const bad: [Record<string, unknown>, string][] = [
    [
      { path: "x", width: 0.3 },
      'option "width" is 0.3; expected one of 1, 0.5',
    ],
    [
      { path: "x", depth: 2.5 },
      'option "depth" is 2.5; expected an integer >= 1',
    ],
    [
      { path: "x", depth: 9 },
      'option "depth" is 9; expected an integer >= 1',
    ],
    [
      { path: "x", temperature: 0 },
      'option "temperature" is 0; expected a number > 0',
    ],
    [
      { path: "x", stem: "imagenet" },
      'option "stem" is "imagenet"; expected "auto" or "cifar"',
    ],
    [{ path: "x", scale: [0.9, 0.1] }, 'option "scale" is [0.9,0.1]'],
    [{ path: "x", scale: [0.1, 2] }, 'option "scale" is [0.1,2]'],
    [
      { path: "x", flag: "yes" },
      'option "flag" is "yes"; expected true or false',
    ],
    [{ path: "x", mean: [1, "a"] }, 'option "mean" is [1,"a"]'],
    [{}, 'option "path" is missing; expected a string'],
    [
      { path: "x", colour: 1 },
      'unknown option "colour"; expected "width", "depth", "temperature", "stem", "scale", "flag", "mean" or "path"',
    ],
  ];
  for (const [options, message] of bad) {
    assert.throws(
      () => registry.build("net", options),
      (err) => oneLine(err).startsWith(`backbone "net": ${message}`),
      JSON.stringify(options),
    );
  }
  assert.throws(
    () => registry.build("net", [1, 2]),
    /backbone "net": options are \[1,2\]; expected a mapping/,
  );
  assert.equal(calls.length, 0, "create never ran on bad options");

  registry.build("net", { path: "p", depth: 8, temperature: 1e-9 });
  assert.deepEqual(calls, [{
    width: 1,
    depth: 8,
    temperature: 1e-9,
    stem: "auto",
    scale: [0.08, 1],
    flag: false,
    mean: [0.5],
    path: "p",
  }]);
});

Deno.test("the bundled registries hold a plugin of every kind, each with a description", () => {
  const registries = bundledRegistries();
  for (const kind of PLUGIN_KINDS) {
    const names = registries[kind].names();
    assert.ok(names.length > 0, `no ${kind} plugin`);
    for (const name of names) {
      assert.ok(registries[kind].get(name).description.length > 0);
    }
  }
  assert.ok(registries.backbone.has("resnet18"));
  assert.ok(registries.loss.has("double-contrastive"));
});

Deno.test("buildPlugins names the config key a bad plugin or option came from", () => {
  const registries = bundledRegistries();
  const cases: [string[], string][] = [
    [
      ["model.backbone.options.width=0.3"],
      'model.backbone: backbone "resnet18": option "width" is 0.3; expected one of 1, 0.5, 0.25, 0.125',
    ],
    [
      ["clustering.head.name=mlp-clusterr"],
      'clustering.head: Unknown head "mlp-clusterr": expected ',
    ],
    [
      ["augment.pipeline=[horizontal-flip, {name: color-jitter, options: {p: 2}}]"],
      'augment.pipeline[1]: augmentation "color-jitter": option "p" is 2',
    ],
    [
      ["representation.loss=scan"],
      'representation.loss: loss "scan" is a clustering loss; expected a representation loss such as ',
    ],
  ];
  for (const [sets, message] of cases) {
    const config = resolveConfig({ sets: ["backend=native", ...sets] });
    assert.throws(
      () => buildPlugins(config, registries),
      (err) => oneLine(err).startsWith(message),
      sets.join(" "),
    );
  }
  const ok = buildPlugins(
    resolveConfig({ sets: ["backend=native"] }),
    registries,
  );
  assert.equal(ok.backbone.name, "resnet18");
  assert.equal(ok.augmentations.length, 4);
});

Deno.test("a plugin file registers a backbone that a config can then use", async () => {
  const path = await pluginFile(TINY_MLP);
  const registries = bundledRegistries();
  const added = await loadPluginFile(path, registries);
  assert.deepEqual(added, ["backbone tiny-mlp"]);

  const config = resolveConfig({
    sets: [
      "backend=native",
      "model.backbone.name=tiny-mlp",
      "model.backbone.options.units=8",
    ],
  });
  const plugins = buildPlugins(config, registries);
  const backbone: Backbone = plugins.backbone;
  assert.equal(backbone.featureDim, 8);
  const model = backbone.build([4, 4, 1], 3);
  const out = model.predict(tf.ones([2, 4, 4, 1])) as tf.Tensor;
  assert.deepEqual(out.shape, [2, 8]);
  tf.dispose(out);
  model.dispose();

  // its options are checked like a bundled plugin's
  const bad = resolveConfig({
    sets: [
      "backend=native",
      "model.backbone={name: tiny-mlp, options: {units: 0}}",
    ],
  });
  assert.throws(
    () => buildPlugins(bad, registries),
    (err) =>
      oneLine(err) ===
        'model.backbone: backbone "tiny-mlp": option "units" is 0; expected an integer >= 1',
  );
  await Deno.remove(resolve(path, ".."), { recursive: true });
});

Deno.test("a broken plugin file is refused with one line that names the file and the fix", async () => {
  const cases: [string, RegExp][] = [
    [
      'throw new Error("plugin exploded");\nexport default () => {};',
      /^Cannot load plugin file .*plugin\.ts: .*plugin exploded/,
    ],
    [
      "export default function (registries) { registries.backbone.register(",
      /^Cannot load plugin file .*plugin\.ts: /,
    ],
    [
      "export default function register() {}",
      /^Plugin file .*plugin\.ts registered nothing; its default export must call registries\.<kind>\.register\(\.\.\.\)$/,
    ],
    [
      "export function register() {}",
      /^Plugin file .*plugin\.ts has no default export function; expected `export default function register\(registries\)/,
    ],
    [
      `export default function (r) {
        r.backbone.register({ name: "resnet18", description: "again", options: {}, create: () => ({}) });
      }`,
      /^Plugin file .*plugin\.ts failed to register: Cannot register backbone "resnet18": the name is already taken; choose another name$/,
    ],
  ];
  for (const [source, message] of cases) {
    const path = await pluginFile(source);
    const registries = bundledRegistries();
    await assert.rejects(
      loadPluginFile(path, registries),
      (err) => message.test(oneLine(err)),
      source,
    );
    await Deno.remove(resolve(path, ".."), { recursive: true });
  }
  await assert.rejects(
    loadPluginFile("/nonexistent/clknn-plugin.ts", createRegistries()),
    (err) =>
      oneLine(err).startsWith(
        "Cannot load plugin file /nonexistent/clknn-plugin.ts: ",
      ),
  );
});

Deno.test("plugins listed in a config file are found relative to that file", async () => {
  const path = await pluginFile(TINY_MLP, "tiny.ts");
  const dir = resolve(path, "..");
  const file = join(dir, "run.yaml");
  await Deno.writeTextFile(
    file,
    "backend: native\nplugins: [./tiny.ts]\nmodel:\n  backbone: { name: tiny-mlp, options: { units: 16 } }\n",
  );
  const config = resolveConfig({ file });
  assert.deepEqual(config.plugins, [path]);
  const registries = bundledRegistries();
  for (const p of config.plugins) await loadPluginFile(p, registries);
  assert.equal(buildPlugins(config, registries).backbone.featureDim, 16);
  await Deno.remove(dir, { recursive: true });
});
