// The project's own declarations for fuse-native 2.2.6 (it ships none): only
// what src/fuse uses. Callbacks take a number first — 0 or a negative errno.
declare module "fuse-native" {
  export interface FuseStat {
    mode: number;
    uid: number;
    gid: number;
    size: number;
    nlink: number;
    mtime: Date;
    atime: Date;
    ctime: Date;
    blocks?: number;
    blksize?: number;
    ino?: number;
  }

  export interface FuseStatfs {
    bsize: number;
    frsize: number;
    blocks: number;
    bfree: number;
    bavail: number;
    files: number;
    ffree: number;
    favail: number;
    fsid: number;
    flag: number;
    namemax: number;
  }

  type Done = (code: number) => void;

  export interface FuseOps {
    init?(cb: Done): void;
    statfs?(path: string, cb: (code: number, st?: FuseStatfs) => void): void;
    getattr?(path: string, cb: (code: number, st?: FuseStat) => void): void;
    fgetattr?(path: string, fd: number, cb: (code: number, st?: FuseStat) => void): void;
    access?(path: string, mode: number, cb: Done): void;
    readdir?(path: string, cb: (code: number, names?: string[], stats?: FuseStat[]) => void): void;
    open?(path: string, flags: number, cb: (code: number, fd?: number) => void): void;
    opendir?(path: string, flags: number, cb: (code: number, fd?: number) => void): void;
    read?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (bytesOrErr: number) => void): void;
    release?(path: string, fd: number, cb: Done): void;
    releasedir?(path: string, fd: number, cb: Done): void;
    write?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (bytesOrErr: number) => void): void;
    create?(path: string, mode: number, cb: (code: number, fd?: number) => void): void;
    truncate?(path: string, size: number, cb: Done): void;
    ftruncate?(path: string, fd: number, size: number, cb: Done): void;
    unlink?(path: string, cb: Done): void;
    rename?(src: string, dest: string, cb: Done): void;
    link?(src: string, dest: string, cb: Done): void;
    symlink?(src: string, dest: string, cb: Done): void;
    mkdir?(path: string, mode: number, cb: Done): void;
    rmdir?(path: string, cb: Done): void;
    chmod?(path: string, mode: number, cb: Done): void;
    chown?(path: string, uid: number, gid: number, cb: Done): void;
    utimens?(path: string, atime: number, mtime: number, cb: Done): void;
    mknod?(path: string, mode: number, dev: number, cb: Done): void;
    setxattr?(path: string, name: string, value: Buffer, position: number, flags: number, cb: Done): void;
    removexattr?(path: string, name: string, cb: Done): void;
  }

  export interface FuseOptions {
    timeout?: number | false;
    displayFolder?: string;
    debug?: boolean;
    force?: boolean;
    mkdir?: boolean;
    allowOther?: boolean;
    uid?: number;
    gid?: number;
    fsname?: string;
    subtype?: string;
    kernelCache?: boolean;
    autoCache?: boolean;
    entryTimeout?: number;
    attrTimeout?: number;
    maxRead?: number;
  }

  export default class Fuse {
    constructor(mnt: string, ops: FuseOps, opts?: FuseOptions);
    readonly mnt: string;
    mount(cb: (err: Error | null) => void): void;
    protected _fuseOptions(): string;
  }
}
