/**
 * Downloads into the cache: streamed to a temporary file beside the target,
 * hashed while it streams, and renamed into place only once the size and the
 * MD5 are right, so the cache never holds a partial or wrong file.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { dirname } from "node:path";
import type { EventBus } from "../core/events.ts";
import { DataError } from "../core/errors.ts";

/** What to download and where to put it. */
export interface DownloadRequest {
  url: string;
  /** The final path in the cache; its folder is created when missing. */
  dest: string;
  /** Expected MD5 (hex, any case); an empty string skips the check. */
  md5: string;
  events: EventBus;
  /** Shown in progress events, e.g. `"cifar-10-binary.tar.gz"`. */
  label: string;
}

/** Emits at most one progress event per interval, plus the first and the last. */
export class ProgressThrottle {
  #last = 0;
  constructor(
    readonly events: EventBus,
    readonly label: string,
    readonly total: number,
    readonly intervalMs = 250,
  ) {}

  /** Reports `done` bytes if the interval passed (or `force`). */
  update(done: number, force = false): void {
    const now = Date.now();
    if (!force && now - this.#last < this.intervalMs) return;
    this.#last = now;
    this.events.emit({
      type: "progress",
      phase: "data",
      label: this.label,
      done,
      total: this.total,
      unit: "B",
    });
  }
}

/** True when `path` exists (file or folder). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** Removes a file or folder if present; never throws for a missing one. */
export async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

/** A unique temporary name beside `path`, on the same file system so rename is atomic. */
export function tempBeside(path: string): string {
  return `${path}.part-${Date.now().toString(36)}-${
    Math.floor(Math.random() * 1e9).toString(36)
  }`;
}

/** The MD5 of a file, hashed in chunks (files may be gigabytes). */
export async function md5File(path: string): Promise<string> {
  const hash = createHash("md5");
  using file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/**
 * Downloads `req.url` to `req.dest`. Throws a DataError (and leaves nothing
 * at `req.dest`) when the server refuses, the connection drops, fewer bytes
 * arrive than announced, or the MD5 is wrong. No retries: a failure is
 * reported at once with what to do.
 */
export async function download(req: DownloadRequest): Promise<void> {
  await Deno.mkdir(dirname(req.dest), { recursive: true });
  let response: Response;
  try {
    response = await fetch(req.url);
  } catch (err) {
    throw new DataError(
      `Cannot download ${req.url}: ${
        (err as Error).message
      }; check the network or the "url" option, or place the file at ${req.dest} yourself`,
      { cause: err },
    );
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new DataError(
      `Cannot download ${req.url}: the server answered HTTP ${response.status}; check the "url" option, or place the file at ${req.dest} yourself`,
    );
  }
  const announced = Number(response.headers.get("content-length") ?? "");
  const total = Number.isFinite(announced) && announced > 0 ? announced : 0;
  const progress = new ProgressThrottle(req.events, req.label, total);
  const temp = tempBeside(req.dest);
  const hash = createHash("md5");
  let done = 0;
  try {
    const file = await Deno.open(temp, { write: true, createNew: true });
    try {
      progress.update(0, true);
      for await (const chunk of response.body) {
        hash.update(chunk);
        await writeAll(file, chunk);
        done += chunk.length;
        progress.update(done);
      }
    } catch (err) {
      throw new DataError(
        `Download of ${req.url} broke off after ${done} bytes (${
          (err as Error).message
        }); retry, or place the file at ${req.dest} yourself`,
        { cause: err },
      );
    } finally {
      file.close();
    }
    progress.update(done, true);
    if (total > 0 && done !== total) {
      throw new DataError(
        `Download of ${req.url} is truncated: ${done} of ${total} bytes arrived; retry, or place the file at ${req.dest} yourself`,
      );
    }
    const md5 = hash.digest("hex");
    if (req.md5 && md5 !== req.md5.toLowerCase()) {
      throw new DataError(
        `Download of ${req.url} has MD5 ${md5} but ${req.md5.toLowerCase()} was expected (a corrupt or changed file); nothing was cached, retry or check the "url" and "md5" options`,
      );
    }
    await Deno.rename(temp, req.dest);
  } finally {
    await removeIfPresent(temp);
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    offset += await file.write(bytes.subarray(offset));
  }
}
