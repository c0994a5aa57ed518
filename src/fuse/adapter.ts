// Translates fuse-native calls into SomFilesystem calls. Every callback gets
// exactly one number — 0, a byte count, or a negative errno — because
// fuse-native hangs the caller forever on anything else. Unexpected errors
// become EIO plus a log line.
//
// Each operation has a deadline here (fuse-native's own timeout is off): a
// call that has not settled by then answers EIO with a log line, so nothing
// can hang a process. readdir has none: a directory still being listed is
// making progress, and the listing fails by itself if it stops (see
// listing/listing-cache.ts).
import type { Attr, SomFilesystem } from "../fs/filesystem.js";
import type { Logger } from "../util/log.js";
import type { FuseOps, FuseStat } from "./binding.js";
import { ERRNO, errnoOf } from "./errno.js";
import type { Passthrough } from "./passthrough.js";
import type { ReadPins } from "./read-pins.js";

export interface AdapterOptions {
  /** Longest any operation but readdir may take before it answers EIO. */
  deadlineMs: number;
  /** Entries handed to libfuse per readdir call (it keeps what fits the kernel's buffer). */
  readdirBatch: number;
}

export const defaultAdapterOptions: AdapterOptions = { deadlineMs: 45_000, readdirBatch: 256 };

const toStat = (a: Attr): FuseStat => a;

/** Numbers per entry in a READDIRPLUS answer, in the order scripts/fuse-native/som.patch reads them. */
const READDIR_ATTRS = 10;

/** A batch's attributes flattened for the binding: what getattr answers, entry by entry. */
export function readdirAttrs(attrs: Attr[]): Float64Array {
  const out = new Float64Array(attrs.length * READDIR_ATTRS);
  let o = 0;
  for (const a of attrs) {
    out[o++] = a.mode;
    out[o++] = a.uid;
    out[o++] = a.gid;
    out[o++] = a.size;
    out[o++] = a.nlink;
    out[o++] = a.blocks;
    out[o++] = a.blksize;
    out[o++] = a.atime.getTime();
    out[o++] = a.mtime.getTime();
    out[o++] = a.ctime.getTime();
  }
  return out;
}

/** An error already logged within this long is logged again only at debug level (one failing object, many kernel reads). */
const REPEAT_WINDOW_MS = 60_000;

/** Told of every operation answered through the one answer path (metrics): its name, seconds taken, and 0 or the negative errno. */
export type OpObserver = (op: string, seconds: number, errno: number) => void;

/**
 * `pins`: where a file whose whole content is in memory when it is opened
 * is handed to the binding, which then answers its reads itself.
 * `passthrough`: where a file whose whole content the disk tier holds,
 * checked, is opened with that file as its backing file, which the kernel
 * then reads itself (preferred: no copy through the daemon at all).
 */
export function fuseOps(fs: SomFilesystem, log: Logger, opts: AdapterOptions = defaultAdapterOptions, observe?: OpObserver, pins?: ReadPins,
  passthrough?: Passthrough): FuseOps {
  const recent = new Map<string, number>();
  /** Logs an unexpected failure once per window; repeats go to debug. */
  const logFailure = (what: string, message: string): void => {
    const key = `${what.replace(/ @\d+(\+\d+)?$/, "")}: ${message}`;
    const now = Date.now();
    const last = recent.get(key);
    if (last !== undefined && now - last < REPEAT_WINDOW_MS) return log.debug(`${what}: ${message} (again)`);
    recent.set(key, now);
    if (recent.size > 1000) for (const [k, t] of recent) if (now - t >= REPEAT_WINDOW_MS) recent.delete(k);
    log.error(`${what}: ${message}`);
  };

  /**
   * Runs `work` and answers exactly once: through `ok` with its result, or
   * through `fail` with an errno — the one for its error, or EIO when
   * `deadlineMs` passes first (null: no deadline).
   */
  function answer<T>(what: string, work: () => Promise<T> | T, ok: (v: T) => void, fail: (errno: number) => void, deadlineMs: number | null = opts.deadlineMs): void {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const started = performance.now();
    const finish = (reply: () => number): void => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      const errno = reply();
      observe?.(what.slice(0, what.indexOf(" ")), (performance.now() - started) / 1000, errno);
    };
    const failWith = (errno: number): number => {
      fail(errno);
      return errno;
    };
    if (deadlineMs !== null) {
      timer = setTimeout(() => finish(() => {
        log.error(`${what}: no answer in ${Math.round(deadlineMs / 1000)} s; answering EIO`);
        return failWith(ERRNO.EIO);
      }), deadlineMs);
    }
    let p: Promise<T>;
    try {
      p = Promise.resolve(work());
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (v) => finish(() => {
        try {
          ok(v);
          return 0;
        } catch (err) {
          log.error(`${what}: ${String(err)}`);
          return failWith(ERRNO.EIO);
        }
      }),
      (err: unknown) => finish(() => {
        const { errno, expected } = errnoOf(err);
        const message = err instanceof Error ? err.message : String(err);
        if (expected) log.debug(`${what}: ${message}`);
        else logFailure(what, message);
        return failWith(errno);
      }),
    );
  }

  const readOnly = (cb: (code: number) => void): void => cb(ERRNO.EROFS);

  return {
    init: (cb) => cb(0),
    statfs: (_path, cb) =>
      cb(0, { bsize: 4096, frsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, favail: 0, fsid: 0, flag: 1 /* ST_RDONLY */, namemax: 255 }),
    getattr: (path, cb) => answer(`getattr ${path}`, () => fs.getattr(path), (a) => cb(0, toStat(a)), (e) => cb(e)),
    fgetattr: (path, _fd, cb) => answer(`fgetattr ${path}`, () => fs.getattr(path), (a) => cb(0, toStat(a)), (e) => cb(e)),
    access: (path, mode, cb) =>
      answer(`access ${path}`, () => fs.getattr(path), () => cb(mode & 2 ? ERRNO.EROFS : 0), (e) => cb(e)),
    // No opendir/releasedir: libfuse answers them itself (see SomFilesystem.readdir).
    readdir: (path, _fd, offset, plus, cb) =>
      answer(`readdir ${path} @${offset}`, () => fs.readdir(path, offset, opts.readdirBatch, plus),
        (b) => cb(0, b.names, b.modes, b.nexts, b.attrs && readdirAttrs(b.attrs)), (e) => cb(e), null),
    open: (path, flags, cb) => answer(`open ${path}`, () => fs.open(path, flags, passthrough?.wants(path)), (fd) => {
      // Decided here, with the answer: nothing else runs between the two, so the passthrough
      // table and the kernel agree on every open, and the disk tier's descriptor is still
      // open when the binding hands it to the kernel. The kernel sends no read of fd before it.
      const backing = passthrough ? passthrough.opened(path, fd, passthrough.wants(path) ? fs.backingFd(fd) : undefined) : 0;
      const parts = !backing && pins && fs.residentBytes(fd);
      if (parts) pins!.pin(fd, parts);
      cb(0, fd, backing);
    }, (e) => cb(e)),
    read: (path, fd, buf, len, pos, cb) =>
      answer(`read ${path} @${pos}+${len}`, () => fs.readInto(fd, pos, len, buf), (n) => cb(n), (e) => cb(e)),
    release: (path, fd, cb) => answer(`release ${path}`, () => {
      pins?.unpin(fd);
      passthrough?.released(fd);
      fs.release(fd);
    }, () => cb(0), (e) => cb(e)),
    write: (_p, _fd, _b, _l, _pos, cb) => cb(ERRNO.EROFS),
    create: (_p, _m, cb) => cb(ERRNO.EROFS),
    truncate: (_p, _s, cb) => readOnly(cb),
    ftruncate: (_p, _fd, _s, cb) => readOnly(cb),
    unlink: (_p, cb) => readOnly(cb),
    rename: (_s, _d, cb) => readOnly(cb),
    link: (_s, _d, cb) => readOnly(cb),
    symlink: (_s, _d, cb) => readOnly(cb),
    mkdir: (_p, _m, cb) => readOnly(cb),
    rmdir: (_p, cb) => readOnly(cb),
    chmod: (_p, _m, cb) => readOnly(cb),
    chown: (_p, _u, _g, cb) => readOnly(cb),
    utimens: (_p, _a, _m, cb) => readOnly(cb),
    mknod: (_p, _m, _d, cb) => readOnly(cb),
    setxattr: (_p, _n, _v, _pos, _f, cb) => readOnly(cb),
    removexattr: (_p, _n, cb) => readOnly(cb),
  };
}
