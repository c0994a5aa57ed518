// An in-memory ObjectStore for unit tests: byte-order listing with delimiter
// and paging, generations, and counters of what was asked.
import { Crc32c } from "../../util/crc32c.js";
import { Chunks, type Bytes } from "../bytes.js";
import { readFile } from "node:fs/promises";
import { NotFoundError, PreconditionError, TransientError } from "../errors.js";
import { verifyCrc32c } from "../integrity.js";
import type { ByteRange, ByteSink, ListOptions, ListPage, ObjectInfo, ObjectStore, ObjectStreamer } from "../object-store.js";
import type { ObjectWriter, UploadSpec, UploadedObject } from "../object-writer.js";

interface Entry {
  info: ObjectInfo;
  data: Buffer;
}

export class MemoryObjectStore implements ObjectStore, ObjectStreamer, ObjectWriter {
  private readonly objects = new Map<string, Entry>();
  private nextGeneration = 1000;
  readonly calls = { list: 0, stat: 0, read: 0, upload: 0 };
  /** Uploads that fail with a TransientError after storing (a lost response), then count down. */
  loseNextUploadResponses = 0;

  constructor(readonly bucket = "memory") {}

  put(name: string, data: Buffer | string, updated = new Date(0)): ObjectInfo {
    const bytes = Buffer.from(data);
    const info: ObjectInfo = {
      name, size: bytes.length, generation: String(this.nextGeneration++), updated,
      crc32c: new Crc32c().update(bytes).base64(),
    };
    this.objects.set(name, { info, data: bytes });
    return info;
  }

  delete(name: string): void {
    this.objects.delete(name);
  }

  async checkBucket(): Promise<void> {}

  async list(opts: ListOptions): Promise<ListPage> {
    this.calls.list++;
    const max = Math.min(opts.maxResults ?? 1000, 1000);
    const names = [...this.objects.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const after = opts.pageToken ?? opts.startOffset;
    const objects: ObjectInfo[] = [];
    const prefixes: string[] = [];
    let last: string | undefined;
    for (const name of names) {
      if (!name.startsWith(opts.prefix)) continue;
      if (opts.endOffset !== undefined && name >= opts.endOffset) break;
      const cut = opts.delimiter ? name.indexOf(opts.delimiter, opts.prefix.length) : -1;
      const key = cut >= 0 ? name.slice(0, cut + opts.delimiter!.length) : name;
      if (after !== undefined && (opts.pageToken ? key <= after : name < after)) continue;
      if (key === last) continue;
      if (objects.length + prefixes.length >= max) return { objects, prefixes, nextPageToken: last! };
      if (cut >= 0) prefixes.push(key);
      else objects.push(this.objects.get(name)!.info);
      last = key;
    }
    return { objects, prefixes };
  }

  async stat(name: string): Promise<ObjectInfo> {
    this.calls.stat++;
    const e = this.objects.get(name);
    if (!e) throw new NotFoundError(`no such object: ${name}`);
    return e.info;
  }

  /** When set, the next reads return these bytes instead (to test verification). */
  corruptNextReads = 0;

  async read(name: string, generation: string, range?: ByteRange, crc32c?: string): Promise<Buffer> {
    this.calls.read++;
    const e = this.objects.get(name);
    if (!e || e.info.generation !== generation) throw new NotFoundError(`no such object: ${name}#${generation}`);
    const out = Buffer.from(range ? e.data.subarray(range.start, range.end) : e.data);
    if (this.corruptNextReads > 0 && out.length > 0) {
      this.corruptNextReads--;
      out[0] = out[0]! ^ 0xff;
    }
    if (!range) verifyCrc32c(out, crc32c, `read ${name}`);
    return out;
  }

  async upload(spec: UploadSpec): Promise<UploadedObject> {
    this.calls.upload++;
    const live = this.objects.get(spec.name);
    const expected = live ? live.info.generation : "0";
    if (spec.ifGenerationMatch !== expected) throw new PreconditionError(`upload ${spec.name}: generation is ${expected}, not ${spec.ifGenerationMatch}`);
    const info = this.put(spec.name, await readFile(spec.path), new Date());
    info.contentType = spec.contentType;
    if (this.loseNextUploadResponses > 0) {
      this.loseNextUploadResponses--;
      throw new TransientError(`upload ${spec.name}: connection reset (test)`);
    }
    return this.describe(spec.name);
  }

  async describe(name: string): Promise<UploadedObject> {
    const info = await this.stat(name);
    return {
      info,
      resource: {
        bucket: this.bucket, name, size: String(info.size), generation: info.generation, crc32c: info.crc32c,
        updated: info.updated.toISOString(), ...(info.contentType ? { contentType: info.contentType } : {}),
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
