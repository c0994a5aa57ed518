// An ObjectStore (and streamer) that counts what passes through it: placed
// directly above the real store, below the retries, so every attempt is one
// request with its own outcome and time.
import { StorageError } from "../storage/errors.js";
import type { Bytes } from "../storage/bytes.js";
import type { ByteRange, ByteSink, ListOptions, ListPage, ObjectInfo, ObjectStore, ObjectStreamer, StreamPurpose } from "../storage/object-store.js";
import type { Logger } from "../util/log.js";
import type { MountMetrics } from "./metrics.js";

/** ok, the HTTP status the service answered with, or network (no answer). */
function outcome(err: unknown): string {
  if (err instanceof StorageError && err.status !== undefined) return String(err.status);
  return "network";
}

export class MeteredObjectStore implements ObjectStore, ObjectStreamer {
  /** Each request is also a debug log line with its fields (bucket, path, generation, status, duration). */
  constructor(private readonly inner: ObjectStore & ObjectStreamer, private readonly m: MountMetrics, private readonly log?: Logger) {}

  get bucket(): string {
    return this.inner.bucket;
  }

  private async time<T>(kind: string, about: { path?: string; generation?: string; range?: ByteRange }, op: () => Promise<T>, bytes?: (v: T) => number): Promise<T> {
    const end = this.m.gcsSeconds.startTimer({ kind });
    let status = "ok";
    let size: number | undefined;
    try {
      const v = await op();
      if (bytes) {
        size = bytes(v);
        this.m.gcsBytes.inc({ kind }, size);
      }
      return v;
    } catch (err) {
      status = outcome(err);
      throw err;
    } finally {
      this.m.gcsRequests.inc({ kind, status });
      const seconds = end();
      this.log?.debug(`gcs ${kind}`, {
        bucket: this.bucket, path: about.path, generation: about.generation,
        range: about.range ? `${about.range.start}-${about.range.end - 1}` : undefined, status, bytes: size, duration_ms: Math.round(seconds * 1000),
      });
    }
  }

  checkBucket(): Promise<void> {
    return this.time("bucket", {}, () => this.inner.checkBucket());
  }

  list(opts: ListOptions): Promise<ListPage> {
    return this.time("list", { path: opts.prefix }, () => this.inner.list(opts));
  }

  stat(name: string): Promise<ObjectInfo> {
    return this.time("stat", { path: name }, () => this.inner.stat(name));
  }

  read(name: string, generation: string, range?: ByteRange, crc32c?: string): Promise<Buffer> {
    return this.time("read", { path: name, generation, ...(range ? { range } : {}) }, () => this.inner.read(name, generation, range, crc32c), (b) => b.length);
  }

  readBytes(name: string, generation: string, range?: ByteRange, crc32c?: string): Promise<Bytes> {
    return this.time("read", { path: name, generation, ...(range ? { range } : {}) }, () => this.inner.readBytes(name, generation, range, crc32c), (b) => b.length);
  }

  /** Streamed reads: a reader's pages, or the background fill (bytes counted as they arrive: a cut stream still moved them). */
  stream(name: string, generation: string, range: ByteRange | undefined, sink: ByteSink, purpose: StreamPurpose = "fill"): Promise<number> {
    return this.time(purpose, { path: name, generation, ...(range ? { range } : {}) }, () => this.inner.stream(name, generation, range, (chunk) => {
      this.m.gcsBytes.inc({ kind: purpose }, chunk.length);
      return sink(chunk);
    }, purpose));
  }
}
