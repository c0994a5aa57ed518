// An in-memory ObjectStore for unit tests, with counters of what was asked.
// Listing semantics (byte order, delimiter, paging, start/end offsets) are
// the emulator's own (emulator/list.ts over an ObjectTable), which
// gcloud and rclone check, so the two can't drift apart. A table can be a
// synthetic namespace of a million names (emulator/synthetic.ts).
import { readFile } from "node:fs/promises";
import { listObjects } from "../../emulator/list.js";
import { BucketTable, GenerationClock, type ObjectTable, type StoredObject } from "../../emulator/object-table.js";
import { syntheticBytes } from "../../emulator/synthetic.js";
import { Crc32c } from "../../util/crc32c.js";
import { Chunks, type Bytes } from "../bytes.js";
import { NotFoundError, PreconditionError, TransientError } from "../errors.js";
import { verifyCrc32c } from "../integrity.js";
import type { ByteRange, ByteSink, ListOptions, ListPage, ObjectInfo, ObjectStore, ObjectStreamer } from "../object-store.js";
import type { ObjectWriter, UploadSpec, UploadedObject } from "../object-writer.js";

function info(o: StoredObject): ObjectInfo {
  return {
    name: o.name, size: o.size, generation: o.generation, updated: o.updated, crc32c: o.crc32c,
    ...(o.contentType !== "application/octet-stream" ? { contentType: o.contentType } : {}),
  };
}

export class MemoryObjectStore implements ObjectStore, ObjectStreamer, ObjectWriter {
  private readonly generations = new GenerationClock();
  readonly calls = { list: 0, stat: 0, read: 0, upload: 0 };
  /** Uploads that fail with a TransientError after storing (a lost response), then count down. */
  loseNextUploadResponses = 0;
  /** When set, the next reads return these bytes with the first one flipped (to test verification). */
  corruptNextReads = 0;

  constructor(readonly bucket = "memory", private readonly table: ObjectTable = new BucketTable(bucket)) {}

  put(name: string, data: Buffer | string, updated = new Date(0)): ObjectInfo {
    const bytes = Buffer.from(data);
    const o: StoredObject = {
      name, size: bytes.length, generation: this.generations.next(), metageneration: "1", md5Hash: "",
      crc32c: new Crc32c().update(bytes).base64(), contentType: "application/octet-stream",
      timeCreated: updated, updated, bytes: { kind: "memory", data: bytes },
    };
    this.table.put(o);
    return info(o);
  }

  delete(name: string): void {
    this.table.delete(name);
  }

  async checkBucket(): Promise<void> {}

  async list(opts: ListOptions): Promise<ListPage> {
    this.calls.list++;
    await Promise.resolve();
    const r = listObjects(this.table, {
      prefix: opts.prefix,
      ...(opts.delimiter ? { delimiter: opts.delimiter } : {}),
      ...(opts.startOffset ? { startOffset: opts.startOffset } : {}),
      ...(opts.endOffset ? { endOffset: opts.endOffset } : {}),
      ...(opts.pageToken ? { pageToken: opts.pageToken } : {}),
      ...(opts.maxResults ? { maxResults: opts.maxResults } : {}),
    });
    return { objects: r.items.map(info), prefixes: r.prefixes, ...(r.nextPageToken ? { nextPageToken: r.nextPageToken } : {}) };
  }

  async stat(name: string): Promise<ObjectInfo> {
    this.calls.stat++;
    const o = this.table.get(name);
    if (!o) throw new NotFoundError(`no such object: ${name}`);
    return info(o);
  }

  private data(o: StoredObject): Buffer {
    const b = o.bytes;
    if (b.kind === "memory") return b.data;
    if (b.kind === "generated") return syntheticBytes(o.name, o.size);
    throw new Error(`memory store objects hold their bytes; ${o.name} is a file`);
  }

  async read(name: string, generation: string, range?: ByteRange, crc32c?: string): Promise<Buffer> {
    this.calls.read++;
    const o = this.table.get(name);
    if (!o || o.generation !== generation) throw new NotFoundError(`no such object: ${name}#${generation}`);
    const all = this.data(o);
    const out = Buffer.from(range ? all.subarray(range.start, range.end) : all);
    if (this.corruptNextReads > 0 && out.length > 0) {
      this.corruptNextReads--;
      out[0] = out[0]! ^ 0xff;
    }
    if (!range) verifyCrc32c(out, crc32c, `read ${name}`);
    return out;
  }

  async upload(spec: UploadSpec): Promise<UploadedObject> {
    this.calls.upload++;
    const live = this.table.get(spec.name);
    const expected = live ? live.generation : "0";
    if (spec.ifGenerationMatch !== expected) throw new PreconditionError(`upload ${spec.name}: generation is ${expected}, not ${spec.ifGenerationMatch}`);
    this.put(spec.name, await readFile(spec.path), new Date());
    this.table.get(spec.name)!.contentType = spec.contentType;
    if (this.loseNextUploadResponses > 0) {
      this.loseNextUploadResponses--;
      throw new TransientError(`upload ${spec.name}: connection reset (test)`);
    }
    return this.describe(spec.name);
  }

  async describe(name: string): Promise<UploadedObject> {
    const i = await this.stat(name);
    return {
      info: i,
      resource: {
        bucket: this.bucket, name, size: String(i.size), generation: i.generation, crc32c: i.crc32c,
        updated: i.updated.toISOString(), ...(i.contentType ? { contentType: i.contentType } : {}),
      },
    };
  }

  /** As chunks of 64 KiB, as a socket would deliver them. */
  async readBytes(name: string, generation: string, range?: ByteRange, crc32c?: string): Promise<Bytes> {
    const data = await this.read(name, generation, range, crc32c);
    const parts: Buffer[] = [];
    for (let i = 0; i < data.length; i += 65536) parts.push(data.subarray(i, i + 65536));
    return new Chunks(parts);
  }

  /** Delivers the bytes in 64 KiB chunks, as a socket would. */
  async stream(name: string, generation: string, range: ByteRange | undefined, sink: ByteSink): Promise<number> {
    const bytes = (await this.readBytes(name, generation, range)) as Chunks;
    for (const part of bytes.parts) await sink(part);
    return bytes.length;
  }
}
