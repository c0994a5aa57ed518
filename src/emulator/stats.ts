/** Request and byte counters, readable over HTTP so tests can assert "nothing was fetched". */
export type Counter = "requests" | "media" | "list" | "metadata" | "upload" | "delete" | "bucket" | "injected503" | "cut" | "unbilled";

export class Stats {
  private counters: Record<Counter, number> = Stats.zero();
  private bytes = 0;
  /** The longest body a media request asked for (its range, or the object). */
  private largestMedia = 0;
  private inFlight = 0;
  private maxInFlight = 0;

  /** A request started; the most ever in progress at once is reported as maxConcurrent. */
  enter(): void {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
  }

  leave(): void {
    this.inFlight--;
  }

  private static zero(): Record<Counter, number> {
    return { requests: 0, media: 0, list: 0, metadata: 0, upload: 0, delete: 0, bucket: 0, injected503: 0, cut: 0, unbilled: 0 };
  }

  count(c: Counter): void {
    this.counters[c]++;
  }

  addBytes(n: number): void {
    this.bytes += n;
  }

  /** A media response of `length` bytes is being sent. */
  mediaLength(length: number): void {
    this.largestMedia = Math.max(this.largestMedia, length);
  }

  reset(): void {
    this.counters = Stats.zero();
    this.bytes = 0;
    this.largestMedia = 0;
    this.maxInFlight = this.inFlight;
  }

  snapshot(): Record<Counter, number> & { mediaBytes: number; largestMedia: number; maxConcurrent: number } {
    return { ...this.counters, mediaBytes: this.bytes, largestMedia: this.largestMedia, maxConcurrent: this.maxInFlight };
  }
}
