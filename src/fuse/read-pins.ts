// Reads answered without JavaScript. When a file is opened whose whole
// content the daemon already holds in memory (a small object the series
// prefetcher fetched ahead, a sidecar), its Buffers are handed to the
// binding with the file handle ("pinned"): libfuse's own thread then answers
// each read of that handle by copying from them (pinned_read in
// scripts/fuse-native/som.patch), with no hop to the JavaScript thread, which
// may be busy receiving the next files. Open and release still come here;
// release unpins.
//
// A pin keeps its Buffers alive until the handle is released, even if the
// memory cache evicts them meanwhile; the bytes pinned at once are capped so
// a program holding many files open can't hold the daemon above
// --cache-size by more than that.

/** What the binding offers (the patched fuse-native's pin, unpin and pinStats). */
export interface PinTarget {
  pin(fd: number, parts: Buffer[]): boolean;
  unpin(fd: number): boolean;
  /** [reads answered from pins, their bytes, handles pinned now] */
  pinStats(): number[];
}

export interface PinStats {
  reads: number;
  bytes: number;
  pinned: number;
}

export class ReadPins {
  private target: PinTarget | undefined;
  /** Bytes of each pinned handle. */
  private readonly sizes = new Map<number, number>();
  private total = 0;

  constructor(private readonly maxBytes: number) {}

  /** The mounted binding; pins are refused until then. */
  attach(target: PinTarget): void {
    this.target = target;
  }

  /** Pins `fd` to `parts` unless that would pass the cap; whether it did. */
  pin(fd: number, parts: Buffer[]): boolean {
    if (!this.target) return false;
    let size = 0;
    for (const p of parts) size += p.length;
    if (this.total + size > this.maxBytes || !this.target.pin(fd, parts)) return false;
    this.sizes.set(fd, size);
    this.total += size;
    return true;
  }

  /** Before the handle is released: its reads go to JavaScript again and its Buffers may be freed. */
  unpin(fd: number): void {
    const size = this.sizes.get(fd);
    if (size === undefined) return;
    this.sizes.delete(fd);
    this.total -= size;
    this.target?.unpin(fd);
  }

  /** Bytes pinned now. */
  get pinnedBytes(): number {
    return this.total;
  }

  stats(): PinStats {
    const [reads = 0, bytes = 0, pinned = 0] = this.target?.pinStats() ?? [];
    return { reads, bytes, pinned };
  }
}
