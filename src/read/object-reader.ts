// Read planning for one object generation, over three tiers: memory (the
// block cache, bounded by --cache-size), disk (--cache-dir, optional), and
// the network.
//
// Small objects (<= wholeObjectLimit) come in one request and are verified
// against their CRC32C before anything is served. Larger ones are cached in
// pages (256 KiB) and fetched by ranged requests sized to the access
// pattern: a read fetches the pages it touches, as one request per run of
// missing pages — so a random 256 KiB tile read costs one 256 KiB request,
// not a 4 MiB block — while read-ahead for a sequential reader fetches long
// runs (up to maxRequest) several at a time. Every page is keyed by name +
// generation, and concurrent readers of a page share one request.
//
// Pages fetched ahead of readers (read-ahead, series prefetch) go through a
// queue with its own concurrency limit, never delay a reader's own request,
// and stop when the prefetched bytes nobody has read yet would exceed the
// budget: prefetching lives inside --cache-size.
//
// The disk tier holds extents (maxRequest-aligned runs of a big object, or
// a whole small one): whatever is fetched as a whole extent — read-ahead,
// series prefetch, a small object — is offered to it, and a page is read
// back as a range of its extent. A file read at random is filled in the
// background: fetched whole, extent by extent, streamed straight to disk
// (not through memory), on a queue of its own with a share of the
// connections, so foreground reads come first. Random tiles then come from
// local disk.
import { blockKey, type BlockCache } from "../cache/block-cache.js";
import type { DiskCache } from "../cache/disk/disk-cache.js";
import { PageBuffers } from "../cache/disk/page-buffers.js";
import { FsError } from "../fs/errors.js";
import type { ObjectSource } from "../namespace/namespace.js";
import { Chunks, copyBytes, partsOf, sliceBytes, sliceView, type Bytes } from "../storage/bytes.js";
import { NotFoundError } from "../storage/errors.js";
import type { ObjectStore, RestartableStreamer } from "../storage/object-store.js";
import type { Logger } from "../util/log.js";
import type { PageRecycler } from "./page-recycler.js";
import { streamedRun, type RunPages } from "./streamed-run.js";

export interface ObjectReaderOptions {
  /** Objects up to this size are fetched whole and verified. */
  wholeObjectLimit: number;
  /** Cache unit of larger objects, and the alignment of their ranged requests. */
  pageSize: number;
  /** Longest ranged request (read-ahead and fill use such runs). */
  maxRequest: number;
  /** Prefetch requests in flight at most (a reader's own requests are not limited). */
  prefetchConcurrency: number;
  /** Prefetched bytes not yet read (cached or in flight) allowed at once. */
  prefetchBudget: number;
  /** Prefetch bytes being downloaded at once (memory outside the cache). */
  prefetchInFlightBytes: number;
}

export interface FillOptions {
  /** Objects up to this size are filled whole when read at random. */
  maxObjectBytes: number;
  /** Fill requests in flight at once: a share of the connections. */
  concurrency: number;
}

/**
 * 56 prefetches in flight, of the 64 connections (the rest keep a reader's
 * own requests and listings from queueing behind them): reading a series is
 * bound by per-request latency; on the bench series (0.5 MB files, 30 ms per
 * request) 48 beat 24 by ~20%, and 56 beat 48 by ~6% (cold cp -r, medians of
 * 6 interleaved runs: 0.58 against 0.62 s).
 */
export const defaultReaderOptions: Omit<ObjectReaderOptions, "prefetchBudget"> = {
  wholeObjectLimit: 8 * 2 ** 20, pageSize: 256 * 2 ** 10, maxRequest: 8 * 2 ** 20, prefetchConcurrency: 56, prefetchInFlightBytes: 128 * 2 ** 20,
};

/**
 * 16 fill requests: the fill streams to disk (no memory per request), and on
 * a cold 1 GiB slide at 30 ms per request it finishes ~40% sooner than 8.
 */
export const defaultFillOptions: FillOptions = { maxObjectBytes: 64 * 2 ** 30, concurrency: 16 };

/** The disk tier as the reader uses it: the cache, the streaming reads that fill it, and the fill's limits. */
export interface DiskTier {
  cache: DiskCache;
  streamer: RestartableStreamer;
  fill: FillOptions;
  /**
   * Whether the kernel reads the tier's files of whole objects itself
   * (FUSE passthrough): then a series read ahead only has them checked,
   * ready to back a handle, instead of loaded into memory.
   */
  backs?: () => boolean;
}

export interface ReadTarget extends ObjectSource {
  size: number;
}

/** A run of pages [first, last] of one object, or the whole of a small one. */
interface Run {
  t: ReadTarget;
  first: number;
  last: number;
  /** Requests to fetch it in, in parallel (a reader's first read-ahead: see readAhead). */
  pieces?: number;
}

/** Pages read from the disk tier kept in reused buffers (8 MiB of 256 KiB pages). */
const DISK_PAGE_BUFFERS = 32;
/** Blocks remembered for the disk tier at most (their bytes stay in the memory cache, not here). */
const MAX_UNOFFERED = 4096;

export class ObjectReader {
  private readonly inflight = new Map<string, Promise<Bytes>>();
  private readonly queue: { key: string; bytes: number; start: () => void }[] = [];
  private readonly queued = new Set<string>();
  private running = 0;
  /** Bytes of prefetches queued or downloading (counted against the budget). */
  private prefetchPending = 0;
  /** Bytes of prefetches downloading now. */
  private downloading = 0;
  /** Objects being filled to disk, by generation + name. */
  private readonly filling = new Set<string>();
  private readonly fillQueue: (() => Promise<void>)[] = [];
  private fillRunning = 0;
  /** Extents found bad on disk and being fetched again, by extent key. */
  private readonly refetching = new Map<string, Promise<Bytes>[]>();
  /** Blocks the disk tier had no room for yet, with how to find their bytes again (see toDisk). */
  private readonly unoffered = new Map<string, { parts: () => Buffer[] | undefined; written: (() => void) | undefined }>();
  private reoffering: Promise<void> | undefined;
  readonly stats = { requests: 0, requestBytes: 0, fillRequests: 0, fillBytes: 0, diskHits: 0 };

  private readonly disk?: DiskCache;
  private readonly diskPages?: PageBuffers;
  private readonly fillOpts: FillOptions;
  private readonly recycler?: PageRecycler;

  constructor(
    private readonly store: ObjectStore,
    private readonly cache: BlockCache,
    private readonly opts: ObjectReaderOptions,
    private readonly log?: Logger,
    private readonly tier?: DiskTier,
    /** Ranged requests of several pages hand out each page as it arrives (see streamRun); without, when all have. */
    private readonly pageStreamer?: RestartableStreamer,
    /**
     * Takes back the memory of streamed pages the cache drops. Not with a
     * disk tier: its writer holds the pages of a run until they are on disk.
     */
    recycler?: PageRecycler,
  ) {
    if (tier) {
      this.disk = tier.cache;
      this.diskPages = new PageBuffers(opts.pageSize, DISK_PAGE_BUFFERS);
    } else if (recycler && pageStreamer) {
      this.recycler = recycler;
      // A page still in flight may be joined by a reader after the cache dropped it: not taken back.
      cache.recycle = (key, block) => !this.inflight.has(key) && recycler.dropped(block);
    }
    this.fillOpts = tier?.fill ?? defaultFillOptions;
  }

  /** Whether an object is read whole (one verified request) rather than in pages. */
  isWhole(t: ReadTarget): boolean {
    return t.size <= this.opts.wholeObjectLimit;
  }

  /**
   * All of a small object when the memory cache holds it (a lookup that
   * counts as a read of it); undefined otherwise.
   */
  wholeInMemory(t: ReadTarget): Buffer[] | undefined {
    if (!this.isWhole(t)) return undefined;
    const b = this.cache.get(this.key(t, "all"));
    return b && b.length === t.size ? partsOf(b) : undefined;
  }

  /**
   * A small object's bytes once its fetch in flight lands (undefined if
   * none is, or it failed), without counting a read: for registering it
   * with the binding ahead of its open (fuse/resident-paths.ts).
   */
  async landed(t: ReadTarget): Promise<{ key: string; parts: Buffer[] } | undefined> {
    if (!this.isWhole(t)) return undefined;
    const key = this.key(t, "all");
    const fly = this.inflight.get(key);
    const b = fly ? await fly.catch(() => undefined) : this.cache.peek(key);
    return b && b.length === t.size && this.cache.has(key) ? { key, parts: partsOf(b) } : undefined;
  }

  /**
   * The descriptor of a small object's disk-tier file, for the kernel to
   * read itself (passthrough), when prepareBacking had it checked whole and
   * the file is unchanged since (DiskCache.verifiedFd); undefined otherwise.
   * Valid until the caller's synchronous code ends. `read`: counted as a
   * read of the tier (an open), not a registration ahead of one.
   */
  backingFd(t: ReadTarget, read = true): number | undefined {
    if (!this.canBack(t)) return undefined;
    const fd = this.disk!.verifiedFd(this.key(t, "all"), t.size, read);
    if (fd !== undefined && read) this.stats.diskHits++;
    return fd;
  }

  /**
   * Has the disk tier's file of a small object checked whole (on its own
   * thread, not read in here), so that backingFd can hand it over: whether
   * it can. `urgent`: an open waits on it.
   */
  prepareBacking(t: ReadTarget, urgent: boolean): Promise<boolean> {
    if (!this.canBack(t)) return Promise.resolve(false);
    return this.disk!.verify(this.key(t, "all"), t.size, urgent).catch((err: unknown) => {
      this.log?.debug(`checking ${t.name} on disk failed: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    });
  }

  /**
   * Has the disk tier check ahead, behind every reader, the files of its most
   * recently used small objects (at most `files`, `bytes` in all), so that a
   * remount's first re-reads can pass them through at once: how many were
   * found good. For a mount whose kernel passes files through.
   */
  checkRecentOnDisk(files: number, bytes: number): Promise<number> {
    if (!this.disk) return Promise.resolve(0);
    return this.disk.checkRecent({ block: "all", files, bytes, maxBlockBytes: this.opts.wholeObjectLimit });
  }

  private canBack(t: ReadTarget): boolean {
    return this.disk !== undefined && this.isWhole(t) && t.size > 0;
  }

  private key(t: ReadTarget, page: number | string): string {
    return blockKey(t.name, t.generation, page);
  }

  /** Pages per extent (the disk tier's unit for big objects). */
  private get perExtent(): number {
    return Math.max(1, Math.floor(this.opts.maxRequest / this.opts.pageSize));
  }

  private extentKey(t: ReadTarget, extent: number): string {
    return this.key(t, `e${extent}`);
  }

  private extentBytes(t: ReadTarget, extent: number): number {
    const size = this.perExtent * this.opts.pageSize;
    return Math.min(size, t.size - extent * size);
  }

  /** Whether the disk tier has the extent holding `page`. */
  private onDisk(t: ReadTarget, page: number): boolean {
    return this.disk?.has(this.extentKey(t, Math.floor(page / this.perExtent))) ?? false;
  }

  /** Bytes [offset, offset + length) of the object (fewer at its end). */
  async read(t: ReadTarget, offset: number, length: number): Promise<Buffer> {
    const end = Math.min(t.size, offset + length);
    if (offset >= end) return Buffer.alloc(0);
    if (this.isWhole(t)) return sliceBytes(await this.whole(t, "demand"), offset, end);
    const out = Buffer.allocUnsafe(end - offset);
    return out.subarray(0, await this.readInto(t, offset, end - offset, out));
  }

  /**
   * Copies bytes [offset, offset + length) straight into `target` (a FUSE
   * read buffer) from the cached chunks; returns the count copied.
   */
  async readInto(t: ReadTarget, offset: number, length: number, target: Uint8Array): Promise<number> {
    const end = Math.min(t.size, offset + length, offset + target.length);
    if (offset >= end) return 0;
    if (this.isWhole(t)) return copyBytes(await this.whole(t, "demand"), target, 0, offset, end);
    if (this.diskPages) {
      const n = await this.readIntoFromDisk(t, offset, end, target);
      if (n !== undefined) return n;
    }
    // Pages this read looks up are not handed out again until it has copied them.
    const left = this.recycler?.enter();
    try {
      return await this.copyPages(t, offset, end, target);
    } finally {
      left?.();
    }
  }

  /**
   * A sequential reader is past pages [from, to) of a big object for good:
   * those whose memory the recycler would take back leave the cache now.
   */
  leaveBehind(t: ReadTarget, from: number, to: number): void {
    if (!this.recycler || this.isWhole(t)) return;
    const P = this.opts.pageSize;
    for (let i = Math.ceil(from / P); (i + 1) * P <= to; i++) {
      const k = this.key(t, i);
      const b = this.cache.peek(k);
      if (b && this.recycler.isAdopted(b)) this.cache.delete(k);
    }
  }

  private async copyPages(t: ReadTarget, offset: number, end: number, target: Uint8Array): Promise<number> {
    const P = this.opts.pageSize;
    const first = Math.floor(offset / P);
    const pages = await Promise.all(this.pages(t, first, Math.floor((end - 1) / P), "demand"));
    let copied = 0;
    pages.forEach((b, i) => {
      const base = (first + i) * P;
      copied += copyBytes(b, target, copied, Math.max(offset, base) - base, Math.min(end, base + P) - base);
    });
    return copied;
  }

  /**
   * [offset, end) copied straight from the disk tier through the reused page
   * buffers (never into the memory cache), when every page of it is on disk
   * and none is in memory or in flight; undefined otherwise, or if a page
   * turns out bad or gone (the caller's usual path then fetches it).
   */
  private async readIntoFromDisk(t: ReadTarget, offset: number, end: number, target: Uint8Array): Promise<number | undefined> {
    const P = this.opts.pageSize;
    const per = this.perExtent;
    const first = Math.floor(offset / P);
    const last = Math.floor((end - 1) / P);
    for (let i = first; i <= last; i++) {
      const k = this.key(t, i);
      if (this.cache.has(k) || this.inflight.has(k) || !this.onDisk(t, i)) return undefined;
    }
    let copied = 0;
    for (let i = first; i <= last; i++) {
      const e = Math.floor(i / per);
      const ek = this.extentKey(t, e);
      const base = i * P;
      // A bad extent is fetched again whole (and so goes back to disk) the moment it is found
      // bad, before the disk tier drops it: a reader who then finds it gone joins that request.
      const n = await this.diskPages!.use(`${ek}\u0000${i}`, Math.min(P, t.size - base), (into) => {
        this.stats.diskHits++;
        return this.disk!.readRangeInto(ek, this.extentBytes(t, e), (i - e * per) * P, into, () => void this.refetchExtent(t, e, "demand"));
      }, (page) => copyBytes(page, target, copied, Math.max(offset, base) - base, Math.min(end, base + P) - base));
      if (n === undefined) return undefined;
      copied += n;
    }
    return copied;
  }

  /**
   * Promises of pages [first, last]: from memory, a request in flight, the
   * disk, or the network — one disk read per run of pages of one extent on
   * disk, one request per run of pages none of those has.
   */
  private pages(t: ReadTarget, first: number, last: number, origin: "demand" | "prefetch", pieces = 1): Promise<Bytes>[] {
    const out: Promise<Bytes>[] = [];
    const per = this.perExtent;
    let net = -1; // start of the run to fetch
    let disk = -1; // start of the run to read from disk
    const flushNet = (upTo: number): void => {
      if (net >= 0) out.push(...this.fetchRun({ t, first: net, last: upTo, pieces }, origin));
      net = -1;
    };
    const flushDisk = (upTo: number): void => {
      if (disk >= 0) out.push(...this.fromDisk({ t, first: disk, last: upTo }, origin));
      disk = -1;
    };
    for (let i = first; i <= last; i++) {
      const k = this.key(t, i);
      // A prefetch only needs the page present; looking it up would count it as read.
      const hit = origin === "demand" ? this.cache.get(k) : this.cache.has(k) ? ALREADY_CACHED : undefined;
      const fly = hit ? undefined : this.inflight.get(k);
      if (hit || fly) {
        flushNet(i - 1);
        flushDisk(i - 1);
        out.push(hit ? Promise.resolve(hit) : this.joined(fly!, k, origin));
      } else if (this.onDisk(t, i)) {
        flushNet(i - 1);
        if (disk >= 0 && Math.floor(disk / per) !== Math.floor(i / per)) flushDisk(i - 1);
        if (disk < 0) disk = i;
      } else {
        flushDisk(i - 1);
        if (net < 0) net = i;
        if (i - net + 1 >= per) flushNet(i);
      }
    }
    flushNet(last);
    flushDisk(last);
    return out;
  }

  /** A page in flight: a demand reader joining a prefetch makes it count as used once it lands. */
  private joined(p: Promise<Bytes>, key: string, origin: "demand" | "prefetch"): Promise<Bytes> {
    return origin === "demand" ? p.then((b) => (this.cache.get(key), b)) : p;
  }

  /**
   * A run of pages of one extent, read from the disk tier in one read; if
   * the extent turns out bad or gone, it is fetched from the network instead.
   */
  private fromDisk(run: Run, origin: "demand" | "prefetch"): Promise<Bytes>[] {
    const { t, first, last } = run;
    const P = this.opts.pageSize;
    const e = Math.floor(first / this.perExtent);
    const offset = (first - e * this.perExtent) * P;
    const count = Math.min(t.size, (last + 1) * P) - first * P;
    const read = this.disk!.readRange(this.extentKey(t, e), this.extentBytes(t, e), offset, count).then((data) => {
      if (data) this.stats.diskHits++;
      return data;
    });
    const out: Promise<Bytes>[] = [];
    for (let i = first; i <= last; i++) {
      const k = this.key(t, i);
      out.push(this.track(k, read.then((data): Promise<Bytes> | Bytes => {
        if (!data) return this.refetchExtent(t, e, origin)[i - e * this.perExtent]!;
        const page = data.subarray((i - first) * P, Math.min(count, (i - first + 1) * P));
        this.cache.set(k, page, origin);
        return page;
      })));
    }
    return out;
  }

  /**
   * A bad extent, fetched again whole (so it goes back to the disk tier):
   * one request, shared by every run of it that found it bad.
   */
  private refetchExtent(t: ReadTarget, e: number, origin: "demand" | "prefetch"): Promise<Bytes>[] {
    const ek = this.extentKey(t, e);
    let pages = this.refetching.get(ek);
    if (!pages) {
      const first = e * this.perExtent;
      pages = this.fetchRun({ t, first, last: Math.min(Math.ceil(t.size / this.opts.pageSize), first + this.perExtent) - 1 }, origin);
      this.refetching.set(ek, pages);
      void Promise.allSettled(pages).then(() => this.refetching.delete(ek));
    }
    return pages;
  }

  /** A whole small object from the disk tier; a bad or missing one is fetched from the network instead. */
  private wholeFromDisk(t: ReadTarget, origin: "demand" | "prefetch"): Promise<Bytes> {
    const k = this.key(t, "all");
    return this.track(k, this.disk!.read(k, t.size).then((data): Promise<Bytes> | Bytes => {
      if (!data) {
        this.inflight.delete(k);
        return this.fetchWhole(t, origin);
      }
      this.stats.diskHits++;
      this.cache.set(k, data, origin);
      return data;
    }));
  }

  /** One ranged request for a run of pages; each page's promise settles when it arrives. */
  private fetchRun(run: Run, origin: "demand" | "prefetch"): Promise<Bytes>[] {
    const P = this.opts.pageSize;
    const { t, first, last } = run;
    const end = Math.min(t.size, (last + 1) * P);
    const streamed = this.pageStreamer !== undefined && last > first;
    const { pages, all } = streamed ? this.streamPieces(t, first, last, run.pieces ?? 1) : this.wholeRun(t, first, last);
    // A run that is exactly one extent goes to the disk tier whole.
    const per = this.perExtent;
    if (this.disk && first % per === 0 && (last === first + per - 1 || end === t.size) && Math.floor(last / per) === first / per) {
      const ek = this.extentKey(t, first / per);
      all.then((bytes) => this.toDisk(ek, partsOf(bytes), () => this.extentFromMemory(t, first, last), () => this.leaveMemory(t, ek, first, last)), () => undefined);
    }
    // A streamed run's pages are whole pool pages the cache alone holds (there is a recycler only
    // without a disk tier, whose writer would hold them too).
    const adopt = streamed ? this.recycler : undefined;
    return pages.map((p, j) => {
      const k = this.key(t, first + j);
      return this.track(k, p.then((page) => {
        adopt?.adopt(page);
        this.cache.set(k, page, origin);
        return page;
      }));
    });
  }

  /** A run streamed as `pieces` requests in parallel, each page handed out as it arrives. */
  private streamPieces(t: ReadTarget, first: number, last: number, pieces: number): RunPages {
    const n = last - first + 1;
    const k = Math.max(1, Math.min(pieces, n));
    if (k === 1) return this.streamRun(t, first, last);
    const parts: RunPages[] = [];
    for (let j = 0; j < k; j++) parts.push(this.streamRun(t, first + Math.floor((j * n) / k), first + Math.floor(((j + 1) * n) / k) - 1));
    const all = Promise.all(parts.map((p) => p.all)).then((wholes) => new Chunks(wholes.flatMap((w) => partsOf(w))));
    all.catch(() => undefined); // the pages carry the failure to their readers
    return { pages: parts.flatMap((p) => p.pages), all };
  }

  /** A run's pages once the whole of its one request has arrived. */
  private wholeRun(t: ReadTarget, first: number, last: number): RunPages {
    const P = this.opts.pageSize;
    const start = first * P;
    const end = Math.min(t.size, (last + 1) * P);
    const all = this.request(t, start, end);
    const pages: Promise<Bytes>[] = [];
    for (let i = first; i <= last; i++) pages.push(all.then((bytes) => sliceView(bytes, (i - first) * P, Math.min(end, (i + 1) * P) - start)));
    return { pages, all };
  }

  /** One streamed request for pages [first, last] (see read/streamed-run.ts). */
  private streamRun(t: ReadTarget, first: number, last: number): RunPages {
    const P = this.opts.pageSize;
    const start = first * P;
    const end = Math.min(t.size, (last + 1) * P);
    this.stats.requests++;
    this.stats.requestBytes += end - start;
    return streamedRun(this.pageStreamer!, t, { start, end }, P, (err) => stale(t, err));
  }

  private async request(t: ReadTarget, start: number, end: number): Promise<Bytes> {
    this.stats.requests++;
    this.stats.requestBytes += end - start;
    try {
      return await this.store.readBytes(t.name, t.generation, { start, end });
    } catch (err) {
      throw stale(t, err);
    }
  }

  /** A whole small object: memory, in flight, disk, or one verified request. */
  private whole(t: ReadTarget, origin: "demand" | "prefetch"): Promise<Bytes> {
    const k = this.key(t, "all");
    const hit = origin === "demand" ? this.cache.get(k) : undefined;
    if (hit) return Promise.resolve(hit);
    const fly = this.inflight.get(k);
    if (fly) return this.joined(fly, k, origin);
    if (this.disk?.has(k)) return this.wholeFromDisk(t, origin);
    return this.fetchWhole(t, origin);
  }

  private fetchWhole(t: ReadTarget, origin: "demand" | "prefetch"): Promise<Bytes> {
    const k = this.key(t, "all");
    this.stats.requests++;
    this.stats.requestBytes += t.size;
    return this.track(k, this.store.readBytes(t.name, t.generation, undefined, t.crc32c).then((b) => {
      this.cache.set(k, b, origin);
      if (this.disk) this.toDisk(k, partsOf(b), () => this.wholeFromMemory(k));
      return b;
    }, (err: unknown) => {
      throw stale(t, err);
    }));
  }

  /**
   * Offers a block to the disk tier. One its write queue had no room for is
   * offered again, from memory, once the queue drains — and before the tier
   * closes — so a fast copy still leaves every block it read on disk.
   * `later` finds the bytes again in memory (undefined once evicted: not
   * held for the disk's sake).
   */
  private toDisk(k: string, parts: Buffer[], later: () => Buffer[] | undefined, written?: () => void): void {
    const disk = this.disk!;
    if (disk.offer(k, parts, written) || disk.isClosed || this.unoffered.size >= MAX_UNOFFERED) return;
    this.unoffered.set(k, { parts: later, written });
    if (!this.reoffering) this.reoffering = this.reoffer().finally(() => (this.reoffering = undefined));
  }

  private async reoffer(): Promise<void> {
    const disk = this.disk!;
    while (this.unoffered.size > 0 && !disk.isClosed) {
      await disk.whenRoom();
      for (const [k, { parts: later, written }] of this.unoffered) {
        const parts = later();
        if (parts && !disk.offer(k, parts, written)) break;
        this.unoffered.delete(k);
      }
    }
    this.unoffered.clear();
  }

  /** Blocks not yet offered again, written now (waiting for room); before the disk tier closes. */
  async flushToDisk(): Promise<void> {
    const disk = this.disk;
    if (!disk) return;
    for (const [k, { parts: later }] of this.unoffered) {
      this.unoffered.delete(k);
      const parts = later();
      if (parts) await disk.write(k, parts);
    }
  }

  /**
   * An extent of a big object now on disk leaves the memory cache: the
   * kernel caches the block file, reads of it go through the reused page
   * buffers (readIntoFromDisk), and a second copy here only held the
   * daemon's RSS up at --cache-size while a slide streamed past. Small
   * whole objects stay: a series is re-read file by file, from memory.
   */
  private leaveMemory(t: ReadTarget, ek: string, first: number, last: number): void {
    if (!this.disk!.has(ek)) return;
    for (let i = first; i <= last; i++) this.cache.delete(this.key(t, i));
  }

  private wholeFromMemory(k: string): Buffer[] | undefined {
    const b = this.cache.peek(k);
    return b ? partsOf(b) : undefined;
  }

  /** An extent's pages, all of them, from memory. */
  private extentFromMemory(t: ReadTarget, first: number, last: number): Buffer[] | undefined {
    const parts: Buffer[] = [];
    for (let i = first; i <= last; i++) {
      const b = this.cache.peek(this.key(t, i));
      if (!b) return undefined;
      parts.push(...partsOf(b));
    }
    return parts;
  }

  /** Registers `p` as the block `k` in flight (later readers join it) until it settles. */
  private track(k: string, p: Promise<Bytes>): Promise<Bytes> {
    const tracked = p.finally(() => {
      if (this.inflight.get(k) === tracked) this.inflight.delete(k);
    });
    this.inflight.set(k, tracked);
    return tracked;
  }

  /**
   * Fetches [from, from + length) ahead of a sequential reader, in runs
   * aligned to maxRequest. Returns how far it got: the end of the last run
   * queued (or already present) before the prefetch budget said no, so the
   * caller asks again for the rest later rather than leave a hole.
   * `pieces`: requests per run, in parallel (a reader just starting reads
   * the first run in order, at one stream's speed unless it is split).
   */
  readAhead(t: ReadTarget, from: number, length: number, pieces = 1): number {
    const end = Math.min(t.size, from + length);
    if (this.isWhole(t)) return end;
    const P = this.opts.pageSize;
    const per = this.perExtent;
    const lastPage = Math.ceil(end / P) - 1;
    for (let a = Math.floor(from / P); a <= lastPage; a = (Math.floor(a / per) + 1) * per) {
      if (!this.prefetch({ t, first: a, last: Math.min(lastPage, (Math.floor(a / per) + 1) * per - 1), pieces })) return Math.max(from, a * P);
    }
    return end;
  }

  /**
   * The start of an object ahead of its reader: all of a small one, the first
   * 4 MiB (the header a viewer scans first) of a big one. False when the
   * prefetch budget has no room for it now.
   */
  prefetchHead(t: ReadTarget): boolean {
    if (this.isWhole(t)) return this.prefetch({ t, first: -1, last: -1 });
    return this.prefetch({ t, first: 0, last: Math.min(Math.ceil(t.size / this.opts.pageSize), Math.ceil(4 * 2 ** 20 / this.opts.pageSize)) - 1 });
  }

  /**
   * A small object was just opened: its request starts now, before the open
   * is answered and ahead of the followers series prefetch queues after it —
   * its read (which joins this request) comes next, and a request sent only
   * then would wait behind those. Nothing when it is held, on its way, or on
   * disk, or when the prefetch budget has no room (a program that opens many
   * files before reading any can't pull them all into memory at once: their
   * reads fetch them).
   */
  opening(t: ReadTarget): void {
    if (!this.isWhole(t) || t.size === 0) return;
    if (this.isPresent(t, "all") || this.disk?.has(this.key(t, "all")) || !this.roomFor(t.size)) return;
    this.prefetchPending += t.size;
    this.fetchWhole(t, "prefetch").catch((err: unknown) => {
      this.log?.debug(`fetch of ${t.name} at open failed: ${err instanceof Error ? err.message : String(err)}`);
    }).finally(() => (this.prefetchPending -= t.size));
  }

  /** first = -1: the whole of a small object. */
  private runBytes(run: Run): number {
    if (run.first < 0) return run.t.size;
    return Math.min(run.t.size, (run.last + 1) * this.opts.pageSize) - run.first * this.opts.pageSize;
  }

  private isPresent(t: ReadTarget, page: number | "all"): boolean {
    const k = this.key(t, page);
    return this.cache.has(k) || this.inflight.has(k);
  }

  /** Whether `bytes` more fetched ahead of their reader stay within the prefetch budget. */
  private roomFor(bytes: number): boolean {
    return this.cache.stats.unread + this.prefetchPending + bytes <= this.opts.prefetchBudget;
  }

  /** Queues a run unless it is queued or present already (true) or over the budget (false). */
  private prefetch(run: Run): boolean {
    const { t } = run;
    if (run.first < 0 && this.tier?.backs?.() && this.disk!.has(this.key(t, "all"))) {
      // The kernel will read it from its file: checked ahead, not loaded. One found bad was dropped: fetched.
      void this.prepareBacking(t, false).then((ok) => ok || this.disk!.has(this.key(t, "all")) || this.prefetch(run));
      return true;
    }
    const qkey = `${t.generation}\u0000${run.first}\u0000${t.name}`;
    if (this.queued.has(qkey)) return true;
    if (run.first < 0 ? this.isPresent(t, "all") : this.allPresent(run) || this.allOnDisk(run)) return true;
    const bytes = this.runBytes(run);
    if (!this.roomFor(bytes)) return false;
    this.queued.add(qkey);
    this.prefetchPending += bytes;
    this.queue.push({
      key: qkey,
      bytes,
      start: () => {
        this.queued.delete(qkey);
        const done = (): void => {
          this.prefetchPending -= bytes;
          this.downloading -= bytes;
          this.running--;
          this.pump();
        };
        if (run.first < 0 && this.isPresent(t, "all")) return done(); // a reader got there first
        const work = run.first < 0 ? [this.whole(t, "prefetch")] : this.pages(t, run.first, run.last, "prefetch", run.pieces);
        Promise.all(work).then(done, (err: unknown) => {
          this.log?.debug(`prefetch of ${t.name} [${run.first}..${run.last}] failed: ${err instanceof Error ? err.message : String(err)}`);
          done();
        });
      },
    });
    this.pump();
    return true;
  }

  /** Pages on disk are read from there when asked for: nothing to fetch ahead. */
  private allOnDisk(run: Run): boolean {
    if (!this.diskPages) return false;
    for (let i = run.first; i <= run.last; i += this.perExtent - (i % this.perExtent)) if (!this.onDisk(run.t, i)) return false;
    return true;
  }

  private allPresent(run: Run): boolean {
    for (let i = run.first; i <= run.last; i++) if (!this.isPresent(run.t, i)) return false;
    return true;
  }

  private pump(): void {
    while (this.running < this.opts.prefetchConcurrency && this.queue.length > 0) {
      const next = this.queue[0]!;
      // One download may always run, however big; more only within the in-flight limit.
      if (this.running > 0 && this.downloading + next.bytes > this.opts.prefetchInFlightBytes) return;
      this.queue.shift();
      this.running++;
      this.downloading += next.bytes;
      next.start();
    }
  }

  /**
   * A file is being read at random: with a disk tier, fetch all of it there
   * in the background, in long runs, at most fillOpts.concurrency requests
   * at a time (its own queue: foreground reads and read-ahead come first).
   */
  fill(t: ReadTarget): void {
    if (!this.disk || this.isWhole(t) || t.size > this.fillOpts.maxObjectBytes) return;
    const id = `${t.generation}\u0000${t.name}`;
    if (this.filling.has(id)) return;
    this.filling.add(id);
    const P = this.opts.pageSize;
    const per = Math.max(1, Math.floor(this.opts.maxRequest / P));
    const pages = Math.ceil(t.size / P);
    let left = 0;
    let failed = false;
    const finished = (): void => {
      if (--left > 0) return;
      this.log?.debug(`filled ${t.name} to disk${failed ? " (in part: some runs failed)" : ""}`);
    };
    for (let a = 0; a < pages; a += per) {
      const last = Math.min(pages - 1, a + per - 1);
      left++;
      this.fillQueue.push(async () => {
        try {
          await this.fillRun({ t, first: a, last });
        } catch (err) {
          failed = true;
          this.log?.debug(`fill of ${t.name} [${a}..${last}] failed: ${err instanceof Error ? err.message : String(err)}`);
        } finally {
          finished();
        }
      });
    }
    this.pumpFill();
  }

  private pumpFill(): void {
    while (this.fillRunning < this.fillOpts.concurrency && this.fillQueue.length > 0) {
      const job = this.fillQueue.shift()!;
      this.fillRunning++;
      void job().finally(() => {
        this.fillRunning--;
        this.pumpFill();
      });
    }
  }

  /** Streams one extent the disk lacks straight into its file (run = the extent's pages): no copy in memory. */
  private async fillRun(run: Run): Promise<void> {
    const { t } = run;
    const e = Math.floor(run.first / this.perExtent);
    const start = run.first * this.opts.pageSize;
    const end = start + this.extentBytes(t, e);
    const writer = await this.tier!.cache.writer(this.extentKey(t, e), end - start);
    if (!writer) return; // there already, on its way, or no room
    this.stats.fillRequests++;
    this.stats.fillBytes += end - start;
    try {
      await this.tier!.streamer.stream(t.name, t.generation, { start, end }, (chunk) => writer.append(chunk), () => writer.restart());
      await writer.commit();
    } catch (err) {
      await writer.abort();
      throw stale(t, err);
    }
  }
}

/** Stands for a page a prefetch found cached: nothing to fetch, never read. */
const ALREADY_CACHED: Bytes = Buffer.alloc(0);

/** The generation a file was opened on is gone: the object was replaced or deleted. */
function stale(t: ReadTarget, err: unknown): unknown {
  return err instanceof NotFoundError ? new FsError("ESTALE", `${t.name}#${t.generation} no longer exists`, { cause: err }) : err;
}
