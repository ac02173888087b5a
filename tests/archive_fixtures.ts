/**
 * Test helpers for the dataset loaders: a minimal ustar writer, gzip, MD5,
 * and a local HTTP server that counts its requests.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";

const encoder = new TextEncoder();

function field(block: Uint8Array, at: number, length: number, text: string) {
  block.set(encoder.encode(text).subarray(0, length), at);
}

function octal(value: number, length: number): string {
  return value.toString(8).padStart(length - 1, "0") + "\0";
}

/** A tar archive (ustar) of `files`, with a folder entry for each folder named. */
export function tar(files: { name: string; bytes: Uint8Array }[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  const folders = new Set<string>();
  const entry = (name: string, bytes: Uint8Array, type: "0" | "5") => {
    const header = new Uint8Array(512);
    field(header, 0, 100, name);
    field(header, 100, 8, octal(type === "5" ? 0o755 : 0o644, 8));
    field(header, 108, 8, octal(0, 8));
    field(header, 116, 8, octal(0, 8));
    field(header, 124, 12, octal(bytes.length, 12));
    field(header, 136, 12, octal(1_300_000_000, 12));
    field(header, 148, 8, "        ");
    field(header, 156, 1, type);
    field(header, 257, 6, "ustar\0");
    field(header, 263, 2, "00");
    const sum = header.reduce((a, b) => a + b, 0);
    field(header, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
    blocks.push(header);
    const padded = new Uint8Array(Math.ceil(bytes.length / 512) * 512);
    padded.set(bytes);
    blocks.push(padded);
  };
  for (const file of files) {
    const slash = file.name.lastIndexOf("/");
    const folder = slash > 0 ? file.name.slice(0, slash + 1) : "";
    if (folder && !folders.has(folder)) {
      folders.add(folder);
      entry(folder, new Uint8Array(0), "5");
    }
    entry(file.name, file.bytes, "0");
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of blocks) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/** A gzipped tar of `files`. */
export function tarGz(
  files: { name: string; bytes: Uint8Array }[],
): Uint8Array {
  return new Uint8Array(gzipSync(tar(files)));
}

/** The MD5 of `bytes`, hex. */
export function md5(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

/** UTF-8 bytes of `text`. */
export function text(value: string): Uint8Array {
  return encoder.encode(value);
}

/** A running local server of fixed files. */
export interface FileServer {
  /** Base URL ending in `/`. */
  url: string;
  /** Requests answered so far, by path. */
  requests: string[];
  close(): Promise<void>;
}

/** Serves `files` (path without leading slash -> bytes) on 127.0.0.1, port chosen by the system. */
export function serveFiles(files: Record<string, Uint8Array>): FileServer {
  const requests: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => {
      const path = new URL(req.url).pathname.slice(1);
      requests.push(path);
      const body = files[path];
      if (!body) return new Response("not found", { status: 404 });
      return new Response(body.slice(), {
        headers: { "content-length": String(body.length) },
      });
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    requests,
    close: () => server.shutdown(),
  };
}
