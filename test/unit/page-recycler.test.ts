// Body pages read into again instead of fresh memory: the pool hands out and
// takes back whole pages; the recycler gives a page the cache dropped back
// only once every read that could still hold it has copied out; and the
// object reader adopts the pages of its streamed runs, lets a sequential
// reader's pages go once it is past them, and never serves a page's bytes
// after its memory was handed out again. The pool fills pages given back
// (perturb), so a premature reuse shows as wrong bytes.
import { describe, expect, it } from "vitest";
import { preallocBytes } from "../../src/app/mount-app.js";
import { LruBlockCache } from "../../src/cache/block-cache.js";
import { ObjectReader } from "../../src/read/object-reader.js";
import { PageRecycler } from "../../src/read/page-recycler.js";
import { MemoryObjectStore } from "../../src/storage/memory/memory-object-store.js";
import type { ByteRange, ByteSink, ObjectStreamer } from "../../src/storage/object-store.js";
import { PagePool, perturbFromEnv } from "../../src/util/page-pool.js";

const P = 64;

describe("the page pool", () => {
  it("hands out a page given back, and takes back only whole pages of its own", () => {
    const pool = new PagePool(P, 2 * P);
    const a = pool.take();
    expect(a.length).toBe(P);
    expect(pool.give(a.subarray(0, P - 1))).toBe(false); // a view of part of it
    expect(pool.give(Buffer.alloc(P))).toBe(false); // not made here
    expect(pool.give(a)).toBe(true);
    expect(pool.take().buffer).toBe(a.buffer);
    expect(pool.stats).toEqual({ made: 1, reused: 1, dropped: 0, prefilled: 0 });
  });

  it("keeps no more than its free list's size; the rest is left to the collector", () => {
    const pool = new PagePool(P, 2 * P);
    const pages = [pool.take(), pool.take(), pool.take()];
    expect(pages.map((p) => pool.give(p))).toEqual([true, true, false]);
    expect(pool.freeBytes).toBe(2 * P);
    expect(pool.stats.dropped).toBe(1);
  });

  it("fills a page given back with the perturb byte (SOM_PAGE_PERTURB)", () => {
    expect(perturbFromEnv({})).toBeUndefined();
    expect(perturbFromEnv({ SOM_PAGE_PERTURB: "7" })).toBe(7);
    expect(perturbFromEnv({ SOM_PAGE_PERTURB: "yes" })).toBe(0xa5);
    const pool = new PagePool(P, 4 * P);
    pool.perturb = 0xee;
    const a = pool.take().fill(1);
    pool.give(a);
    expect(a.every((b) => b === 0xee)).toBe(true);
  });
});

describe("memory reserved as a mount starts (--prealloc)", () => {
  it("touches the pages ahead of any reader, a few per turn of the event loop, and hands them out instead of fresh ones", async () => {
    const pool = new PagePool(P, 2 * P);
    let seen = 0;
    const done = pool.reserve(40 * P, () => 100 * P);
    setImmediate(() => (seen = pool.stats.prefilled)); // runs between two turns of the prefill
    expect(await done).toBe(40 * P);
    expect(seen).toBeGreaterThan(0);
    expect(seen).toBeLessThan(40);
    expect(pool.stats).toEqual({ made: 0, reused: 0, dropped: 0, prefilled: 40 });
    expect(pool.freeBytes).toBe(40 * P);
    const pages = Array.from({ length: 41 }, () => pool.take());
    expect(pool.stats.made).toBe(1); // the 41st
    expect(pages.slice(0, 40).every((p) => p.every((b) => b === 0))).toBe(true); // written whole
    // All of them may come back while the cache has the room.
    expect(pages.map((p) => pool.give(p)).filter(Boolean).length).toBe(41);
  });

  it("stops when told to", async () => {
    const pool = new PagePool(P, 0);
    let stop = false;
    setImmediate(() => (stop = true));
    const got = await pool.reserve(1000 * P, () => 1000 * P, () => stop);
    expect(got).toBeGreaterThan(0);
    expect(got).toBeLessThan(1000 * P);
  });

  it("keeps free pages and cached blocks within the cache's capacity, whatever else fills the cache", async () => {
    const cache = new LruBlockCache(64 * P);
    const pool = new PagePool(P, 2 * P);
    cache.onGrow = () => pool.trim();
    await pool.reserve(48 * P, () => cache.capacity - cache.size);
    expect(pool.freeBytes).toBe(48 * P);
    // Small objects (not the pool's pages) fill the cache: the free list gives up the room.
    for (let i = 0; i < 40; i++) cache.set(`s${i}`, Buffer.alloc(P));
    expect(pool.freeBytes).toBe(24 * P + 2 * P); // 64 - 40 left, plus the list's own 2
    expect(pool.stats.dropped).toBe(22);
    for (let i = 40; i < 64; i++) cache.set(`s${i}`, Buffer.alloc(P));
    expect(pool.freeBytes).toBe(2 * P);
    expect(cache.size + pool.freeBytes).toBeLessThanOrEqual(cache.capacity + 2 * P);
    // And a page given back while the cache is full goes to the collector past the list's own size.
    const extra = [pool.take(), pool.take(), pool.take()];
    expect(extra.map((p) => pool.give(p))).toEqual([true, true, false]);
  });

  it("comes to the read-ahead's memory by default, none with a disk tier, never more than the cache", () => {
    expect(preallocBytes("auto", false, 304 * P, 352 * P)).toBe(304 * P);
    expect(preallocBytes("auto", true, 304 * P, 352 * P)).toBe(0);
    expect(preallocBytes("auto", false, 24 * P, 16 * P)).toBe(16 * P);
    expect(preallocBytes(100 * P, true, 304 * P, 352 * P)).toBe(100 * P);
    expect(preallocBytes(0, false, 304 * P, 352 * P)).toBe(0);
    expect(preallocBytes(999 * P, false, 304 * P, 352 * P)).toBe(352 * P);
  });
});

describe("the page recycler", () => {
  it("gives a dropped page back at once when no read is under way", () => {
    const pool = new PagePool(P, 8 * P);
    const rec = new PageRecycler(pool, 8 * P);
    const page = pool.take();
    expect(rec.dropped(page)).toBe(false); // never adopted: garbage, as before
    rec.adopt(page);
    expect(rec.isAdopted(page)).toBe(true);
    expect(rec.dropped(page)).toBe(true);
    expect(rec.dropped(page)).toBe(false); // once
    expect(pool.take().buffer).toBe(page.buffer);
  });

  it("holds a dropped page until every read that began before the drop has ended; later reads do not hold it", () => {
    const pool = new PagePool(P, 8 * P);
    const rec = new PageRecycler(pool, 8 * P);
    const [a, b] = [pool.take(), pool.take()];
    rec.adopt(a);
    rec.adopt(b);
    const early = rec.enter();
    rec.dropped(a); // early may be holding a
    const late = rec.enter(); // began after a's drop
    rec.dropped(b); // early and late may hold b
    expect(rec.waitingPages).toBe(2);
    expect(pool.freeBytes).toBe(0);
    early();
    early(); // ending twice counts once
    expect(rec.waitingPages).toBe(1); // a is free; b waits on late
    expect(pool.freeBytes).toBe(P);
    late();
    expect(rec.waitingPages).toBe(0);
    expect(pool.freeBytes).toBe(2 * P);
    expect(rec.stats).toEqual({ recycled: 2, abandoned: 0 });
  });

  it("leaves the oldest waiting pages to the collector past its cap", () => {
    const pool = new PagePool(P, 8 * P);
    const rec = new PageRecycler(pool, 2 * P);
    const pages = [pool.take(), pool.take(), pool.take()];
    const read = rec.enter();
    for (const p of pages) {
      rec.adopt(p);
      rec.dropped(p);
    }
    expect(rec.waitingPages).toBe(2);
    read();
    expect(rec.stats).toEqual({ recycled: 2, abandoned: 1 });
    const again = [pool.take(), pool.take()].map((p) => p.buffer);
    expect(again).toContain(pages[1]!.buffer);
    expect(again).toContain(pages[2]!.buffer);
  });
});

const SIZE = 64 * P;
const data = Buffer.from(Array.from({ length: SIZE }, (_, i) => (i * 31 + 7) % 251));

/** Streams each page of a range into a page of `pool`, as the stream client does; `gate` holds pages at or past `holdAt`. */
class PoolStreamer implements ObjectStreamer {
  gate: Promise<void> = Promise.resolve();
  holdAt = Infinity;
  constructor(private readonly pool: PagePool) {}
  async stream(_name: string, _gen: string, range: ByteRange | undefined, sink: ByteSink): Promise<number> {
    const { start, end } = range!;
    for (let at = start; at < end; at += P) {
      if (at >= this.holdAt) await this.gate;
      const page = this.pool.take();
      data.copy(page, 0, at, at + P);
      await sink(page);
    }
    return end - start;
  }
}

function setup(cacheBytes: number) {
  const store = new MemoryObjectStore();
  const info = store.put("slide", data);
  const pool = new PagePool(P, 16 * P);
  pool.perturb = 0xee;
  const recycler = new PageRecycler(pool, 16 * P);
  const streamer = new PoolStreamer(pool);
  const cache = new LruBlockCache(cacheBytes);
  const opts = { wholeObjectLimit: P, pageSize: P, maxRequest: 4 * P, prefetchConcurrency: 4, prefetchBudget: cacheBytes / 2, prefetchInFlightBytes: cacheBytes };
  const reader = new ObjectReader(store, cache, opts, undefined, undefined, streamer, recycler);
  return { reader, pool, recycler, streamer, cache, t: { kind: "object" as const, name: "slide", generation: info.generation, size: SIZE } };
}

describe("pages of streamed runs", () => {
  it("are read into again once the cache drops them, and every read gets its own bytes", async () => {
    const { reader, pool, recycler, t } = setup(8 * P);
    // Two readers through the object, read-ahead ahead of each: the cache (8 pages) evicts all along.
    const readers = [0, 1].map(async (r) => {
      const out = Buffer.alloc(SIZE);
      for (let at = r * 32 * P; at < SIZE + r * 32 * P; at += 2 * P) {
        const off = at % SIZE;
        reader.readAhead(t, off + 2 * P, 8 * P);
        expect(await reader.readInto(t, off, 2 * P, out.subarray(off))).toBe(2 * P);
      }
      return out;
    });
    for (const out of await Promise.all(readers)) expect(out.equals(data)).toBe(true);
    expect(recycler.stats.recycled).toBeGreaterThan(16);
    expect(pool.stats.reused).toBeGreaterThan(16);
  });

  it("are not handed out again while a read that looked them up waits for the rest of its pages", async () => {
    const { reader, pool, streamer, cache, t } = setup(32 * P);
    let open!: () => void;
    streamer.gate = new Promise((r) => (open = r));
    streamer.holdAt = 2 * P;
    reader.readAhead(t, 0, 4 * P); // pages 0..3: 0 and 1 come in, 2 and 3 are held
    await new Promise((r) => setTimeout(r, 10));
    const out = Buffer.alloc(4 * P);
    const read = reader.readInto(t, 0, 4 * P, out); // has pages 0 and 1, waits for 2 and 3
    await new Promise((r) => setTimeout(r, 10));
    // The cache drops pages 0 and 1 (a sequential reader left them behind) and another
    // response wants pages: their memory must not be the one handed out.
    reader.leaveBehind(t, 0, 2 * P);
    expect(cache.has(`${t.generation}\u00000\u0000slide`)).toBe(false);
    const taken = [pool.take(), pool.take()];
    for (const p of taken) p.fill(0x11);
    open();
    expect(await read).toBe(4 * P);
    expect(out.equals(data.subarray(0, 4 * P))).toBe(true);
    // Once that read ended, they are free for the next response.
    for (const p of taken) pool.give(p);
    expect(pool.freeBytes).toBe(4 * P);
  });

  it("are let go when a sequential reader is past them, the pages it has not reached stay", async () => {
    const { reader, cache, t } = setup(64 * P);
    reader.readAhead(t, 0, 16 * P);
    expect(await reader.read(t, 0, 16 * P)).toEqual(data.subarray(0, 16 * P));
    reader.leaveBehind(t, P / 2, 10 * P); // pages 1..9 whole in the span; page 0 only in part
    const held = Array.from({ length: 16 }, (_, i) => cache.has(`${t.generation}\u0000${i}\u0000slide`));
    expect(held).toEqual([true, ...Array(9).fill(false), ...Array(6).fill(true)]);
  });
});
