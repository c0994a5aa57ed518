// The emulator's state: buckets, their objects, and where uploaded bytes go.
import { createHash, randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, sep } from "node:path";
import { Crc32c } from "../util/crc32c.js";
import { BucketTable, GenerationClock, discard, type ObjectBytes, type ObjectTable, type StoredObject } from "./object-table.js";
import { SyntheticTable, type SyntheticSpec } from "./synthetic.js";

export class EmulatorError extends Error {
  constructor(readonly status: number, message: string, readonly reason = "invalid") {
    super(message);
  }
}

export interface Preconditions {
  ifGenerationMatch?: string;
  ifGenerationNotMatch?: string;
  ifMetagenerationMatch?: string;
}

export interface NewObject {
  name: string;
  bytes: ObjectBytes;
  size: number;
  md5Hash: string;
  crc32c: string;
  contentType?: string;
  metadata?: Record<string, string>;
  updated?: Date;
}

export class EmulatorStore {
  readonly buckets = new Map<string, ObjectTable>();
  private readonly generations = new GenerationClock();

  private constructor(readonly dataDir: string) {}

  static async create(dataDir?: string): Promise<EmulatorStore> {
    if (dataDir) await mkdir(dataDir, { recursive: true });
    return new EmulatorStore(dataDir ?? (await mkdtemp(join(tmpdir(), "som-emulator-"))));
  }

  /** A fresh path in the data directory for an upload's bytes. */
  tempPath(): string {
    return join(this.dataDir, randomUUID());
  }

  async close(): Promise<void> {
    await rm(this.dataDir, { recursive: true, force: true });
  }

  bucket(name: string): ObjectTable {
    const b = this.buckets.get(name);
    if (!b) throw new EmulatorError(404, `The specified bucket does not exist.`, "notFound");
    return b;
  }

  createBucket(name: string): ObjectTable {
    let b = this.buckets.get(name);
    if (!b) {
      b = new BucketTable(name);
      this.buckets.set(name, b);
    }
    return b;
  }

  /** A read-only bucket whose objects are computed (see synthetic.ts). */
  addSynthetic(name: string, specs: SyntheticSpec[]): ObjectTable {
    if (this.buckets.has(name)) throw new EmulatorError(409, `bucket ${name} already exists`, "conflict");
    const t = new SyntheticTable(name, specs);
    this.buckets.set(name, t);
    return t;
  }

  /** A bucket that takes writes; 403 for a synthetic one. */
  writableBucket(name: string): ObjectTable {
    const b = this.bucket(name);
    if (!b.writable) throw new EmulatorError(403, `bucket ${name} is synthetic and read-only`, "forbidden");
    return b;
  }

  checkPreconditions(current: StoredObject | undefined, p: Preconditions): void {
    const gen = current?.generation ?? "0";
    if (p.ifGenerationMatch !== undefined && p.ifGenerationMatch !== gen) {
      throw new EmulatorError(412, "At least one of the pre-conditions you specified did not hold.", "conditionNotMet");
    }
    if (p.ifGenerationNotMatch !== undefined && p.ifGenerationNotMatch === gen) {
      throw new EmulatorError(304, "Not modified", "notModified");
    }
    if (p.ifMetagenerationMatch !== undefined && p.ifMetagenerationMatch !== (current?.metageneration ?? "0")) {
      throw new EmulatorError(412, "At least one of the pre-conditions you specified did not hold.", "conditionNotMet");
    }
  }

  /** Makes `obj` the live generation of its name, honouring preconditions. */
  async commit(bucketName: string, obj: NewObject, p: Preconditions = {}): Promise<StoredObject> {
    const bucket = this.writableBucket(bucketName);
    validateObjectName(obj.name);
    this.checkPreconditions(bucket.get(obj.name), p);
    const updated = obj.updated ?? new Date();
    const stored: StoredObject = {
      name: obj.name,
      size: obj.size,
      generation: this.generations.next(updated),
      metageneration: "1",
      md5Hash: obj.md5Hash,
      crc32c: obj.crc32c,
      contentType: obj.contentType || "application/octet-stream",
      timeCreated: updated,
      updated,
      bytes: obj.bytes,
      ...(obj.metadata ? { metadata: obj.metadata } : {}),
    };
    await discard(bucket.put(stored));
    return stored;
  }

  async remove(bucketName: string, name: string, p: Preconditions = {}): Promise<void> {
    const bucket = this.writableBucket(bucketName);
    const current = bucket.get(name);
    if (!current) throw new EmulatorError(404, `No such object: ${bucketName}/${name}`, "notFound");
    this.checkPreconditions(current, p);
    await discard(bucket.delete(name));
  }

  /**
   * Adds every file under `dir` as an object named by its relative path. The
   * object's `updated` is the file's mtime, so a reseeded emulator reports the
   * same times and a mount's mtimes stay stable across restarts. So do the
   * generations (a disk tier's blocks are keyed by them): files are hashed in
   * parallel but committed in name order, so files sharing an mtime get the
   * same generations every time, not in the order their hashes finished.
   */
  async seed(bucketName: string, dir: string): Promise<number> {
    this.createBucket(bucketName);
    const files = (await walk(dir)).map((path) => ({ path, name: relative(dir, path).split(sep).join("/") }));
    files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const facts = new Array<{ size: number; updated: Date; md5Hash: string; crc32c: string }>(files.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < files.length) {
        const i = next++;
        const [st, h] = await Promise.all([stat(files[i]!.path), hashFile(files[i]!.path)]);
        facts[i] = { size: st.size, updated: st.mtime, ...h };
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    for (const [i, { path, name }] of files.entries()) {
      const f = facts[i]!;
      await this.commit(bucketName, { name, bytes: { kind: "file", path, owned: false }, size: f.size, md5Hash: f.md5Hash, crc32c: f.crc32c, updated: f.updated, contentType: guessContentType(name) });
    }
    return files.length;
  }
}

export function validateObjectName(name: string): void {
  if (name.length === 0 || Buffer.byteLength(name) > 1024) {
    throw new EmulatorError(400, "Object name must be 1-1024 bytes of UTF-8.", "invalid");
  }
  if (/[\r\n]/.test(name)) throw new EmulatorError(400, "Object name must not contain CR or LF.", "invalid");
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

export async function hashFile(path: string): Promise<{ md5Hash: string; crc32c: string }> {
  const md5 = createHash("md5");
  const crc = new Crc32c();
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    md5.update(chunk as Buffer);
    crc.update(chunk as Buffer);
  }
  return { md5Hash: md5.digest("base64"), crc32c: crc.base64() };
}

function guessContentType(name: string): string {
  const ext = name.slice(name.lastIndexOf(".") + 1).toLowerCase();
  const types: Record<string, string> = { dcm: "application/dicom", json: "application/json", txt: "text/plain", csv: "text/csv", png: "image/png", jpg: "image/jpeg" };
  return types[ext] ?? "application/octet-stream";
}
