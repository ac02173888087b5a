/**
 * The JSONL event log: every stamped event as one JSON line, appended to a
 * file in the run directory (DINO keeps a JSON line per epoch; this keeps
 * them all, so the dashboard and resume can replay a run).
 *
 * Each event is written synchronously as one whole line in one write, so a
 * killed run leaves at most one torn last line, which {@linkcode readEventLog}
 * ignores and the next writer cuts off before it appends.
 *
 * Known limit: JSON has no NaN or Infinity, so a non-finite loss is logged
 * as `null`.
 *
 * @module
 */
import { dirname } from "node:path";
import { DataError } from "../../core/errors.ts";
import type { EventBus, Stamped } from "../../core/events.ts";
import type { Reporter } from "../../core/interfaces.ts";
import type { Options } from "../../core/options.ts";
import type { PluginDef } from "../../core/registry.ts";

const jsonlSchema = {
  path: {
    type: "string",
    doc: "the log file, appended to; usually <runDir>/events.jsonl",
  },
} as const;

/** The checked options of the JSONL reporter. */
export type JsonlOptions = Options<typeof jsonlSchema>;

function isComplete(line: string): boolean {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes the file end at a line boundary before appending: a torn last line
 * left by a crash is cut off, and a complete last line that lost only its
 * newline gets one, so the first new event does not run into it.
 */
function repairTail(file: Deno.FsFile, size: number) {
  if (size === 0) return;
  // events are small; reading the last 1 MiB finds the previous newline
  const window = Math.min(size, 1 << 20);
  const bytes = new Uint8Array(window);
  file.seekSync(size - window, Deno.SeekMode.Start);
  let read = 0;
  while (read < window) {
    const n = file.readSync(bytes.subarray(read));
    if (n === null) break;
    read += n;
  }
  if (bytes[window - 1] === 0x0a) return;
  const lastNewline = bytes.lastIndexOf(0x0a);
  const tail = new TextDecoder().decode(bytes.subarray(lastNewline + 1));
  if (isComplete(tail)) {
    file.writeSync(new TextEncoder().encode("\n"));
  } else {
    file.truncateSync(size - window + lastNewline + 1);
  }
}

/** Appends every event to a JSONL file; see the module doc. */
export class JsonlReporter implements Reporter {
  readonly name = "jsonl";
  readonly path: string;
  #file?: Deno.FsFile;
  #off?: () => void;
  readonly #encoder = new TextEncoder();

  /** Opens (creating if needed) `path` for appending. */
  constructor(path: string) {
    this.path = path;
    Deno.mkdirSync(dirname(path), { recursive: true });
    const file = Deno.openSync(path, {
      read: true,
      write: true,
      create: true,
    });
    try {
      repairTail(file, file.statSync().size);
    } catch (err) {
      file.close();
      throw err;
    }
    file.close();
    this.#file = Deno.openSync(path, { append: true });
  }

  attach(events: EventBus): void {
    this.#off?.();
    this.#off = events.on((e) => this.write(e));
  }

  /** Appends one event as a line. */
  write(event: Stamped): void {
    if (!this.#file) return;
    const bytes = this.#encoder.encode(JSON.stringify(event) + "\n");
    let done = this.#file.writeSync(bytes);
    // a short write is rare on a regular file; finish the line rather than
    // leave it torn in the middle of the log
    while (done < bytes.length) {
      done += this.#file.writeSync(bytes.subarray(done));
    }
  }

  close(): Promise<void> {
    this.#off?.();
    this.#off = undefined;
    this.#file?.close();
    this.#file = undefined;
    return Promise.resolve();
  }
}

/**
 * Parses JSONL log text. A last line without its newline that does not parse
 * is a torn write from a crash and is ignored; any other bad line throws a
 * DataError naming the line.
 */
export function parseEventLog(text: string, where = "event log"): Stamped[] {
  const lines = text.split("\n");
  const events: Stamped[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      if (i === lines.length - 1) break;
      throw new DataError(
        `${where}: line ${i + 1} is not JSON (${
          line.slice(0, 40)
        }...); the log is damaged, delete or fix that line`,
      );
    }
    if (
      typeof value !== "object" || value === null ||
      typeof (value as { type?: unknown }).type !== "string"
    ) {
      throw new DataError(
        `${where}: line ${
          i + 1
        } is not an event (no "type"); expected one JSON event per line`,
      );
    }
    events.push(value as Stamped);
  }
  return events;
}

/** Reads the events of a run from its JSONL log; see {@linkcode parseEventLog}. */
export function readEventLog(path: string): Stamped[] {
  return parseEventLog(Deno.readTextFileSync(path), path);
}

/** The JSONL log plugin. */
export const jsonl: PluginDef<Reporter, typeof jsonlSchema> = {
  name: "jsonl",
  description: "appends every event as one JSON line to a file",
  options: jsonlSchema,
  create: (options) => new JsonlReporter(options.path),
};
