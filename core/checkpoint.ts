/**
 * Checkpoints: one file per run, written atomically (temp file, fsync,
 * rename), so a kill at any moment leaves either the previous checkpoint or
 * the new one, never a torn file. Stray temp files are ignored on resume.
 *
 * Layout: the 8-byte magic "CLKNNCK1", a little-endian u32 header length,
 * the JSON header, then the raw float32 data of every tensor in order.
 *
 * @module
 */
import { UserError } from "./errors.ts";

const MAGIC = "CLKNNCK1";

/** A named float32 array with its shape. */
export interface SavedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** A checkpoint: a JSON-able state and a list of tensors. */
export interface Checkpoint<S> {
  state: S;
  tensors: SavedTensor[];
}

/** Writes `checkpoint` to `path` atomically. */
export function writeCheckpoint<S>(path: string, checkpoint: Checkpoint<S>) {
  const specs = checkpoint.tensors.map((t) => ({
    name: t.name,
    shape: t.shape,
    length: t.data.length,
  }));
  const header = new TextEncoder().encode(
    JSON.stringify({ state: checkpoint.state, tensors: specs }),
  );
  // Float32 data must start on a 4-byte boundary for the zero-copy read.
  const pad = (4 - ((12 + header.length) % 4)) % 4;
  const prefix = new Uint8Array(12 + header.length + pad);
  prefix.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(prefix.buffer).setUint32(8, header.length + pad, true);
  prefix.set(header, 12);
  prefix.fill(0x20, 12 + header.length);
  writeAtomic(path, [
    prefix,
    ...checkpoint.tensors.map((t) =>
      new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)
    ),
  ]);
}

/**
 * Writes `chunks` to a temp file beside `path`, fsyncs it and renames it
 * over `path`. On any failure (a full disk, a folder in the way) the temp
 * file is removed and `path` keeps its previous contents; the error is a
 * UserError because the fix (space, permissions) is the user's.
 */
function writeAtomic(path: string, chunks: Uint8Array[]) {
  const tmp = `${path}.tmp-${Deno.pid}`;
  try {
    const file = Deno.openSync(tmp, {
      write: true,
      create: true,
      truncate: true,
    });
    try {
      for (const chunk of chunks) writeAll(file, chunk);
      file.syncSync();
    } finally {
      file.close();
    }
    Deno.renameSync(tmp, path);
  } catch (err) {
    try {
      Deno.removeSync(tmp);
    } catch {
      // nothing was created, or it is not ours to remove (a folder)
    }
    throw new UserError(
      `Cannot write ${path}: ${
        String((err as Error)?.message ?? err).split("\n")[0]
      }; its previous contents are kept: free disk space or fix permissions, then resume with --resume`,
      { cause: err },
    );
  }
}

function writeAll(file: Deno.FsFile, bytes: Uint8Array) {
  let off = 0;
  while (off < bytes.length) off += file.writeSync(bytes.subarray(off));
}

/** Reads a checkpoint written by {@linkcode writeCheckpoint}. */
export function readCheckpoint<S>(path: string): Checkpoint<S> {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (err) {
    throw new UserError(
      `Cannot read checkpoint ${path}: ${(err as Error).message}`,
    );
  }
  const bad = (why: string) =>
    new UserError(
      `Checkpoint ${path} is not a valid clknn checkpoint (${why}); delete it to start the run over`,
    );
  if (
    bytes.length < 12 ||
    new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC
  ) throw bad("wrong magic");
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset)
    .getUint32(8, true);
  if (12 + headerLength > bytes.length) throw bad("truncated header");
  let header: {
    state: S;
    tensors: { name: string; shape: number[]; length: number }[];
  };
  try {
    header = JSON.parse(
      new TextDecoder().decode(bytes.subarray(12, 12 + headerLength)),
    );
  } catch {
    throw bad("unreadable header");
  }
  let offset = 12 + headerLength;
  const tensors: SavedTensor[] = [];
  for (const spec of header.tensors) {
    const end = offset + spec.length * 4;
    if (end > bytes.length) throw bad("truncated data");
    const data = new Float32Array(spec.length);
    new Uint8Array(data.buffer).set(bytes.subarray(offset, end));
    tensors.push({ name: spec.name, shape: spec.shape, data });
    offset = end;
  }
  if (offset !== bytes.length) throw bad("trailing bytes");
  return { state: header.state, tensors };
}

/** Writes a text file atomically (temp file, fsync, rename). */
export function writeTextAtomic(path: string, text: string) {
  writeAtomic(path, [new TextEncoder().encode(text)]);
}

/** Writes binary data atomically (temp file, fsync, rename). */
export function writeBytesAtomic(path: string, bytes: Uint8Array) {
  writeAtomic(path, [bytes]);
}
