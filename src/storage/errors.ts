// Typed errors at the storage edge. The filesystem maps them to errno in one
// place (src/fuse/errno.ts); `cause` keeps the original for --debug.

export class StorageError extends Error {
  /** The HTTP status the service answered with, when it answered (metrics label requests by it). */
  readonly status: number | undefined;

  constructor(message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options);
    this.name = new.target.name;
    this.status = options?.status;
  }
}

export class NotFoundError extends StorageError {}
export class BucketNotFoundError extends StorageError {}
export class PreconditionError extends StorageError {}
export class PermissionError extends StorageError {}
/** Worth retrying: 408/429/5xx, resets, short bodies, checksum mismatches. */
export class TransientError extends StorageError {}
/** The endpoint can't be reached at all (DNS, refused). Also retried while mounted. */
export class UnreachableError extends TransientError {}
export class IntegrityError extends TransientError {}
