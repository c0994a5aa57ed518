// The disk tier: blocks of object bytes in files under --cache-dir, below the
// memory cache. Every block is keyed by object name + generation (+ block),
// so nothing in it can ever stand for other bytes; each file says what it
// holds and is checked when read back (block-file.ts).
//
// Layout of <dir>/som-cache-v1/:
//   lock       flock'ed for the life of the daemon: one mount per directory
//   index      the blocks, least recently used first: "<hash> <bytes>" lines
//   journal    what happened since the index was written: "P <hash> <bytes>",
//              "D <hash>" (appended after the block file is in place)
//   clean      present only after a clean shutdown
//   blocks/ab/cd/<hash>   block files (hash = SHA-256 of the key): the bytes
//              alone, the header in an extended attribute (header-attr.ts)
//   tmp/       files being written; renamed into blocks/ when complete
//   listings.json  the mount's fresh listings at its last clean shutdown
//              (not the tier's: see listing/listing-snapshot.ts; statePath)
//
// What survives: a remount reads the index and replays the journal. A crash
// loses at most the blocks being written (their temp files are dropped; a
// block renamed but not yet journaled is adopted by the scan that follows an
// unclean shutdown). If the index is lost, the blocks directory is scanned.
// Nothing is trusted blindly: every read is checked, and a bad block is
// deleted and fetched again. A block whose every page was checked, and whose
// file has not changed since (same inode, size and ctime), may be handed to
// the kernel to read itself (verifiedFd, for passthrough); verify has a
// whole block checked for that on a thread of its own (block-checker.ts).
//
// Limits: the blocks take at most --cache-dir-size, and the file system is
// always left with 5% free; least recently used blocks go first. When the
// disk is full for other reasons, blocks are simply not written.
import { hash as digest } from "node:crypto";
import { appendFile, mkdir, readFile, readdir, rename, rm, stat, statfs, writeFile, open as openFile, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../../util/log.js";
import { printable } from "../../util/printable.js";
import { OTHER_KIND, decodeHeader, encodeHeader, pagesIntact, type BlockHeader } from "./block-file.js";
import { BlockChecker } from "./block-checker.js";
import { BlockWriter } from "./block-writer.js";
import { CheckedBlocks } from "./checked-blocks.js";
import { lockDir } from "./dir-lock.js";
import { readHeaderAttr, writeHeaderAttr } from "./header-attr.js";

export interface DiskCacheOptions {
  /** The user's --cache-dir (the cache lives in a versioned directory inside it). */
  dir: string;
  /** Bytes of block files at most. */
  maxBytes: number;
  /** Share of the file system always left free. */
  minFreeShare: number;
  /** Bytes queued for writing at most: offers beyond it are dropped, writes wait. */
  queueBytes: number;
  /** Block files written at once. */
  writers: number;
  /** Granularity of the per-page checksums (the reader's page size). */
  pageSize: number;
  /** Block files kept open for reading. */
  openFiles: number;
  /** Block files kept open checked for passthrough (see checked-blocks.ts). */
  checkedFiles: number;
  log: Logger;
}

/**
 * 1024 checked files: a series of that many slices stays ready to pass
 * through between re-reads (each holds a descriptor; Node raises the soft
 * descriptor limit to the hard one, 2^19 under systemd).
 */
export const defaultDiskOptions = { minFreeShare: 0.05, queueBytes: 32 * 2 ** 20, writers: 4, pageSize: 256 * 2 ** 10, openFiles: 128, checkedFiles: 1024 };

/** An open block file and what its (checked) header says. */
interface OpenBlock {
  fh: FileHandle;
  header: BlockHeader;
}

interface Job {
  hash: string;
  key: string;
  parts: Buffer[];
  bytes: number;
}

export interface DiskCacheStats {
  hits: number;
  misses: number;
  /** Blocks found bad when read back (and deleted). */
  corrupt: number;
  written: number;
  /** Blocks not written: the queue was full, or the disk was. */
  skipped: number;
  evicted: number;
  readBytes: number;
  writtenBytes: number;
  /** Files checked whole as the mount started, found good (checkRecent). */
  checkedAtStart: number;
  /** Checks a reader waited for (an open, before its file could pass through). */
  checkWaits: number;
}

const hashOf = (key: string): string => digest("sha256", key);

export class DiskCache {
  /** hash -> file bytes; Map order is recency, least recent first. */
  private readonly entries = new Map<string, number>();
  private used = 0;
  /** Bytes of files being written (room made for them, not yet in `entries`). */
  private reserved = 0;
  private readonly queue: Job[] = [];
  /**
   * Hashes queued or being written (offered twice, written once), each with
   * whoever waits for that write to end: the writer, and later offers of it.
   */
  private readonly pending = new Map<string, (() => void)[]>();
  private queued = 0;
  private writing = 0;
  private readonly waiting: (() => void)[] = [];
  /** File-system space as last measured, and bytes written since. */
  private space = { avail: Number.POSITIVE_INFINITY, total: 0, writtenSince: 0, at: 0 };
  private journalLines = 0;
  /** Journal lines not yet appended (written together, at most every 100 ms). */
  private journalPending: string[] = [];
  private journalFlush: Promise<void> | undefined;
  /** blocks/ab/cd directories known to exist. */
  private readonly dirs = new Set<string>();
  /** Open block files by hash, least recently used first. */
  private readonly open = new Map<string, Promise<OpenBlock | string>>();
  private closed = false;
  private readonly checker: BlockChecker;
  /** Block files checked whole for passthrough, open (verify, verifiedFd). */
  private readonly checked: CheckedBlocks;
  private tempSeq = 0;
  private warnedUnwritten = false;
  /** Block writers not yet committed or aborted. */
  private streaming = 0;
  readonly stats: DiskCacheStats = { hits: 0, misses: 0, corrupt: 0, written: 0, skipped: 0, evicted: 0, readBytes: 0, writtenBytes: 0, checkedAtStart: 0, checkWaits: 0 };

  private constructor(private readonly root: string, private readonly opts: DiskCacheOptions, private readonly lock: { release(): void }) {
    this.checker = new BlockChecker((why) => opts.log.warn(`disk cache: the block checker's thread failed (${why}); files are read through the daemon, not passed through`));
    this.checked = new CheckedBlocks(this.checker, opts.checkedFiles);
  }

  /** Opens (creating) the cache directory; throws DirLockedError if another daemon has it. */
  static async open(opts: DiskCacheOptions): Promise<DiskCache> {
    const root = join(opts.dir, "som-cache-v1");
    await mkdir(join(root, "blocks"), { recursive: true });
    await mkdir(join(root, "tmp"), { recursive: true });
    const lock = lockDir(join(root, "lock"), `cache directory ${opts.dir}`);
    const cache = new DiskCache(root, opts, lock);
    try {
      await cache.probeAttributes();
      await cache.load();
      cache.checker.start();
    } catch (err) {
      lock.release();
      throw err;
    }
    return cache;
  }

  /** A file of the mount's own kept beside the blocks (under the same lock): survives a remount with them. */
  statePath(name: string): string {
    return join(this.root, name);
  }

  private path(hash: string): string {
    return join(this.root, "blocks", hash.slice(0, 2), hash.slice(2, 4), hash);
  }

  /** Throws a clear error if the file system cannot keep a block's header (a user extended attribute). */
  private async probeAttributes(): Promise<void> {
    const probe = join(this.root, "tmp", `probe.${process.pid}`);
    const fh = await openFile(probe, "w");
    try {
      await writeHeaderAttr(fh.fd, Buffer.from("probe"));
    } catch {
      throw new Error(`cache directory ${printable(this.opts.dir)}: its file system keeps no user extended attributes, where the disk tier keeps each block's header (ext4, xfs, btrfs, tmpfs and overlayfs do)`);
    } finally {
      await fh.close();
      await rm(probe, { force: true });
    }
  }

  /** Index, then journal; a full scan after an unclean shutdown or without an index. */
  private async load(): Promise<void> {
    await rm(join(this.root, "tmp"), { recursive: true, force: true }); // writes a crash cut short
    await mkdir(join(this.root, "tmp"));
    const clean = await stat(join(this.root, "clean")).then(() => true, () => false);
    const index = await readFile(join(this.root, "index"), "utf8").catch(() => undefined);
    for (const line of (index ?? "").split("\n")) {
      const [h, n] = line.split(" ");
      if (h && n && /^\d+$/.test(n)) this.put(h, Number(n));
    }
    const journal = await readFile(join(this.root, "journal"), "utf8").catch(() => "");
    for (const line of journal.split("\n")) {
      const [op, h, n] = line.split(" ");
      if (op === "P" && h && n && /^\d+$/.test(n)) this.put(h, Number(n));
      else if (op === "D" && h) this.drop(h);
      // A last line cut short by a crash is ignored.
    }
    if (!clean || index === undefined) await this.scan(index === undefined ? "no index" : "an unclean shutdown");
    await rm(join(this.root, "clean"), { force: true });
    await this.compact();
    await this.refreshSpace();
    await this.makeRoom(0); // within the limits it is opened with, which may be smaller than last time
    this.opts.log.info(`disk cache ${printable(this.opts.dir)}: ${this.entries.size.toLocaleString("en-US")} blocks, ${(this.used / 2 ** 20).toFixed(0)} MiB of ${(this.opts.maxBytes / 2 ** 20).toFixed(0)} MiB`);
  }

  /** Adopts block files the index does not know (at the old end) and forgets entries without a file. */
  private async scan(why: string): Promise<void> {
    const found = new Map<string, number>();
    const blocks = join(this.root, "blocks");
    for (const a of await readdir(blocks).catch(() => [])) {
      for (const b of await readdir(join(blocks, a)).catch(() => [])) {
        for (const h of await readdir(join(blocks, a, b)).catch(() => [])) {
          const st = await stat(join(blocks, a, b, h)).catch(() => undefined);
          if (st?.isFile()) found.set(h, st.size);
        }
      }
    }
    const known = [...this.entries.keys()];
    const knownSet = new Set(known);
    this.entries.clear();
    this.used = 0;
    let adopted = 0;
    for (const [h, n] of found) if (!knownSet.has(h)) (this.put(h, n), adopted++);
    for (const h of known) if (found.has(h)) this.put(h, found.get(h)!);
    this.opts.log.info(`disk cache: scanned after ${why}: ${found.size} block files, ${adopted} not in the index`);
  }

  private put(hash: string, bytes: number): void {
    this.drop(hash);
    this.entries.set(hash, bytes);
    this.used += bytes;
  }

  private drop(hash: string): void {
    const n = this.entries.get(hash);
    if (n === undefined) return;
    this.entries.delete(hash);
    this.used -= n;
  }

  /** Bytes of block files held. INVARIANT (between writes): <= maxBytes. */
  get size(): number {
    return this.used;
  }

  /** --cache-dir-size. */
  get capacity(): number {
    return this.opts.maxBytes;
  }

  get blocks(): number {
    return this.entries.size;
  }

  has(key: string): boolean {
    return this.entries.has(hashOf(key));
  }

  /** The whole block's data if it is here and intact. */
  read(key: string, length: number): Promise<Buffer | undefined> {
    return this.readRange(key, length, 0, length);
  }

  /**
   * Bytes [offset, offset + count) of the block `key` (of `length` bytes), if
   * it is here and they are intact; offset is page-aligned. A bad block is
   * deleted (and counted), so the caller fetches it again.
   */
  async readRange(key: string, length: number, offset: number, count: number): Promise<Buffer | undefined> {
    const data = Buffer.allocUnsafe(count);
    return (await this.readRangeInto(key, length, offset, data)) ? data : undefined;
  }

  /**
   * readRange into `data` (its whole length), a buffer the caller keeps:
   * whether the bytes are there and intact. `onBad` is called the moment the
   * block is found bad, before it is dropped, so the caller can have it
   * fetched again before anyone else finds it missing.
   */
  async readRangeInto(key: string, length: number, offset: number, data: Buffer, onBad?: () => void): Promise<boolean> {
    const hash = hashOf(key);
    if (!this.entries.has(hash)) {
      this.stats.misses++;
      return false;
    }
    const opened = await this.opened(hash, key, length);
    let why = typeof opened === "string" ? opened : undefined;
    if (typeof opened !== "string") {
      const { bytesRead } = await opened.fh.read(data, 0, data.length, offset).catch(() => ({ bytesRead: -1 }));
      if (bytesRead !== data.length) why = "cut short";
      else if (!pagesIntact(opened.header, offset, data)) why = "data checksum";
    }
    if (why === undefined) {
      this.hit(hash, data.length);
      return true;
    }
    if (this.entries.has(hash)) onBad?.();
    await this.bad(hash, key, why);
    return false;
  }

  /** A block read and found good: most recently used now. */
  private hit(hash: string, bytes: number): void {
    const n = this.entries.get(hash);
    if (n !== undefined) {
      this.entries.delete(hash);
      this.entries.set(hash, n);
    }
    this.stats.hits++;
    this.stats.readBytes += bytes;
  }

  /**
   * A block found bad (or gone): dropped and counted, so the caller fetches
   * it again; `read`: a reader asked for it (a miss), not a check ahead.
   */
  private async bad(hash: string, key: string, why: string, read = true): Promise<void> {
    if (!this.entries.has(hash)) {
      if (read) this.stats.misses++; // evicted while we read
      return;
    }
    this.stats.corrupt++;
    this.opts.log.warn(`disk cache: block ${printable(key.replace(/\u0000/g, " "))} is bad (${why}); ${read ? "fetching it again" : "dropped"}`);
    await this.remove(hash);
    if (read) this.stats.misses++;
  }

  /** The block file open with its header checked (kept among the open files), or why it can't be. */
  private opened(hash: string, key: string, length: number): Promise<OpenBlock | string> {
    let p = this.open.get(hash);
    if (p) {
      this.open.delete(hash);
      this.open.set(hash, p);
      return p;
    }
    p = (async (): Promise<OpenBlock | string> => {
      const fh = await openFile(this.path(hash), "r").catch(() => undefined);
      if (!fh) return "file missing";
      // Never rejects (its holders do not wait on it at once): an I/O error is a reason like any other.
      try {
        const st = await fh.stat();
        const head = await readHeaderAttr(fh.fd);
        const check = decodeHeader(head, key, length, st.size);
        if (check.ok) return { fh, header: check.header };
        await fh.close();
        return check.why;
      } catch (err) {
        await fh.close().catch(() => undefined);
        return `unreadable (${err instanceof Error ? err.message : String(err)})`;
      }
    })();
    this.open.set(hash, p);
    void p.then((o) => {
      if (typeof o === "string" && this.open.get(hash) === p) this.open.delete(hash);
    });
    if (this.open.size > this.opts.openFiles) void this.closeFile(this.open.keys().next().value!);
    return p;
  }

  /**
   * The descriptor of the block `key` (of `length` bytes), for the kernel to
   * read the file itself: if verify found it whole and intact and the file
   * has not changed since (checked-blocks.ts); otherwise undefined.
   * Synchronous, so the caller hands it over before anything can close it.
   * `read`: a use of the block (counted, and it becomes the most recent).
   */
  verifiedFd(key: string, length: number, read = true): number | undefined {
    const hash = hashOf(key);
    if (!this.entries.has(hash)) return undefined;
    const fd = this.checked.fd(hash, length);
    if (fd !== undefined && read) this.hit(hash, length);
    return fd;
  }

  /**
   * Checks the whole block `key` (of `length` bytes) on the checker's
   * thread, without reading it in here, so that verifiedFd can hand its file
   * to the kernel: whether it can. A bad block is dropped (and counted), as
   * a read would. `urgent`: a reader waits on it (it goes before the checks
   * queued ahead of readers).
   */
  async verify(key: string, length: number, urgent = false): Promise<boolean> {
    const hash = hashOf(key);
    if (!this.entries.has(hash)) return false;
    if (this.checked.holds(hash, length)) return true;
    if (urgent) this.stats.checkWaits++;
    const r = await this.checked.check(hash, this.path(hash), { key }, length, urgent ? "urgent" : "ahead");
    if (!r.ok && r.bad) await this.bad(hash, key, r.why);
    return r.ok;
  }

  /**
   * Checks ahead, on the checker's thread and behind everything a reader
   * asks for, the most recently used blocks of kind `block` (whole small
   * objects: the ones passthrough hands to the kernel), at most `files` of
   * them and `bytes` in all, each at most `maxBlockBytes`: a remount's
   * first re-reads then find their files checked, as the previous mount
   * left them, instead of each open waiting for its own check. The files
   * are known only by their names here; each check takes the key from the
   * file's header and holds it to the name (check-worker.ts). Resolves
   * with how many were found good once all are done.
   */
  async checkRecent(o: { block: string; files: number; bytes: number; maxBlockBytes: number }): Promise<number> {
    const recentFirst = [...this.entries].reverse();
    let next = 0;
    let files = 0;
    let bytes = 0;
    let good = 0;
    // A few at a time (the thread takes four), so a reader's check never queues behind many. A file
    // whose header names a block of another kind (an extent) costs its header and counts for nothing.
    const walk = async (): Promise<void> => {
      while (!this.closed && next < recentFirst.length && files < o.files) {
        const [hash, n] = recentFirst[next++]!;
        if (n === 0 || n > o.maxBlockBytes || bytes + n > o.bytes || !this.entries.has(hash) || this.checked.holds(hash, n)) continue;
        files++;
        bytes += n;
        const r = await this.checked.check(hash, this.path(hash), { hash, block: o.block }, n, "idle");
        if (r.ok) {
          good++;
          this.stats.checkedAtStart++;
        } else if (r.bad) {
          await this.bad(hash, `file ${hash}`, r.why, false);
        } else if (r.why === OTHER_KIND) {
          files--;
          bytes -= n;
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, walk));
    return good;
  }

  private async closeFile(hash: string): Promise<void> {
    const p = this.open.get(hash);
    if (!p) return;
    this.open.delete(hash);
    const o = await p;
    if (typeof o !== "string") await o.fh.close().catch(() => undefined);
  }

  /**
   * A writer that streams the block `key` of `length` bytes straight to its
   * file (block-writer.ts), with room made for it; undefined if the block is
   * here or on its way already, or there is no room.
   */
  async writer(key: string, length: number): Promise<BlockWriter | undefined> {
    const hash = hashOf(key);
    if (this.closed || this.entries.has(hash) || this.pending.has(hash)) return undefined;
    this.pending.set(hash, []);
    const size = length;
    if (!(await this.makeRoom(size))) {
      this.unpend(hash);
      this.stats.skipped++;
      return undefined;
    }
    this.streaming++;
    const temp = join(this.root, "tmp", `${hash}.${process.pid}.${this.tempSeq++}`);
    return new BlockWriter(key, length, this.opts.pageSize, temp, (t) => this.place(t, hash), async (ok) => {
      this.reserved -= size;
      this.streaming--;
      if (ok) {
        this.put(hash, size);
        this.space.writtenSince += size;
        this.stats.written++;
        this.stats.writtenBytes += length;
      } else {
        this.space.avail += size;
      }
      this.unpend(hash);
      if (ok) await this.journal(`P ${hash} ${size}\n`);
      for (const w of this.waiting.splice(0)) w();
    }, () => this.closed);
  }

  /**
   * Queues a block to be written if there is room in the queue: false if it
   * was skipped for want of room (or the cache is closing), true if it is
   * queued, or here or on its way already. `settled` is called once a write
   * queued here ends, whether or not the block made it (see has()).
   */
  offer(key: string, parts: Buffer[], settled: () => void = () => undefined): boolean {
    const bytes = parts.reduce((a, p) => a + p.length, 0);
    const hash = hashOf(key);
    if (this.entries.has(hash)) {
      setImmediate(settled);
      return true;
    }
    const waiting = this.pending.get(hash);
    if (waiting) {
      waiting.push(settled);
      return true;
    }
    if (this.closed || this.queued + bytes > this.opts.queueBytes) {
      this.stats.skipped++;
      return false;
    }
    this.enqueue(key, parts, bytes, settled);
    return true;
  }

  /** Writes a block, waiting for room in the queue first; resolves once it is on disk (or given up). */
  async write(key: string, parts: Buffer[]): Promise<void> {
    const bytes = parts.reduce((a, p) => a + p.length, 0);
    while (!this.closed && this.queued > 0 && this.queued + bytes > this.opts.queueBytes) {
      await new Promise<void>((r) => this.waiting.push(r));
    }
    const hash = hashOf(key);
    if (this.closed || this.entries.has(hash) || this.pending.has(hash)) return;
    await new Promise<void>((done) => this.enqueue(key, parts, bytes, done));
  }

  /** Resolves when a queued write ends (room in the queue again), or at once if nothing is queued. */
  whenRoom(): Promise<void> {
    if (this.closed || (this.queue.length === 0 && this.writing === 0)) return Promise.resolve();
    return new Promise<void>((r) => this.waiting.push(r));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** A write of `hash` ended (in place or given up): whoever waits for it hears so. */
  private unpend(hash: string): void {
    const waiting = this.pending.get(hash);
    this.pending.delete(hash);
    for (const f of waiting ?? []) f();
  }

  private enqueue(key: string, parts: Buffer[], bytes: number, done: () => void): void {
    const hash = hashOf(key);
    this.pending.set(hash, [done]);
    this.queue.push({ hash, key, parts, bytes });
    this.queued += bytes;
    this.pump();
  }

  private pump(): void {
    while (this.writing < this.opts.writers && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.writing++;
      void this.writeJob(job).catch((err: unknown) => {
        this.stats.skipped++;
        this.opts.log.debug(`disk cache: writing a block failed: ${err instanceof Error ? err.message : String(err)}`);
      }).finally(() => {
        this.writing--;
        this.queued -= job.bytes;
        this.unpend(job.hash);
        for (const w of this.waiting.splice(0)) w();
        this.pump();
      });
    }
  }

  private async writeJob(job: Job): Promise<void> {
    const header = encodeHeader(job.key, job.parts, this.opts.pageSize);
    const size = job.bytes;
    if (!(await this.makeRoom(size))) {
      this.stats.skipped++;
      return;
    }
    const temp = join(this.root, "tmp", `${job.hash}.${process.pid}.${this.tempSeq++}`);
    try {
      const fh = await openFile(temp, "w");
      try {
        await fh.writev(job.parts);
        await writeHeaderAttr(fh.fd, header);
      } finally {
        await fh.close();
      }
      await this.place(temp, job.hash);
    } catch (err) {
      this.space.avail += size;
      await rm(temp, { force: true });
      throw err;
    } finally {
      this.reserved -= size;
    }
    this.put(job.hash, size);
    this.space.writtenSince += size;
    this.stats.written++;
    this.stats.writtenBytes += job.bytes;
    await this.journal(`P ${job.hash} ${size}\n`);
  }

  /**
   * Puts a finished block file where it is read from. Its blocks/ab/cd
   * directory is made once, and again if someone removed it meanwhile.
   */
  private async place(temp: string, hash: string): Promise<void> {
    const final = this.path(hash);
    const dir = join(final, "..");
    if (this.dirs.has(dir)) {
      const gone = await rename(temp, final).then(() => false, (err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOENT") throw err;
        return true;
      });
      if (!gone) return;
    }
    await mkdir(dir, { recursive: true });
    this.dirs.add(dir);
    await rename(temp, final);
  }

  /**
   * Evicts least recently used blocks until `incoming` more bytes fit both
   * limits, and reserves them (until the file is in place or given up, so
   * writers running at once can't overshoot together); false if they can't.
   */
  private async makeRoom(incoming: number): Promise<boolean> {
    if (this.space.writtenSince > 64 * 2 ** 20 || performance.now() - this.space.at > 2_000) await this.refreshSpace();
    const minFree = this.space.total * this.opts.minFreeShare;
    const over = (): boolean => this.used + this.reserved + incoming > this.opts.maxBytes || this.space.avail - incoming < minFree;
    // Others filled the file system: even with every block of ours gone this one would not fit, so
    // keep what is cached (still readable) and write nothing more, rather than evict it all for nothing.
    if (this.space.avail + this.used - incoming < minFree) return false;
    // Evict a little past the line, so a stream of writes doesn't evict one block per write.
    const slack = Math.min(this.opts.maxBytes / 20, 64 * 2 ** 20);
    while (over() && this.entries.size > 0) {
      const hash = this.entries.keys().next().value!;
      const n = this.entries.get(hash)!;
      await this.remove(hash);
      this.space.avail += n;
      this.stats.evicted++;
      if (!over() && this.used + this.reserved + incoming <= this.opts.maxBytes - slack) break;
    }
    if (over()) return false;
    this.reserved += incoming;
    this.space.avail -= incoming;
    return true;
  }

  private async remove(hash: string): Promise<void> {
    this.drop(hash);
    this.checked.forget(hash);
    await this.closeFile(hash);
    await rm(this.path(hash), { force: true });
    await this.journal(`D ${hash}\n`);
  }

  private async refreshSpace(): Promise<void> {
    const s = await statfs(this.root);
    // Files being written may not be there yet: what is reserved for them counts as used.
    this.space = { avail: s.bavail * s.bsize - this.reserved, total: s.blocks * s.bsize, writtenSince: 0, at: performance.now() };
  }

  /**
   * Records a change. Lines are appended in batches: a crash may lose the
   * last ones, which only leaves blocks for the scan after an unclean
   * shutdown to adopt (or deleted ones for the read check to drop).
   */
  private journal(line: string): Promise<void> {
    this.journalPending.push(line);
    this.journalFlush ??= new Promise<void>((r) => setTimeout(r, 100)).then(() => this.flushJournal());
    return Promise.resolve();
  }

  private async flushJournal(): Promise<void> {
    const lines = this.journalPending;
    this.journalPending = [];
    this.journalFlush = undefined;
    if (lines.length === 0) return;
    try {
      await appendFile(join(this.root, "journal"), lines.join(""));
    } catch (err) {
      // A full disk (or one gone read-only) must not take the mount down: the lines are lost, which
      // leaves what an unclean shutdown leaves, unless the index is written at close.
      this.unwritten("journal", err);
      return;
    }
    this.journalLines += lines.length;
    if (this.journalLines > 2 * this.entries.size + 10_000) await this.compact();
  }

  /**
   * Writes the index (atomically) and starts a new journal. False if it could
   * not (said once in the log): the old index and journal stay, and no clean
   * shutdown is recorded, so the next start scans.
   */
  private async compact(): Promise<boolean> {
    this.journalPending = []; // the index holds them
    const lines: string[] = [];
    for (const [h, n] of this.entries) lines.push(`${h} ${n}`);
    const temp = join(this.root, "tmp", `index.${process.pid}`);
    try {
      await writeFile(temp, lines.join("\n") + "\n");
      await rename(temp, join(this.root, "index"));
      await writeFile(join(this.root, "journal"), "");
    } catch (err) {
      await rm(temp, { force: true }).catch(() => undefined);
      this.unwritten("index", err);
      return false;
    }
    this.journalLines = 0;
    return true;
  }

  private unwritten(what: "journal" | "index", err: unknown): void {
    if (this.warnedUnwritten) return;
    this.warnedUnwritten = true;
    const why = err instanceof Error ? err.message : String(err);
    this.opts.log.warn(`disk cache ${printable(this.opts.dir)}: its ${what} could not be written (${why}); blocks are still served; unless the index is written at exit, the next start scans the directory`);
  }

  /** Finishes queued writes, writes the index, marks a clean shutdown, releases the directory. */
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.queue.length > 0 || this.writing > 0) await new Promise<void>((r) => this.waiting.push(r));
    this.closed = true;
    // Streaming writers give up at their next chunk (a fill is not worth holding an exit for); one
    // stalled on the network is not waited for past 2 s, and the next start then scans (no "clean").
    const until = performance.now() + 2_000;
    while (this.streaming > 0 && performance.now() < until) {
      await new Promise<void>((r) => {
        this.waiting.push(r);
        setTimeout(r, 100);
      });
    }
    try {
      await this.checker.close();
      this.checked.closeAll();
      for (const h of [...this.open.keys()]) await this.closeFile(h);
      // Clean only if the index holds every block: otherwise the next start scans.
      if ((await this.compact()) && this.streaming === 0) {
        await writeFile(join(this.root, "clean"), `${new Date().toISOString()}\n`).catch((err: unknown) => this.unwritten("index", err));
      }
    } finally {
      // Whatever failed above, the directory is released (and the file system it is on can be unmounted).
      this.lock.release();
    }
  }
}
