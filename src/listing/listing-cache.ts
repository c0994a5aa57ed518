// Directory listings by object-name prefix, shared by everything that lists
// (readdir, lookups, prefetch, walks): one listing per prefix at a time,
// kept for the metadata TTL, within an entry budget.
//
// The budget counts entries across all cached listings, least recently used
// evicted first, so walking many big directories never holds more than it.
// A listing still arriving is never evicted, nor the one just used: a
// directory larger than the whole budget is still kept while it is in use
// (`ls -l` of it looks every entry up in it), at the cost of everything else.
//
// A listing has no overall deadline: it fails only when one of its requests
// fails after the store's retries, i.e. when it stops making progress. One
// that runs long says how far it got every few seconds.
import type { ListPage, ObjectStore } from "../storage/object-store.js";
import type { Clock } from "../util/clock.js";
import type { PriorityLimiter } from "../util/limiter.js";
import type { Logger } from "../util/log.js";
import { printable } from "../util/printable.js";
import { DirListing } from "./dir-listing.js";
import { packPage, type EntryChunk, type PackedEntry } from "./entry-chunk.js";
import { compareUtf8 } from "./key-order.js";
import { listOrdered } from "./parallel-lister.js";

export interface ListingCacheOptions {
  ttlMs: number;
  /** Entries kept across all cached listings. */
  entryBudget: number;
  limiter: PriorityLimiter;
  /** Most pieces a range is split into at once. */
  maxPieces: number;
  clock: Clock;
  log: Logger;
  /** How often a long listing reports its progress. */
  progressEveryMs: number;
  /** Whether a child name can be shown. */
  valid: (name: string) => boolean;
}

interface Slot {
  listing: DirListing;
  /** When it stops being fresh; Infinity while it is still arriving. */
  expires: number;
  /** `uses` when it was last moved to the recent end. */
  touched: number;
}

/** A complete listing as kept across a remount (listing-snapshot.ts): how old it is, and its entries in order. */
export interface SavedListing {
  prefix: string;
  ageMs: number;
  entries: PackedEntry[];
}

/** Priority tiers of list requests. */
export const FOREGROUND = 0;
export const BACKGROUND = 1;

export class ListingCache {
  /** INVARIANT: Map order is recency, least recent first. */
  private readonly slots = new Map<string, Slot>();
  private entries = 0;
  private seq = 0;
  /** Counts peeks: recency is tracked coarsely (see peek). */
  private uses = 0;
  /** listed: entries of listings completed (with listings, the mean directory size). */
  readonly stats = { listings: 0, requests: 0, evicted: 0, listed: 0 };

  constructor(private readonly store: ObjectStore, private readonly opts: ListingCacheOptions) {}

  /** The limiter all list requests of this mount go through (walks share it). */
  get limiter(): PriorityLimiter {
    return this.opts.limiter;
  }

  get maxPieces(): number {
    return this.opts.maxPieces;
  }

  /** A new listing's place in the request queue. */
  nextSeq(): number {
    return this.seq++;
  }

  /** Entries held now. */
  get size(): number {
    return this.entries;
  }

  /** The cached listing of `prefix` (complete or still arriving), if fresh. */
  peek(prefix: string): DirListing | undefined {
    const slot = this.slots.get(prefix);
    if (!slot) return undefined;
    if (this.opts.clock.now() >= slot.expires) {
      this.drop(prefix, slot);
      return undefined;
    }
    // Moved to the recent end only when it has fallen back a quarter of the
    // way: a walk peeks the same few listings thousands of times.
    if (++this.uses - slot.touched > this.slots.size / 4) {
      slot.touched = this.uses;
      this.slots.delete(prefix);
      this.slots.set(prefix, slot);
    }
    return slot.listing;
  }

  /** How long the complete listing of `prefix` stays fresh, in ms (0 when none is cached). */
  freshFor(prefix: string): number {
    const slot = this.slots.get(prefix);
    if (!slot || !slot.listing.isComplete) return 0;
    return Math.max(0, slot.expires - this.opts.clock.now());
  }

  /** The listing of `prefix`: cached, arriving, or started now (`tier` orders its requests). */
  list(prefix: string, tier = FOREGROUND): DirListing {
    const cached = this.peek(prefix);
    if (cached && !cached.error) return cached;
    const listing = this.newListing(prefix, true);
    const slot: Slot = { listing, expires: Number.POSITIVE_INFINITY, touched: ++this.uses };
    this.slots.set(prefix, slot);
    this.stats.listings++;
    void this.fill(prefix, listing, tier).then(
      () => {
        listing.complete();
        this.stats.listed += listing.size;
        slot.expires = this.opts.clock.now() + this.opts.ttlMs;
        this.evict(prefix);
      },
      (err: unknown) => {
        listing.fail(err);
        if (this.slots.get(prefix) === slot) this.drop(prefix, slot);
      },
    );
    return listing;
  }

  /**
   * A directory's whole listing from one page fetched elsewhere (a lookup
   * that asked for the directory's first page to learn it exists): kept as
   * if listed here, so the readdir that usually follows a lookup costs no
   * request. Ignored when the page is not the whole directory or a listing
   * is already cached or arriving. The page must be the first of
   * `{ prefix, delimiter: "/" }`.
   */
  seed(prefix: string, page: ListPage): boolean {
    if (page.nextPageToken !== undefined || this.peek(prefix)) return false;
    const listing = this.adopt(prefix, page, this.opts.ttlMs);
    this.stats.listings++;
    this.stats.listed += listing.size;
    return true;
  }

  /** Caches a whole directory given as one list page, fresh for `ttlMs`. */
  private adopt(prefix: string, page: ListPage, ttlMs: number): DirListing {
    const listing = this.newListing(prefix, false); // put() counts its entries
    listing.add(this.pack(prefix, page), false);
    listing.complete();
    this.put(prefix, listing, ttlMs);
    return listing;
  }

  /** Adds a listing built elsewhere (a walk), replacing what was there unless it is still arriving; fresh for `ttlMs`. */
  put(prefix: string, listing: DirListing, ttlMs = this.opts.ttlMs): void {
    const old = this.slots.get(prefix);
    if (old && !old.listing.isComplete && !old.listing.error) return;
    if (old) this.drop(prefix, old);
    this.slots.set(prefix, { listing, expires: this.opts.clock.now() + ttlMs, touched: ++this.uses });
    this.entries += listing.cost;
    this.evict(prefix);
  }

  /**
   * The complete listings still fresh, most recently used first, while they
   * come to at most `maxEntries` entries in all (a bigger one is passed
   * over): what a remount may take on (restore).
   */
  saved(maxEntries: number): SavedListing[] {
    const out: SavedListing[] = [];
    let left = maxEntries;
    const now = this.opts.clock.now();
    for (const [prefix, slot] of [...this.slots].reverse()) {
      const { listing } = slot;
      if (!listing.isComplete || listing.error || slot.expires <= now || listing.size > left) continue;
      left -= listing.size;
      out.push({ prefix, ageMs: this.opts.ttlMs - (slot.expires - now), entries: listing.readSettled(0, listing.size).map((r) => r.entry) });
    }
    return out;
  }

  /**
   * Takes on listings an earlier daemon saved, each trusted for what is left
   * of the TTL after its age (so a listing is never trusted longer after it
   * was fetched than one of this daemon's own); names are checked again as
   * if listed. Skips what is cached already. Returns how many it took.
   */
  restore(saved: readonly SavedListing[]): number {
    let took = 0;
    for (const s of [...saved].reverse()) { // the most recently used last, as the most recent
      const left = this.opts.ttlMs - s.ageMs;
      if (s.ageMs < 0 || left <= 0 || this.slots.has(s.prefix)) continue;
      const page: ListPage = { objects: [], prefixes: [] };
      for (const e of s.entries) {
        if (e.dir) page.prefixes.push(`${s.prefix}${e.name}/`);
        else {
          page.objects.push({
            name: s.prefix + e.name, size: e.size, generation: e.generation ?? "0", updated: new Date(e.mtimeMs),
            ...(e.crc32c !== undefined ? { crc32c: e.crc32c } : {}),
          });
        }
      }
      // In key order, as a list page is (a file edited by hand is not trusted to be).
      page.objects.sort((x, y) => compareUtf8(x.name, y.name));
      page.prefixes.sort(compareUtf8);
      this.adopt(s.prefix, page, left);
      took++;
    }
    return took;
  }

  /** `counted`: entries are added to the budget as they arrive. */
  private newListing(prefix: string, counted: boolean): DirListing {
    return new DirListing(prefix, counted ? (n) => this.grew(n) : undefined, (name) => this.opts.log.warn(
      `gs://${this.store.bucket}/${printable(prefix + name)} is both an object and a prefix; showing the directory`));
  }

  private pack(prefix: string, page: ListPage): EntryChunk {
    return packPage(page, {
      prefix, valid: this.opts.valid,
      onSkipped: (name) => this.opts.log.debug(`skipping ${printable(name)}: a name no file or directory can have`),
    });
  }

  /** Forgets a listing (its directory changed under us). */
  invalidate(prefix: string): void {
    const slot = this.slots.get(prefix);
    if (slot && (slot.listing.isComplete || slot.listing.error)) this.drop(prefix, slot);
  }

  private drop(prefix: string, slot: Slot): void {
    this.slots.delete(prefix);
    this.entries -= slot.listing.cost;
  }

  private grew(n: number): void {
    this.entries += n;
  }

  /** Evicts least recently used complete listings until within budget, keeping `keep`. */
  private evict(keep: string): void {
    if (this.entries <= this.opts.entryBudget) return;
    for (const [prefix, slot] of this.slots) {
      if (this.entries <= this.opts.entryBudget) break;
      if (prefix === keep || !slot.listing.isComplete) continue;
      this.drop(prefix, slot);
      this.stats.evicted++;
    }
  }

  private async fill(prefix: string, listing: DirListing, tier: number): Promise<void> {
    const { log, clock } = this.opts;
    const where = `gs://${this.store.bucket}/${printable(prefix)}`;
    const began = clock.now();
    let lastReport = began;
    let entries = 0;
    let requests = 0;
    await listOrdered(this.store, { prefix, delimiter: "/" }, {
      limiter: this.opts.limiter, tier, seq: this.nextSeq(), maxPieces: this.opts.maxPieces, pageSize: 1000,
      onProgress: (n, r) => {
        entries = n;
        requests = r;
        const now = clock.now();
        if (now - lastReport >= this.opts.progressEveryMs) {
          lastReport = now;
          log.info(`listing ${where}: ${entries.toLocaleString("en-US")} entries so far (${((now - began) / 1000).toFixed(1)} s, ${requests} requests)`);
        }
      },
    }, (page) => this.pack(prefix, page), (chunk, dropFirst) => listing.add(chunk, dropFirst));
    this.stats.requests += requests;
    const took = clock.now() - began;
    if (took >= this.opts.progressEveryMs) {
      log.info(`listed ${where}: ${listing.size.toLocaleString("en-US")} entries in ${(took / 1000).toFixed(1)} s (${requests} requests)`);
    }
  }

  /** Prefixes cached now under `parent` whose listings are complete (for tests and status). */
  cachedUnder(parent: string): string[] {
    return [...this.slots.keys()].filter((p) => p.startsWith(parent)).sort(compareUtf8);
  }
}
