// A bucket's objects in GCS list order: byte order of the UTF-8 names
// (compareUtf8; JS string order differs above U+FFFF). Listing
// (emulator/list.ts) sees a bucket only through ObjectTable, so a bucket can
// be a sorted array of stored objects (BucketTable) or a namespace computed
// on demand (SyntheticTable: a million series without a million files).
import { unlink } from "node:fs/promises";
import { compareUtf8 } from "../listing/key-order.js";

/** Where an object's bytes come from. */
export type ObjectBytes =
  /** A file on disk; `owned` files belong to the emulator and go with the object. */
  | { kind: "file"; path: string; owned: boolean }
  | { kind: "memory"; data: Buffer }
  /** Computed from the name (synthetic namespaces). */
  | { kind: "generated" };

export interface StoredObject {
  name: string;
  size: number;
  generation: string;
  metageneration: string;
  md5Hash: string;
  crc32c: string;
  contentType: string;
  timeCreated: Date;
  updated: Date;
  metadata?: Record<string, string>;
  bytes: ObjectBytes;
}

/** What listing and lookups need of a bucket. */
export interface ObjectTable {
  readonly name: string;
  readonly created: Date;
  /** Whether objects can be written and deleted. */
  readonly writable: boolean;
  /** Objects in the table. */
  readonly size: number;
  /** Name of the object at index i (0 <= i < size). */
  nameAt(i: number): string;
  /** The object at index i. */
  at(i: number): StoredObject;
  /** Index of the first object whose name is >= key. */
  lowerBound(key: string): number;
  /** Index of the first object at or after `from` whose name does not start with prefix. */
  endOfPrefix(prefix: string, from?: number): number;
  get(name: string): StoredObject | undefined;
  /** Inserts or replaces; returns the replaced object, if any. */
  put(obj: StoredObject): StoredObject | undefined;
  delete(name: string): StoredObject | undefined;
}

/** Binary search for the first index in [lo, hi) where `below(i)` is false (below is monotone: true then false). */
export function partition(lo: number, hi: number, below: (i: number) => boolean): number {
  while (lo < hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (below(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Stored objects in a sorted array. */
export class BucketTable implements ObjectTable {
  /** INVARIANT: sorted by compareUtf8(name), names unique. */
  private readonly objects: StoredObject[] = [];
  readonly created = new Date();
  readonly writable = true;

  constructor(readonly name: string) {}

  get size(): number {
    return this.objects.length;
  }

  nameAt(i: number): string {
    return this.objects[i]!.name;
  }

  at(i: number): StoredObject {
    return this.objects[i]!;
  }

  lowerBound(key: string): number {
    return partition(0, this.objects.length, (i) => compareUtf8(this.objects[i]!.name, key) < 0);
  }

  endOfPrefix(prefix: string, from = this.lowerBound(prefix)): number {
    return partition(from, this.objects.length, (i) => this.objects[i]!.name.startsWith(prefix));
  }

  get(name: string): StoredObject | undefined {
    const o = this.objects[this.lowerBound(name)];
    return o && o.name === name ? o : undefined;
  }

  put(obj: StoredObject): StoredObject | undefined {
    const i = this.lowerBound(obj.name);
    const old = this.objects[i];
    if (old && old.name === obj.name) {
      this.objects[i] = obj;
      return old;
    }
    this.objects.splice(i, 0, obj);
    return undefined;
  }

  delete(name: string): StoredObject | undefined {
    const i = this.lowerBound(name);
    const old = this.objects[i];
    if (!old || old.name !== name) return undefined;
    this.objects.splice(i, 1);
    return old;
  }
}

/** Frees the bytes of an object that was replaced or deleted. */
export async function discard(obj: StoredObject | undefined): Promise<void> {
  if (obj?.bytes.kind === "file" && obj.bytes.owned) await unlink(obj.bytes.path).catch(() => undefined);
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
