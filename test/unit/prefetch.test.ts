// Read-ahead, series prefetch and their accounting, on the filesystem core
// with an in-memory store: what gets fetched, when, and how often.
import { describe, expect, it, vi } from "vitest";
import { LruBlockCache } from "../../src/cache/block-cache.js";
import { SomFilesystem } from "../../src/fs/filesystem.js";
import { RawLayout } from "../../src/namespace/raw-layout.js";
import { ObjectReader } from "../../src/read/object-reader.js";
import { PrefetchPolicy, SequenceDetector } from "../../src/read/prefetch-policy.js";
import { SeriesPrefetcher } from "../../src/read/series-prefetcher.js";
import { MemoryObjectStore } from "../../src/storage/memory/memory-object-store.js";
import { ManualClock } from "../../src/util/clock.js";
import { MemoryLogger } from "../../src/util/log.js";

const bytes = (n: number, seed = 0): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) % 256));
/** Lets queued prefetches run to completion (the in-memory store answers in microtasks). */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

function setup(opts: { cache?: number; budget?: number; depth?: number } = {}) {
  const store = new MemoryObjectStore();
  const clock = new ManualClock();
  const log = new MemoryLogger();
  const layout = new RawLayout(store, { prefix: "", metadataTtlMs: 60_000, negativeTtlMs: 5_000, clock, log, mountTime: new Date(0) });
  const cache = new LruBlockCache(opts.cache ?? 1_000_000);
  const reader = new ObjectReader(store, cache, { wholeObjectLimit: 100, pageSize: 64, maxRequest: 128, prefetchConcurrency: 4, prefetchBudget: opts.budget ?? 100_000, prefetchInFlightBytes: 1_000 }, log);
  const policy = new PrefetchPolicy(cache.stats, clock, { initialDepth: opts.depth ?? 3, maxDepth: 8, judgeEveryBytes: 200, probeAfterMs: 1_000 });
  const series = new SeriesPrefetcher(layout, reader, policy, log);
  const fs = new SomFilesystem(layout, reader, { uid: 0, gid: 0, readAhead: { initial: 128, max: 512, slack: 32, chunk: 128, afterJump: 256 }, randomAfter: 2 }, series);
  return { store, cache, fs, clock, policy, reader };
}

describe("read-ahead within a file", () => {
  it("fetches ahead of a sequential reader, each block once, bytes intact", async () => {
    const { store, fs, reader } = setup();
    const data = bytes(64 * 40);
    store.put("big", data);
    const fd = await fs.open("/big", 0);
    const got: Buffer[] = [];
    for (let pos = 0; pos < 64 * 6; pos += 16) got.push(await fs.read(fd, pos, 16));
    await settle();
    // Six pages read; the window (128 B, doubling to 512 B) has fetched well past them, two pages per request.
    const { requests, requestBytes } = reader.stats;
    expect(requestBytes).toBeGreaterThanOrEqual(64 * 6 + 512 - 64);
    expect(requests).toBeLessThan(requestBytes / 64); // runs of pages, not a request per page
    for (let pos = 64 * 6; pos < data.length; pos += 16) got.push(await fs.read(fd, pos, 16));
    await settle();
    expect(Buffer.concat(got)).toEqual(data);
    expect(reader.stats.requestBytes).toBe(data.length); // never a page twice
    expect(reader.stats.requests).toBeLessThanOrEqual(20 + 2); // two pages a request, but for the first reads
  });

  it("asks again for read-ahead the budget refused, so a sequential reader never falls back to page-sized requests", async () => {
    // A budget of 4 pages against a window of 8: read-ahead is refused part of the way, every time.
    const { store, fs, reader } = setup({ budget: 256 });
    const data = bytes(64 * 64);
    store.put("big", data);
    const fd = await fs.open("/big", 0);
    const got: Buffer[] = [];
    for (let pos = 0; pos < data.length; pos += 32) {
      got.push(await fs.read(fd, pos, 32));
      await settle();
    }
    expect(Buffer.concat(got)).toEqual(data);
    expect(reader.stats.requestBytes).toBe(data.length);
    // Two-page runs throughout (32 of them), but for the first read: no hole left for the reader to fetch a page at a time.
    expect(reader.stats.requests).toBeLessThanOrEqual(32 + 2);
  });

  it("does not read ahead for random access or a header peek", async () => {
    const { store, fs, reader } = setup();
    store.put("big", bytes(64 * 40));
    const fd = await fs.open("/big", 0);
    const offsets = [0, 64 * 30, 64 * 7, 64 * 19, 64 * 2, 64 * 35];
    for (const o of offsets) await fs.read(fd, o + 3, 10);
    await settle();
    expect(store.calls.read).toBe(offsets.length); // exactly the pages touched
    expect(reader.stats.requestBytes).toBe(offsets.length * 64); // each one page long: small aligned ranges
  });
});

describe("read-ahead after a jump", () => {
  it("treats a tile read as two kernel reads, not a sequential reader; a long run after a jump is one", async () => {
    const { store, fs, reader } = setup();
    store.put("big", bytes(64 * 200));
    const fd = await fs.open("/big", 0);
    // Tiles of two pages, each arriving as two reads in a row, at random places.
    for (const page of [100, 20, 150, 60, 5]) {
      await fs.read(fd, page * 64, 64);
      await fs.read(fd, page * 64 + 64, 64);
    }
    await settle();
    expect(reader.stats.requestBytes).toBe(5 * 2 * 64); // exactly the tiles
    // Then a long in-order run (a viewer streaming a region): read-ahead once 256 B have come in order.
    for (let pos = 64 * 30; pos < 64 * 36; pos += 32) await fs.read(fd, pos, 32);
    await settle();
    expect(reader.stats.requestBytes).toBeGreaterThan(5 * 2 * 64 + 6 * 64);
  });
});

describe("series prefetch", () => {
  it("fetches the next files of a folder once files are opened in order", async () => {
    const { store, fs } = setup({ depth: 3 });
    const files = Array.from({ length: 10 }, (_, i) => `s/f${i}.dcm`);
    files.forEach((f, i) => store.put(f, bytes(80, i)));
    files.forEach((f, i) => store.put(`t/${f}`, bytes(80, i)));
    await fs.list("/s");
    await fs.list("/t/s");
    const readFile = async (path: string): Promise<Buffer> => {
      const fd = await fs.open(path, 0);
      const b = await fs.read(fd, 0, 80);
      fs.release(fd);
      return b;
    };
    // An open at the top of a folder starts a series read (cp -r, a viewer loading a series).
    await readFile("/s/f0.dcm");
    await settle();
    expect(store.calls.read).toBe(1 + 3); // f1..f3 fetched ahead
    await readFile("/s/f1.dcm");
    await settle();
    expect(store.calls.read).toBe(4 + 1); // f4 joins the window
    for (let i = 2; i < 10; i++) expect(await readFile(`/s/f${i}.dcm`)).toEqual(bytes(80, i));
    await settle();
    expect(store.calls.read).toBe(10); // every file exactly once
    // A first open further down a folder says nothing about order; a second in order does.
    await readFile("/t/s/f6.dcm");
    await settle();
    expect(store.calls.read).toBe(10 + 1);
    await readFile("/t/s/f7.dcm");
    await settle();
    expect(store.calls.read).toBe(11 + 1 + 2); // f8, f9 fetched ahead (the folder ends there)
  });

  it("sends an opened small file's request at the open, before those of the files queued after it", async () => {
    const { store, fs } = setup({ depth: 3 });
    Array.from({ length: 6 }, (_, i) => store.put(`s/f${i}.dcm`, bytes(80, i)));
    await fs.list("/s");
    const order: string[] = [];
    const readBytes = store.readBytes.bind(store);
    vi.spyOn(store, "readBytes").mockImplementation((name, ...rest) => (order.push(name), readBytes(name, ...rest)));
    const fd = await fs.open("/s/f0.dcm", 0);
    expect(order).toEqual(["s/f0.dcm", "s/f1.dcm", "s/f2.dcm", "s/f3.dcm"]); // before any read
    expect(await fs.read(fd, 0, 80)).toEqual(bytes(80, 0));
    await settle();
    expect(store.calls.read).toBe(4); // the read joined the open's request
    // Held already: an open sends nothing more.
    fs.release(fd);
    await fs.open("/s/f0.dcm", 0);
    await settle();
    expect(store.calls.read).toBe(4);
  });

  it("fetches at open only within the prefetch budget: many files opened before any read stay out of memory", async () => {
    const { store, fs, cache } = setup({ budget: 200 });
    Array.from({ length: 6 }, (_, i) => store.put(`u/f${i}.dcm`, bytes(80, i)));
    // 80 + 80 fit in 200 bytes; a third would not, whether an open or series prefetch asks for it.
    const fds = [];
    for (let i = 0; i < 6; i++) fds.push(await fs.open(`/u/f${i}.dcm`, 0));
    await settle();
    expect(store.calls.read).toBe(2);
    expect(cache.stats.unread).toBeLessThanOrEqual(200);
    for (let i = 0; i < 6; i++) expect(await fs.read(fds[i]!, 0, 80)).toEqual(bytes(80, i));
    expect(store.calls.read).toBe(6); // the rest fetched by their reads, each once
  });

  it("asks for each file ahead once per series, not once per open (the work runs before an open is answered)", async () => {
    const { store, fs, reader } = setup({ depth: 8 });
    const files = Array.from({ length: 60 }, (_, i) => `s/f${String(i).padStart(2, "0")}.dcm`);
    files.forEach((f, i) => store.put(f, bytes(80, i)));
    await fs.list("/s");
    const asked = vi.spyOn(reader, "prefetchHead");
    for (let i = 0; i < files.length; i++) {
      const fd = await fs.open(`/${files[i]}`, 0);
      expect(await fs.read(fd, 0, 80)).toEqual(bytes(80, i));
      fs.release(fd);
      if (i % 3 === 0) await settle();
    }
    await settle();
    // Each file after the first is asked for once as it enters the window
    // (a walk over the whole depth on every open would be ~60 × 8).
    expect(asked.mock.calls.length).toBe(files.length - 1);
    expect(new Set(asked.mock.calls.map(([t]) => t.name)).size).toBe(files.length - 1);
    expect(store.calls.read).toBe(files.length); // every file exactly once
  });

  it("stays inside its budget of unread bytes", async () => {
    const { store, fs, cache } = setup({ depth: 8, budget: 200 });
    Array.from({ length: 10 }, (_, i) => store.put(`s/f${i}.dcm`, bytes(80, i)));
    await fs.list("/s");
    for (const i of [0, 1]) await fs.read(await fs.open(`/s/f${i}.dcm`, 0), 0, 80);
    await settle();
    expect(cache.stats.unread).toBeLessThanOrEqual(200);
    // f0's open fetched f1 and f2 ahead (f3 would have made 240 unread bytes); at f1's
    // open, f1 and f2 were still unread, so f3 stayed out again.
    expect(store.calls.read).toBe(3);
  });

  it("lists the next sibling directories ahead of a tree walk", async () => {
    const { store, fs } = setup();
    for (let d = 0; d < 6; d++) store.put(`t/d${d}/x`, "x");
    await fs.list("/t");
    await fs.list("/t/d0");
    await fs.list("/t/d1");
    await settle();
    const lists = store.calls.list;
    for (let d = 2; d < 6; d++) await fs.list(`/t/d${d}`);
    expect(store.calls.list).toBe(lists); // all answered from listings made ahead
  });
});

describe("prefetch accounting", () => {
  it("counts prefetched bytes as used when read and wasted when evicted unread", () => {
    const cache = new LruBlockCache(300);
    cache.set("a", Buffer.alloc(100), "prefetch");
    cache.set("b", Buffer.alloc(100), "prefetch");
    expect(cache.get("a")?.length).toBe(100);
    cache.set("c", Buffer.alloc(100));
    cache.set("d", Buffer.alloc(100)); // evicts b, never read
    expect(cache.stats).toEqual({ prefetched: 200, used: 100, wasted: 100, unread: 0 });
  });

  it("halves depth when prefetch is wasted, grows it when used, and probes again after a pause", () => {
    const stats = { prefetched: 0, used: 0, wasted: 0, unread: 0 };
    const clock = new ManualClock();
    const p = new PrefetchPolicy(stats, clock, { initialDepth: 4, maxDepth: 16, judgeEveryBytes: 100, probeAfterMs: 1_000 });
    expect(p.depth()).toBe(4);
    stats.used += 100;
    expect(p.depth()).toBe(8);
    stats.wasted += 100;
    expect(p.depth()).toBe(4);
    stats.wasted += 100;
    expect(p.depth()).toBe(2);
    stats.wasted += 100;
    expect(p.depth()).toBe(1);
    stats.wasted += 100;
    expect(p.depth()).toBe(0);
    clock.advance(999);
    expect(p.depth()).toBe(0);
    clock.advance(1);
    expect(p.depth()).toBe(1);
  });

  it("detects in-order steps per group and forgets on a jump back", () => {
    const d = new SequenceDetector(4);
    expect([d.observe("a", 0), d.observe("a", 1), d.observe("a", 3), d.observe("b", 9), d.observe("a", 2), d.observe("a", 7)]).toEqual([0, 1, 2, 0, 0, 0]);
  });
});
