// Object bytes in memory, bounded by --cache-size. Every key names the object
// generation, so a cached block can never be served for other bytes.
import { LRUCache } from "lru-cache";

export interface BlockCache {
  get(key: string): Buffer | undefined;
  set(key: string, block: Buffer): void;
  /** Bytes held now. INVARIANT: <= capacity. */
  readonly size: number;
  readonly capacity: number;
}

export function blockKey(name: string, generation: string, block: number | "all"): string {
  return `${generation}\u0000${block}\u0000${name}`;
}

export class LruBlockCache implements BlockCache {
  private readonly lru: LRUCache<string, Buffer>;

  constructor(readonly capacity: number) {
    this.lru = new LRUCache<string, Buffer>({ maxSize: Math.max(1, capacity), sizeCalculation: (b) => Math.max(1, b.length) });
  }

  get(key: string): Buffer | undefined {
    return this.lru.get(key);
  }

  set(key: string, block: Buffer): void {
    if (block.length <= this.capacity) this.lru.set(key, block);
  }

  get size(): number {
    return this.lru.calculatedSize;
  }
}
