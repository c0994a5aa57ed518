// The filesystem core: getattr/readdir/open/read/release over a Namespace and
// an ObjectReader. It knows nothing of FUSE; src/fuse adapts it, and unit
// tests drive it directly. Everything here is read-only.
import type { Directory } from "../namespace/directory.js";
import type { DirEntry, Entry, FileEntry, Namespace } from "../namespace/namespace.js";
import type { ObjectReader, ReadTarget } from "../read/object-reader.js";
import type { SeriesPrefetcher } from "../read/series-prefetcher.js";
import { FsError } from "./errors.js";

export interface Attr {
  mode: number;
  size: number;
  nlink: number;
  uid: number;
  gid: number;
  mtime: Date;
  atime: Date;
  ctime: Date;
  blocks: number;
  blksize: number;
}

export interface FilesystemOptions {
  uid: number;
  gid: number;
  /** Permission bits shown (--file-mode, --dir-mode); the mount is read-only whatever they say. */
  fileMode?: number;
  dirMode?: number;
  /**
   * Read-ahead for a sequential reader: the window starts at `initial` and
   * doubles per in-order read up to `max`, and is asked for in aligned
   * `chunk`s (long ranged requests, several in flight). A read counts as in
   * order when it starts within `slack` of where the last one ended: the
   * kernel sends a sequential reader's requests a few at a time, not always
   * in order. Once a handle has jumped, read-ahead waits for `afterJump`
   * bytes read in order: the kernel's own read-ahead turns one tile read
   * into a few kernel reads in a row (twice the tile, then twice that if
   * the tile ends past its marker: over 1 MiB for a 192 KiB tile), which
   * is not a sequential reader.
   */
  readAhead: { initial: number; max: number; slack: number; chunk: number; afterJump: number };
  /**
   * Jumps (a read elsewhere than where the last ended) that make a file
   * "read at random" and start its background fill. Counted over the life of
   * the handle: the kernel's own read-ahead after each random read looks
   * sequential, so consecutive jumps are rare even for a random reader.
   */
  randomAfter: number;
}

/** An open file: pinned to the entry (generation) it opened, and how it has been read. */
interface Handle {
  path: string;
  entry: FileEntry;
  target?: ReadTarget;
  /** Where the last read ended. */
  next: number;
  window: number;
  /** How far read-ahead has already been asked for. */
  aheadTo: number;
  /** Reads that did not follow the one before. */
  jumps: number;
  /**
   * Bytes read in the current run of in-order reads. Counted, not measured
   * as a span: with the slack, a random tile that happens to land a few MiB
   * ahead would stretch a span at once (an 8 MiB read-ahead for a viewer).
   */
  runBytes: number;
  /** Where this run of in-order reads began, or how far its pages were left behind (see readAhead). */
  behind: number;
}

/** Replaced objects remembered until their path is opened again. */
const GONE_PATHS = 1024;
/** Read-ahead windows up to this are a reader's first (8, 16, 32 MiB): their runs go in several requests. */
const RAMP_WINDOW = 32 * 2 ** 20;

/**
 * A batch of directory entries for readdir: names, their st_mode, and the
 * offset after each. All offsets 0 is the whole directory at once: libfuse
 * keeps it and answers the rest of that readdir without calling again.
 */
export interface DirBatch {
  names: string[];
  modes: number[];
  nexts: number[];
  /** With `plus`: each entry's attributes, as getattr would answer them (the kernel caches them as a lookup's). */
  attrs?: Attr[];
}

/** Attributes of "." and ".." in a READDIRPLUS batch; the kernel ignores them (libfuse sends no inode for them). */
const DOT_ENTRY: DirEntry = { kind: "dir", mtime: new Date(0) };

/** A complete directory up to this size goes to libfuse whole; bigger ones, and listings still arriving, stream. */
const WHOLE_DIR_ENTRIES = 4096;
/** Directories being streamed, by path (see readdir). */
const STREAMING_SNAPSHOTS = 1024;

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
/** open(2) flags that ask for writing. */
const WRITE_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000; // O_WRONLY O_RDWR O_CREAT O_TRUNC O_APPEND

export class SomFilesystem {
  private readonly handles = new Map<number, Handle>();
  /** The Directory each streamed path is being read from, most recent last. */
  private readonly streaming = new Map<string, Directory>();
  /** Paths whose pinned generation turned out to be gone, with that generation (see open). */
  private readonly gone = new Map<string, string>();
  private nextHandle = 1;

  constructor(
    private readonly ns: Namespace,
    private readonly reader: ObjectReader,
    private readonly opts: FilesystemOptions,
    private readonly series?: SeriesPrefetcher,
  ) {}

  attrOf(e: Entry): Attr {
    const dir = e.kind === "dir";
    const size = dir ? 4096 : e.size;
    return {
      mode: dir ? S_IFDIR | (this.opts.dirMode ?? 0o555) : S_IFREG | (this.opts.fileMode ?? 0o444),
      size, nlink: dir ? 2 : 1, uid: this.opts.uid, gid: this.opts.gid,
      mtime: e.mtime, atime: e.mtime, ctime: e.mtime,
      blocks: Math.ceil(size / 512), blksize: 128 * 1024,
    };
  }

  private async entry(path: string): Promise<Entry> {
    const e = await this.ns.lookup(path);
    if (!e) throw new FsError("ENOENT", `no such file or directory: ${path}`);
    return e;
  }

  async getattr(path: string): Promise<Attr> {
    return this.attrOf(await this.entry(path));
  }

  /**
   * Entries of a directory from `offset` on: "." and ".." at 0 and 1, then
   * the children, each with the offset after it; an empty batch is the end.
   *
   * Reading starts at offset 0 with the current listing, which may still be
   * arriving: it is handed out as far as it has settled, waiting only for the
   * first entry not yet listed. Later offsets continue in the same listing
   * (kept by path: libfuse does opendir itself, saving two round trips per
   * directory on a walk), so positions stay stable even if the listing is
   * refreshed meanwhile. A complete directory of modest size goes whole.
   *
   * `plus` (the kernel asked for READDIRPLUS): each entry comes with its
   * attributes, and never whole — libfuse 3.14 drops the attributes of a
   * directory it buffers itself.
   */
  async readdir(path: string, offset: number, max: number, plus = false): Promise<DirBatch> {
    let dir = offset === 0 ? undefined : this.streaming.get(path);
    if (!dir) {
      dir = await this.ns.opendir(path);
      if (offset === 0) void this.series?.listed(path);
      if (!plus && dir.complete && dir.size <= WHOLE_DIR_ENTRIES) return this.whole(dir);
      this.streaming.delete(path);
      this.streaming.set(path, dir);
      if (this.streaming.size > STREAMING_SNAPSHOTS) this.streaming.delete(this.streaming.keys().next().value!);
    }
    const out: DirBatch = { names: [], modes: [], nexts: [], ...(plus ? { attrs: [] } : {}) };
    for (let o = offset; o < 2 && out.names.length < max; o++) {
      out.names.push(o === 0 ? "." : "..");
      out.modes.push(S_IFDIR);
      out.nexts.push(o + 1);
      out.attrs?.push(this.attrOf(DOT_ENTRY));
    }
    if (out.names.length >= max) return out;
    for (const slot of await dir.read(Math.max(0, offset - 2), max - out.names.length)) {
      out.names.push(slot.name);
      out.modes.push(slot.dir ? S_IFDIR : S_IFREG);
      out.nexts.push(slot.next + 2);
      out.attrs?.push(this.attrOf(slot.entry()));
    }
    if (out.names.length === 0) this.streaming.delete(path);
    return out;
  }

  /** The whole directory with every offset 0 (libfuse's buffered mode). */
  private async whole(dir: Directory): Promise<DirBatch> {
    const out: DirBatch = { names: [".", ".."], modes: [S_IFDIR, S_IFDIR], nexts: [0, 0] };
    for (const slot of await dir.read(0, Number.MAX_SAFE_INTEGER)) {
      out.names.push(slot.name);
      out.modes.push(slot.dir ? S_IFDIR : S_IFREG);
      out.nexts.push(0);
    }
    return out;
  }

  /** Every child name of a directory, read as the kernel would (for tests). */
  async list(path: string): Promise<string[]> {
    const names: string[] = [];
    for (let off = 0; ;) {
      const b = await this.readdir(path, off, 1024);
      names.push(...b.names);
      const next = b.nexts[b.nexts.length - 1];
      if (b.names.length === 0 || next === 0) return names.filter((n) => n !== "." && n !== "..");
      off = next!;
    }
  }

  /**
   * Opens a file, pinned to the generation its entry names. After a read
   * found that generation gone (the object was replaced), the entry is
   * looked up afresh; if it now names another generation, this open answers
   * ESTALE once, on purpose: the kernel then looks the path up again
   * (LOOKUP_REVAL), takes the new size and mtime, and retries the open —
   * so the next open reads the new object with a size to match.
   *
   * `backing`: the caller will ask backingFd for this handle, so a small
   * object the disk tier holds is checked first, if it was not already.
   */
  async open(path: string, flags: number, backing = false): Promise<number> {
    if (flags & WRITE_FLAGS) throw new FsError("EROFS", `read-only filesystem: ${path}`);
    const e = await this.entry(path);
    if (e.kind === "dir") throw new FsError("EISDIR", `is a directory: ${path}`);
    const goneGeneration = this.gone.get(path);
    if (goneGeneration !== undefined) {
      this.gone.delete(path);
      if (e.source.kind === "object" && e.source.generation !== goneGeneration) {
        throw new FsError("ESTALE", `${path} was replaced (generation ${goneGeneration} → ${e.source.generation}); the kernel looks it up again`, { routine: true });
      }
    }
    const fd = this.nextHandle++;
    // Pinned: reads use this generation even if the listing changes.
    const target = e.source.kind === "object" ? { ...e.source, size: e.size } : undefined;
    this.handles.set(fd, { path, entry: e, ...(target ? { target } : {}), next: 0, window: 0, aheadTo: 0, jumps: 0, runBytes: 0, behind: 0 });
    if (target) {
      this.reader.opening(target);
      void this.series?.opened(path);
    }
    if (target && backing) await this.reader.prepareBacking(target, true);
    return fd;
  }

  /**
   * A file the binding opened itself (fuse/resident-paths.ts), told after
   * the fact: it moves the series window on and counts as a read of the
   * object, as an open whose reads came from memory would (`backed`: one
   * passed through to its disk-tier file, whose reads the kernel makes).
   */
  async openedNatively(path: string, backed = false): Promise<void> {
    this.nativeOpen++;
    void this.series?.opened(path);
    if (backed) return;
    try {
      const e = await this.entry(path);
      if (e.kind === "file" && e.source.kind === "object") this.reader.wholeInMemory({ ...e.source, size: e.size });
    } catch {
      // gone since: nothing to count
    }
  }

  releasedNatively(): void {
    this.nativeOpen--;
  }

  /** Handles the binding opened itself and has not released. */
  private nativeOpen = 0;

  /** Told when a path's object turns out replaced: what answers opens of it elsewhere must stop (resident paths). */
  whenReplaced: ((path: string) => void) | undefined;

  /** Copies up to `length` bytes at `position` into `target`; returns the count. */
  async readInto(fd: number, position: number, length: number, target: Uint8Array): Promise<number> {
    const h = this.handles.get(fd);
    if (!h) throw new FsError("EBADF", `bad file handle ${fd}`);
    const f = h.entry;
    if (f.source.kind === "inline") {
      const end = Math.min(f.size, position + length, position + target.length);
      return position >= end ? 0 : f.source.data.copy(target, 0, position, end);
    }
    if (!h.target) return 0;
    this.readAhead(h, h.target, position, length);
    try {
      return await this.reader.readInto(h.target, position, length, target);
    } catch (err) {
      if (err instanceof FsError && err.code === "ESTALE") this.replaced(h.path, h.target.generation);
      throw err;
    }
  }

  /**
   * All of an open file's bytes when they are in memory now — an inline
   * file's, or a small object's the memory cache holds (counted as read,
   * as a read of it would be) — for the FUSE layer to answer its reads
   * without asking again; undefined otherwise (big objects, not cached yet).
   */
  residentBytes(fd: number): Buffer[] | undefined {
    const h = this.handles.get(fd);
    if (!h) return undefined;
    const f = h.entry;
    if (f.source.kind === "inline") return [f.source.data.subarray(0, f.size)];
    return h.target && this.reader.wholeInMemory(h.target);
  }

  /**
   * The descriptor of the disk-tier file holding all of an open file's
   * bytes, checked and unchanged since, for the FUSE layer to have the
   * kernel read it itself (passthrough); undefined otherwise. Valid until
   * the caller's synchronous code ends.
   */
  backingFd(fd: number): number | undefined {
    const h = this.handles.get(fd);
    return h?.target ? this.reader.backingFd(h.target) : undefined;
  }

  /** A read found this handle's generation gone: the next open of the path must not pin it again. */
  private replaced(path: string, generation: string): void {
    this.ns.forget(path);
    this.whenReplaced?.(path);
    this.gone.delete(path);
    this.gone.set(path, generation);
    if (this.gone.size > GONE_PATHS) this.gone.delete(this.gone.keys().next().value!);
  }

  /** readInto, into a fresh Buffer (for callers without one). */
  async read(fd: number, position: number, length: number): Promise<Buffer> {
    const size = this.handles.get(fd)?.entry.size ?? 0;
    const out = Buffer.allocUnsafe(Math.max(0, Math.min(length, size - position)));
    return out.subarray(0, await this.readInto(fd, position, length, out));
  }

  /**
   * Grows the window while reads follow each other and fetches that far
   * ahead; a read elsewhere (random access, a header peek) resets it, so
   * only sequential readers cause read-ahead.
   */
  private readAhead(h: Handle, t: ReadTarget, position: number, length: number): void {
    const { slack, chunk } = this.opts.readAhead;
    const sequential = h.next > 0 && position >= h.next - slack && position <= h.next + slack;
    const end = position + length;
    if (sequential && this.opts.readAhead.max > 0) {
      h.next = Math.max(h.next, end);
      h.runBytes += length;
      // Pages well behind a sequential reader (twice the slack: the kernel's reads arrive out of
      // order by that much) are in the kernel's page cache now; the memory cache lets them go, so a
      // stream through a slide does not push out everything else, and their memory is read into
      // again (read/page-recycler.ts) instead of fresh memory for each page.
      const behind = h.next - 2 * slack;
      if (behind > h.behind) {
        this.reader.leaveBehind(t, h.behind, behind);
        h.behind = behind;
      }
      if (h.jumps > 0 && h.runBytes < this.opts.readAhead.afterJump) return;
      h.window = h.window === 0 ? this.opts.readAhead.initial : Math.min(this.opts.readAhead.max, h.window * 2);
      // What the window newly covers, once it is a whole chunk: long requests, not one per kernel read.
      const from = Math.max(h.next, h.aheadTo);
      const to = Math.min(t.size, h.next + h.window);
      if (to - from >= Math.min(chunk, h.window) || (to === t.size && to > from)) {
        const upTo = Math.min(t.size, Math.ceil(to / chunk) * chunk);
        // Only as far as the budget let it: the rest is asked for again on a later read. While the
        // window is small the reader is just starting, and reads the first runs in order as they
        // arrive: each in 4 requests, so it is not held to one stream's speed (64 MiB/s in the bench).
        h.aheadTo = this.reader.readAhead(t, from, upTo - from, h.window <= RAMP_WINDOW ? 4 : 1);
      }
    } else {
      // A first read anywhere but near the start is a jump too (a viewer seeking to a tile). Near:
      // the kernel's read-ahead for a reader starting at 0 may reach us first (libfuse 3 has several
      // threads), and that reader is sequential from the start.
      if ((h.next > 0 || position > slack) && ++h.jumps === this.opts.randomAfter) this.reader.fill(t);
      h.window = 0;
      h.next = end;
      h.runBytes = length;
      h.aheadTo = 0;
      h.behind = position;
    }
  }

  release(fd: number): void {
    this.handles.delete(fd);
  }

  get openFiles(): number {
    return this.handles.size + this.nativeOpen;
  }
}
