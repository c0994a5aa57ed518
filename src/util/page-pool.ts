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

export interface PoolStats {
  /** Pages allocated (first touched) here. */
  made: number;
  /** Pages handed out again after being given back. */
  reused: number;
  /** Pages given back while the free list was full (left to the collector). */
  dropped: number;
}

export class PagePool {
  private readonly free: Buffer[] = [];
  /** The ArrayBuffers this pool made: only those (whole) are taken back. */
  private readonly ours = new WeakSet<ArrayBuffer>();
  readonly stats: PoolStats = { made: 0, reused: 0, dropped: 0 };
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
    if ((this.free.length + 1) * this.pageSize > this.maxFree) {
      this.stats.dropped++;
      return false;
    }
    if (this.perturb !== undefined) b.fill(this.perturb);
    this.free.push(b);
    return true;
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
