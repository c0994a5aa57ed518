// One daemon per cache directory: an exclusive flock(2) on a lock file,
// held for the life of the process (the kernel drops it when the process
// dies, however it dies). Node has no flock; koffi calls libc's, as for
// umount2.
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import koffi from "koffi";
import { libcFunction } from "../../util/libc.js";

const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = 11;

const libc = libcFunction<(fd: number, op: number) => number>("int flock(int fd, int operation)");

export class DirLockedError extends Error {}

/** Takes the lock at `path` (writing our pid into it) or throws DirLockedError naming the holder. */
export function lockDir(path: string, what: string): { release(): void } {
  const fd = openSync(path, "a+");
  if (libc()(fd, LOCK_EX | LOCK_NB) !== 0) {
    const errno = koffi.errno();
    closeSync(fd);
    const holder = readFileSync(path, "utf8").trim();
    if (errno === EWOULDBLOCK) throw new DirLockedError(`${what} is in use by another som mount${holder ? ` (pid ${holder})` : ""}`);
    throw new DirLockedError(`${what}: cannot lock ${path} (errno ${errno})`);
  }
  writeFileSync(path, `${process.pid}\n`);
  return {
    release: () => closeSync(fd),
  };
}
