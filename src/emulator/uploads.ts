// Upload protocols of the JSON API: uploadType=media, multipart (CRLF or LF,
// quoted boundaries) and resumable (POST to open a session, then PUTs with
// Content-Range). Bytes go to a file in the data directory as they arrive;
// hashes are computed on the way and checked against any the client sent.
import { createHash, randomUUID, type Hash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { unlink, writeFile } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { Crc32c } from "../util/crc32c.js";
import { EmulatorError, type EmulatorStore, type Preconditions } from "./store.js";
import type { StoredObject } from "./object-table.js";

interface ObjectMetadata {
  name?: string;
  contentType?: string;
  metadata?: Record<string, string>;
  crc32c?: string;
  md5Hash?: string;
}

class Hashes {
  readonly md5: Hash = createHash("md5");
  readonly crc = new Crc32c();
  size = 0;
  update(b: Buffer): void {
    this.md5.update(b);
    this.crc.update(b);
    this.size += b.length;
  }
}

interface Session {
  id: string;
  bucket: string;
  meta: ObjectMetadata;
  preconditions: Preconditions;
  path: string;
  hashes: Hashes;
  done?: StoredObject;
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Streams a request body onto the end of `path`, hashing it; skips the first `skip` bytes. */
async function appendBody(req: IncomingMessage, path: string, hashes: Hashes, skip = 0): Promise<void> {
  const out = createWriteStream(path, { flags: "a" });
  try {
    for await (const c of req) {
      let b = c as Buffer;
      if (skip > 0) {
        const n = Math.min(skip, b.length);
        b = b.subarray(n);
        skip -= n;
      }
      if (b.length === 0) continue;
      hashes.update(b);
      if (!out.write(b)) await new Promise<void>((r) => out.once("drain", () => r()));
    }
  } finally {
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
}

function parseMeta(body: Buffer): ObjectMetadata {
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString("utf8")) as ObjectMetadata;
  } catch {
    throw new EmulatorError(400, "Metadata part is not valid JSON.");
  }
}

/** Client-declared hashes from metadata or an x-goog-hash header. */
function declaredHashes(meta: ObjectMetadata, header: string | string[] | undefined): { crc32c?: string; md5?: string } {
  const out: { crc32c?: string; md5?: string } = {};
  if (meta.crc32c) out.crc32c = meta.crc32c;
  if (meta.md5Hash) out.md5 = meta.md5Hash;
  for (const part of [header ?? []].flat().join(",").split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (k === "crc32c") out.crc32c = v;
    if (k === "md5") out.md5 = v;
  }
  return out;
}

export class Uploads {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly store: EmulatorStore) {}

  private async finish(bucket: string, meta: ObjectMetadata, path: string, hashes: Hashes, p: Preconditions, hashHeader?: string | string[]): Promise<StoredObject> {
    const crc32c = hashes.crc.base64();
    const md5Hash = hashes.md5.digest("base64");
    const declared = declaredHashes(meta, hashHeader);
    if ((declared.crc32c && declared.crc32c !== crc32c) || (declared.md5 && declared.md5 !== md5Hash)) {
      await unlink(path).catch(() => undefined);
      throw new EmulatorError(400, `Provided checksum does not match the data (crc32c ${crc32c}, md5 ${md5Hash}).`);
    }
    if (!meta.name) {
      await unlink(path).catch(() => undefined);
      throw new EmulatorError(400, "Required object name is missing.", "required");
    }
    try {
      return await this.store.commit(bucket, {
        name: meta.name, bytes: { kind: "file", path, owned: true }, size: hashes.size, md5Hash, crc32c,
        ...(meta.contentType ? { contentType: meta.contentType } : {}),
        ...(meta.metadata ? { metadata: meta.metadata } : {}),
      }, p);
    } catch (e) {
      await unlink(path).catch(() => undefined);
      throw e;
    }
  }

  async media(req: IncomingMessage, bucket: string, name: string | undefined, p: Preconditions): Promise<StoredObject> {
    this.store.writableBucket(bucket);
    const path = this.store.tempPath();
    const hashes = new Hashes();
    await appendBody(req, path, hashes);
    const contentType = req.headers["content-type"];
    return this.finish(bucket, { ...(name ? { name } : {}), ...(contentType ? { contentType } : {}) }, path, hashes, p, req.headers["x-goog-hash"]);
  }

  async multipart(req: IncomingMessage, bucket: string, name: string | undefined, p: Preconditions): Promise<StoredObject> {
    this.store.writableBucket(bucket);
    // Python's email package (gcloud) quotes the boundary with single quotes.
    const m = /boundary=(?:"([^"]+)"|'([^']+)'|([^;\s]+))/i.exec(req.headers["content-type"] ?? "");
    if (!m) throw new EmulatorError(400, "Multipart upload without a boundary.");
    const parts = splitMultipart(await readAll(req), m[1] ?? m[2] ?? m[3]!);
    if (parts.length < 2) throw new EmulatorError(400, "Multipart upload needs a metadata part and a media part.");
    const meta = parseMeta(parts[0]!.body);
    if (name && !meta.name) meta.name = name;
    const mediaType = parts[1]!.headers["content-type"];
    if (!meta.contentType && mediaType) meta.contentType = mediaType;
    const path = this.store.tempPath();
    const hashes = new Hashes();
    hashes.update(parts[1]!.body);
    await writeFile(path, parts[1]!.body);
    return this.finish(bucket, meta, path, hashes, p, req.headers["x-goog-hash"]);
  }

  async openResumable(req: IncomingMessage, bucket: string, name: string | undefined, p: Preconditions): Promise<string> {
    this.store.writableBucket(bucket);
    const meta = parseMeta(await readAll(req));
    if (name && !meta.name) meta.name = name;
    const declaredType = req.headers["x-upload-content-type"];
    if (!meta.contentType && typeof declaredType === "string") meta.contentType = declaredType;
    const id = randomUUID();
    const path = this.store.tempPath();
    await writeFile(path, "");
    this.sessions.set(id, { id, bucket, meta, preconditions: p, path, hashes: new Hashes() });
    return id;
  }

  /** One PUT of a resumable session: the object when complete, else the bytes persisted so far. */
  async putChunk(req: IncomingMessage, id: string): Promise<{ done: StoredObject } | { received: number }> {
    const s = this.sessions.get(id);
    if (!s) throw new EmulatorError(404, "No such upload session.", "notFound");
    if (s.done) {
      await readAll(req);
      return { done: s.done };
    }
    const header = req.headers["content-range"];
    let total: number | undefined;
    let skip = 0;
    if (header) {
      const status = /^bytes \*\/(\d+|\*)$/.exec(header);
      const chunk = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header);
      // "bytes N-*/T": the rest of the object in this one request (the Node
      // SDK's single-chunk mode); with T = "*" the object ends with the body.
      const rest = /^bytes (\d+)-\*\/(\d+|\*)$/.exec(header);
      if (status) {
        await readAll(req);
        total = status[1] === "*" ? undefined : Number(status[1]);
      } else if (chunk) {
        const first = Number(chunk[1]);
        if (first > s.hashes.size) throw new EmulatorError(400, `Chunk starts at ${first} but only ${s.hashes.size} bytes were received.`);
        skip = s.hashes.size - first; // a resent overlap is dropped, as GCS does
        total = chunk[3] === "*" ? undefined : Number(chunk[3]);
        await appendBody(req, s.path, s.hashes, skip);
      } else if (rest) {
        const first = Number(rest[1]);
        if (first > s.hashes.size) throw new EmulatorError(400, `Upload resumes at ${first} but only ${s.hashes.size} bytes were received.`);
        await appendBody(req, s.path, s.hashes, s.hashes.size - first);
        total = rest[2] === "*" ? s.hashes.size : Number(rest[2]);
      } else {
        throw new EmulatorError(400, `Bad Content-Range: ${header}`);
      }
    } else {
      await appendBody(req, s.path, s.hashes);
      total = s.hashes.size;
    }
    if (total !== undefined && s.hashes.size >= total) {
      if (s.hashes.size > total) throw new EmulatorError(400, "More bytes than the declared total.");
      s.done = await this.finish(s.bucket, s.meta, s.path, s.hashes, s.preconditions, req.headers["x-goog-hash"]);
      return { done: s.done };
    }
    return { received: s.hashes.size };
  }

  cancel(id: string): boolean {
    const s = this.sessions.get(id);
    if (!s) return false;
    this.sessions.delete(id);
    if (!s.done) void unlink(s.path).catch(() => undefined);
    return true;
  }
}

interface Part {
  headers: Record<string, string>;
  body: Buffer;
}

/** Splits a multipart/related body; tolerates LF or CRLF line ends. */
export function splitMultipart(body: Buffer, boundary: string): Part[] {
  const delim = Buffer.from(`--${boundary}`);
  const parts: Part[] = [];
  let pos = body.indexOf(delim);
  while (pos >= 0) {
    let start = pos + delim.length;
    if (body.subarray(start, start + 2).toString() === "--") break; // closing delimiter
    if (body[start] === 0x0d) start++;
    if (body[start] === 0x0a) start++;
    const next = body.indexOf(delim, start);
    if (next < 0) break;
    let end = next;
    if (body[end - 1] === 0x0a) end--;
    if (body[end - 1] === 0x0d) end--;
    const chunk = body.subarray(start, end);
    // The header block ends at the first blank line; a part may have no headers at all (Go).
    let hEnd: number;
    let sepLen: number;
    if (chunk[0] === 0x0d && chunk[1] === 0x0a) [hEnd, sepLen] = [0, 2];
    else if (chunk[0] === 0x0a) [hEnd, sepLen] = [0, 1];
    else {
      const crlf = chunk.indexOf("\r\n\r\n");
      const lf = chunk.indexOf("\n\n");
      [hEnd, sepLen] = crlf >= 0 && (lf < 0 || crlf < lf) ? [crlf, 4] : [lf, 2];
    }
    const headers: Record<string, string> = {};
    const headText = hEnd >= 0 ? chunk.subarray(0, hEnd).toString("utf8") : "";
    for (const line of headText.split(/\r?\n/)) {
      const c = line.indexOf(":");
      if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
    }
    parts.push({ headers, body: hEnd >= 0 ? chunk.subarray(hEnd + sepLen) : chunk });
    pos = next;
  }
  return parts;
}
