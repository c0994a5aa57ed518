// Unmounting without a child process. A daemon that spawns `fusermount`
// hands it an inherited /dev/fuse descriptor, and a child that outlives the
// daemon keeps a dead mount hung; so the daemon (and `som umount`) call
// umount2(2) directly through koffi's FFI. That needs root (or CAP_SYS_ADMIN);
// see README for unprivileged use.
import koffi from "koffi";
import { libcFunction } from "../util/libc.js";
import { mounts } from "./mount-table.js";

const MNT_DETACH = 2;

const libc = libcFunction<(target: string, flags: number) => number>("int umount2(const char *target, int flags)");

export class UnmountError extends Error {
  constructor(readonly errno: number, message: string) {
    super(message);
  }
}

const REASONS: Record<number, string> = { 1: "operation not permitted (unmounting needs root)", 16: "the mount is busy", 22: "not a mount point", 2: "no such directory" };

/** Unmounts `path`; `lazy` detaches it now and lets open files finish (MNT_DETACH). */
export function unmount(path: string, lazy: boolean): void {
  if (libc()(path, lazy ? MNT_DETACH : 0) === 0) return;
  const errno = koffi.errno();
  throw new UnmountError(errno, `cannot unmount ${path}: ${REASONS[errno] ?? `errno ${errno}`}`);
}

/**
 * Detaches every mount at or below any of `dirs`, deepest first (so one on top
 * of another comes off before it), and returns their paths: for removing
 * scratch directories without deleting anything through a mount left there.
 */
export async function detachBelow(dirs: readonly string[]): Promise<string[]> {
  const under = (m: string): boolean => dirs.some((d) => m === d || m.startsWith(`${d}/`));
  const found = (await mounts()).map((r) => r.mountpoint).filter(under).sort((a, b) => b.length - a.length);
  const detached: string[] = [];
  for (const m of found) {
    try {
      unmount(m, true);
      detached.push(m);
    } catch (err) {
      if (!(err instanceof UnmountError && err.errno === 22)) throw err; // not one by now: gone meanwhile
    }
  }
  return detached;
}
