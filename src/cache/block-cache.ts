// Object bytes in memory, bounded by --cache-size. Every key names the object
// generation, so a cached block can never be served for other bytes.
// Blocks put here by prefetching are tracked until first read: one evicted
// unread was fetched for nothing, and that waste is what prefetching
// measures itself by (see read/prefetch-policy.ts).
import { LRUCache } from "lru-cache";
import type { Bytes } from "../storage/bytes.js";
import { noteEvicted } from "../util/memory.js";

export interface PrefetchStats {
  /** Bytes brought in ahead of any reader. */
  prefetched: number;
  /** Of those, bytes a reader asked for later. */
  used: number;
  /** Of those, bytes evicted before anyone read them. */
  wasted: number;
  /** Prefetched bytes in the cache not read yet. */
  unread: number;
}

/** What the memory cache counts about itself (read by metrics at scrape time). */
export interface CacheCounts {
  hits: number;
  misses: number;
  evictions: number;
  evictedBytes: number;
}

export interface BlockCache {
  /** The block, counting a first read of a prefetched block as used. */
  get(key: string): Bytes | undefined;
  /** Whether the block is cached, without touching its recency or counts. */
  has(key: string): boolean;
  /** The block if cached, without touching its recency or counts. */
  peek(key: string): Bytes | undefined;
  set(key: string, block: Bytes, origin?: "demand" | "prefetch"): void;
  /** Drops a block held elsewhere now (the disk tier); not counted as an eviction. */
  delete(key: string): void;
  /** Bytes held now. INVARIANT: <= capacity. */
  readonly size: number;
  readonly capacity: number;
  readonly stats: PrefetchStats;
  /**
   * Told of every block that leaves; true if its memory was taken back for
   * reuse (read/page-recycler.ts), so it is not garbage for util/memory.ts.
   */
  recycle?: ((key: string, block: Bytes) => boolean) | undefined;
}

/** block: a page index, "all" (a whole small object), or "e<n>" (an extent, on disk). */
export function blockKey(name: string, generation: string, block: number | string): string {
  return `${generation}\u0000${block}\u0000${name}`;
}

export class LruBlockCache implements BlockCache {
  private readonly lru: LRUCache<string, Bytes>;
  private readonly unread = new Set<string>();
  readonly stats: PrefetchStats = { prefetched: 0, used: 0, wasted: 0, unread: 0 };
  readonly counts: CacheCounts = { hits: 0, misses: 0, evictions: 0, evictedBytes: 0 };
  /** Told of every block that leaves, whatever the reason (what holds its Buffers elsewhere lets go). */
  onDrop: ((key: string) => void) | undefined;
  /** Told after a block comes in (the body page pool gives up free pages the cache now holds the room of). */
  onGrow: (() => void) | undefined;
  recycle: ((key: string, block: Bytes) => boolean) | undefined;

  constructor(readonly capacity: number) {
    this.lru = new LRUCache<string, Bytes>({
      maxSize: Math.max(1, capacity),
      sizeCalculation: (b) => Math.max(1, b.length),
      dispose: (block, key, reason) => {
        if (!this.recycle?.(key, block)) noteEvicted(block.length);
        this.onDrop?.(key);
        if (reason === "evict") {
          this.counts.evictions++;
          this.counts.evictedBytes += block.length;
        }
        if (!this.unread.delete(key)) return;
        this.stats.unread -= block.length;
        if (reason === "evict") this.stats.wasted += block.length;
      },
    });
  }

  get(key: string): Bytes | undefined {
    const b = this.lru.get(key);
    if (b) this.counts.hits++;
    else this.counts.misses++;
    if (b && this.unread.delete(key)) {
      this.stats.used += b.length;
      this.stats.unread -= b.length;
    }
    return b;
  }

  has(key: string): boolean {
    return this.lru.has(key);
  }

  peek(key: string): Bytes | undefined {
    return this.lru.peek(key);
  }

  set(key: string, block: Bytes, origin: "demand" | "prefetch" = "demand"): void {
    if (block.length > this.capacity) return;
    this.lru.set(key, block);
    this.onGrow?.();
    if (origin === "prefetch" && !this.unread.has(key)) {
      this.unread.add(key);
      this.stats.prefetched += block.length;
      this.stats.unread += block.length;
    }
  }

  delete(key: string): void {
    this.lru.delete(key);
  }

  get size(): number {
    return this.lru.calculatedSize;
  }
}
