/**
 * Reading one run folder (written by core/pipeline.ts) for the dashboard:
 * status, config, metrics, events, assignments, features and neighbours.
 * Everything here only reads; callers have already checked the run name.
 *
 * @module
 */
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import type { Stamped } from "../../../core/events.ts";

/** A run's status.json. */
export interface RunStatus {
  state: "running" | "finished" | "failed" | "unknown";
  updated?: string;
  pid?: number;
}

/** One row of assignments.csv. */
export interface Assignment {
  index: number;
  name: string;
  cluster: number;
  confidence: number;
  /** -1 when the label is unknown. */
  label: number;
}

/** Names a run may have: letters, digits, `.`, `_`, `-`, at most 128, not `.` or `..`. */
export function isValidRunName(name: string): boolean {
  return /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(name) &&
    !name.includes("..");
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

async function readJson(path: string): Promise<unknown> {
  const text = await readText(path);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    // a file caught mid-write by a live run reads as absent, not as an error
    return undefined;
  }
}

/** status.json, or state "unknown" when missing. */
export async function readStatus(dir: string): Promise<RunStatus> {
  const raw = await readJson(join(dir, "status.json")) as
    | Partial<RunStatus>
    | undefined;
  const state = raw?.state;
  return {
    state: state === "running" || state === "finished" || state === "failed"
      ? state
      : "unknown",
    updated: typeof raw?.updated === "string" ? raw.updated : undefined,
    pid: typeof raw?.pid === "number" ? raw.pid : undefined,
  };
}

/** metrics.json, when the run has finished. */
export function readMetrics(dir: string): Promise<unknown> {
  return readJson(join(dir, "metrics.json"));
}

/** config.yaml parsed, or undefined. */
export async function readConfig(dir: string): Promise<unknown> {
  const text = await readText(join(dir, "config.yaml"));
  if (text === undefined) return undefined;
  try {
    return parseYaml(text);
  } catch {
    return undefined;
  }
}

/** Parses JSONL text into events; a torn last line (a live writer) is skipped. */
export function parseEvents(text: string, after = 0): Stamped[] {
  const out: Stamped[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as Stamped;
      if (typeof e?.seq === "number" && e.seq > after) out.push(e);
    } catch {
      // an incomplete line at the end of a file being appended to
    }
  }
  return out;
}

/** events.jsonl with seq > `after`. */
export async function readEvents(dir: string, after = 0): Promise<Stamped[]> {
  const text = await readText(join(dir, "events.jsonl"));
  return text === undefined ? [] : parseEvents(text, after);
}

/** Flattens nested objects to dotted keys; arrays are kept as values. */
export function flattenConfig(
  value: unknown,
  prefix = "",
  out: Record<string, unknown> = {},
): Record<string, unknown> {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) {
      flattenConfig(v, prefix ? `${prefix}.${k}` : k, out);
    }
  } else if (prefix) {
    out[prefix] = value;
  }
  return out;
}

/** The dotted keys whose values differ across the given configs (missing counts as a value), sorted. */
export function configDifferences(
  configs: Record<string, unknown>[],
): string[] {
  const keys = new Set(configs.flatMap((c) => Object.keys(c)));
  const differing: string[] = [];
  for (const key of keys) {
    const seen = new Set(configs.map((c) => JSON.stringify(c[key]) ?? "∅"));
    if (seen.size > 1) differing.push(key);
  }
  return differing.sort();
}

/** Splits one CSV line, honouring double quotes. */
export function splitCsvLine(line: string): string[] {
  const cells: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      cells.push(cell);
      cell = "";
    } else cell += ch;
  }
  cells.push(cell);
  return cells;
}

/** Parses assignments.csv (header `index,name,cluster,confidence,label`). */
export function parseAssignments(text: string): Assignment[] {
  const lines = text.split("\n");
  const header = splitCsvLine(lines[0] ?? "").map((h) => h.trim());
  const col = (name: string) => header.indexOf(name);
  const [ci, cn, cc, cf, cl] = [
    col("index"),
    col("name"),
    col("cluster"),
    col("confidence"),
    col("label"),
  ];
  if (ci < 0 || cc < 0) return [];
  const rows: Assignment[] = [];
  for (const line of lines.slice(1)) {
    if (!line.trim()) continue;
    const cells = splitCsvLine(line.replace(/\r$/, ""));
    const label = cl >= 0 ? cells[cl] : "";
    rows.push({
      index: Number(cells[ci]),
      name: cn >= 0 ? cells[cn] : "",
      cluster: Number(cells[cc]),
      confidence: cf >= 0 ? Number(cells[cf]) : NaN,
      label: label === "" || label === undefined ? -1 : Number(label),
    });
  }
  return rows;
}

/** A `[n, cols]` matrix file with its shape (features.f32 or neighbours.i32). */
export interface MatrixFile {
  path: string;
  n: number;
  cols: number;
}

/** Looks up `<base>.json` for the shape of `<base>.<ext>`; undefined when either is missing or they disagree. */
export async function matrixFile(
  dir: string,
  base: "features" | "neighbours",
): Promise<MatrixFile | undefined> {
  const meta = await readJson(join(dir, `${base}.json`)) as
    | Record<string, number>
    | undefined;
  const path = join(
    dir,
    base === "features" ? "features.f32" : "neighbours.i32",
  );
  const cols = base === "features" ? meta?.dim : meta?.k;
  const n = meta?.n;
  if (!Number.isInteger(n) || !Number.isInteger(cols)) return undefined;
  try {
    const info = await Deno.stat(path);
    if (info.size !== n! * cols! * 4) return undefined;
  } catch {
    return undefined;
  }
  return { path, n: n!, cols: cols! };
}

/** Reads rows of a 4-byte matrix file without loading the whole file. */
export async function readRows(
  file: MatrixFile,
  rows: ArrayLike<number>,
): Promise<Uint8Array> {
  const rowBytes = file.cols * 4;
  const out = new Uint8Array(rows.length * rowBytes);
  using handle = await Deno.open(file.path, { read: true });
  for (let r = 0; r < rows.length; r++) {
    await handle.seek(rows[r] * rowBytes, Deno.SeekMode.Start);
    let got = 0;
    while (got < rowBytes) {
      const n = await handle.read(
        out.subarray(r * rowBytes + got, (r + 1) * rowBytes),
      );
      if (n === null) break;
      got += n;
    }
  }
  return out;
}
