// Retries transient failures with capped exponential backoff and full jitter,
// within a deadline per call. The deadline must stay below the FUSE operation
// timeout so a failing read answers EIO instead of being cut off by fuse-native.
import type { Clock } from "../util/clock.js";
import type { Logger } from "../util/log.js";
import { TransientError } from "./errors.js";
import type { ByteRange, ListOptions, ListPage, ObjectInfo, ObjectStore } from "./object-store.js";

export interface RetryPolicy {
  /** Total time allowed for one call, retries included. */
  deadlineMs: number;
  initialDelayMs: number;
  maxDelayMs: number;
  maxAttempts: number;
}

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

  private async retry<T>(what: string, op: () => Promise<T>): Promise<T> {
    const start = this.clock.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await op();
      } catch (err) {
        if (!(err instanceof TransientError) || attempt >= this.policy.maxAttempts) throw err;
        const cap = Math.min(this.policy.maxDelayMs, this.policy.initialDelayMs * 2 ** (attempt - 1));
        const delay = Math.round(this.random() * cap);
        if (this.clock.now() - start + delay > this.policy.deadlineMs) throw err;
        this.log.debug(`${what}: attempt ${attempt} failed (${err.message}); retrying in ${delay} ms`);
        await this.clock.sleep(delay);
      }
    }
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
}
