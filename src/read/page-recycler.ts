// When a page of a big object may go back to the page pool (util/page-pool.ts).
// The memory cache drops pages (evicted, or left behind by a sequential
// reader), but a read that looked a page up may still be waiting for the
// other pages of its request before it copies them all out: a page handed
// out again meanwhile would be read into by the next response, and that
// read would copy the wrong bytes. So reclamation goes by epochs: each drop
// starts a new epoch, each read notes the epoch it started in, and a dropped
// page is handed out again only once every read that started before its
// drop has ended. Reads that start later cannot reach it (the cache no
// longer has it).
//
// Only pages adopted here are taken back: whole pool pages that the memory
// cache alone holds (the object reader adopts the pages of its streamed
// runs when there is no disk tier to write them out). Dropped pages waiting
// on a slow read are capped; past the cap the oldest are left to the garbage
// collector, which is always safe.
import type { Bytes } from "../storage/bytes.js";
import type { PagePool } from "../util/page-pool.js";
import { noteEvicted } from "../util/memory.js";

export interface RecyclerStats {
  /** Pages given back to the pool. */
  recycled: number;
  /** Dropped pages left to the collector (too many waited on reads). */
  abandoned: number;
}

export class PageRecycler {
  private epoch = 0;
  /** Reads in progress, counted by the epoch they started in (keys ascend: epochs only grow). */
  private readonly reads = new Map<number, number>();
  /** Dropped pages waiting for the reads that started before their drop, oldest first. */
  private readonly waiting: { page: Buffer; epoch: number }[] = [];
  private waitingBytes = 0;
  private readonly adopted = new WeakSet<Buffer>();
  readonly stats: RecyclerStats = { recycled: 0, abandoned: 0 };

  /** `maxWaiting`: bytes of dropped pages that may wait on reads. */
  constructor(private readonly pool: PagePool, private readonly maxWaiting: number) {}

  /** A read that copies out of cached pages starts; the function ends it (once). */
  enter(): () => void {
    const e = this.epoch;
    this.reads.set(e, (this.reads.get(e) ?? 0) + 1);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const n = this.reads.get(e)! - 1;
      if (n > 0) this.reads.set(e, n);
      else {
        this.reads.delete(e);
        this.release();
      }
    };
  }

  /** `page` goes back to the pool when the cache drops it: a whole pool page nothing else holds. */
  adopt(page: Bytes): void {
    if (page instanceof Buffer && this.pool.owns(page)) this.adopted.add(page);
  }

  isAdopted(block: Bytes): boolean {
    return block instanceof Buffer && this.adopted.has(block);
  }

  /** The cache dropped `block`: whether its memory is taken back (then it is no garbage). */
  dropped(block: Bytes): boolean {
    if (!(block instanceof Buffer) || !this.adopted.delete(block)) return false;
    this.epoch++;
    if (this.reads.size === 0) {
      this.giveBack(block);
      return true;
    }
    this.waiting.push({ page: block, epoch: this.epoch });
    this.waitingBytes += block.length;
    while (this.waitingBytes > this.maxWaiting) {
      const w = this.waiting.shift()!;
      this.waitingBytes -= w.page.length;
      this.stats.abandoned++;
      noteEvicted(w.page.length); // garbage now
    }
    return true;
  }

  /** Pages dropped waiting on reads now. */
  get waitingPages(): number {
    return this.waiting.length;
  }

  private release(): void {
    const oldest: number | undefined = this.reads.keys().next().value;
    while (this.waiting.length > 0 && (oldest === undefined || this.waiting[0]!.epoch <= oldest)) {
      const w = this.waiting.shift()!;
      this.waitingBytes -= w.page.length;
      this.giveBack(w.page);
    }
  }

  private giveBack(page: Buffer): void {
    if (this.pool.give(page)) this.stats.recycled++;
    else noteEvicted(page.length); // the free list is full: garbage after all
  }
}
