// Recursive walks (find, du, rsync -a, cp -r) read a directory's
// sub-directories one after another, each one listing at a time: thousands
// of round trips for an Imaging Data Commons root. Once a walk is seen
// (sub-directories listed in order), the rest of the sub-tree is listed flat
// — no delimiter, in parallel key ranges (parallel-lister.ts) — and every
// directory in it gets its listing from that one pass, before the walker
// asks for it.
//
// The pass goes in windows of sibling directories, each the key range from
// one sub-directory to a later one, so it stays ahead of the walker by a
// bounded number of entries (memory) rather than running to the end of a
// bucket nobody is reading. A directory in a window still being listed is
// `pending`: a readdir of it waits for the window instead of listing it
// again. Objects directly in the walked directory are already in its own
// listing and are skipped.
//
// A seed is the same pass cut to one page, for a directory about to be looked
// into before anything below it is listed (cp -r C/E or cd C/E on a cold som
// mount): its first page of objects, flat, lists every sub-directory the page
// holds whole, so the next level's lookup and readdir wait for that request,
// already in flight, instead of making one of their own — a path two levels
// down costs one round trip, not two.
import type { ObjectInfo, ObjectStore } from "../storage/object-store.js";
import type { Logger } from "../util/log.js";
import { printable } from "../util/printable.js";
import { DirListing } from "./dir-listing.js";
import { EntryChunk, setDir, setFile } from "./entry-chunk.js";
import { compareUtf8, prefixEnd } from "./key-order.js";
import { FOREGROUND, type ListingCache } from "./listing-cache.js";
import { listOrdered } from "./parallel-lister.js";

/** Listed siblings ahead of the walker whose own sub-directories are walked ahead too. */
const DESCEND_SIBLINGS = 16;
/** Levels below the walked directory that are walked ahead that way. */
const MAX_DESCENT = 2;

export interface WalkerOptions {
  /** Entries listed ahead of the walker at most. */
  aheadEntries: number;
  log: Logger;
  valid: (name: string) => boolean;
}

/** One directory's entries as the flat pass finds them, in key order. */
class DirBuilder {
  readonly entries: { name: string; dir: boolean; file?: ObjectInfo }[] = [];
  constructor(readonly prefix: string) {}
}

interface Window {
  /** Key range of the pass: [start, end). */
  start: string;
  end: string | undefined;
  /** Positions in the parent listing it covers: [from, nextFrom). */
  from: number;
  nextFrom: number;
  /** The last object key the pass has delivered. */
  reached: string;
  /** Listings handed out before their directory was reached, by prefix. */
  placeholders: Map<string, DirListing>;
  done: boolean;
  entries: number;
  /** A seed: one page of at most this many objects, not the whole range. */
  limit?: number;
}

interface Walk {
  parent: DirListing;
  windows: Window[];
  /** Entries per sub-directory seen so far (to size the next window). */
  perDir: number;
  /** Position the walker has reached in the parent listing. */
  at: number;
}

export class Walker {
  private readonly walks = new Map<string, Walk>();
  /** Seeds under way, by the prefix they list below (see seed). */
  private readonly seeds = new Map<string, Window>();
  readonly stats = { windows: 0, entries: 0, directories: 0, seeds: 0 };

  constructor(private readonly store: ObjectStore, private readonly cache: ListingCache, private readonly opts: WalkerOptions) {}

  /** Walks being followed now (for status and tests). */
  get active(): number {
    let n = 0;
    for (const w of this.walks.values()) n += w.windows.filter((x) => !x.done).length;
    return n;
  }

  /** A walk through `prefix` has reached its sub-directory `child`. */
  walk(prefix: string, child: string): void {
    const parent = this.cache.peek(prefix);
    if (!parent?.isComplete) return;
    const pos = parent.positionOf(child);
    if (pos < 0) return;
    let w = this.walks.get(prefix);
    if (!w || w.parent !== parent) {
      w = { parent, windows: [], perDir: this.sizeOfListed(prefix, parent, pos), at: pos };
      this.remember(prefix, w);
    }
    w.at = Math.max(w.at, pos);
    const last = w.windows[w.windows.length - 1];
    // The next window starts once the walker is into the second half of the last one.
    if (last && w.at < (last.from + last.nextFrom) / 2) return;
    this.startWindow(prefix, w, Math.max(last ? last.nextFrom : 0, pos + 1));
  }

  /** Entries per sub-directory among the few before `pos` already listed (at least 1). */
  private sizeOfListed(prefix: string, parent: DirListing, pos: number): number {
    let dirs = 0;
    let entries = 0;
    for (let i = pos; i >= 0 && dirs < 8; i--) {
      const e = parent.entryAt(i);
      const l = e?.dir ? this.cache.peek(`${prefix}${e.name}/`) : undefined;
      if (!l?.isComplete) continue;
      dirs++;
      entries += l.settled + 1;
    }
    return dirs > 0 ? entries / dirs : 1;
  }

  /**
   * Lists one page of the sub-tree below `prefix`, flat, at most `maxObjects`
   * objects (see the top of this file); each sub-directory the page holds
   * whole gets its listing from it. Nothing if one is under way already.
   */
  seed(prefix: string, maxObjects: number): void {
    if (this.seeds.has(prefix)) return;
    const win: Window = {
      start: prefix, end: prefixEnd(prefix), from: 0, nextFrom: 0, reached: "", placeholders: new Map(), done: false, entries: 0, limit: maxObjects,
    };
    this.seeds.set(prefix, win);
    this.stats.seeds++;
    void this.fill(prefix, win)
      .catch((err: unknown) => this.opts.log.debug(`first page below ${printable(prefix)}: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => this.seeds.delete(prefix)); // once done it covers nothing: what it found is cached
  }

  /** The listing of `prefix` if a window (or seed) is filling it, else undefined. */
  pending(prefix: string): DirListing | undefined {
    for (const w of this.walks.values()) {
      for (const win of w.windows) {
        const l = this.placeholder(win, prefix);
        if (l !== null) return l;
      }
    }
    for (const [below, win] of this.seeds) {
      // Not the seeded directory itself: its own listing is its own (the seed skips what is directly in it).
      if (prefix === below) continue;
      const l = this.placeholder(win, prefix);
      if (l !== null) return l;
    }
    return undefined;
  }

  /** Where `prefix` stands in `win`: null if the window does not cover it; undefined if the pass is past it; else its listing to come. */
  private placeholder(win: Window, prefix: string): DirListing | undefined | null {
    if (win.done || compareUtf8(prefix, win.start) < 0 || (win.end !== undefined && compareUtf8(prefix, win.end) >= 0)) return null;
    // Already passed: what the pass found there is cached (or there was nothing).
    const end = prefixEnd(prefix);
    if (end === undefined || compareUtf8(win.reached, end) >= 0) return undefined;
    let l = win.placeholders.get(prefix);
    if (!l) {
      l = new DirListing(prefix);
      win.placeholders.set(prefix, l);
    }
    return l;
  }

  private startWindow(prefix: string, w: Walk, from: number, depth = 0): void {
    // The first sub-directory at or after `from` not listed already. Those
    // listed already (a small fan-out lists its children as soon as it is
    // read) are no reason to stop: the walk goes on below them.
    let first = from;
    let descended = 0;
    for (; first < w.parent.settled; first++) {
      const e = w.parent.entryAt(first);
      if (!e?.dir) continue;
      const listed = this.cache.peek(`${prefix}${e.name}/`);
      if (!listed) break;
      if (descended++ < DESCEND_SIBLINGS) this.descend(listed, depth + 1);
    }
    if (first >= w.parent.settled) return;
    const want = Math.max(16, Math.floor(this.opts.aheadEntries / 2 / Math.max(1, w.perDir)));
    let end = first;
    let dirs = 0;
    for (; end < w.parent.settled && dirs < want; end++) if (w.parent.entryAt(end)?.dir) dirs++;
    const startName = w.parent.entryAt(first)!.name;
    const endEntry = end < w.parent.settled ? w.parent.entryAt(end) : undefined;
    const win: Window = {
      start: `${prefix}${startName}/`,
      // Up to the next window's first sub-directory, or the end of the walked directory.
      end: endEntry ? `${prefix}${endEntry.name}${endEntry.dir ? "/" : ""}` : prefixEnd(prefix),
      from: first, nextFrom: end, reached: "", placeholders: new Map(), done: false, entries: 0,
    };
    w.windows.push(win);
    if (w.windows.length > 4) w.windows.shift();
    this.stats.windows++;
    void this.fill(prefix, win).then(
      () => {
        w.perDir = Math.max(1, win.entries / Math.max(1, dirs));
      },
      (err: unknown) => this.opts.log.debug(`walk listing of ${printable(win.start)}…: ${err instanceof Error ? err.message : String(err)}`),
    );
  }

  /**
   * A sibling the walker will reach, listed already by someone else: once its
   * listing is in, walk ahead into its own sub-directories, from the first
   * one not listed (one flat pass for all of them), so the walker never
   * waits one round trip per level below it.
   */
  private descend(listing: DirListing, depth: number): void {
    if (depth > MAX_DESCENT) return;
    const prefix = listing.prefix;
    listing.whenComplete().then(() => {
      if (this.walks.has(prefix)) return; // walked into already: that walk is ahead of it
      for (let i = 0; i < listing.settled; i++) {
        if (!listing.entryAt(i)?.dir) continue;
        const w: Walk = { parent: listing, windows: [], perDir: this.sizeOfListed(prefix, listing, i), at: i };
        this.remember(prefix, w);
        this.startWindow(prefix, w, i, depth);
        return;
      }
    }, () => undefined);
  }

  private remember(prefix: string, w: Walk): void {
    this.walks.set(prefix, w);
    if (this.walks.size > 64) this.walks.delete(this.walks.keys().next().value!);
  }

  private async fill(prefix: string, win: Window): Promise<void> {
    const open: DirBuilder[] = [];
    const finish = (b: DirBuilder): void => {
      const chunk = new EntryChunk(b.entries.length);
      b.entries.forEach((e, i) => (e.dir ? setDir(chunk, i, e.name) : setFile(chunk, i, e.name, e.file!)));
      chunk.seal();
      const listing = win.placeholders.get(b.prefix) ?? new DirListing(b.prefix);
      win.placeholders.delete(b.prefix);
      listing.add(chunk, false);
      listing.complete();
      this.cache.put(b.prefix, listing);
      this.stats.directories++;
    };
    const add = (o: ObjectInfo): void => {
      const rel = o.name.slice(prefix.length);
      const parts = rel.split("/");
      if (parts.length < 2) return; // directly in the walked directory: in its own listing
      const placeholder = parts[parts.length - 1] === "";
      const dirs = parts.slice(0, -1);
      if (dirs.some((d) => !this.opts.valid(d))) return;
      // Close the directories this object is not in; open the ones it is.
      let depth = 0;
      let p = prefix;
      for (; depth < dirs.length; depth++) {
        p += `${dirs[depth]}/`;
        if (open[depth]?.prefix !== p) break;
      }
      while (open.length > depth) finish(open.pop()!);
      for (; depth < dirs.length; depth++) {
        const b = new DirBuilder(open.length === 0 ? `${prefix}${dirs[0]}/` : `${open[open.length - 1]!.prefix}${dirs[depth]}/`);
        open[open.length - 1]?.entries.push({ name: dirs[depth]!, dir: true });
        open.push(b);
      }
      if (!placeholder && this.opts.valid(parts[parts.length - 1]!)) {
        open[open.length - 1]!.entries.push({ name: parts[parts.length - 1]!, dir: false, file: o });
      }
    };
    const deliver = (objects: ObjectInfo[], dropFirst: boolean): void => {
      for (let i = dropFirst ? 1 : 0; i < objects.length; i++) add(objects[i]!);
      if (objects.length > 0) win.reached = objects[objects.length - 1]!.name;
      win.entries += objects.length;
      this.stats.entries += objects.length;
    };
    try {
      let whole = true;
      if (win.limit !== undefined) {
        const priority = { tier: FOREGROUND, seq: this.cache.nextSeq(), key: prefix };
        const page = await this.cache.limiter.run(priority, () => this.store.list({ prefix, maxResults: win.limit! }));
        deliver(page.objects, false);
        whole = page.nextPageToken === undefined;
      } else {
        await listOrdered(this.store, { prefix, startOffset: win.start, ...(win.end !== undefined ? { endOffset: win.end } : {}) }, {
          limiter: this.cache.limiter, tier: FOREGROUND, seq: this.cache.nextSeq(), maxPieces: this.cache.maxPieces, pageSize: 1000,
        }, (page) => page.objects, deliver);
      }
      // A page that ends inside a directory (and its parents) leaves them unlisted: they are listed alone.
      if (whole) while (open.length > 0) finish(open.pop()!);
      const notReached = new Error("past the first page of its sub-tree");
      for (const [p, l] of win.placeholders) {
        const end = prefixEnd(p);
        if (!whole && (end === undefined || compareUtf8(win.reached, end) < 0)) {
          l.fail(notReached);
          continue;
        }
        // Directories asked for that the pass found nothing in are empty.
        l.complete();
        this.cache.put(p, l);
      }
    } catch (err) {
      for (const l of win.placeholders.values()) l.fail(err);
      throw err;
    } finally {
      win.placeholders.clear();
      win.done = true;
    }
  }
}
