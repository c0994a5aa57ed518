// Every call of the store retried under the one retry policy (util/retry.ts):
// transient failures (5xx, 408, 429, resets, timeouts, short bodies, checksum
// mismatches) until the call succeeds or its deadline passes. Start-up's
// bucket check too — one 503 must not fail a mount — except that a refused
// connection or an unknown host fails it at once: before anything is
// mounted that is a wrong endpoint, not a blip (while mounted it is retried).
import type { Clock } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import { withRetries, type RetryPolicy } from "../util/retry.js";
import { TransientError, UnreachableError } from "./errors.js";
import type { Bytes } from "./bytes.js";
import type { ByteRange, ByteSink, ListOptions, ListPage, ObjectInfo, ObjectStore, ObjectStreamer, RestartableStreamer, StreamPurpose } from "./object-store.js";


export class RetryingObjectStore implements ObjectStore {
  constructor(
    private readonly inner: ObjectStore,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly policy?: RetryPolicy,
    private readonly random: () => number = Math.random,
    /** Told of each retry, by kind of call (metrics). */
    private readonly onRetry?: (kind: string) => void,
  ) {}

  get bucket(): string {
    return this.inner.bucket;
  }

  private retry<T>(kind: string, what: string, op: () => Promise<T>, retryable: (e: unknown) => boolean = (e) => e instanceof TransientError): Promise<T> {
    const onRetry = this.onRetry;
    return withRetries({
      clock: this.clock, log: this.log, random: this.random, ...(this.policy ? { policy: this.policy } : {}), ...(onRetry ? { onRetry: () => onRetry(kind) } : {}),
    }, what, retryable, op);
  }

  checkBucket(): Promise<void> {
    return this.retry("bucket", `bucket ${this.bucket}`, () => this.inner.checkBucket(), (e) => e instanceof TransientError && !(e instanceof UnreachableError));
  }

  list(opts: ListOptions): Promise<ListPage> {
    return this.retry("list", `list ${opts.prefix}`, () => this.inner.list(opts));
  }

  stat(name: string): Promise<ObjectInfo> {
    return this.retry("stat", `stat ${name}`, () => this.inner.stat(name));
  }

  read(name: string, generation: string, range?: ByteRange, crc32c?: string): Promise<Buffer> {
    return this.retry("read", `read ${name}`, () => this.inner.read(name, generation, range, crc32c));
  }

  readBytes(name: string, generation: string, range?: ByteRange, crc32c?: string): Promise<Bytes> {
    return this.retry("read", `read ${name}`, () => this.inner.readBytes(name, generation, range, crc32c));
  }
}

/** Streams (a reader's pages, the disk tier's background fill) under the same policy: a failed attempt starts the sink over. */
export class RetryingStreamer implements RestartableStreamer {
  constructor(
    private readonly inner: ObjectStreamer,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly policy?: RetryPolicy,
    private readonly onRetry?: (kind: string) => void,
    private readonly purpose: StreamPurpose = "fill",
  ) {}

  stream(name: string, generation: string, range: ByteRange | undefined, sink: ByteSink, restart: () => Promise<void>, expected?: number): Promise<number> {
    let attempt = 0;
    const onRetry = this.onRetry;
    const ctx = { clock: this.clock, log: this.log, ...(this.policy ? { policy: this.policy } : {}), ...(onRetry ? { onRetry: () => onRetry(this.purpose) } : {}) };
    // Progress is bytes no attempt had delivered before: an endpoint that cuts every attempt at
    // the same place makes none, so the deadline ends the retries.
    let furthest = 0;
    return withRetries(ctx, `read ${name}`, (e) => e instanceof TransientError, async (progress) => {
      if (attempt++ > 0) await restart();
      let at = 0;
      const n = await this.inner.stream(name, generation, range, (chunk) => {
        at += chunk.length;
        if (at > furthest) {
          furthest = at;
          progress();
        }
        return sink(chunk);
      }, this.purpose);
      if (expected !== undefined && n !== expected) throw new TransientError(`read ${name}: got ${n} bytes, expected ${expected}`);
      return n;
    });
  }
}
