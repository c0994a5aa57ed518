// Mount lifecycle: check the mountpoint (recovering a stale mount a killed
// daemon left behind), mount read-only through fuse-native, and unmount with
// umount2(2) — never by spawning fusermount (see unmount.ts).
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import Fuse, { type FuseOps } from "fuse-native";
import type { Logger } from "../util/log.js";
import { fuseMountAt } from "./mount-table.js";
import { unmount } from "./unmount.js";

export interface FuseMountOptions {
  /** Attribute and entry timeouts for the kernel, in seconds. */
  metadataTtlSeconds: number;
  negativeTtlSeconds: number;
  allowOther: boolean;
  fsname: string;
  /** Per-operation timeout in fuse-native, ms; must exceed the retry deadline. */
  operationTimeoutMs: number;
  debug: boolean;
}

export class MountError extends Error {}

const MAX_READAHEAD = 2 * 1024 * 1024;

/**
 * fuse-native builds its -o string from a fixed set of options; "ro" and
 * "negative_timeout" are not among them, so they are appended here.
 */
class ReadOnlyFuse extends Fuse {
  constructor(mnt: string, ops: FuseOps, opts: ConstructorParameters<typeof Fuse>[2], private readonly extra: string[]) {
    super(mnt, ops, opts);
  }

  protected override _fuseOptions(): string {
    const base = super._fuseOptions();
    return base ? `${base},${this.extra.join(",")}` : `-o${this.extra.join(",")}`;
  }
}

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
  return abs;
}

export class FuseMount {
  private closed = false;

  private constructor(readonly mountpoint: string, private readonly log: Logger) {}

  static async mount(mountpoint: string, ops: FuseOps, opts: FuseMountOptions, log: Logger): Promise<FuseMount> {
    const ttl = opts.metadataTtlSeconds;
    const fuse = new ReadOnlyFuse(
      mountpoint,
      ops,
      {
        timeout: opts.operationTimeoutMs,
        allowOther: opts.allowOther,
        fsname: opts.fsname,
        subtype: "som",
        maxRead: 128 * 1024,
        debug: opts.debug && process.env.SOM_FUSE_DEBUG === "1",
        // Objects are immutable per generation: the kernel may keep pages
        // until an open sees a changed mtime or size (auto_cache).
        autoCache: true,
        ...(ttl > 0 ? { attrTimeout: ttl, entryTimeout: ttl } : {}),
      },
      // Reads arrive 128 KiB at a time (libfuse 2's ceiling); a larger kernel
      // read-ahead lets several be in flight for one sequential reader
      // instead of one round trip through the daemon after another.
      ["ro", "default_permissions", `negative_timeout=${opts.negativeTtlSeconds}`, `max_readahead=${MAX_READAHEAD}`],
    );
    await new Promise<void>((resolvePromise, reject) => {
      fuse.mount((err) => (err ? reject(new MountError(`cannot mount at ${mountpoint}: ${err.message}`)) : resolvePromise()));
    });
    return new FuseMount(mountpoint, log);
  }

  /** Detaches the mount; open files finish, new opens see the directory beneath. */
  unmount(): void {
    if (this.closed) return;
    this.closed = true;
    unmount(this.mountpoint, true);
    this.log.info(`unmounted ${this.mountpoint}`);
  }

  /** Resolves when the mount disappears from under the daemon (som umount, fusermount -u). */
  async whenGone(pollMs = 1000): Promise<void> {
    for (;;) {
      await new Promise((r) => setTimeout(r, pollMs));
      if (this.closed) return;
      if (!(await fuseMountAt(this.mountpoint))) {
        this.closed = true;
        return;
      }
    }
  }
}
