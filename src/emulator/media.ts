// Serving object bytes: Range (206/416), GCS media headers, and the injected
// bandwidth cap and mid-body cuts. Bytes stream from disk in 64 KiB chunks.
import { createReadStream } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Faults } from "./faults.js";
import type { StoredObject } from "./object-table.js";
import { syntheticBytes } from "./synthetic.js";
import { etagOf } from "./resource.js";
import type { Stats } from "./stats.js";

/** Parses a single `bytes=` range against `size`; undefined = whole object, null = unsatisfiable. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined | null {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined; // malformed ranges are ignored, as by GCS
  if (m[1] === "") {
    const n = Number(m[2]);
    if (n === 0) return null;
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return null;
  return { start, end };
}

export async function sendMedia(req: IncomingMessage, res: ServerResponse, o: StoredObject, faults: Faults, stats: Stats): Promise<void> {
  stats.count("media");
  const range = parseRange(req.headers.range, o.size);
  const headers: Record<string, string> = {
    "content-type": o.contentType,
    "x-goog-hash": `crc32c=${o.crc32c},md5=${o.md5Hash}`,
    "x-goog-generation": o.generation,
    "x-goog-metageneration": o.metageneration,
    "x-goog-stored-content-encoding": "identity",
    "x-goog-stored-content-length": String(o.size),
    "x-goog-storage-class": "STANDARD",
    "accept-ranges": "bytes",
    etag: etagOf(o),
    "last-modified": o.updated.toUTCString(),
  };
  if (range === null) {
    res.writeHead(416, { ...headers, "content-range": `bytes */${o.size}`, "content-length": "0" });
    res.end();
    return;
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? o.size - 1;
  const length = Math.max(0, end - start + 1);
  if (range) headers["content-range"] = `bytes ${start}-${end}/${o.size}`;
  headers["content-length"] = String(length);
  res.writeHead(range ? 206 : 200, headers);
  if (req.method === "HEAD" || length === 0) {
    res.end();
    return;
  }
  stats.mediaLength(length);

  const cut = faults.cutAt(length);
  const limit = cut ?? length;
  const bandwidth = faults.bandwidth;
  const began = performance.now();
  let sent = 0;
  const stream = byteStream(o, start, start + limit);
  try {
    for await (const chunk of stream) {
      const buf = chunk as Buffer;
      if (res.destroyed) break;
      if (!res.write(buf)) await drainOrClose(res);
      sent += buf.length;
      stats.addBytes(buf.length);
      if (bandwidth > 0) {
        // Pace the stream: never more than `bandwidth` bytes per second since it began.
        const due = (sent / bandwidth) * 1000 - (performance.now() - began);
        if (due > 2) await new Promise((r) => setTimeout(r, due));
      }
    }
  } finally {
    await stream.return?.(undefined);
  }
  if (cut !== undefined) {
    stats.count("cut");
    res.destroy(); // the client sees a short body on a keep-alive connection that died
    return;
  }
  res.end();
}

const CHUNK = 64 * 1024;

/** Bytes [start, end) of the object, in chunks of up to 64 KiB. */
export async function* byteStream(o: StoredObject, start: number, end: number): AsyncGenerator<Buffer> {
  if (end <= start) return;
  const b = o.bytes;
  if (b.kind === "file") {
    const s = createReadStream(b.path, { start, end: end - 1, highWaterMark: CHUNK });
    try {
      for await (const c of s) yield c as Buffer;
    } finally {
      s.destroy();
    }
    return;
  }
  const all = b.kind === "memory" ? b.data : syntheticBytes(o.name, o.size);
  for (let at = start; at < end; at += CHUNK) yield all.subarray(at, Math.min(end, at + CHUNK));
}

function drainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}
