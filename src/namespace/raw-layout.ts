// The raw layout: object names split on "/" are paths (Imaging Data Commons
// buckets are <series_uuid>/<instance_uuid>.dcm). Directories are listed one
// level at a time with a delimiter, in parallel key ranges (listing/), and
// the listing supplies each child's size and mtime, so `ls -l`/`find` make
// no request per file.
//
// Lookups are answered from the parent's listing when it is cached (or has
// already settled the name, while still arriving); otherwise by a directed
// lookup (object stat + a one-result listing of "name/" in parallel), so
// `cat a/b/c` does not list huge parents. Listings and positive lookups live
// for the metadata TTL, misses for the shorter negative TTL (shells and
// viewers probe many names that don't exist).
import { LRUCache } from "lru-cache";
import { FsError } from "../fs/errors.js";
import type { DirListing } from "../listing/dir-listing.js";
import { compareUtf8 } from "../listing/key-order.js";
import { BACKGROUND, FOREGROUND, ListingCache, type SavedListing } from "../listing/listing-cache.js";
import { defaultListingOptions, type ListingOptions } from "../listing/listing-options.js";
import { Walker } from "../listing/walker.js";
import { NotFoundError } from "../storage/errors.js";
import type { ObjectInfo, ObjectStore } from "../storage/object-store.js";
import type { Clock } from "../util/clock.js";
import { PriorityLimiter } from "../util/limiter.js";
import type { Logger } from "../util/log.js";
import { printable } from "../util/printable.js";
import { ListingDirectory, type Directory } from "./directory.js";
import { isValidName, splitPath, type DirEntry, type Entry, type FileEntry, type ListingStats, type Namespace } from "./namespace.js";

/** Objects in a seed's one page (GCS's most per page): a few series of a few hundred files each. */
const SEED_OBJECTS = 1000;

export interface RawLayoutOptions {
  /** Sub-tree to mount, e.g. "studies/2024/" ("" = whole bucket). */
  prefix: string;
  metadataTtlMs: number;
  negativeTtlMs: number;
  clock: Clock;
  log: Logger;
  /** mtime shown for directories that have no placeholder object. */
  mountTime: Date;
  listing?: Partial<ListingOptions>;
}

export function normalizePrefix(prefix: string | undefined): string {
  const p = (prefix ?? "").replace(/^\/+/, "").replace(/\/+$/, "");
  return p ? `${p}/` : "";
}

export function fileEntry(o: ObjectInfo): FileEntry {
  return {
    kind: "file", size: o.size, mtime: o.updated,
    source: { kind: "object", name: o.name, generation: o.generation, ...(o.crc32c ? { crc32c: o.crc32c } : {}) },
  };
}

export class RawLayout implements Namespace {
  readonly listings: ListingCache;
  private readonly walker: Walker;
  private readonly lookups: LRUCache<string, Entry | "missing">;
  private readonly dirEntry: DirEntry;

  constructor(private readonly store: ObjectStore, private readonly opts: RawLayoutOptions) {
    const l = { ...defaultListingOptions, ...opts.listing };
    this.listings = new ListingCache(store, {
      ttlMs: Math.max(1, opts.metadataTtlMs), entryBudget: l.entryBudget, limiter: new PriorityLimiter(l.concurrency, compareUtf8),
      maxPieces: l.maxPieces, clock: opts.clock, log: opts.log, progressEveryMs: l.progressEveryMs, valid: isValidName,
    });
    this.walker = new Walker(store, this.listings, { aheadEntries: l.walkAheadEntries, log: opts.log, valid: isValidName });
    // ttlResolution 0: ask the (injected) clock every time instead of caching "now" on a timer.
    this.lookups = new LRUCache({ max: 65536, ttl: Math.max(1, opts.metadataTtlMs), perf: { now: () => opts.clock.now() }, ttlResolution: 0 });
    this.dirEntry = { kind: "dir", mtime: opts.mountTime };
  }

  listingStats(): ListingStats {
    return { ...this.listings.stats, cached: this.listings.size };
  }

  /** The object-name prefix of a directory path. */
  private dirPrefix(segments: string[]): string {
    return segments.length ? `${this.opts.prefix}${segments.join("/")}/` : this.opts.prefix;
  }

  private async checkDir(segments: string[], path: string): Promise<void> {
    if (segments.length === 0) return;
    const e = await this.lookup(path);
    if (!e) throw new FsError("ENOENT", `no such directory: ${path}`);
    if (e.kind !== "dir") throw new FsError("ENOTDIR", `not a directory: ${path}`);
  }

  async readdir(path: string): Promise<Directory> {
    const segments = splitPath(path);
    await this.checkDir(segments, path);
    return this.listPrefix(this.dirPrefix(segments));
  }

  async opendir(path: string): Promise<Directory> {
    const segments = splitPath(path);
    await this.checkDir(segments, path);
    return new ListingDirectory(this.listings.list(this.dirPrefix(segments), FOREGROUND), this.dirEntry);
  }

  /** Drops the listing of an object-name prefix. */
  forgetPrefix(prefix: string): void {
    this.listings.invalidate(prefix);
  }

  forget(path: string): void {
    const segments = splitPath(path);
    if (segments.length === 0) return;
    const parent = this.dirPrefix(segments.slice(0, -1));
    this.lookups.delete(parent + segments[segments.length - 1]!);
    this.listings.invalidate(parent);
  }

  freshFor(path: string): number {
    return this.prefixFreshFor(this.dirPrefix(splitPath(path)));
  }

  /** How long the cached listing of an object-name prefix stays fresh, in ms (0 when none is cached). */
  prefixFreshFor(prefix: string): number {
    return this.listings.freshFor(prefix);
  }

  savedListings(maxEntries: number): SavedListing[] {
    return this.listings.saved(maxEntries);
  }

  restoreListings(saved: readonly SavedListing[]): number {
    return this.listings.restore(saved);
  }

  cached(path: string): Directory | undefined {
    const listing = this.listings.peek(this.dirPrefix(splitPath(path)));
    return listing?.isComplete ? new ListingDirectory(listing, this.dirEntry) : undefined;
  }

  /** The complete children of an object-name prefix, without checking that it exists (empty if nothing is there). */
  async listPrefix(prefix: string, background = false): Promise<ListingDirectory> {
    const tier = background ? BACKGROUND : FOREGROUND;
    const pending = this.listings.peek(prefix) ? undefined : this.walker.pending(prefix);
    let listing: DirListing;
    try {
      listing = await (pending ?? this.listings.list(prefix, tier)).whenComplete();
    } catch (err) {
      if (!pending) throw err;
      listing = await this.listings.list(prefix, tier).whenComplete(); // the walk failed; list it alone
    }
    return new ListingDirectory(listing, this.dirEntry);
  }

  walking(path: string, child: string): void {
    this.walkPrefix(this.dirPrefix(splitPath(path)), child);
  }

  /** What walks have listed ahead (for status and tests). */
  get walkStats(): Walker["stats"] {
    return this.walker.stats;
  }

  /**
   * The directory at object-name prefix `prefix` is about to be looked into
   * before anything below it is listed: one flat page of its sub-tree lists
   * the sub-directories it holds whole (Walker.seed), in the same round trip
   * as the directory's own listing.
   */
  seedPrefix(prefix: string): void {
    this.walker.seed(prefix, SEED_OBJECTS);
  }

  /** A walk through the directory at object-name prefix `prefix` reached its sub-directory `child`. */
  walkPrefix(prefix: string, child: string): void {
    this.walker.walk(prefix, child);
  }

  async lookup(path: string): Promise<Entry | undefined> {
    const segments = splitPath(path);
    if (segments.length === 0) return this.dirEntry;
    const name = segments[segments.length - 1]!;
    if (!isValidName(name)) return undefined;
    const parentPrefix = this.dirPrefix(segments.slice(0, -1));
    const listing: DirListing | undefined = this.listings.peek(parentPrefix) ?? this.walker.pending(parentPrefix);
    if (listing && !listing.error) {
      const known = listing.lookup(name);
      if (known !== undefined) return known ? new ListingDirectory(listing, this.dirEntry).toEntry(known) : undefined;
    }

    const objectName = parentPrefix + name;
    const cached = this.lookups.get(objectName);
    if (cached) return cached === "missing" ? undefined : cached;

    // A directory whose own listing is cached and not empty (listed here, or kept from the last
    // mount) is one, whatever else has that name (the directory is shown): no request.
    const own = this.listings.peek(`${objectName}/`);
    if (own?.isComplete && !own.error && own.size > 0) return this.dirEntry;

    // Directed lookup. The parent must exist for the child to; checking it
    // first keeps a miss deep in a missing tree to one cached answer.
    if (segments.length > 1) {
      const parent = await this.lookup(`/${segments.slice(0, -1).join("/")}`);
      if (!parent || parent.kind !== "dir") return undefined;
    }
    const [object, asDir] = await Promise.all([
      this.store.stat(objectName).catch((e: unknown) => {
        if (e instanceof NotFoundError) return undefined;
        throw e;
      }),
      // A whole first page, not one result: it says whether the directory
      // exists, and when it is the whole directory, it is its listing too
      // (cp -r and ls look a directory up, then read it).
      this.store.list({ prefix: `${objectName}/`, delimiter: "/" }),
    ]);
    let entry: Entry | undefined;
    if (asDir.objects.length > 0 || asDir.prefixes.length > 0) {
      this.listings.seed(`${objectName}/`, asDir);
      if (object) this.opts.log.warn(`gs://${this.store.bucket}/${printable(objectName)} is both an object and a prefix; showing the directory`);
      entry = this.dirEntry;
    } else if (object) {
      entry = fileEntry(object);
    }
    if (entry) this.lookups.set(objectName, entry);
    else this.lookups.set(objectName, "missing", { ttl: Math.max(1, this.opts.negativeTtlMs) });
    return entry;
  }
}
