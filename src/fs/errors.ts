/** A filesystem outcome with a POSIX meaning; mapped to errno in src/fuse/errno.ts. */
export type FsErrorCode = "ENOENT" | "ENOTDIR" | "EISDIR" | "EROFS" | "EIO" | "EBADF" | "ESTALE" | "EACCES" | "ENAMETOOLONG";

export class FsError extends Error {
  constructor(readonly code: FsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FsError";
  }
}
