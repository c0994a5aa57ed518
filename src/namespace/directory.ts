// A directory's children as the filesystem core sees them. Positions are
// stable for the life of the Directory object (an open directory pins one),
// which is what readdir offsets need; a listing still arriving hands out
// the positions settled so far.
import type { DirListing } from "../listing/dir-listing.js";
import type { PackedEntry } from "../listing/entry-chunk.js";
import type { DirEntry, Entry } from "./namespace.js";

/** One child as readdir hands it out, with the position after it. */
export interface DirSlot {
  name: string;
  dir: boolean;
  next: number;
  /** The child's entry, made only when asked for (READDIRPLUS): a plain readdir builds none. */
  entry(): Entry;
}

export interface Directory {
  /** Whether every child is known (else the listing is still arriving). */
  readonly complete: boolean;
  /** Visible children (all of them once the listing is complete). */
  readonly size: number;
  /**
   * Up to `max` children at positions >= `from`, waiting until at least one
   * is settled; [] at the end. Rejects if the listing failed.
   */
  read(from: number, max: number): Promise<DirSlot[]>;
  /** The child named `name` (a complete directory), or undefined. */
  get(name: string): Entry | undefined;
  /** Position of a child, or -1. */
  indexOf(name: string): number;
  /** The child at position i, or undefined past the end or where nothing is shown. */
  at(i: number): [string, Entry] | undefined;
  /** Positions settled so far (every position below is either a child or hidden). */
  readonly positions: number;
  /** Children in order. */
  entries(): Iterable<[string, Entry]>;
  /** Up to `max` names of sub-directories, in order (cheaper than entries: no entry is built). */
  dirNames(max: number): string[];
}

/** A complete directory from a Map (the som layout builds these). */
export class MapDirectory implements Directory {
  private readonly names: string[];
  private index?: Map<string, number>;

  readonly complete = true;

  constructor(private readonly children: Map<string, Entry>) {
    this.names = [...children.keys()];
  }

  get size(): number {
    return this.names.length;
  }

  get positions(): number {
    return this.names.length;
  }

  async read(from: number, max: number): Promise<DirSlot[]> {
    const out: DirSlot[] = [];
    for (let i = from; i < this.names.length && out.length < max; i++) {
      const child = this.children.get(this.names[i]!)!;
      out.push({ name: this.names[i]!, dir: child.kind === "dir", next: i + 1, entry: () => child });
    }
    return out;
  }

  get(name: string): Entry | undefined {
    return this.children.get(name);
  }

  indexOf(name: string): number {
    this.index ??= new Map(this.names.map((n, i) => [n, i]));
    return this.index.get(name) ?? -1;
  }

  at(i: number): [string, Entry] | undefined {
    const name = this.names[i];
    return name === undefined ? undefined : [name, this.children.get(name)!];
  }

  entries(): Iterable<[string, Entry]> {
    return this.children.entries();
  }

  dirNames(max: number): string[] {
    const out: string[] = [];
    for (const [name, e] of this.children) {
      if (out.length >= max) break;
      if (e.kind === "dir") out.push(name);
    }
    return out;
  }
}

/** An object listing (raw layout), materializing entries as they are asked for. */
export class ListingDirectory implements Directory {
  constructor(readonly listing: DirListing, private readonly dirEntry: DirEntry) {}

  toEntry(p: PackedEntry): Entry {
    if (p.dir) return this.dirEntry;
    return {
      kind: "file", size: p.size, mtime: new Date(p.mtimeMs),
      source: { kind: "object", name: this.listing.prefix + p.name, generation: p.generation!, ...(p.crc32c ? { crc32c: p.crc32c } : {}) },
    };
  }

  get complete(): boolean {
    return this.listing.isComplete;
  }

  get size(): number {
    return this.listing.size;
  }

  get positions(): number {
    return this.listing.settled;
  }

  async read(from: number, max: number): Promise<DirSlot[]> {
    for (;;) {
      const got = this.listing.readSettled(from, max);
      if (got.length > 0) return got.map((s) => ({ name: s.entry.name, dir: s.entry.dir, next: s.next, entry: () => this.toEntry(s.entry) }));
      if (this.listing.error !== undefined) throw this.listing.error;
      if (this.listing.isComplete) return []; // nothing visible from `from` on
      await this.listing.waitBeyond(this.listing.settled);
    }
  }

  get(name: string): Entry | undefined {
    const p = this.listing.lookup(name);
    return p ? this.toEntry(p) : undefined;
  }

  indexOf(name: string): number {
    return this.listing.positionOf(name);
  }

  at(i: number): [string, Entry] | undefined {
    const p = this.listing.entryAt(i);
    return p ? [p.name, this.toEntry(p)] : undefined;
  }

  *entries(): Iterable<[string, Entry]> {
    for (const p of this.listing.entries()) yield [p.name, this.toEntry(p)];
  }

  dirNames(max: number): string[] {
    return this.listing.dirNames(max);
  }
}
