// Mount lifecycle: check the mountpoint (recovering a stale mount a killed
// daemon left behind), mount read-only through fuse-native, and unmount with
// umount2(2) — never by spawning fusermount (see unmount.ts).
//
// The daemon lives exactly as long as the FUSE session: the patched binding
// says when the kernel has ended it. After `som umount` that is at once; after
// a lazy unmount (`som umount --lazy`, `fusermount -uz`) it is when the last
// open file is closed, so readers in progress finish.
import { readdir, stat } from "node:fs/promises";
import { resolve } from "node:path";
import type { Logger } from "../util/log.js";
import { fuseClass, type FuseOps } from "./binding.js";
import { fuseMountAt } from "./mount-table.js";
import { MAX_READAHEAD, raiseReadahead } from "./readahead.js";
import type { Passthrough } from "./passthrough.js";
import type { ReadPins } from "./read-pins.js";
import type { ResidentPaths } from "./resident-paths.js";
import { unmount } from "./unmount.js";

export interface FuseMountOptions {
  /** Attribute and entry timeouts for the kernel, in seconds. */
  metadataTtlSeconds: number;
  negativeTtlSeconds: number;
  allowOther: boolean;
  fsname: string;
  debug: boolean;
}

export class MountError extends Error {}

/** Makes `mountpoint` usable: exists, is a directory, and is not a live or dead mount. */
export async function prepareMountpoint(mountpoint: string, log: Logger): Promise<string> {
  const abs = resolve(mountpoint);
  try {
    const st = await stat(abs);
    if (!st.isDirectory()) throw new MountError(`mountpoint ${mountpoint} is not a directory`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOTCONN" || code === "ECONNABORTED") {
      log.warn(`${abs} is a stale mount left by a daemon that died; unmounting it`);
      unmount(abs, true);
      return prepareMountpoint(mountpoint, log);
    }
    if (code === "ENOENT") throw new MountError(`mountpoint ${mountpoint} does not exist`);
    if (code === "ENOTDIR") throw new MountError(`mountpoint ${mountpoint} is not a directory`);
    if (err instanceof MountError) throw err;
    throw new MountError(`mountpoint ${mountpoint}: ${(err as Error).message}`);
  }
  if (await fuseMountAt(abs)) throw new MountError(`${mountpoint} is already mounted (som umount ${mountpoint} first)`);
  // libfuse would refuse with a hint about a "nonempty" option som does not have.
  if ((await readdir(abs)).length > 0) throw new MountError(`mountpoint ${mountpoint} is not empty (som mounts only on an empty directory)`);
  return abs;
}

/**
 * Holds opens that arrive between the mount appearing and its read-ahead
 * being raised (a few milliseconds): the kernel sets an open file's
 * read-ahead from the device when the open returns, so one answered before
 * the raise would read with the default (128 KiB ahead, not 2 MiB) for as
 * long as it stays open. `som mount --background` returns after the raise
 * anyway; this covers readers of a foreground mount that start as soon as it
 * appears. (The window is a few milliseconds: interleaved runs of a cold cat
 * opened the moment the mount appeared were 1.20 s without this, 1.09 s
 * with it, medians of 5 — within this machine's noise.)
 */
export class OpenGate {
  private held: (() => void)[] | undefined = [];

  wrap(ops: FuseOps): FuseOps {
    const open = ops.open;
    if (!open) return ops;
    return {
      ...ops,
      open: (path, flags, cb) => {
        if (this.held) this.held.push(() => open(path, flags, cb));
        else open(path, flags, cb);
      },
    };
  }

  /** Lets held opens (and all later ones) through. */
  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const go of held) go();
  }
}

export class FuseMount {
  private closed = false;
  private sessionEnded = false;
  private readonly ended: Promise<void>;

  private constructor(readonly mountpoint: string, private readonly log: Logger, ended: Promise<void>) {
    this.ended = ended.then(() => {
      this.sessionEnded = true;
    });
  }

  static async mount(mountpoint: string, ops: FuseOps, opts: FuseMountOptions, log: Logger, pins?: ReadPins, passthrough?: Passthrough, resident?: ResidentPaths): Promise<FuseMount> {
    const ttl = opts.metadataTtlSeconds;
    const Fuse = fuseClass();
    let endSession!: () => void;
    const ended = new Promise<void>((r) => (endSession = r));
    const gate = new OpenGate();
    const fuse = new Fuse(mountpoint, gate.wrap(ops), {
      // Every operation is answered by src/fuse/adapter.ts within its own
      // deadline; fuse-native's blanket one would cut off a big listing.
      timeout: false,
      allowOther: opts.allowOther,
      fsname: opts.fsname,
      subtype: "som",
      debug: opts.debug && process.env.SOM_FUSE_DEBUG === "1",
      // Objects are immutable per generation: the kernel may keep pages
      // until an open sees a changed mtime or size (auto_cache). Not with
      // passthrough: libfuse marks a re-open FOPEN_KEEP_CACHE after the
      // open is answered, and the kernel fails a passthrough open so marked
      // (EIO); re-opens of a file then read from the disk tier's file.
      autoCache: passthrough === undefined,
      ...(ttl > 0 ? { attrTimeout: ttl, entryTimeout: ttl } : {}),
      onSessionEnd: () => endSession(),
    });
    // fuse-native builds its -o string from a fixed set of options; these are
    // not among them. No max_read: on libfuse 3 the kernel's own limit
    // (max_pages, 1 MiB) applies; max_readahead lets the kernel ask for that
    // much ahead of one reader (see raiseReadahead).
    const extra = ["ro", "default_permissions", `negative_timeout=${opts.negativeTtlSeconds}`, `max_readahead=${MAX_READAHEAD}`];
    const base = fuse._fuseOptions.bind(fuse);
    fuse._fuseOptions = () => {
      const b = base();
      return b ? `${b},${extra.join(",")}` : `-o${extra.join(",")}`;
    };
    await new Promise<void>((resolvePromise, reject) => {
      fuse.mount((err) => (err ? reject(new MountError(`cannot mount at ${mountpoint}: ${err.message}`)) : resolvePromise()));
    });
    pins?.attach(fuse);
    resident?.attach(fuse, passthrough);
    passthrough?.attach(fuse);
    const why = await raiseReadahead(mountpoint);
    gate.release();
    if (why) log.debug(`read-ahead of ${mountpoint} stays at the kernel's default (reads of 256 KiB): ${why}`);
    return new FuseMount(mountpoint, log, ended);
  }

  /** Detaches the mount; open files finish, new opens see the directory beneath. */
  unmount(): void {
    if (this.closed) return;
    this.closed = true;
    unmount(this.mountpoint, true);
    this.log.info(`unmounted ${this.mountpoint}`);
  }

  /**
   * Resolves when the FUSE session is over. `openFiles` is asked once the
   * mount has left the mount table while the session goes on (a lazy
   * unmount with files open), to say what the daemon is still doing.
   */
  async whenGone(openFiles: () => number, pollMs = 1000): Promise<void> {
    let detached = false;
    const poll = setInterval(() => {
      if (detached || this.closed) return;
      void fuseMountAt(this.mountpoint).then((m) => {
        if (m || detached || this.sessionEnded) return;
        detached = true;
        this.log.info(`${this.mountpoint} was unmounted; serving the ${openFiles()} files still open until they are closed`);
      });
    }, pollMs);
    try {
      await this.ended;
    } finally {
      clearInterval(poll);
    }
  }
}
