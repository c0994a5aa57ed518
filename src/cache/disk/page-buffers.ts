// Pages read from the disk tier, in a fixed set of buffers used over and
// over. A slide read at random from the disk tier moves a GB/s or more; a
// fresh Buffer per page, kept in the memory LRU, made that much garbage per
// second and held the daemon's RSS hundreds of MiB above --cache-size. The
// kernel already caches the block files (and the mount's own file pages),
// so all that is worth keeping here is the last few pages: a tile read of
// less than a page is often followed by the rest of it. A 1 MiB FUSE read
// takes its four pages one after another, so one slot per reader at a time.

interface Slot {
  key: string | undefined;
  buf: Buffer;
  length: number;
  /** Set while the page is being read into the buffer: the slot is not reused until it settles. */
  filling?: Promise<boolean>;
  /** Readers waiting for the fill to hand them the page: not reused under them either. */
  waiters: number;
}

export class PageBuffers {
  /** Slots holding a page, least recently used first. */
  private readonly held = new Map<string, Slot>();
  private readonly free: Slot[] = [];
  private made = 0;

  constructor(private readonly pageSize: number, private readonly slots: number) {}

  /**
   * Page `key` (`length` bytes) handed to `consume`, which must copy what it
   * needs before returning: the buffer is reused afterwards. Read by `fill`
   * into a buffer unless held already; undefined if `fill` says the bytes
   * are not there or not intact.
   */
  async use<T>(key: string, length: number, fill: (into: Buffer) => Promise<boolean>, consume: (page: Buffer) => T): Promise<T | undefined> {
    for (;;) {
      const slot = this.held.get(key);
      if (!slot) break;
      this.held.delete(key);
      this.held.set(key, slot);
      if (slot.filling) {
        slot.waiters++;
        const ok = await slot.filling;
        slot.waiters--;
        if (!ok) return undefined;
      }
      // Reused for another page while this caller waited its turn: look again.
      if (slot.key === key) return consume(slot.buf.subarray(0, slot.length));
    }
    const slot = this.take();
    slot.key = key;
    slot.length = length;
    this.held.set(key, slot);
    const filling = fill(slot.buf.subarray(0, length)).catch(() => false);
    slot.filling = filling;
    const ok = await filling;
    delete slot.filling;
    if (!ok) {
      this.held.delete(key);
      slot.key = undefined;
      this.free.push(slot);
      this.trim();
      return undefined;
    }
    const out = consume(slot.buf.subarray(0, length));
    this.trim();
    return out;
  }

  /** Buffers allocated now (`slots` at most once no reader needs more). */
  get allocated(): number {
    return this.made;
  }

  private take(): Slot {
    const f = this.free.pop();
    if (f) return f;
    if (this.made >= this.slots) {
      const s = this.evictable();
      if (s) {
        this.held.delete(s.key!);
        s.key = undefined;
        return s;
      }
    }
    // Under the limit, or every slot is being filled (more readers at once than slots): one more for now.
    this.made++;
    return { key: undefined, buf: Buffer.allocUnsafe(this.pageSize), length: 0, waiters: 0 };
  }

  /** The least recently used slot nobody is filling or waiting for. */
  private evictable(): Slot | undefined {
    for (const s of this.held.values()) if (!s.filling && s.waiters === 0) return s;
    return undefined;
  }

  /** Back to `slots` buffers once the readers that needed more are done. */
  private trim(): void {
    while (this.made > this.slots) {
      const s = this.free.pop() ?? this.evictable();
      if (!s) return;
      if (s.key !== undefined) this.held.delete(s.key);
      s.key = undefined;
      this.made--;
    }
  }
}
