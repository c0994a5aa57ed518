// Read planning for one object generation. Small objects (<= wholeObjectLimit)
// come in one request and are verified against their CRC32C before anything
// is served; larger ones are read in aligned blocks by ranged requests. Every
// block is cached under name + generation, and concurrent readers of the same
// block share one request (the in-flight map).
import { blockKey, type BlockCache } from "../cache/block-cache.js";
import { NotFoundError } from "../storage/errors.js";
import type { ObjectStore } from "../storage/object-store.js";
import { FsError } from "../fs/errors.js";
import type { ObjectSource } from "../namespace/namespace.js";

export interface ObjectReaderOptions {
  /** Objects up to this size are fetched whole and verified. */
  wholeObjectLimit: number;
  /** Block size for ranged reads of larger objects. */
  blockSize: number;
}

export const defaultReaderOptions: ObjectReaderOptions = { wholeObjectLimit: 8 * 2 ** 20, blockSize: 4 * 2 ** 20 };

export interface ReadTarget extends ObjectSource {
  size: number;
}

export class ObjectReader {
  private readonly inflight = new Map<string, Promise<Buffer>>();

  constructor(
    private readonly store: ObjectStore,
    private readonly cache: BlockCache,
    private readonly opts: ObjectReaderOptions = defaultReaderOptions,
  ) {}

  async read(t: ReadTarget, offset: number, length: number): Promise<Buffer> {
    const end = Math.min(t.size, offset + length);
    if (offset >= end) return Buffer.alloc(0);
    if (t.size <= this.opts.wholeObjectLimit) {
      const whole = await this.block(t, "all");
      return whole.subarray(offset, end);
    }
    const bs = this.opts.blockSize;
    const first = Math.floor(offset / bs);
    const last = Math.floor((end - 1) / bs);
    const blocks = await Promise.all(Array.from({ length: last - first + 1 }, (_, i) => this.block(t, first + i)));
    if (blocks.length === 1) return blocks[0]!.subarray(offset - first * bs, end - first * bs);
    const out = Buffer.allocUnsafe(end - offset);
    let pos = 0;
    blocks.forEach((b, i) => {
      const from = i === 0 ? offset - first * bs : 0;
      const to = first + i === last ? end - (first + i) * bs : b.length;
      pos += b.copy(out, pos, from, to);
    });
    return out;
  }

  private block(t: ReadTarget, index: number | "all"): Promise<Buffer> {
    const key = blockKey(t.name, t.generation, index);
    const hit = this.cache.get(key);
    if (hit) return Promise.resolve(hit);
    let p = this.inflight.get(key);
    if (!p) {
      p = this.fetch(t, index)
        .then((b) => {
          this.cache.set(key, b);
          return b;
        })
        .finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async fetch(t: ReadTarget, index: number | "all"): Promise<Buffer> {
    try {
      if (index === "all") return await this.store.read(t.name, t.generation, undefined, t.crc32c);
      const start = index * this.opts.blockSize;
      return await this.store.read(t.name, t.generation, { start, end: Math.min(t.size, start + this.opts.blockSize) });
    } catch (err) {
      // The generation this file was opened on is gone: the object was replaced or deleted.
      if (err instanceof NotFoundError) throw new FsError("ESTALE", `${t.name}#${t.generation} no longer exists`, { cause: err });
      throw err;
    }
  }
}
