// One directory's listing: packed chunks in listing-key order, growing while
// the listing runs and fixed once it is complete. A readdir can read the
// settled part while the rest is still arriving (positions are stable: a
// chunk is only ever appended), and lookups binary-search the chunks.
//
// A name that is both an object and a prefix is shown once, as the
// directory. Since "x" sorts before "x/" with other names in between, a
// listing still arriving holds back an object "x" until a key past "x/" has
// been seen (`visibleBefore`), so a streaming readdir never shows both.
import { DIR, HIDDEN, type EntryChunk, type PackedEntry } from "./entry-chunk.js";
import { compareUtf8 } from "./key-order.js";

export class DirListing {
  private readonly chunks: EntryChunk[] = [];
  /** Position of each chunk's first entry. */
  private readonly starts: number[] = [];
  private total = 0;
  /** Listing key (relative) of the last entry delivered so far. */
  private lastKey: string | undefined;
  private done = false;
  private failure: unknown;
  private waiters: (() => void)[] = [];
  /** Hidden (shadowed) files; subtracted from the visible size. */
  private hidden = 0;

  constructor(
    /** The directory's object-name prefix. */
    readonly prefix: string,
    /** Called whenever the entry count grows (the cache accounts for it). */
    private readonly onGrow?: (entries: number) => void,
    /** Called when a directory shadows a file of the same name. */
    private readonly onShadow?: (name: string) => void,
  ) {}

  /** Appends the next page's entries (the first one skipped if it repeats the last delivered). */
  add(chunk: EntryChunk, dropFirst: boolean): void {
    if (dropFirst) chunk.start = 1;
    if (chunk.length <= chunk.start) return;
    for (let i = chunk.start; i < chunk.length; i++) {
      if (!(chunk.flags[i]! & DIR)) continue;
      // A directory shadows a file of the same name, delivered earlier or in this chunk.
      const at = this.findFile(chunk.name(i), chunk, i);
      if (at) {
        at.chunk.flags[at.index] = at.chunk.flags[at.index]! | HIDDEN;
        this.hidden++;
        this.onShadow?.(chunk.name(i));
      }
    }
    this.starts.push(this.total);
    this.chunks.push(chunk);
    this.total += chunk.length;
    this.lastKey = chunk.key(chunk.length - 1);
    this.onGrow?.(chunk.length - chunk.start);
    this.wake();
  }

  /**
   * The file "name" that a directory "name/" at (chunk, i) shadows. Every key
   * between "name" and "name/" starts with "name", so the file, if any, is
   * found walking back over such keys — usually none.
   */
  private findFile(name: string, chunk: EntryChunk, i: number): { chunk: EntryChunk; index: number } | undefined {
    let c = chunk;
    let ci = this.chunks.length; // `chunk` is not appended yet
    let j = i - 1;
    for (;;) {
      if (j < c.start) {
        if (--ci < 0) return undefined;
        c = this.chunks[ci]!;
        j = c.length - 1;
        continue;
      }
      const n = c.name(j);
      if (!n.startsWith(name)) return undefined;
      if (n === name && !c.isDir(j)) return { chunk: c, index: j };
      j--;
    }
  }

  complete(): void {
    this.done = true;
    this.wake();
  }

  fail(err: unknown): void {
    this.failure = err;
    this.done = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  get isComplete(): boolean {
    return this.done && this.failure === undefined;
  }

  get error(): unknown {
    return this.failure;
  }

  /** Positions handed out so far (hidden and dropped entries included). */
  get settled(): number {
    return this.total;
  }

  /** Visible entries (all of them once complete). */
  get size(): number {
    let n = 0;
    for (const c of this.chunks) n += c.length - c.start;
    return n - this.hidden;
  }

  /** Resolves once positions beyond `n` are settled, or the listing has ended (check `error`). */
  waitBeyond(n: number): Promise<void> {
    if (this.total > n || this.done) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Resolves when complete; rejects with the listing's error. */
  async whenComplete(): Promise<this> {
    while (!this.done) await this.waitBeyond(Number.MAX_SAFE_INTEGER);
    if (this.failure !== undefined) throw this.failure;
    return this;
  }

  private locate(pos: number): { chunk: EntryChunk; index: number } {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.starts[mid]! <= pos) lo = mid;
      else hi = mid - 1;
    }
    return { chunk: this.chunks[lo]!, index: pos - this.starts[lo]! };
  }

  /**
   * Visible entries at positions [from, …) that are settled now, at most
   * `max`, each with the position after it. While the listing is still
   * arriving, a file that a later directory might shadow is held back.
   */
  readSettled(from: number, max: number): { entry: PackedEntry; next: number }[] {
    const out: { entry: PackedEntry; next: number }[] = [];
    for (let pos = from; pos < this.total && out.length < max; pos++) {
      const { chunk, index } = this.locate(pos);
      if (index < chunk.start) continue;
      const flags = chunk.flags[index]!;
      if (flags & HIDDEN) continue;
      if (!this.done && !(flags & DIR) && !this.pastDirTwin(chunk.name(index))) break;
      out.push({ entry: chunk.entry(index), next: pos + 1 });
    }
    return out;
  }

  /** Whether a key past "name/" has been delivered (so a directory of that name would be known). */
  private pastDirTwin(name: string): boolean {
    return this.lastKey !== undefined && compareUtf8(this.lastKey, `${name}/`) >= 0;
  }

  /**
   * The entry named `name` if the settled part decides it: the entry, or
   * null when it is certainly absent; undefined when only the rest of the
   * listing can tell.
   */
  lookup(name: string): PackedEntry | null | undefined {
    const dir = this.findEntry(name, true);
    if (dir) return dir.chunk.entry(dir.index);
    if (!this.done && !this.pastDirTwin(name)) return undefined;
    const file = this.findEntry(name, false);
    return file ? file.chunk.entry(file.index) : null;
  }

  /** Where the visible entry with this key is: its chunk, index in it, and position. */
  private findEntry(name: string, dir: boolean): { chunk: EntryChunk; index: number; pos: number } | undefined {
    const key = dir ? `${name}/` : name;
    // The chunk whose key span holds `key`: the last one starting at or below it.
    let lo = 0;
    let hi = this.chunks.length - 1;
    if (hi < 0) return undefined;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      const c = this.chunks[mid]!;
      if (compareUtf8(c.key(c.start), key) <= 0) lo = mid;
      else hi = mid - 1;
    }
    const chunk = this.chunks[lo]!;
    const index = chunk.find(name, dir);
    if (index < 0 || chunk.flags[index]! & HIDDEN) return undefined;
    return { chunk, index, pos: this.starts[lo]! + index };
  }

  /** Position of the visible entry `name` (directory first), or -1. */
  positionOf(name: string): number {
    return (this.findEntry(name, true) ?? this.findEntry(name, false))?.pos ?? -1;
  }

  /** The visible entry at a settled position, or undefined. */
  entryAt(pos: number): PackedEntry | undefined {
    if (pos < 0 || pos >= this.total) return undefined;
    const { chunk, index } = this.locate(pos);
    if (index < chunk.start || chunk.flags[index]! & HIDDEN) return undefined;
    return chunk.entry(index);
  }

  /** Up to `max` visible sub-directory names in listing order, building no entry (a flat directory of 120,000 files is one pass over a flags array). */
  dirNames(max: number): string[] {
    const out: string[] = [];
    for (const chunk of this.chunks) {
      for (let i = chunk.start; i < chunk.length && out.length < max; i++) {
        const f = chunk.flags[i]!;
        if (f & DIR && !(f & HIDDEN)) out.push(chunk.name(i));
      }
    }
    return out;
  }

  /** Every visible entry in listing order (complete listings). */
  *entries(): Generator<PackedEntry> {
    for (const chunk of this.chunks) {
      for (let i = chunk.start; i < chunk.length; i++) if (!(chunk.flags[i]! & HIDDEN)) yield chunk.entry(i);
    }
  }

  /** Entries counted against the cache's budget. */
  get cost(): number {
    return this.total;
  }
}
