// fuse-native 2.2.6 as the project builds it: scripts/fuse-native/som.patch
// applied, compiled against libfuse 3.17 (built from Debian's source) into .tools/fuse-native by the
// setup scripts. The patch ports it to libfuse 3 (reads of up to 1 MiB, not
// 128 KiB; the operations seen here are unchanged), gives readdir real offsets (a directory is served
// while it is still being listed, and no stat object is built per entry) and
// a callback when the FUSE session ends (after a lazy unmount, when the last
// open file closes), and pinned reads: a handle whose bytes are handed over
// at open has its reads answered by libfuse's thread (see read-pins.ts), and
// passthrough: an open answered with a backing file is read by the kernel
// from that file (see passthrough.ts), and resident paths: opens of a file
// held whole in memory answered by libfuse's thread (see resident-paths.ts). These are the project's own declarations of what
// src/fuse uses; callbacks take a number first — 0 or a negative errno —
// because fuse-native hangs the caller forever on anything else.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

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
  /**
   * Entries from `offset` on, each with its st_mode and the offset after it
   * (patched). When the kernel asks for READDIRPLUS (`plus`), `attrs` holds
   * READDIR_ATTRS numbers per entry (see readdirAttrs in adapter.ts) and the
   * kernel caches them as a lookup's.
   */
  readdir?(path: string, fd: number, offset: number, plus: boolean,
    cb: (code: number, names?: string[], modes?: number[], nexts?: number[], attrs?: Float64Array) => void): void;
  /** `backingId` (patched): the kernel reads this handle from that backing file itself. */
  open?(path: string, flags: number, cb: (code: number, fd?: number, backingId?: number) => void): void;
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
  /** fuse-native's own per-operation timeout; som answers every call itself and passes false. */
  timeout?: number | false;
  debug?: boolean;
  allowOther?: boolean;
  fsname?: string;
  subtype?: string;
  kernelCache?: boolean;
  autoCache?: boolean;
  entryTimeout?: number;
  attrTimeout?: number;
  maxRead?: number;
  /** Called once the kernel has ended the FUSE session (patched). */
  onSessionEnd?: () => void;
}

export interface FuseInstance {
  readonly mnt: string;
  mount(cb: (err: Error | null) => void): void;
  /** Builds the -o string from the options; replaced to add ones fuse-native does not know. */
  _fuseOptions(): string;
  /** Reads of fd answered by libfuse's thread from `parts` until unpin (patched; see read-pins.ts). */
  pin(fd: number, parts: Buffer[]): boolean;
  unpin(fd: number): boolean;
  /** [reads answered from pins, their bytes, handles pinned now] */
  pinStats(): number[];
  /** Whether the kernel agreed to passthrough at init (patched; see passthrough.ts). */
  passthrough(): boolean;
  /** A backing id (> 0) for an open fd, or a negative errno; the fd may be closed at once. */
  backingOpen(fd: number): number;
  /** 0 or a negative errno. */
  backingClose(id: number): number;
  /** Opens of `path` answered by libfuse's thread from `parts` for `ttlMs` (patched; see resident-paths.ts). */
  resident(path: string, parts: Buffer[], ttlMs: number): boolean;
  /** Whether `path` was resident; handles already open keep their bytes. */
  unresident(path: string): boolean;
  /**
   * Opens of `path` answered by libfuse's thread for `ttlMs`, passed through to backing id
   * `backingId` (`size` bytes); false if `path` is registered already (patched; see resident-paths.ts).
   */
  residentBacked(path: string, backingId: number, size: number, ttlMs: number): boolean;
  /**
   * `fn` is told of handles opened (kind 1; 3 passed through) and released (2) by libfuse's thread,
   * and of passed-through entries gone (4, with their backing id as `fhs[i]`), in order.
   */
  onNativeEvents(fn: (kinds: number[], fhs: number[], paths: (string | null)[]) => void): void;
}

export interface FuseClass {
  new (mnt: string, ops: FuseOps, opts?: FuseOptions): FuseInstance;
  readonly SOM_PATCH?: number;
}

/** Where the setup scripts build the binding (the repository's .tools/, beside dist/). */
export const BINDING_DIR = fileURLToPath(new URL("../../.tools/fuse-native", import.meta.url));

export class BindingMissingError extends Error {}

let loaded: FuseClass | undefined;

/** The patched fuse-native class; throws BindingMissingError when it was not built. */
export function fuseClass(): FuseClass {
  if (loaded) return loaded;
  if (!existsSync(`${BINDING_DIR}/build/Release/fuse.node`)) {
    throw new BindingMissingError(`the FUSE binding is not built (${BINDING_DIR}); run scripts/setup.sh`);
  }
  const Fuse = createRequire(import.meta.url)(BINDING_DIR) as FuseClass;
  if (Fuse.SOM_PATCH !== 5) throw new BindingMissingError(`${BINDING_DIR} is not fuse-native with this checkout's scripts/fuse-native/som.patch; run scripts/setup.sh`);
  loaded = Fuse;
  return Fuse;
}
