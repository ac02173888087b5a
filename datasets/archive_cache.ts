/**
 * The cache of an official dataset archive: downloaded with progress and a
 * checked MD5, extracted into a temporary folder, checked, and only then
 * renamed into place beside a marker, so a later load finds either a whole,
 * checked folder or nothing. A broken archive is deleted with its partial
 * extraction.
 *
 * Layout: `<cacheDir>/<name>/<archive>` while it is needed, and
 * `<cacheDir>/<name>/files/` holding the kept members under their base names.
 *
 * @module
 */
import { basename, join } from "node:path";
import type { LoadContext } from "../core/interfaces.ts";
import { ConfigError, DataError, show } from "../core/errors.ts";
import {
  download,
  exists,
  md5File,
  removeIfPresent,
  tempBeside,
} from "./download.ts";
import { extractTarGz } from "./tar.ts";

/** Which archive to fetch and what to keep of it. */
export interface ArchiveSpec {
  /** The dataset name in messages, e.g. `"CIFAR-10"`. */
  title: string;
  /** Folder under the cache, e.g. `"cifar10"`. */
  folder: string;
  /** The archive's file name, e.g. `"cifar-10-binary.tar.gz"`. */
  file: string;
  url: string;
  /** Expected MD5 of the archive (hex). */
  md5: string;
  /** Base names of the members to keep; each must be in the archive. */
  members: readonly string[];
  /**
   * Checks the extracted files in `dir` before they are cached (e.g. that a
   * `.bin` file holds whole records); throws a DataError when they are wrong.
   */
  check(dir: string): Promise<void>;
}

/** How the user asked for the archive to be handled. */
export interface ArchivePolicy {
  /** Download when neither the extracted files nor the archive are cached. */
  download: boolean;
  /** Overrides the run's cache folder when not empty. */
  cacheDir: string;
  /** Keep the archive after extracting it (it is deleted by default, to save disk). */
  keepArchive: boolean;
}

const MARKER = ".complete.json";

interface Marker {
  archive: string;
  md5: string;
  /** Base name to size in bytes. */
  sizes: Record<string, number>;
}

/**
 * The folder holding the extracted members of `spec`'s archive: from the
 * cache when a complete extraction is there (no network), else from the
 * cached archive, else from a download.
 */
export async function cachedArchive(
  spec: ArchiveSpec,
  policy: ArchivePolicy,
  ctx: LoadContext,
): Promise<string> {
  const root = join(policy.cacheDir || ctx.cacheDir, spec.folder);
  const files = join(root, "files");
  if (await completeIn(files, spec, ctx)) return files;

  const archive = join(root, spec.file);
  if (await exists(archive)) {
    const actual = await md5File(archive);
    if (actual !== spec.md5) {
      ctx.events.emit({
        type: "warning",
        message:
          `${archive} has MD5 ${actual}, expected ${spec.md5}; deleted it and fetching it again`,
      });
      await removeIfPresent(archive);
    }
  }
  if (!await exists(archive)) {
    if (!policy.download) {
      throw new DataError(
        `${spec.title}: ${spec.file} is not in the cache ${root}; set "download" to true, or place the archive (MD5 ${spec.md5}) at ${archive}`,
      );
    }
    await download({
      url: spec.url,
      dest: archive,
      md5: spec.md5,
      events: ctx.events,
      label: spec.file,
    });
  }

  await Deno.mkdir(root, { recursive: true });
  const temp = tempBeside(files);
  try {
    await Deno.mkdir(temp);
    const wanted = new Set(spec.members);
    const written = await extractTarGz(
      archive,
      temp,
      (name) => wanted.has(basename(name)) ? basename(name) : null,
      ctx.events,
      `extract ${spec.file}`,
    );
    const missing = spec.members.filter((m) => !written.includes(m));
    if (missing.length > 0) {
      throw new DataError(
        `${archive} lacks ${
          missing.join(", ")
        }, so it is not the official ${spec.title} archive; check the "url" option`,
      );
    }
    await spec.check(temp);
    const marker: Marker = { archive: spec.file, md5: spec.md5, sizes: {} };
    for (const member of spec.members) {
      marker.sizes[member] = (await Deno.stat(join(temp, member))).size;
    }
    await Deno.writeTextFile(join(temp, MARKER), JSON.stringify(marker));
    await removeIfPresent(files);
    await Deno.rename(temp, files);
  } catch (err) {
    // The archive passed its checksum yet does not extract into good files
    // (a wrong "md5" override, or a truncated archive): keep none of it.
    await removeIfPresent(temp);
    await removeIfPresent(archive);
    if (!(err instanceof DataError)) throw err;
    // The inner advice ("delete it") is already done; say what happens next.
    const cut = err.message.lastIndexOf("; ");
    const what = cut > 0 ? err.message.slice(0, cut) : err.message;
    throw new DataError(
      `${what}; nothing was cached, so the next load fetches ${spec.file} again (if this repeats, check the "url" and "md5" options)`,
      { cause: err },
    );
  }
  if (!policy.keepArchive) await removeIfPresent(archive);
  return files;
}

/** True when `dir` holds a checked extraction of the same archive, with every member at its recorded size. */
async function completeIn(
  dir: string,
  spec: ArchiveSpec,
  ctx: LoadContext,
): Promise<boolean> {
  let marker: Marker;
  try {
    marker = JSON.parse(await Deno.readTextFile(join(dir, MARKER)));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    marker = { archive: "", md5: "", sizes: {} };
  }
  let whole = marker.md5 === spec.md5;
  for (const member of spec.members) {
    if (!whole) break;
    try {
      whole = (await Deno.stat(join(dir, member))).size ===
        marker.sizes?.[member];
    } catch {
      whole = false;
    }
  }
  if (!whole) {
    ctx.events.emit({
      type: "warning",
      message:
        `${dir} is not a complete extraction of ${spec.file} (MD5 ${spec.md5}); deleted it and extracting again`,
    });
    await removeIfPresent(dir);
  }
  return whole;
}

/**
 * Throws a DataError unless the file at `path` holds a positive whole number
 * of `recordBytes`-byte records; returns that number.
 */
export async function recordCount(
  path: string,
  recordBytes: number,
  what: string,
): Promise<number> {
  let size: number;
  try {
    size = (await Deno.stat(path)).size;
  } catch (err) {
    throw new DataError(
      `Cannot read ${path}: ${(err as Error).message}; check the "dir" option`,
      { cause: err },
    );
  }
  if (size === 0 || size % recordBytes !== 0) {
    throw new DataError(
      `${path} has ${size} bytes, not a whole number of ${recordBytes}-byte ${what} records (truncated?); delete it and fetch it again`,
    );
  }
  return size / recordBytes;
}

/** Reads a names file (one per line, blank lines dropped) and checks it has `count` names. */
export async function readNames(
  path: string,
  count: number,
): Promise<string[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new DataError(
      `Cannot read ${path}: ${(err as Error).message}; check the "dir" option`,
      { cause: err },
    );
  }
  const names = text.split(/\r?\n/).map((s) => s.trim()).filter((s) => s);
  if (names.length !== count) {
    throw new DataError(
      `${path} lists ${names.length} class names, expected ${count}; delete it and fetch the archive again`,
    );
  }
  return names;
}

/** Checks the `md5` option: empty (the official checksum) or 32 hex digits. */
export function md5Option(
  value: string,
  official: string,
  where: string,
): string {
  if (value === "") return official;
  if (!/^[0-9a-fA-F]{32}$/.test(value)) {
    throw new ConfigError(
      `${where}: option "md5" is ${
        show(value)
      }; expected 32 hex digits, or "" for the official ${official}`,
    );
  }
  return value.toLowerCase();
}
