// Memory for response bodies, used over and over. A page the daemon touches
// for the first time costs a page fault per 4 KiB (~1.8 us here), and on a
// VM that hands free memory back to its host (free page reporting, as here)
// the first touch after an idle spell costs a host fault too: a cold cat of
// 512 MiB started after 40 s idle cost the daemon 1.2-1.9 s of system time
// instead of 0.5 s (~110k faults; up to 21 us each in the bench). A page
// given back here is handed out again instead, already in memory, and is no
// garbage for the collector either.
//
// Only whoever knows no one can read a page any more may give it back (see
// read/page-recycler.ts); a page never given back is left to the garbage
// collector like any Buffer, which is always safe.
//
// A fresh daemon has nothing given back yet: its first read-ahead is all
// first touches. A mount may reserve memory (--prealloc): pages touched as
// it starts, on the free list for the first reader, and room on the list
// for as many again later, as long as the memory cache has that room free
// (so pages on the list and bytes in the cache together stay within the
// cache's capacity, whatever else fills the cache).
import { setImmediate as yieldLoop } from "node:timers/promises";

export interface PoolStats {
  /** Pages allocated (first touched) as a reader needed them. */
  made: number;
  /** Pages handed out from the free list (given back, or prefilled): already in memory. */
  reused: number;
  /** Pages given back while the free list was full, or let go from it when the cache needed the room (left to the collector). */
  dropped: number;
  /** Pages allocated and touched ahead of any reader (reserve()). */
  prefilled: number;
}

/** Pages touched per turn of the event loop while prefilling: ~1-5 ms here, more while the host faults. */
const PREFILL_TURN = 4;

export class PagePool {
  private readonly free: Buffer[] = [];
  /** The ArrayBuffers this pool made: only those (whole) are taken back. */
  private readonly ours = new WeakSet<ArrayBuffer>();
  readonly stats: PoolStats = { made: 0, reused: 0, dropped: 0, prefilled: 0 };
  /** Bytes the free list may hold beyond maxFree, while `room()` has them (reserve()). */
  private reserved = 0;
  private room: () => number = () => 0;
  /**
   * Fill every page given back with this byte (SOM_PAGE_PERTURB, for tests
   * and debugging, like glibc's MALLOC_PERTURB_): a page handed out again
   * while someone still reads it then shows as wrong bytes, not stale ones.
   */
  perturb: number | undefined;

  /** `maxFree`: bytes kept on the free list at most (the rest go to the collector). */
  constructor(readonly pageSize: number, private readonly maxFree: number) {}

  /** A page of pageSize bytes, not zeroed. */
  take(): Buffer {
    const b = this.free.pop();
    if (b) {
      this.stats.reused++;
      return b;
    }
    const page = Buffer.allocUnsafeSlow(this.pageSize);
    this.ours.add(page.buffer as ArrayBuffer);
    this.stats.made++;
    return page;
  }

  /** Whether `b` is exactly one whole page of this pool (a view of all of it). */
  owns(b: Buffer): boolean {
    return b.byteOffset === 0 && b.length === this.pageSize && b.buffer.byteLength === this.pageSize && this.ours.has(b.buffer as ArrayBuffer);
  }

  /** Takes back a page nobody reads any more; false if it is left to the collector instead. */
  give(b: Buffer): boolean {
    if (!this.owns(b)) return false;
    if ((this.free.length + 1) * this.pageSize > this.limit()) {
      this.stats.dropped++;
      return false;
    }
    if (this.perturb !== undefined) b.fill(this.perturb);
    this.free.push(b);
    return true;
  }

  /**
   * Lets the free list hold up to `bytes` more than maxFree while `room()`
   * (the memory cache's free bytes) has them, and touches that many pages
   * now, a few per turn of the event loop, onto the list. Resolves with the
   * bytes prefilled; `stop` ends it early.
   */
  async reserve(bytes: number, room: () => number, stop: () => boolean = () => false): Promise<number> {
    this.reserved = Math.max(0, bytes);
    this.room = room;
    let n = 0;
    while ((n + 1) * this.pageSize <= bytes && !stop() && (this.free.length + 1) * this.pageSize <= this.limit()) {
      // Written whole: the kernel (and a host that took the memory back) maps it now, not in a read.
      const page = Buffer.allocUnsafeSlow(this.pageSize).fill(0);
      this.ours.add(page.buffer as ArrayBuffer);
      this.stats.prefilled++;
      this.free.push(page);
      if (++n % PREFILL_TURN === 0) await yieldLoop();
    }
    return n * this.pageSize;
  }

  /** Lets go of free pages over the limit (the cache took the room they had): called as the cache grows. */
  trim(): void {
    if (this.reserved === 0) return;
    const limit = this.limit();
    while (this.free.length > 0 && this.free.length * this.pageSize > limit) {
      this.free.pop();
      this.stats.dropped++;
    }
  }

  /** Bytes the free list may hold now. */
  limit(): number {
    return this.maxFree + Math.min(this.reserved, Math.max(0, this.room()));
  }

  /** Bytes on the free list now. */
  get freeBytes(): number {
    return this.free.length * this.pageSize;
  }
}

/** SOM_PAGE_PERTURB=<byte>: see PagePool.perturb. */
export function perturbFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env.SOM_PAGE_PERTURB;
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 && n <= 255 ? n : 0xa5;
}
