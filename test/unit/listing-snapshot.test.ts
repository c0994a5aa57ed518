// Listings kept across a remount (listing/listing-snapshot.ts, ListingCache.saved/restore):
// what one daemon saves the next takes on without a request, trusted only until the
// TTL after the original fetch; expired, future-dated, other buckets' and malformed
// files are not taken, and names are checked again as if listed.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compareUtf8 } from "../../src/listing/key-order.js";
import { ListingCache } from "../../src/listing/listing-cache.js";
import { loadListings, saveListings } from "../../src/listing/listing-snapshot.js";
import { isValidName } from "../../src/namespace/namespace.js";
import { MemoryObjectStore } from "../../src/storage/memory/memory-object-store.js";
import { ManualClock } from "../../src/util/clock.js";
import { PriorityLimiter } from "../../src/util/limiter.js";
import { MemoryLogger } from "../../src/util/log.js";
import { tempDir } from "../helpers/files.js";

const TTL = 60_000;
const source = { endpoint: "http://127.0.0.1:1", bucket: "b" };

function cacheOf(store: MemoryObjectStore, clock: ManualClock, entryBudget = 10_000): ListingCache {
  return new ListingCache(store, {
    ttlMs: TTL, entryBudget, limiter: new PriorityLimiter(4, compareUtf8), maxPieces: 8, clock, log: new MemoryLogger(), progressEveryMs: 5_000, valid: isValidName,
  });
}

function store(): MemoryObjectStore {
  const s = new MemoryObjectStore();
  for (let i = 0; i < 20; i++) s.put(`ct/${String(i).padStart(3, "0")}.dcm`, `slice ${i}`);
  s.put("ct/sub/a", "a");
  s.put("mr/x", "x");
  return s;
}

/** Every entry of a listing as readdir would hand it out. */
const entriesOf = (c: ListingCache, prefix: string): unknown[] => {
  const l = c.peek(prefix)!;
  return l.readSettled(0, l.size).map((r) => r.entry);
};

describe("listings kept across a remount", () => {
  it("are taken on by the next daemon without a request, exactly as listed, and only until the TTL after their fetch", async () => {
    const s = store();
    const clock = new ManualClock();
    const a = cacheOf(s, clock);
    await a.list("ct/").whenComplete();
    clock.advance(20_000);
    await a.list("mr/").whenComplete();
    clock.advance(10_000); // ct/ is 30 s old, mr/ 10 s
    const file = join(await tempDir("listings"), "listings.json");
    const wall = 1_800_000_000_000;
    await saveListings(file, source, a.saved(1_000), wall);

    // The next daemon, 5 s of wall time later: its own clock starts anywhere.
    const s2 = store();
    const clock2 = new ManualClock();
    clock2.advance(123_456);
    const b = cacheOf(s2, clock2);
    const saved = await loadListings(file, source, wall + 5_000);
    expect(saved.map((l) => [l.prefix, l.ageMs])).toEqual([["mr/", 15_000], ["ct/", 35_000]]); // most recently used first
    expect(b.restore(saved)).toBe(2);
    expect(entriesOf(b, "ct/")).toEqual(entriesOf(a, "ct/")); // names, sizes, times, generations, CRCs, the sub-directory
    expect(entriesOf(b, "ct/")).toHaveLength(21);
    expect(b.list("ct/").lookup("007.dcm")).toMatchObject({ size: 7, generation: expect.any(String) });
    expect(s2.calls.list).toBe(0);
    // ct/ was fetched 35 s ago: trusted for 25 s more, then listed again.
    expect(b.freshFor("ct/")).toBe(25_000);
    clock2.advance(24_999);
    b.list("ct/");
    expect(s2.calls.list).toBe(0);
    clock2.advance(1);
    await b.list("ct/").whenComplete();
    expect(s2.calls.list).toBeGreaterThan(0);
  });

  it("takes none that are past the TTL or dated in the future, none of another bucket, and skips what it has listed itself", async () => {
    const s = store();
    const clock = new ManualClock();
    const a = cacheOf(s, clock);
    await a.list("ct/").whenComplete();
    await a.list("mr/").whenComplete();
    const file = join(await tempDir("listings"), "listings.json");
    await saveListings(file, source, a.saved(1_000), 1_000_000);
    const b = cacheOf(store(), new ManualClock());
    expect(b.restore(await loadListings(file, source, 1_000_000 + TTL))).toBe(0); // exactly a TTL old: stale
    expect(b.restore(await loadListings(file, source, 1_000_000 - 1))).toBe(0); // the clock went back: no age to trust
    expect(await loadListings(file, { ...source, bucket: "other" }, 1_000_000)).toEqual([]);
    expect(await loadListings(file, { ...source, endpoint: "https://storage.googleapis.com" }, 1_000_000)).toEqual([]);
    expect(await loadListings(join(await tempDir("listings"), "none.json"), source)).toEqual([]);
    await b.list("mr/").whenComplete();
    expect(b.restore(await loadListings(file, source, 1_000_000))).toBe(1); // ct/ only: mr/ is its own
  });

  it("saves the most recently used listings up to an entry limit, passing over one too big", async () => {
    const s = store();
    const clock = new ManualClock();
    const a = cacheOf(s, clock);
    await a.list("mr/").whenComplete(); // 1 entry
    await a.list("ct/").whenComplete(); // 21 entries, more recent
    expect(a.saved(21).map((l) => l.prefix)).toEqual(["ct/"]);
    expect(a.saved(20).map((l) => l.prefix)).toEqual(["mr/"]);
    clock.advance(TTL);
    expect(a.saved(1_000)).toEqual([]); // nothing stale is saved
  });

  it("reads the file as untrusted: a malformed one is refused whole, and names no directory can have are dropped as if listed", async () => {
    const dir = await tempDir("listings");
    const file = join(dir, "listings.json");
    const good = { format: "som-listings", version: 1, ...source, listings: [{ prefix: "p/", fetchedAt: 1_000, dirs: ["d", ".."], files: [["b", 1, 5, "7", null], ["a/b", 1, 5, "7", null], ["a", 2, 5, "8", "AAAAAA=="]] }] };
    await writeFile(file, JSON.stringify(good));
    const saved = await loadListings(file, source, 2_000);
    const c = cacheOf(new MemoryObjectStore(), new ManualClock());
    expect(c.restore(saved)).toBe(1);
    // In key order whatever the file's order; "a/b" and ".." are no names.
    expect(entriesOf(c, "p/").map((e) => (e as { name: string }).name)).toEqual(["a", "b", "d"]);
    expect(c.peek("p/")!.lookup("a")).toMatchObject({ size: 2, generation: "8", crc32c: "AAAAAA==" });

    for (const bad of [
      "not json",
      JSON.stringify({ ...good, version: 2 }),
      JSON.stringify({ ...good, listings: [{ ...good.listings[0], fetchedAt: "soon" }] }),
      JSON.stringify({ ...good, listings: [{ ...good.listings[0], files: [["x", -1, 5, "7", null]] }] }),
      JSON.stringify({ ...good, listings: [{ ...good.listings[0], files: [["x", 1, 5, "7; rm", null]] }] }),
      JSON.stringify({ ...good, listings: [{ ...good.listings[0], dirs: [""] }] }),
      JSON.stringify({ ...good, listings: {} }),
    ]) {
      await writeFile(file, bad);
      await expect(loadListings(file, source, 2_000)).rejects.toThrow();
    }
    expect((await readFile(file, "utf8")).length).toBeGreaterThan(0); // left for the next save to replace
  });
});
