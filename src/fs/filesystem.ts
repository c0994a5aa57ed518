// The filesystem core: getattr/readdir/open/read/release over a Namespace and
// an ObjectReader. It knows nothing of FUSE; src/fuse adapts it, and unit
// tests drive it directly. Everything here is read-only.
import type { Entry, FileEntry, Namespace } from "../namespace/namespace.js";
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
  /**
   * Read-ahead for a sequential reader: the window starts at `initial` and
   * doubles per in-order read up to `max`. A read counts as in order when it
   * starts within `slack` of where the last one ended: the kernel sends a
   * sequential reader's requests a few at a time, not always in order.
   */
  readAhead: { initial: number; max: number; slack: number };
}

/** An open file: pinned to the entry (generation) it opened, and how it has been read. */
interface Handle {
  entry: FileEntry;
  target?: ReadTarget;
  /** Where the last read ended. */
  next: number;
  window: number;
  /** How far read-ahead has already been asked for. */
  aheadTo: number;
}


const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
/** open(2) flags that ask for writing. */
const WRITE_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000; // O_WRONLY O_RDWR O_CREAT O_TRUNC O_APPEND

export class SomFilesystem {
  private readonly handles = new Map<number, Handle>();
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
      mode: dir ? S_IFDIR | 0o555 : S_IFREG | 0o444,
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

  async readdir(path: string): Promise<{ names: string[]; attrs: Attr[] }> {
    const children = await this.ns.readdir(path);
    void this.series?.listed(path, children);
    const names = [".", ".."];
    const attrs: Attr[] = [];
    const self = this.attrOf({ kind: "dir", mtime: new Date(0) });
    attrs.push(self, self);
    for (const [name, e] of children) {
      names.push(name);
      attrs.push(this.attrOf(e));
    }
    return { names, attrs };
  }

  async open(path: string, flags: number): Promise<number> {
    if (flags & WRITE_FLAGS) throw new FsError("EROFS", `read-only filesystem: ${path}`);
    const e = await this.entry(path);
    if (e.kind === "dir") throw new FsError("EISDIR", `is a directory: ${path}`);
    const fd = this.nextHandle++;
    // Pinned: reads use this generation even if the listing changes.
    const target = e.source.kind === "object" ? { ...e.source, size: e.size } : undefined;
    this.handles.set(fd, { entry: e, ...(target ? { target } : {}), next: 0, window: 0, aheadTo: 0 });
    if (target) void this.series?.opened(path);
    return fd;
  }

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
    return this.reader.readInto(h.target, position, length, target);
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
    const { slack } = this.opts.readAhead;
    const sequential = h.next > 0 && position >= h.next - slack && position <= h.next + slack;
    const end = position + length;
    if (sequential && this.opts.readAhead.max > 0) {
      h.window = h.window === 0 ? this.opts.readAhead.initial : Math.min(this.opts.readAhead.max, h.window * 2);
      h.next = Math.max(h.next, end);
      // Only what the window newly covers: a 128 KiB read mostly asks nothing new.
      const from = Math.max(h.next, h.aheadTo);
      const to = h.next + h.window;
      if (to > from) {
        this.reader.readAhead(t, from, to - from);
        h.aheadTo = to;
      }
    } else {
      h.window = 0;
      h.next = end;
      h.aheadTo = 0;
    }
  }

  release(fd: number): void {
    this.handles.delete(fd);
  }

  get openFiles(): number {
    return this.handles.size;
  }
}
