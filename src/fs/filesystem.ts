// The filesystem core: getattr/readdir/open/read/release over a Namespace and
// an ObjectReader. It knows nothing of FUSE; src/fuse adapts it, and unit
// tests drive it directly. Everything here is read-only.
import type { Entry, FileEntry, Namespace } from "../namespace/namespace.js";
import type { ObjectReader } from "../read/object-reader.js";
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
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
/** open(2) flags that ask for writing. */
const WRITE_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000; // O_WRONLY O_RDWR O_CREAT O_TRUNC O_APPEND

export class SomFilesystem {
  private readonly handles = new Map<number, FileEntry>();
  private nextHandle = 1;

  constructor(private readonly ns: Namespace, private readonly reader: ObjectReader, private readonly opts: FilesystemOptions) {}

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
    this.handles.set(fd, e); // pinned: reads use this generation even if the listing changes
    return fd;
  }

  async read(fd: number, position: number, length: number): Promise<Buffer> {
    const f = this.handles.get(fd);
    if (!f) throw new FsError("EBADF", `bad file handle ${fd}`);
    if (f.source.kind === "inline") return f.source.data.subarray(position, Math.min(f.size, position + length));
    return this.reader.read({ ...f.source, size: f.size }, position, length);
  }

  release(fd: number): void {
    this.handles.delete(fd);
  }

  get openFiles(): number {
    return this.handles.size;
  }
}
