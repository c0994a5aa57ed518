// Where a response body's bytes are read to: Buffers of one page (256 KiB,
// the memory cache's unit) each, filled in order from the body's first
// byte. Ranged requests start on a page of the object, so each cached page
// is one Buffer of its own: evicting it frees exactly its memory, and the
// garbage collector tracks one ArrayBuffer per page instead of one per
// socket read (64 KiB or less; the forced full collections of
// util/memory.ts cost about twice as much with four times the buffers).
// The socket reads straight into `room()` (net's `onread`); bytes that
// arrived elsewhere (with the head, in a chunked body) are copied in with
// `append`. Whole pages come from one pool for the process (util/page-pool.ts):
// the read path gives back the pages it knows nobody reads any more, and
// they are read into again rather than fresh memory.
import { GARBAGE_ALLOWANCE } from "../memory.js";
import { PagePool, perturbFromEnv } from "../page-pool.js";

export const BODY_PAGE = 256 * 1024;

/**
 * The process's body pages. Its free list holds half of util/memory.ts's
 * garbage allowance at most, which it stands in for (a page on the list is
 * memory the collector would otherwise be holding), plus what a mount
 * reserves out of its cache's room (--prealloc, PagePool.reserve).
 */
export const bodyPagePool = new PagePool(BODY_PAGE, GARBAGE_ALLOWANCE / 2);
bodyPagePool.perturb = perturbFromEnv();

export class BodyPages {
  private page: Buffer | undefined;
  private filled = 0;

  /** `expected`: the body's length when the head gave one (no page is made larger than what is left of it). */
  constructor(private expected: number | undefined) {}

  /**
   * Free space in the current page for the next read, at most `limit`
   * bytes (what is left of the body), so a read never crosses a page. A
   * full page is followed by a new one.
   */
  room(limit: number): Buffer {
    if (!this.page || this.filled === this.page.length) this.next(limit);
    return this.page!.subarray(this.filled, Math.min(this.page!.length, this.filled + limit));
  }

  /** `n` bytes were read into the last `room()`; they are returned as a view (the page stays shared). */
  commit(n: number): Buffer {
    const view = this.page!.subarray(this.filled, this.filled + n);
    this.filled += n;
    if (this.expected !== undefined) this.expected -= n;
    return view;
  }

  /** Copies `data` in, page by page; the views of the pages it landed in. */
  append(data: Buffer): Buffer[] {
    const out: Buffer[] = [];
    for (let off = 0; off < data.length;) {
      const room = this.room(this.expected ?? data.length - off);
      const n = data.copy(room, 0, off, Math.min(data.length, off + room.length));
      out.push(this.commit(n));
      off += n;
    }
    return out;
  }

  private next(limit: number): void {
    // Unknown length (chunked, close-framed): pages as large as the bytes at hand, up to a page.
    const size = Math.max(1, Math.min(BODY_PAGE, this.expected ?? limit));
    this.page = size === BODY_PAGE ? bodyPagePool.take() : Buffer.allocUnsafeSlow(size);
    this.filled = 0;
  }
}
