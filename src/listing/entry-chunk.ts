// The children one listing page gives a directory, packed: the names end
// to end in one string, and typed arrays for the rest, instead of an object
// (and a Date, and a source object, and the full object name) per entry. An
// Imaging Data Commons root has up to a million entries; as objects they
// cost ~1.2 KB each, packed well under a tenth of that (a 36-character
// series UUID: ~41 bytes), and a garbage collection marks one string per
// thousand entries. Entries are materialized one at a time when looked up.
import type { ListPage, ObjectInfo } from "../storage/object-store.js";
import { crc32cFromBase64, crc32cToBase64 } from "../util/crc32c.js";
import { compareUtf8 } from "./key-order.js";

export const DIR = 1;
const HAS_CRC = 2;
/** A file shadowed by a directory of the same name (the directory is shown). */
export const HIDDEN = 4;

/** One entry as readdir hands it out. */
export interface PackedEntry {
  name: string;
  dir: boolean;
  size: number;
  mtimeMs: number;
  /** For files: the object's generation and CRC32C. */
  generation?: string;
  crc32c?: string;
}

export class EntryChunk {
  /** Names while the chunk is being filled; then joined into `packed`. */
  private pending: string[] | undefined;
  /** Every name, end to end: one string per chunk, not one per entry (memory, and GC marking). */
  private packed = "";
  /** End of each name in `packed`. */
  private readonly ends: Uint32Array;
  readonly flags: Uint8Array;
  /** The file columns; empty when the chunk holds only directories. */
  sizes: Float64Array;
  mtimes: Float64Array;
  /** NaN where the generation is not a safe integer; then it is in `oddGenerations`. */
  generations: Float64Array;
  crcs: Uint32Array;
  oddGenerations?: Map<number, string>;
  /** Entries before this index were already delivered by the previous page (a seam). */
  start = 0;

  constructor(n: number) {
    this.pending = new Array<string>(n);
    this.ends = new Uint32Array(n);
    this.flags = new Uint8Array(n);
    this.sizes = new Float64Array(n);
    this.mtimes = new Float64Array(n);
    this.generations = new Float64Array(n);
    this.crcs = new Uint32Array(n);
  }

  get length(): number {
    return this.ends.length;
  }

  setName(i: number, name: string): void {
    this.pending![i] = name;
  }

  /** Ends filling: names are packed, and file columns dropped if there are no files. */
  seal(): this {
    const names = this.pending!;
    this.packed = names.join("");
    let at = 0;
    names.forEach((n, i) => (this.ends[i] = at += n.length));
    this.pending = undefined;
    if (this.flags.every((f) => f & DIR)) {
      this.sizes = this.mtimes = this.generations = EMPTY_F64;
      this.crcs = EMPTY_U32;
    }
    return this;
  }

  name(i: number): string {
    if (this.pending) return this.pending[i]!;
    return this.packed.slice(i === 0 ? 0 : this.ends[i - 1]!, this.ends[i]!);
  }

  isDir(i: number): boolean {
    return (this.flags[i]! & DIR) !== 0;
  }

  /** The listing key of entry i relative to the directory: the name, plus the delimiter for a directory. */
  key(i: number): string {
    return this.isDir(i) ? `${this.name(i)}/` : this.name(i);
  }

  generation(i: number): string {
    const g = this.generations[i]!;
    return Number.isNaN(g) ? this.oddGenerations!.get(i)! : String(g);
  }

  entry(i: number): PackedEntry {
    const name = this.name(i);
    if (this.isDir(i)) return { name, dir: true, size: 0, mtimeMs: 0 };
    return {
      name, dir: false, size: this.sizes[i]!, mtimeMs: this.mtimes[i]!, generation: this.generation(i),
      ...(this.flags[i]! & HAS_CRC ? { crc32c: crc32cToBase64(this.crcs[i]!) } : {}),
    };
  }

  /** Index of the entry with this key (name, or name + "/" for a directory) at or after `start`, or -1. */
  find(name: string, dir: boolean): number {
    const key = dir ? `${name}/` : name;
    let lo = this.start;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareUtf8(this.key(mid), key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.length && this.isDir(lo) === dir && this.name(lo) === name ? lo : -1;
  }
}

const EMPTY_F64 = new Float64Array(0);
const EMPTY_U32 = new Uint32Array(0);


export interface PackOptions {
  /** The directory's object-name prefix ("" or ending in "/"). */
  prefix: string;
  /** Whether a child name can be shown; others are skipped (and reported). */
  valid: (name: string) => boolean;
  onSkipped?: (objectOrPrefix: string, why: "invalid") => void;
}

/**
 * Packs a delimiter listing page of `prefix`: objects directly in it and
 * the sub-directories, merged in listing-key order. The directory's own
 * placeholder object ("dir/") and names no file can have are left out.
 */
export function packPage(page: ListPage, opts: PackOptions): EntryChunk {
  const { prefix } = opts;
  const objects: ObjectInfo[] = [];
  for (const o of page.objects) {
    const name = o.name.slice(prefix.length);
    if (name === "") continue;
    if (opts.valid(name)) objects.push(o);
    else opts.onSkipped?.(o.name, "invalid");
  }
  const dirs: string[] = [];
  for (const p of page.prefixes) {
    if (opts.valid(p.slice(prefix.length, -1))) dirs.push(p);
    else opts.onSkipped?.(p, "invalid");
  }
  const chunk = new EntryChunk(objects.length + dirs.length);
  let i = 0;
  let o = 0;
  let d = 0;
  while (o < objects.length || d < dirs.length) {
    const takeObject = d >= dirs.length || (o < objects.length && compareUtf8(objects[o]!.name, dirs[d]!) < 0);
    if (takeObject) {
      const obj = objects[o++]!;
      setFile(chunk, i, obj.name.slice(prefix.length), obj);
    } else {
      const p = dirs[d++]!;
      setDir(chunk, i, p.slice(prefix.length, -1));
    }
    i++;
  }
  return chunk.seal();
}

/** Makes entry i the file `name` (an object directly in the directory). */
export function setFile(chunk: EntryChunk, i: number, name: string, obj: ObjectInfo): void {
  chunk.setName(i, name);
  chunk.sizes[i] = obj.size;
  chunk.mtimes[i] = obj.updated.getTime();
  const g = Number(obj.generation);
  if (Number.isSafeInteger(g) && String(g) === obj.generation) chunk.generations[i] = g;
  else {
    chunk.generations[i] = Number.NaN;
    (chunk.oddGenerations ??= new Map()).set(i, obj.generation);
  }
  const crc = obj.crc32c === undefined ? undefined : crc32cFromBase64(obj.crc32c);
  chunk.flags[i] = 0;
  if (crc !== undefined) {
    chunk.crcs[i] = crc;
    chunk.flags[i] = HAS_CRC;
  }
}

/** Makes entry i the sub-directory `name`. */
export function setDir(chunk: EntryChunk, i: number, name: string): void {
  chunk.setName(i, name);
  chunk.flags[i] = DIR;
}
