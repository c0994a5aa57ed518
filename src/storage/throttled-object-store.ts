// --limit-bytes-per-sec and --limit-ops-per-sec: every request (each attempt:
// this sits below the retries) takes one op token, and media reads take
// their bytes, before they are sent. A whole-object read of unknown length
// pays for its bytes after they arrive, which the requests after it wait for.
import type { Bytes } from "./bytes.js";
import type { ByteRange, ByteSink, ListOptions, ListPage, ObjectInfo, ObjectStore, ObjectStreamer, StreamPurpose } from "./object-store.js";
import type { Clock } from "../util/clock.js";
import { TokenBucket } from "../util/token-bucket.js";

export interface Limits {
  bytesPerSec?: number;
  opsPerSec?: number;
}

export class ThrottledObjectStore implements ObjectStore, ObjectStreamer {
  private readonly bytes?: TokenBucket;
  private readonly ops?: TokenBucket;

  /** `waited` hears how long each request waited, per limit (metrics). */
  constructor(
    private readonly inner: ObjectStore & ObjectStreamer,
    limits: Limits,
    clock: Clock,
    private readonly waited?: (limit: "bytes" | "ops", ms: number) => void,
  ) {
    // A second's worth of burst: short bursts pass, sustained use is held to the rate.
    if (limits.bytesPerSec) this.bytes = new TokenBucket(limits.bytesPerSec, limits.bytesPerSec, clock);
    if (limits.opsPerSec) this.ops = new TokenBucket(limits.opsPerSec, Math.max(1, limits.opsPerSec), clock);
  }

  get bucket(): string {
    return this.inner.bucket;
  }

  /** Waits for an op token, and for a media read (`bytes` given; 0 when unknown) until the byte bucket is out of debt. */
  private async admit(bytes?: number): Promise<void> {
    if (this.ops) this.waited?.("ops", await this.ops.take(1));
    if (this.bytes && bytes !== undefined) this.waited?.("bytes", await this.bytes.take(bytes));
  }

  /** Bytes of a read whose length was not known before it was sent. */
  private settle(bytes: number): void {
    if (this.bytes && bytes > 0) void this.bytes.take(bytes);
  }

  async checkBucket(): Promise<void> {
    await this.admit();
    return this.inner.checkBucket();
  }

  async list(opts: ListOptions): Promise<ListPage> {
    await this.admit();
    return this.inner.list(opts);
  }

  async stat(name: string): Promise<ObjectInfo> {
    await this.admit();
    return this.inner.stat(name);
  }

  async read(name: string, generation: string, range?: ByteRange, crc32c?: string): Promise<Buffer> {
    await this.admit(range ? range.end - range.start : 0);
    const b = await this.inner.read(name, generation, range, crc32c);
    if (!range) this.settle(b.length);
    return b;
  }

  async readBytes(name: string, generation: string, range?: ByteRange, crc32c?: string): Promise<Bytes> {
    await this.admit(range ? range.end - range.start : 0);
    const b = await this.inner.readBytes(name, generation, range, crc32c);
    if (!range) this.settle(b.length);
    return b;
  }

  async stream(name: string, generation: string, range: ByteRange | undefined, sink: ByteSink, purpose?: StreamPurpose): Promise<number> {
    await this.admit(range ? range.end - range.start : 0);
    const n = await this.inner.stream(name, generation, range, sink, purpose);
    if (!range) this.settle(n);
    return n;
  }
}
