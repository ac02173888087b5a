/**
 * A generated battery of malformed configs, command lines, plugin files,
 * YAML, dataset files and checkpoints, each run through the train CLI's
 * own main function in-process (and a sample as real child processes):
 * every one must fail with one line that names the offending key or file
 * and its value, as a UserError (so no stack trace), before any training.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { main } from "../tasks/train.ts";
import { ConfigError, UserError } from "../core/errors.ts";
import { CONFIG_SCHEMA, configToYaml } from "../core/config.ts";
import { resolveConfig } from "../core/resolve.ts";
import { writeCheckpoint } from "../core/checkpoint.ts";
import { VERSION } from "../core/version.ts";
import { TEST_BACKEND } from "./tiny.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const tmp = Deno.makeTempDirSync({ prefix: "clknn-bad-input-" });
const out = join(tmp, "runs");
// limit and k as in the resume cases' run config (so --resume sees no change):
// a case that wrongly passes the checks fails fast on 60 images instead of
// training the default 10,000
const BASE = [
  "-q",
  "--output",
  out,
  "--set",
  `backend=${TEST_BACKEND}`,
  "--set",
  "dataset.options.limit=60",
  "--set",
  "mine.k=5",
];
const TINY = [
  "--set",
  "model.backbone=small-convnet",
  "--set",
  "representation.batch_size=30",
  "--set",
  "clustering.batch_size=30",
];

/** One malformed input: its args, the substrings the message must hold, the error class. */
interface Case {
  name: string;
  args: string[];
  expect: string[];
  kind?: "config" | "user";
}
const cases: Case[] = [];
const add = (
  name: string,
  args: string[],
  expect: string[],
  kind: "config" | "user" = "config",
) => cases.push({ name, args, expect, kind });
const set = (...assignments: string[]) =>
  assignments.flatMap((a) => ["--set", a]);
const show = (v: unknown) =>
  typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v);

// ---------------------------------------------------------------------------
// generated from the schema: unknown keys, wrong types and out-of-range values

type Node = { type: string; keys?: Record<string, Node>; [k: string]: unknown };
function walk(
  node: Node,
  path: string,
  visit: (path: string, node: Node) => void,
) {
  visit(path, node);
  if (node.type === "section") {
    for (const [k, child] of Object.entries(node.keys!)) {
      walk(child, path ? `${path}.${k}` : k, visit);
    }
  }
}
walk(CONFIG_SCHEMA as Node, "", (path, node) => {
  if (node.type === "section") {
    const key = path ? `${path}.bogus_key` : "bogus_key";
    add(`unknown key ${key}`, set(`${key}=1`), [`"${key}"`]);
    return;
  }
  if (path === "preset") return; // set from --preset, never read from --set
  const wrong: Record<string, [string, unknown]> = {
    int: ["abc", "abc"],
    number: ["abc", "abc"],
    string: ["[1, 2]", [1, 2]],
    boolean: ["maybe", "maybe"],
    strings: ["5", 5],
    plugin: ["5", 5],
    plugins: ["5", 5],
  };
  const [text, value] = wrong[node.type];
  if (node.type === "string") {
    // BASE sets these on the command line, which wins over a config file
    if (path === "output" || path === "backend") return;
    // --set keeps the text of a string key (--set name=2024 names a run), so
    // a string key gets its wrong type from a config file
    const file = join(tmp, `wrong-type-${path}.yaml`);
    let yaml = `${path.split(".").at(-1)}: ${text}\n`;
    for (const part of path.split(".").slice(0, -1).reverse()) {
      yaml = `${part}:\n${yaml.replace(/^/gm, "  ")}`;
    }
    Deno.writeTextFileSync(file, yaml);
    add(`wrong type ${path}=${text} in a config file`, ["--config", file], [
      `"${path}"`,
      show(value),
    ]);
  } else {
    add(`wrong type ${path}=${text}`, set(`${path}=${text}`), [
      `"${path}"`,
      show(value),
    ]);
  }
  if (node.type === "int" && typeof node.min === "number") {
    add(
      `out of range ${path}=${node.min - 1}`,
      set(`${path}=${node.min - 1}`),
      [
        `"${path}"`,
        String(node.min - 1),
        `>= ${node.min}`,
      ],
    );
    add(`non-integer ${path}=2.5`, set(`${path}=2.5`), [`"${path}"`, "2.5"]);
  }
  if (node.type === "int" && typeof node.max === "number") {
    add(
      `out of range ${path}=${node.max + 1}`,
      set(`${path}=${node.max + 1}`),
      [
        `"${path}"`,
        String(node.max + 1),
      ],
    );
  }
  if (node.type === "number") {
    const bad = node.exclusiveMin ? 0 : -0.5;
    add(`out of range ${path}=${bad}`, set(`${path}=${bad}`), [
      `"${path}"`,
      String(bad),
    ]);
    add(`non-finite ${path}=.inf`, set(`${path}=.inf`), [
      `"${path}"`,
      "Infinity",
    ]);
  }
  if (node.type === "string" && Array.isArray(node.oneOf)) {
    add(`not one of ${path}=sideways`, set(`${path}=sideways`), [
      `"${path}"`,
      '"sideways"',
      `"${node.oneOf[0]}"`,
    ]);
  }
});

// plugins: unknown names of every kind, unknown and bad options, wrong stages
const pluginKeys: [string, string][] = [
  ["dataset", "dataset"],
  ["model.backbone", "backbone"],
  ["model.instance_head", "head"],
  ["model.cluster_head", "head"],
  ["representation.loss", "loss"],
  ["mine.search", "search"],
  ["clustering.head", "head"],
  ["clustering.loss", "loss"],
  ["selflabel.loss", "loss"],
];
for (const [key, kind] of pluginKeys) {
  const label = kind === "search" ? "neighbour search" : kind;
  add(`unknown ${kind} at ${key}`, set(`${key}=no-such-plugin`), [
    key,
    `Unknown ${label} "no-such-plugin"`,
  ]);
  add(`unknown option of ${key}`, set(`${key}.options.bogus_option=1`), [
    key,
    'unknown option "bogus_option"',
  ]);
  add(`unknown key beside name/options at ${key}`, set(`${key}.extra=1`), [
    `"${key}.extra"`,
  ]);
}
add("unknown backend", set("backend=no-such-backend"), [
  "backend",
  '"no-such-backend"',
]);
add("unknown augmentation", set("augment.pipeline=[no-such-aug]"), [
  "augment.pipeline[0]",
  'Unknown augmentation "no-such-aug"',
]);
add(
  "augmentation option of a bad type",
  set("augment.pipeline=[{name: horizontal-flip, options: {p: 2}}]"),
  [
    "augment.pipeline[0]",
    'option "p" is 2',
  ],
);
add(
  "a range given high before low",
  set(
    "augment.pipeline=[{name: random-resized-crop, options: {scale: [1, 0.5]}}]",
  ),
  [
    "augment.pipeline[0]",
    'option "scale" is [1,0.5]',
  ],
);
add("a stage-2 loss as the stage-1 loss", set("representation.loss=scan"), [
  "representation.loss",
  '"scan" is a clustering loss',
]);
add(
  "a stage-1 loss as the stage-2 loss",
  set("clustering.loss=double-contrastive"),
  [
    "clustering.loss",
    '"double-contrastive" is a representation loss',
  ],
);
for (const t of ["instance_temperature", "cluster_temperature"]) {
  add(`temperature 0 (${t})`, set(`representation.loss.options.${t}=0`), [
    "representation.loss",
    `option "${t}" is 0`,
    "> 0",
  ]);
}
add("negative dataset limit", set("dataset.options.limit=-5"), [
  'option "limit" is -5',
]);
add("unknown dataset split", set("dataset.options.split=valid"), [
  'option "split" is "valid"',
]);
add("empty plugin name", set("dataset.name="), ['"dataset.name" is ""']);
add("plugin options not a mapping", set("model.backbone.options=7"), [
  '"model.backbone.options" is 7',
]);

// values that only the dataset can refute (60 images)
add("K as large as the dataset", [...TINY, ...set("mine.k=60")], [
  "mine.k is 60",
  "has 60 images",
  "at most 59",
]);
add("more clusters than images", [...TINY, ...set("model.clusters=61")], [
  "model.clusters is 61",
  "60 images",
]);
add("one cluster", [...TINY, ...set("model.clusters=1")], [
  '"model.clusters" is 1',
  "at least 2",
]);
add("a stage-1 batch larger than the dataset", [
  ...TINY,
  ...set("representation.batch_size=61"),
], ["representation.batch_size is 61", "60 images"]);
add("a stage-2 batch larger than the dataset", [
  ...TINY,
  ...set("clustering.batch_size=64"),
], ["clustering.batch_size is 64", "60 images"]);
add("a contrastive batch of one image", set("representation.batch_size=1"), [
  '"representation.batch_size" is 1',
  ">= 2",
]);
add("negative epochs", set("representation.epochs=-3"), [
  '"representation.epochs" is -3',
]);

// ---------------------------------------------------------------------------
// --set syntax and flags

for (
  const bad of ["representation.epochs", "=5", "a..b=1", ".seed=1", "seed.=1"]
) {
  add(`--set ${bad}`, set(bad), ["--set", JSON.stringify(bad)]);
}
add("--set into __proto__", set("__proto__.polluted=1"), [
  "--set",
  "__proto__",
]);
add("--set into a scalar", set("seed.deeper=1"), ['"seed"']);
add("unknown long flag", ["--bogus"], ["'--bogus'"]);
add("unknown flag that looks plausible", ["--epochs", "5"], ["'--epochs'"]);
add("unknown short flag", ["-x"], ["'-x'"]);
add("a positional argument", ["train"], ["'train'"]);
add("a boolean flag given a value", ["--quiet=yes"], [
  "--quiet",
  "does not take an argument",
]);
for (
  const flag of [
    "--config",
    "--set",
    "--resume",
    "--stage",
    "--name",
    "--plugin",
    "--output",
  ]
) {
  add(`${flag} without its value`, [flag], [flag, "argument missing"]);
}
add("an unknown stage", ["--stage", "representation,mining"], [
  '--stage "mining"',
]);
add("an empty stage list", ["--stage", ""], ["--stage", '""']);
add("a stage list of commas", ["--stage", " , "], ["--stage"]);
add("--from without --stage", ["--from", tmp], ["--from", "--stage"]);
add("--resume with --config", ["--resume", tmp, "--config", "x.yaml"], [
  "--resume",
  "--config",
]);
add(
  "--resume with --from",
  ["--resume", tmp, "--from", tmp, "--stage", "mine"],
  [
    "--resume",
    "--from",
  ],
);
add("--resume of a folder that is no run", ["--resume", join(tmp, "nothing")], [
  join(tmp, "nothing"),
]);
add("--from a folder that is no run", [
  "--from",
  join(tmp, "nothing"),
  "--stage",
  "mine",
], [
  "--from",
  join(tmp, "nothing"),
]);
add("unknown preset", ["--preset", "cifar11"], ['"cifar11"', '"cifar10"']);
add("--backend unknown", ["--backend", "cuda"], ['"cuda"']);
add("missing config file", ["--config", join(tmp, "missing.yaml")], [
  join(tmp, "missing.yaml"),
]);
add("config file that is a folder", ["--config", tmp], [tmp]);
add(
  "a port that is not a number",
  ["--dashboard", "--dashboard-port", "http"],
  [
    "--dashboard-port",
    '"http"',
  ],
);
add("a port out of range", ["--dashboard", "--dashboard-port", "70000"], [
  "--dashboard-port",
  '"70000"',
]);

// ---------------------------------------------------------------------------
// plugin files that fail to load or register nothing

const pluginDir = join(tmp, "plugins");
Deno.mkdirSync(pluginDir);
const registriesUrl = pathToFileURL(join(ROOT, "core", "registries.ts")).href;
const pluginFiles: Record<string, [string, string]> = {
  "syntax.ts": [
    "export default function (r) { r.backbone.register(",
    "Cannot load plugin file",
  ],
  "throws.ts": ['throw new Error("boom at import");', "boom at import"],
  "no_default.ts": ["export const x = 1;", "no default export"],
  "default_number.ts": ["export default 5;", "no default export"],
  "register_throws.ts": [
    'export default function () { throw new Error("cannot register today"); }',
    "cannot register today",
  ],
  "registers_nothing.ts": [
    "export default function () {}",
    "registered nothing",
  ],
  "taken_name.ts": [
    `import type { Registries } from ${JSON.stringify(registriesUrl)};
export default function (r: Registries) {
  r.backbone.register({ name: "resnet18", description: "", options: {}, create() { throw new Error(); } });
}`,
    '"resnet18": the name is already taken',
  ],
  "bad_name.ts": [
    `import type { Registries } from ${JSON.stringify(registriesUrl)};
export default function (r: Registries) {
  r.loss.register({ name: "My Loss", description: "", options: {}, create() { throw new Error(); } });
}`,
    '"My Loss"',
  ],
};
for (const [file, [source, message]] of Object.entries(pluginFiles)) {
  const path = join(pluginDir, file);
  Deno.writeTextFileSync(path, source);
  add(`plugin file ${file}`, ["--plugin", path], [path, message]);
}
add(
  "plugin file that does not exist",
  ["--plugin", join(pluginDir, "none.ts")],
  [
    join(pluginDir, "none.ts"),
  ],
);
add(
  "plugin file listed in the config that does not exist",
  set(`plugins=[${join(pluginDir, "gone.ts")}]`),
  [
    join(pluginDir, "gone.ts"),
  ],
);

// ---------------------------------------------------------------------------
// bad YAML config files

const yamlFiles: Record<string, [string, string[]]> = {
  "unclosed.yaml": ["representation: [epochs: 5\n", ["not valid YAML"]],
  "tabs.yaml": ["model:\n\tbackbone: resnet18\n", ["not valid YAML"]],
  "duplicate.yaml": ["seed: 1\nseed: 2\n", ["not valid YAML"]],
  "list.yaml": ["- seed\n- 1\n", ["must hold a YAML mapping"]],
  "scalar.yaml": ["just words\n", ["must hold a YAML mapping", '"just words"']],
  "aliases.yaml": [
    "a: &a [x, x, x, x, x, x, x, x, x, x]\n" +
    Array.from(
      { length: 8 },
      (_, i) =>
        `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${
          Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(", ")
        }]`,
    ).join("\n") + "\n",
    ["not valid YAML"],
  ],
  "binary.yaml": ["\u0000\u0001\u0002\u00ff\u0007 : : ::\n", []],
  "section_scalar.yaml": ["model: 5\n", ['"model" is 5', "a mapping"]],
  "typo.yaml": ["representaton:\n  epochs: 5\n", [
    '"representaton"',
    'did you mean "representation"',
  ]],
  "negative.yaml": ["representation:\n  epochs: -1\n", [
    '"representation.epochs" is -1',
  ]],
  "preset.yaml": ["preset: no-such-preset\n", ['"no-such-preset"']],
};
for (const [file, [text, expect]] of Object.entries(yamlFiles)) {
  const path = join(tmp, file);
  Deno.writeTextFileSync(path, text);
  add(
    `config file ${file}`,
    ["--config", path],
    expect.length ? expect : [path],
  );
}

// ---------------------------------------------------------------------------
// corrupted Fashion-MNIST files (dir option pointing at a temp folder)

function idx(
  dims: number[],
  data: Uint8Array | number[],
  type = 0x08,
): Uint8Array {
  const head = new Uint8Array(4 + 4 * dims.length);
  head.set([0, 0, type, dims.length]);
  const view = new DataView(head.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  const bytes = new Uint8Array(head.length + data.length);
  bytes.set(head);
  bytes.set(data, head.length);
  return bytes;
}
const IMAGES = "t10k-images-idx3-ubyte";
const LABELS = "t10k-labels-idx1-ubyte";
const goodImages = idx([10, 28, 28], new Uint8Array(10 * 784));
const goodLabels = idx([10], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
const corruptions: Record<string, [Record<string, Uint8Array>, string[]]> = {
  truncated: [
    { [IMAGES]: goodImages.subarray(0, 3000), [LABELS]: goodLabels },
    [
      IMAGES,
      "truncated",
    ],
  ],
  "wrong magic": [{
    [IMAGES]: new TextEncoder().encode("GIF89a not idx data"),
    [LABELS]: goodLabels,
  }, [
    IMAGES,
    "not an IDX file",
    "47 49 46 38",
  ]],
  "wrong element type": [{
    [IMAGES]: idx([10, 28, 28], new Uint8Array(7840), 0x0d),
    [LABELS]: goodLabels,
  }, [
    IMAGES,
    "type 0xd",
  ]],
  "header cut short": [{
    [IMAGES]: goodImages.subarray(0, 9),
    [LABELS]: goodLabels,
  }, [
    IMAGES,
    "truncated inside its IDX header",
  ]],
  "trailing bytes": [{
    [IMAGES]: new Uint8Array([...goodImages, 1, 2, 3]),
    [LABELS]: goodLabels,
  }, [
    IMAGES,
    "trailing data",
  ]],
  "truncated gzip": [{
    [`${IMAGES}.gz`]: (() => {
      // noise, so the gzip is large enough to cut in half
      const noisy = idx([10, 28, 28], randomBytes(7840));
      const gz = gzipSync(noisy);
      return gz.subarray(0, gz.length >> 1);
    })(),
    [LABELS]: goodLabels,
  }, [
    `${IMAGES}.gz`,
    "gzip",
  ]],
  "images not 28x28": [{
    [IMAGES]: idx([10, 5, 5], new Uint8Array(250)),
    [LABELS]: goodLabels,
  }, [
    IMAGES,
    "10x5x5",
  ]],
  "labels of another file": [{
    [IMAGES]: goodImages,
    [LABELS]: idx([9], new Uint8Array(9)),
  }, [
    LABELS,
    "do not belong together",
  ]],
  "a label out of range": [{
    [IMAGES]: goodImages,
    [LABELS]: idx([10], [0, 1, 2, 3, 4, 5, 6, 7, 8, 12]),
  }, [
    LABELS,
    "label 12",
  ]],
};
for (const [name, [files, expect]] of Object.entries(corruptions)) {
  const dir = join(tmp, `fmnist-${name.replaceAll(" ", "-")}`);
  Deno.mkdirSync(dir);
  for (const [file, bytes] of Object.entries(files)) {
    Deno.writeFileSync(join(dir, file), bytes);
  }
  add(
    `Fashion-MNIST: ${name}`,
    set("dataset.options.split=test", `dataset.options.dir=${dir}`),
    expect,
    "user",
  );
}
{
  // a download whose bytes do not match the checksum (served from a file: URL)
  const served = join(tmp, "served");
  Deno.mkdirSync(served);
  Deno.writeFileSync(
    join(served, "train-images-idx3-ubyte.gz"),
    gzipSync(goodImages),
  );
  add(
    "Fashion-MNIST: a download with the wrong MD5",
    set(
      "dataset.options.split=train",
      `dataset.options.dir=${join(tmp, "empty")}`,
      `dataset.options.cacheDir=${join(tmp, "cache")}`,
      `dataset.options.url=${pathToFileURL(served).href}/`,
    ),
    ["MD5", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "train-images-idx3-ubyte.gz"],
    "user",
  );
  add(
    "Fashion-MNIST: a malformed md5 option",
    set("dataset.options.md5=train-images-idx3-ubyte.gz=xyz"),
    [
      'option "md5"',
      "xyz",
    ],
  );
}

// ---------------------------------------------------------------------------
// checkpoints that do not belong to this run

const runConfig = resolveConfig({
  sets: [
    `backend=${TEST_BACKEND}`,
    "dataset.options.limit=60",
    "mine.k=5",
    `output=${out}`,
  ],
});
function fakeRun(
  name: string,
  state: Record<string, unknown> | undefined,
  bytes?: Uint8Array,
) {
  const dir = join(tmp, "resume", name);
  Deno.mkdirSync(dir, { recursive: true });
  Deno.writeTextFileSync(join(dir, "config.yaml"), configToYaml(runConfig));
  const path = join(dir, "checkpoint.bin");
  if (bytes) Deno.writeFileSync(path, bytes);
  else if (state) {
    writeCheckpoint(path, {
      state: { phase: "representation", epoch: 1, done: [], ...state },
      tensors: [{ name: "backbone/0", shape: [2], data: new Float32Array(2) }],
    });
  }
  return dir;
}
{
  const other = fakeRun("other-version", {
    version: "0.0.1",
    config: runConfig,
  });
  add("--resume of a checkpoint from another clknn version", [
    "--resume",
    other,
  ], [
    "clknn 0.0.1",
    `this is ${VERSION}`,
  ], "user");
  const seeded = fakeRun("other-config", {
    version: VERSION,
    config: { ...runConfig, seed: 5 },
  });
  add("--resume of a checkpoint from another config", ["--resume", seeded], [
    'config key "seed" was 5 and is now 0',
  ], "user");
  const same = fakeRun("changed-by-set", {
    version: VERSION,
    config: runConfig,
  });
  add("--resume with a --set that changes the run", [
    "--resume",
    same,
    ...set("representation.epochs=7"),
  ], [
    'config key "representation.epochs"',
    "is now 7",
  ], "user");
  const garbage = fakeRun(
    "garbage",
    undefined,
    new TextEncoder().encode("not a checkpoint at all"),
  );
  add("--resume of a garbage checkpoint", ["--resume", garbage], [
    join(garbage, "checkpoint.bin"),
    "wrong magic",
  ], "user");
  const good = Deno.readFileSync(join(same, "checkpoint.bin"));
  const cut = fakeRun(
    "truncated",
    undefined,
    good.subarray(0, good.length - 3),
  );
  add("--resume of a truncated checkpoint", ["--resume", cut], [
    join(cut, "checkpoint.bin"),
    "truncated data",
  ], "user");
  const header = fakeRun("torn-header", undefined, good.subarray(0, 40));
  add("--resume of a checkpoint torn in its header", ["--resume", header], [
    "truncated header",
  ], "user");
  const empty = fakeRun("no-checkpoint", undefined);
  add("--resume of a run with no checkpoint", ["--resume", empty], [
    "has no checkpoint.bin",
  ], "user");
  // a finished run is not restarted by mistake
  const taken = fakeRun("taken", { version: VERSION, config: runConfig });
  add("a new run into a folder that holds one", [
    "--output",
    join(tmp, "resume"),
    "--name",
    "taken",
  ], [
    taken,
    "--resume",
  ]);
}

/** Runs one case through main(); returns the error it threw. */
async function fail(c: Case): Promise<Error> {
  try {
    const code = await main([...BASE, ...c.args]);
    return new Error(`exited ${code} without an error`);
  } catch (err) {
    return err as Error;
  }
}

Deno.test(`the battery holds at least 50 malformed inputs (${cases.length})`, () => {
  assert.ok(cases.length >= 50);
  assert.equal(new Set(cases.map((c) => c.name)).size, cases.length);
});

for (const c of cases) {
  Deno.test(`bad input fails in one named line: ${c.name}`, async () => {
    const err = await fail(c);
    assert.ok(
      err instanceof UserError,
      `expected a UserError, got ${err.name}: ${err.message}`,
    );
    assert.equal(
      err instanceof ConfigError,
      c.kind === "config",
      `${err.name}: ${err.message}`,
    );
    assert.ok(
      !err.message.includes("\n"),
      `more than one line: ${err.message}`,
    );
    assert.doesNotMatch(err.message, /\n\s+at |\.ts:\d+:\d+/);
    for (const part of c.expect) {
      assert.ok(
        err.message.includes(part),
        `message does not name ${part}: ${err.message}`,
      );
    }
    // nothing was trained: no checkpoint appeared under the output folder
    for (
      const run of (() => {
        try {
          return [...Deno.readDirSync(out)];
        } catch {
          return [];
        }
      })()
    ) {
      assert.throws(() => Deno.statSync(join(out, run.name, "checkpoint.bin")));
    }
  });
}

Deno.test("as child processes, a sample of the battery exits non-zero with exactly one stderr line starting error:", async () => {
  const sample = cases.filter((_, i) => i % Math.ceil(cases.length / 8) === 0);
  const results = await Promise.all(sample.map(async (c) => {
    const { code, stderr, stdout } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(ROOT, "tasks", "train.ts"), ...BASE, ...c.args],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    return {
      c,
      code,
      stderr: new TextDecoder().decode(stderr),
      stdout: new TextDecoder().decode(stdout),
    };
  }));
  for (const { c, code, stderr, stdout } of results) {
    assert.equal(code, c.kind === "config" ? 2 : 1, `${c.name}: ${stderr}`);
    const lines = stderr.split("\n").filter((l) => l !== "");
    assert.equal(lines.length, 1, `${c.name}: ${stderr}`);
    assert.match(lines[0], /^error: /);
    assert.doesNotMatch(stderr, /internal error|\n\s+at /);
    assert.equal(stdout, "");
  }
});

Deno.test("cleanup of the bad-input files", () => {
  Deno.removeSync(tmp, { recursive: true });
});
