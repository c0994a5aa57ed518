import type { Bytes } from "./bytes.js";

// The one interface the filesystem sees of an object store. Implementations:
// GcsObjectStore (the real thing, via @google-cloud/storage), MemoryObjectStore
// (tests), and decorators of the same shape (RetryingObjectStore).

export interface ObjectInfo {
  name: string;
  size: number;
  /** GCS generation, as a decimal string; with name it identifies immutable bytes. */
  generation: string;
  updated: Date;
  /** base64 big-endian CRC32C, when the store reports one. */
  crc32c?: string;
  md5Hash?: string;
  contentType?: string;
}

export interface ListOptions {
  prefix: string;
  delimiter?: string;
  pageToken?: string;
  maxResults?: number;
  startOffset?: string;
  endOffset?: string;
}

export interface ListPage {
  objects: ObjectInfo[];
  prefixes: string[];
  nextPageToken?: string;
}

export interface ByteRange {
  /** inclusive */
  start: number;
  /** exclusive */
  end: number;
}

export interface ObjectStore {
  readonly bucket: string;
  /** Throws BucketNotFoundError or UnreachableError when the bucket can't be used. */
  checkBucket(): Promise<void>;
  /** One page of a listing. */
  list(opts: ListOptions): Promise<ListPage>;
  /** Metadata of the live generation. Throws NotFoundError. */
  stat(name: string): Promise<ObjectInfo>;
  /**
   * Bytes of exactly `generation` (whole object, or `range`). Throws
   * NotFoundError when that generation is gone, TransientError when the
   * response was cut short or the service failed in a way worth retrying.
   * A whole-object read with `crc32c` is verified (IntegrityError, retried).
   */
  read(name: string, generation: string, range?: ByteRange, crc32c?: string): Promise<Buffer>;
  /** The same bytes, checked the same way, as received (chunks not joined). */
  readBytes(name: string, generation: string, range?: ByteRange, crc32c?: string): Promise<Bytes>;
}

/** Receives an object's bytes in order as they arrive; a returned promise holds the stream until it settles. */
export type ByteSink = (chunk: Buffer) => void | Promise<void>;

/** What a stream is for, as metrics count it: a reader's pages, or the disk tier's background fill. */
export type StreamPurpose = "read" | "fill";

/**
 * Streams bytes as they arrive (downloads straight to disk, pages handed to
 * readers one by one). Not retried or verified: the caller restarts the
 * sink on failure.
 */
export interface ObjectStreamer {
  /** Returns the number of bytes delivered. Throws like ObjectStore.read. */
  stream(name: string, generation: string, range: ByteRange | undefined, sink: ByteSink, purpose?: StreamPurpose): Promise<number>;
}

/**
 * Streams with retries: before each attempt after the first, `restart` is
 * called so the sink starts over (bytes moving count as progress).
 */
export interface RestartableStreamer {
  /** `expected`: an attempt that delivers another count of bytes failed (TransientError), and is retried. */
  stream(name: string, generation: string, range: ByteRange | undefined, sink: ByteSink, restart: () => Promise<void>, expected?: number): Promise<number>;
}
