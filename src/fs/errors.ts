/** A filesystem outcome with a POSIX meaning; mapped to errno in src/fuse/errno.ts. */
export type FsErrorCode = "ENOENT" | "ENOTDIR" | "EISDIR" | "EROFS" | "EIO" | "EBADF" | "ESTALE" | "EACCES" | "ENAMETOOLONG";

export class FsError extends Error {
  /** An outcome that is part of normal work (logged at debug), whatever its code. */
  readonly routine: boolean;

  constructor(readonly code: FsErrorCode, message: string, options?: { cause?: unknown; routine?: boolean }) {
    super(message, options);
    this.name = "FsError";
    this.routine = options?.routine ?? false;
  }
}
