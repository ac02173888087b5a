/**
 * A streaming reader for tar archives (POSIX ustar, with GNU long names and
 * pax path records), enough for the official dataset archives. It holds one
 * 512-byte header at a time, so a multi-gigabyte archive streams through.
 *
 * Known limits: sparse files, links and pax keys other than `path`/`size`
 * are skipped or ignored.
 *
 * @module
 */
import { join } from "node:path";
import type { EventBus } from "../core/events.ts";
import { DataError } from "../core/errors.ts";
import { ProgressThrottle } from "./download.ts";

/** One member of an archive. */
export interface TarEntry {
  /** The path inside the archive, with `/` separators. */
  name: string;
  /** Bytes of content. */
  size: number;
  type: "file" | "directory" | "other";
}

/** Receives the content of one entry. */
export interface TarSink {
  write(chunk: Uint8Array): Promise<void> | void;
  close(): Promise<void> | void;
}

const BLOCK = 512;
const decoder = new TextDecoder();

function cString(block: Uint8Array, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return decoder.decode(end < 0 ? field : field.subarray(0, end));
}

function numberField(block: Uint8Array, start: number, length: number): number {
  // GNU tar stores sizes of 8 GiB and more in base-256, flagged by the high bit.
  if (block[start] & 0x80) {
    let value = block[start] & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + block[start + i];
    return value;
  }
  const text = cString(block, start, length).trim();
  return text === "" ? 0 : parseInt(text, 8);
}

function checksumOk(block: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) {
    sum += i >= 148 && i < 156 ? 32 : block[i];
  }
  return sum === numberField(block, 148, 8);
}

function paxRecords(bytes: Uint8Array): Map<string, string> {
  // Each record is "<length> <key>=<value>\n", the length counting itself.
  const out = new Map<string, string>();
  let at = 0;
  while (at < bytes.length) {
    const space = bytes.indexOf(0x20, at);
    if (space < 0) break;
    const length = parseInt(decoder.decode(bytes.subarray(at, space)), 10);
    if (!(length > 0)) break;
    const record = decoder.decode(bytes.subarray(space + 1, at + length - 1));
    const eq = record.indexOf("=");
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    at += length;
  }
  return out;
}

/**
 * Reads a tar stream and calls `visit` for each entry; the sink it returns
 * (or none, to skip) receives that entry's content. `where` names the
 * archive in errors. A damaged header or a stream that ends early throws a
 * DataError.
 */
export async function walkTar(
  source: AsyncIterable<Uint8Array>,
  visit: (entry: TarEntry) => Promise<TarSink | null> | TarSink | null,
  where: string,
): Promise<void> {
  const header = new Uint8Array(BLOCK);
  let headerFill = 0;
  let offset = 0; // bytes of the tar stream consumed, for messages
  let remaining = 0;
  let padding = 0;
  let sink: TarSink | null = null;
  let meta: Uint8Array[] | null = null; // content of a long-name or pax entry
  let metaKind: "L" | "x" | null = null;
  let nextName: string | null = null;
  let nextSize: number | null = null;
  let ended = false;

  const finishEntry = async () => {
    if (sink) await sink.close();
    sink = null;
    if (meta) {
      const bytes = concat(meta);
      if (metaKind === "L") nextName = cString(bytes, 0, bytes.length);
      else {
        const records = paxRecords(bytes);
        if (records.has("path")) nextName = records.get("path")!;
        if (records.has("size")) nextSize = Number(records.get("size"));
      }
      meta = null;
      metaKind = null;
    }
  };

  const startEntry = async () => {
    if (header.every((b) => b === 0)) {
      ended = true;
      return;
    }
    if (!checksumOk(header)) {
      throw new DataError(
        `${where}: the tar header at byte ${
          offset - BLOCK
        } is damaged (bad checksum); delete the archive and retry`,
      );
    }
    const flag = String.fromCharCode(header[156]);
    let name = cString(header, 0, 100);
    if (cString(header, 257, 5) === "ustar") {
      const prefix = cString(header, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    let size = numberField(header, 124, 12);
    if (nextName !== null) name = nextName;
    if (nextSize !== null) size = nextSize;
    if (flag !== "L" && flag !== "x" && flag !== "g") {
      nextName = null;
      nextSize = null;
    }
    remaining = size;
    padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (flag === "L" || flag === "x") {
      meta = [];
      metaKind = flag;
    } else if (flag !== "g") {
      const type = flag === "0" || flag === "\0" || flag === "7"
        ? "file"
        : flag === "5"
        ? "directory"
        : "other";
      sink = await visit({ name, size: type === "file" ? size : 0, type });
      if (type !== "file") sink = null;
    }
    if (remaining === 0) await finishEntry();
  };

  try {
    for await (const chunk of source) {
      let at = 0;
      while (at < chunk.length && !ended) {
        if (remaining > 0) {
          const n = Math.min(remaining, chunk.length - at);
          const piece = chunk.subarray(at, at + n);
          if (sink) await (sink as TarSink).write(piece);
          if (meta) (meta as Uint8Array[]).push(piece.slice());
          remaining -= n;
          at += n;
          offset += n;
          if (remaining === 0) await finishEntry();
        } else if (padding > 0) {
          const n = Math.min(padding, chunk.length - at);
          padding -= n;
          at += n;
          offset += n;
        } else {
          const n = Math.min(BLOCK - headerFill, chunk.length - at);
          header.set(chunk.subarray(at, at + n), headerFill);
          headerFill += n;
          at += n;
          offset += n;
          if (headerFill === BLOCK) {
            headerFill = 0;
            await startEntry();
          }
        }
      }
      if (ended) break;
    }
  } catch (err) {
    if (sink) await (sink as TarSink).close();
    throw err;
  }
  if (!ended) {
    if (sink) await (sink as TarSink).close();
    throw new DataError(
      `${where}: the tar archive ends early, after ${offset} bytes (truncated download?); delete it and retry`,
    );
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Streams the decompressed bytes of a gzip file, reporting compressed bytes
 * read as progress. Corrupt or truncated gzip data becomes a DataError.
 */
export async function* gunzipFile(
  path: string,
  events?: EventBus,
  label = path,
): AsyncGenerator<Uint8Array> {
  const file = await Deno.open(path, { read: true });
  const total = (await file.stat()).size;
  const progress = events ? new ProgressThrottle(events, label, total) : null;
  let read = 0;
  const counted = file.readable.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        read += chunk.length;
        progress?.update(read);
        controller.enqueue(chunk);
      },
    }),
  );
  progress?.update(0, true);
  const stream = counted.pipeThrough(
    new DecompressionStream("gzip") as unknown as ReadableWritablePair<
      Uint8Array,
      Uint8Array
    >,
  );
  try {
    for await (const chunk of stream) yield chunk;
  } catch (err) {
    throw new DataError(
      `${path} is not a valid gzip file or is truncated (${
        (err as Error).message
      }); delete it and retry`,
      { cause: err },
    );
  }
  progress?.update(read, true);
}

/**
 * Extracts the files of the gzipped tar `archive` into `dest` (which must
 * exist). `accept` maps an archive path to a path under `dest`, or null to
 * skip it; paths with `..` or a leading `/` are refused.
 */
export async function extractTarGz(
  archive: string,
  dest: string,
  accept: (name: string) => string | null,
  events?: EventBus,
  label = `extract ${archive}`,
): Promise<string[]> {
  const written: string[] = [];
  await walkTar(
    gunzipFile(archive, events, label),
    async (entry) => {
      if (entry.type !== "file") return null;
      const parts = entry.name.split("/");
      if (entry.name.startsWith("/") || parts.includes("..")) {
        throw new DataError(
          `${archive}: member ${
            JSON.stringify(entry.name)
          } points outside the archive; this is not an official archive, delete it`,
        );
      }
      const target = accept(entry.name);
      if (target === null) return null;
      const path = join(dest, target);
      const file = await Deno.open(path, {
        write: true,
        create: true,
        truncate: true,
      });
      written.push(target);
      return {
        async write(chunk: Uint8Array) {
          let at = 0;
          while (at < chunk.length) at += await file.write(chunk.subarray(at));
        },
        close() {
          file.close();
        },
      };
    },
    archive,
  );
  return written;
}
