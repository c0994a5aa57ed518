// The one place errors become errno values. Anything unexpected is EIO.
import { FsError, type FsErrorCode } from "../fs/errors.js";
import { NotFoundError, PermissionError, TransientError } from "../storage/errors.js";

export const ERRNO: Record<FsErrorCode | "EPERM" | "ENOSYS", number> = {
  EPERM: -1, ENOENT: -2, EIO: -5, EBADF: -9, EACCES: -13, ENOTDIR: -20, EISDIR: -21,
  EROFS: -30, ENAMETOOLONG: -36, ENOSYS: -38, ESTALE: -116,
};

/** A negative errno for any thrown value; `expected` is false when it deserves a log line. */
export function errnoOf(err: unknown): { errno: number; expected: boolean } {
  if (err instanceof FsError) return { errno: ERRNO[err.code], expected: err.routine || (err.code !== "EIO" && err.code !== "ESTALE") };
  if (err instanceof NotFoundError) return { errno: ERRNO.ENOENT, expected: true };
  if (err instanceof PermissionError) return { errno: ERRNO.EACCES, expected: false };
  if (err instanceof TransientError) return { errno: ERRNO.EIO, expected: false };
  return { errno: ERRNO.EIO, expected: false };
}
