// The emulator's object metadata, per bucket, kept in GCS list order: byte
// order of the UTF-8 names (JS string order differs above U+FFFF). Bytes live
// in files on disk — seeded objects point at the seed file itself, uploads at a
// file in the emulator's data directory — so large objects never sit in memory.
import { unlink } from "node:fs/promises";

export interface StoredObject {
  name: string;
  key: Buffer; // UTF-8 of name, the sort key
  size: number;
  generation: string;
  metageneration: string;
  md5Hash: string;
  crc32c: string;
  contentType: string;
  timeCreated: Date;
  updated: Date;
  metadata?: Record<string, string>;
  dataPath: string;
  /** The data file belongs to the emulator and is deleted with the object. */
  owned: boolean;
}

export class BucketTable {
  /** INVARIANT: sorted by Buffer.compare(key), names unique. */
  readonly objects: StoredObject[] = [];
  readonly created = new Date();

  constructor(readonly name: string) {}

  /** Index of the first object whose key is >= key. */
  lowerBound(key: Buffer): number {
    let lo = 0;
    let hi = this.objects.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Buffer.compare(this.objects[mid]!.key, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the first object at or after `from` whose key does not start with prefix. */
  endOfPrefix(prefix: Buffer, from = this.lowerBound(prefix)): number {
    let lo = from;
    let hi = this.objects.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const k = this.objects[mid]!.key;
      if (k.length >= prefix.length && k.subarray(0, prefix.length).equals(prefix)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  get(name: string): StoredObject | undefined {
    const key = Buffer.from(name);
    const o = this.objects[this.lowerBound(key)];
    return o && o.key.equals(key) ? o : undefined;
  }

  /** Inserts or replaces; returns the replaced object, if any. */
  put(obj: StoredObject): StoredObject | undefined {
    const i = this.lowerBound(obj.key);
    const old = this.objects[i];
    if (old && old.key.equals(obj.key)) {
      this.objects[i] = obj;
      return old;
    }
    this.objects.splice(i, 0, obj);
    return undefined;
  }

  delete(name: string): StoredObject | undefined {
    const key = Buffer.from(name);
    const i = this.lowerBound(key);
    const old = this.objects[i];
    if (!old || !old.key.equals(key)) return undefined;
    this.objects.splice(i, 1);
    return old;
  }
}

/** Frees the bytes of an object that was replaced or deleted. */
export async function discard(obj: StoredObject | undefined): Promise<void> {
  if (obj?.owned) await unlink(obj.dataPath).catch(() => undefined);
}

/** Generations are microsecond timestamps, strictly increasing within a run, as in GCS. */
export class GenerationClock {
  private last = 0n;
  next(at: Date = new Date()): string {
    let g = BigInt(at.getTime()) * 1000n;
    if (g <= this.last) g = this.last + 1n;
    this.last = g;
    return g.toString();
  }
}
