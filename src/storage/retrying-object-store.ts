// Retries transient failures with capped exponential backoff and full jitter,
// within a deadline per call. The deadline must stay below the FUSE operation
// timeout so a failing read answers EIO instead of being cut off by fuse-native.
import type { Clock } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import { withRetries, type RetryPolicy } from "../util/retry.js";
import { TransientError } from "./errors.js";
import type { Bytes } from "./bytes.js";
import type { ByteRange, ListOptions, ListPage, ObjectInfo, ObjectStore } from "./object-store.js";

export type { RetryPolicy };

export const defaultRetryPolicy: RetryPolicy = { deadlineMs: 30_000, initialDelayMs: 100, maxDelayMs: 4_000, maxAttempts: 10 };

export class RetryingObjectStore implements ObjectStore {
  constructor(
    private readonly inner: ObjectStore,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly policy: RetryPolicy = defaultRetryPolicy,
    private readonly random: () => number = Math.random,
  ) {}

  get bucket(): string {
    return this.inner.bucket;
  }

  private retry<T>(what: string, op: () => Promise<T>): Promise<T> {
    return withRetries({ clock: this.clock, log: this.log, policy: this.policy, random: this.random }, what, (e) => e instanceof TransientError, op);
  }

  checkBucket(): Promise<void> {
    return this.inner.checkBucket(); // startup wants the first answer, not a long wait
  }

  list(opts: ListOptions): Promise<ListPage> {
    return this.retry(`list ${opts.prefix}`, () => this.inner.list(opts));
  }

  stat(name: string): Promise<ObjectInfo> {
    return this.retry(`stat ${name}`, () => this.inner.stat(name));
  }

  read(name: string, generation: string, range?: ByteRange, crc32c?: string): Promise<Buffer> {
    return this.retry(`read ${name}`, () => this.inner.read(name, generation, range, crc32c));
  }

  readBytes(name: string, generation: string, range?: ByteRange, crc32c?: string): Promise<Bytes> {
    return this.retry(`read ${name}`, () => this.inner.readBytes(name, generation, range, crc32c));
  }
}
