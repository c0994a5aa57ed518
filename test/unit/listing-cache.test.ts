// The listing cache: an entry budget with LRU eviction (never evicting the
// listing in use or one still arriving), the TTL, progress reports for long
// listings, failures; and DirListing's rules for a listing read while it
// is still arriving.
import { describe, expect, it } from "vitest";
import { DirListing } from "../../src/listing/dir-listing.js";
import { packPage } from "../../src/listing/entry-chunk.js";
import { compareUtf8 } from "../../src/listing/key-order.js";
import { ListingCache } from "../../src/listing/listing-cache.js";
import { MemoryObjectStore } from "../../src/storage/memory/memory-object-store.js";
import type { ListOptions, ListPage, ObjectInfo } from "../../src/storage/object-store.js";
import { ManualClock } from "../../src/util/clock.js";
import { PriorityLimiter } from "../../src/util/limiter.js";
import { MemoryLogger } from "../../src/util/log.js";

function cacheOf(store: MemoryObjectStore, clock: ManualClock, log: MemoryLogger, entryBudget: number): ListingCache {
  return new ListingCache(store, {
    ttlMs: 60_000, entryBudget, limiter: new PriorityLimiter(4, compareUtf8), maxPieces: 8, clock, log, progressEveryMs: 5_000, valid: () => true,
  });
}

function storeWith(dirs: Record<string, number>): MemoryObjectStore {
  const s = new MemoryObjectStore();
  for (const [d, n] of Object.entries(dirs)) for (let i = 0; i < n; i++) s.put(`${d}/${String(i).padStart(5, "0")}`, "x");
  return s;
}

describe("ListingCache", () => {
  it("keeps within its entry budget, evicting the least recently used, never the one in use", async () => {
    const store = storeWith({ a: 1000, b: 1000, c: 1000, big: 3000 });
    const cache = cacheOf(store, new ManualClock(), new MemoryLogger(), 2500);
    await cache.list("a/").whenComplete();
    await cache.list("b/").whenComplete();
    cache.peek("a/"); // a is now more recent than b
    await cache.list("c/").whenComplete();
    expect(cache.size).toBeLessThanOrEqual(2500);
    expect(cache.peek("b/")).toBeUndefined();
    expect(cache.peek("a/")).toBeDefined();
    expect(cache.peek("c/")).toBeDefined();
    // One listing bigger than the whole budget is kept while it is the one in use.
    await cache.list("big/").whenComplete();
    expect(cache.peek("big/")?.size).toBe(3000);
    expect(cache.size).toBe(3000);
    const before = store.calls.list;
    for (let i = 0; i < 3000; i += 7) expect(cache.peek("big/")!.lookup(String(i).padStart(5, "0"))).toBeTruthy();
    expect(store.calls.list).toBe(before);
    expect(cache.stats.evicted).toBe(3);
  });

  it("lists again after the TTL, and shares one listing between callers meanwhile", async () => {
    const store = storeWith({ d: 10 });
    const clock = new ManualClock();
    const cache = cacheOf(store, clock, new MemoryLogger(), 100);
    const [x, y] = [cache.list("d/"), cache.list("d/")];
    expect(x).toBe(y);
    await x.whenComplete();
    store.put("d/new", "n");
    clock.advance(59_000);
    expect(cache.list("d/").lookup("new")).toBeNull();
    clock.advance(2_000);
    expect((await cache.list("d/").whenComplete()).lookup("new")).toBeTruthy();
  });

  it("reports the progress of a long listing every few seconds, and how it ended", async () => {
    const store = storeWith({ slow: 6000 });
    const clock = new ManualClock();
    const log = new MemoryLogger();
    // Each page takes 2 s of (manual) time.
    const slow = Object.assign(Object.create(store) as MemoryObjectStore, {
      list: async (o: ListOptions): Promise<ListPage> => {
        clock.advance(2_000);
        return store.list(o);
      },
    });
    const cache = cacheOf(slow, clock, log, 100_000);
    expect((await cache.list("slow/").whenComplete()).size).toBe(6000);
    const progress = log.lines.filter((l) => l.startsWith("info: listing gs://memory/slow/: "));
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(progress[0]).toMatch(/^info: listing gs:\/\/memory\/slow\/: [\d,]+ entries so far \(\d+\.\d s, \d+ requests\)$/);
    expect(log.lines).toContainEqual(expect.stringMatching(/^info: listed gs:\/\/memory\/slow\/: 6,000 entries in \d+\.\d s \(\d+ requests\)$/));
  });

  it("drops a failed listing so the next one asks again", async () => {
    const store = storeWith({ f: 1500 });
    let fail = true;
    const flaky = Object.assign(Object.create(store) as MemoryObjectStore, {
      list: async (o: ListOptions): Promise<ListPage> => {
        if (fail && o.startOffset) throw new Error("service gone");
        return store.list(o);
      },
    });
    const cache = cacheOf(flaky, new ManualClock(), new MemoryLogger(), 10_000);
    await expect(cache.list("f/").whenComplete()).rejects.toThrow("service gone");
    fail = false;
    expect((await cache.list("f/").whenComplete()).size).toBe(1500);
  });
});

describe("DirListing while it arrives", () => {
  const obj = (name: string): ObjectInfo => ({ name, size: 1, generation: "7", updated: new Date(0) });
  const page = (objects: string[], prefixes: string[]): ListPage => ({ objects: objects.map(obj), prefixes });
  const pack = (p: ListPage) => packPage(p, { prefix: "d/", valid: () => true });

  it("holds back a file until a directory of the same name is ruled out, then shows the directory only", () => {
    const shadowed: string[] = [];
    const l = new DirListing("d/", undefined, (n) => shadowed.push(n));
    l.add(pack(page(["d/a", "d/x"], [])), false);
    // "x" could still turn out to be a directory ("x/" sorts after "x-1").
    expect(l.readSettled(0, 10).map((s) => s.entry.name)).toEqual(["a"]);
    expect(l.lookup("x")).toBeUndefined();
    expect(l.lookup("a")?.dir).toBe(false);
    expect(l.lookup("0")).toBeNull(); // before everything settled: certainly absent
    l.add(pack(page(["d/x-1"], ["d/x/"])), false);
    l.complete();
    expect(l.readSettled(0, 10).map((s) => [s.entry.name, s.entry.dir])).toEqual([["a", false], ["x-1", false], ["x", true]]);
    expect(l.lookup("x")?.dir).toBe(true);
    expect(l.size).toBe(3);
    expect(shadowed).toEqual(["x"]);
    expect(l.dirNames(10)).toEqual(["x"]); // the directory, not its hidden file twin
  });

  it("names its sub-directories in order, across pages, up to a limit, without building entries", () => {
    const l = new DirListing("d/");
    l.add(pack(page(["d/a"], ["d/b/", "d/c/"])), false);
    l.add(pack(page(["d/g"], ["d/e/", "d/f/"])), false);
    l.complete();
    expect(l.dirNames(10)).toEqual(["b", "c", "e", "f"]);
    expect(l.dirNames(3)).toEqual(["b", "c", "e"]);
    expect(l.dirNames(0)).toEqual([]);
    const files = new DirListing("d/");
    files.add(pack(page(["d/1", "d/2", "d/3"], [])), false);
    files.complete();
    expect(files.dirNames(16)).toEqual([]);
  });

  it("drops the first entry of a page that repeats the previous page's last", () => {
    const l = new DirListing("d/");
    l.add(pack(page(["d/a", "d/b"], [])), false);
    l.add(pack(page(["d/b", "d/c"], [])), true);
    l.complete();
    expect([...l.entries()].map((e) => e.name)).toEqual(["a", "b", "c"]);
    expect(l.positionOf("c")).toBe(3);
    expect(l.entryAt(2)).toBeUndefined(); // the dropped duplicate's position shows nothing
  });
});
