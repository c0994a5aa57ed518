// A block file's header (block-file.ts) lives in an extended attribute of
// the file, user.som.block, not in the file itself: the file holds exactly
// the block's bytes, so that for a whole small object the kernel can read it
// on behalf of a FUSE handle (passthrough, fuse/passthrough.ts). The
// attribute is set on the temporary file before it is renamed into place, so
// a block file is never in place without its header. Node has no xattr
// calls: koffi calls libc's, on its own threads (.async), so the event loop
// never waits on the disk (the block checker's thread calls it directly).
import type { KoffiFunc } from "koffi";
import { libcFunction } from "../../util/libc.js";

const NAME = "user.som.block";
/** Larger than any header: 28 bytes, 4 per 256 KiB page of an 8 MiB extent, a key of ≤ 1 KiB object name. */
const MAX_HEADER = 16 * 1024;

type GetAttr = (fd: number, name: string, value: Buffer, size: number) => number;
type SetAttr = (fd: number, name: string, value: Buffer, size: number, flags: number) => number;
const fgetxattr = libcFunction<KoffiFunc<GetAttr>>("long fgetxattr(int fd, const char *name, void *value, size_t size)");
const fsetxattr = libcFunction<KoffiFunc<SetAttr>>("int fsetxattr(int fd, const char *name, const void *value, size_t size, int flags)");

/** The header stored with the open file fd, or undefined if it has none (or it cannot be read). */
export function readHeaderAttr(fd: number): Promise<Buffer | undefined> {
  const buf = Buffer.allocUnsafe(MAX_HEADER);
  return new Promise((resolve) => {
    fgetxattr().async(fd, NAME, buf, buf.length, (err: unknown, n: number) => resolve(err || n <= 0 ? undefined : buf.subarray(0, n)));
  });
}

/** readHeaderAttr, blocking: for the block checker's own thread (check-worker.ts), which serves nothing else. */
export function readHeaderAttrSync(fd: number): Buffer | undefined {
  const buf = Buffer.allocUnsafe(MAX_HEADER);
  const n = fgetxattr()(fd, NAME, buf, buf.length);
  return n > 0 ? buf.subarray(0, n) : undefined;
}

/** Stores `header` with the open file fd; rejects if it cannot (no user attributes on this file system, or no room). */
export function writeHeaderAttr(fd: number, header: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    fsetxattr().async(fd, NAME, header, header.length, 0, (err: unknown, r: number) => {
      if (err) reject(err instanceof Error ? err : new Error(String(err)));
      else if (r !== 0) reject(new Error("cannot set the extended attribute user.som.block"));
      else resolve();
    });
  });
}
