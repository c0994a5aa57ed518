// Walks: once sub-directories are opened in order, the rest of the tree is
// listed flat in parallel, and every directory gets the listing a delimiter
// listing would give it — each listed once, within the look-ahead budget.
import { describe, expect, it } from "vitest";
import { LruBlockCache } from "../../src/cache/block-cache.js";
import { SyntheticTable } from "../../src/emulator/synthetic.js";
import { SomFilesystem } from "../../src/fs/filesystem.js";
import { RawLayout } from "../../src/namespace/raw-layout.js";
import { ObjectReader } from "../../src/read/object-reader.js";
import { PrefetchPolicy } from "../../src/read/prefetch-policy.js";
import { SeriesPrefetcher } from "../../src/read/series-prefetcher.js";
import { MemoryObjectStore } from "../../src/storage/memory/memory-object-store.js";
import type { ListOptions, ListPage } from "../../src/storage/object-store.js";
import { ManualClock } from "../../src/util/clock.js";
import { MemoryLogger } from "../../src/util/log.js";

/** A store that records every list request. */
class RecordingStore extends MemoryObjectStore {
  readonly lists: ListOptions[] = [];
  override async list(opts: ListOptions): Promise<ListPage> {
    this.lists.push(opts);
    return super.list(opts);
  }
}

function setup(store: MemoryObjectStore, walkAheadEntries: number) {
  const clock = new ManualClock();
  const log = new MemoryLogger();
  const layout = new RawLayout(store, {
    prefix: "", metadataTtlMs: 60_000, negativeTtlMs: 5_000, clock, log, mountTime: new Date(0),
    listing: { walkAheadEntries, entryBudget: 1_000_000 },
  });
  const cache = new LruBlockCache(1_000_000);
  const reader = new ObjectReader(store, cache, { wholeObjectLimit: 100, pageSize: 64, maxRequest: 128, prefetchConcurrency: 4, prefetchBudget: 10_000, prefetchInFlightBytes: 1_000 }, log);
  const series = new SeriesPrefetcher(layout, reader, new PrefetchPolicy(cache.stats, clock, { initialDepth: 0, maxDepth: 0, judgeEveryBytes: 1e9, probeAfterMs: 1e9 }), log);
  const fs = new SomFilesystem(layout, reader, { uid: 0, gid: 0, readAhead: { initial: 0, max: 0, slack: 0, chunk: 128, afterJump: 0 }, randomAfter: 2 }, series);
  return { fs, layout };
}

/** What find does: list a directory, then each sub-directory in listing order, depth first. */
async function find(fs: SomFilesystem, path: string, out: string[]): Promise<void> {
  for (const name of await fs.list(path)) {
    const p = `${path === "/" ? "" : path}/${name}`;
    const a = await fs.getattr(p);
    if ((a.mode & 0o170000) === 0o040000) await find(fs, p, out);
    else out.push(p);
  }
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

describe("walks", () => {
  it("list the rest of a tree flat, fill every directory exactly as a delimiter listing would, and list nothing twice", async () => {
    // 600 series of 7 instances, plus nesting, odd names and files beside the series.
    const table = new SyntheticTable("t", [{ prefix: "idc/", folders: 600, filesPerFolder: 7, naming: "uuid", objectSize: 3, seed: 5 }]);
    const store = new RecordingStore("t");
    for (let i = 0; i < table.size; i++) store.put(table.nameAt(i), "abc");
    const series = [...new Set(Array.from({ length: table.size }, (_, i) => table.nameAt(i).split("/")[1]!))];
    store.put(`idc/${series[100]}/nested/deeper/x.dcm`, "n");
    store.put(`idc/${series[100]}/nested/`, "");
    store.put(`idc/${series[200]}/bad//name`, "skipped");
    store.put(`idc/${series[300]}.json`, "beside the folder");
    store.put(`idc/${series[400]}/c`, "file named like a folder");
    store.put(`idc/${series[400]}/c/d`, "in the folder");

    const { fs, layout } = setup(store, 2_000); // windows of ~1,000 entries: several of them
    const walked: string[] = [];
    await find(fs, "/idc", walked);
    await settle();

    // Every file there is, each once.
    const expected = [...Array.from({ length: table.size }, (_, i) => `/${table.nameAt(i)}`),
      `/idc/${series[100]}/nested/deeper/x.dcm`, `/idc/${series[300]}.json`, `/idc/${series[400]}/c/d`].sort();
    expect([...walked].sort()).toEqual(expected);

    // Every series directory was listed by at most one request: the first two
    // by delimiter (before the walk was recognized), the rest by the flat pass.
    const delimited = store.lists.filter((l) => l.delimiter === "/" && l.prefix.startsWith("idc/") && l.prefix !== "idc/");
    const perPrefix = new Map<string, number>();
    for (const l of delimited) perPrefix.set(l.prefix, (perPrefix.get(l.prefix) ?? 0) + 1);
    expect(Math.max(...perPrefix.values())).toBe(1);
    expect(delimited.length).toBeLessThanOrEqual(4); // a couple before the walk is recognized
    const flat = store.lists.filter((l) => l.delimiter === undefined);
    expect(flat.length).toBeGreaterThan(4);
    // The flat passes cover disjoint key ranges: no object listed twice.
    const windows = new Map<string, number>();
    for (const l of flat) windows.set(`${l.startOffset}|${l.endOffset}`, (windows.get(`${l.startOffset}|${l.endOffset}`) ?? 0) + 1);
    expect(Math.max(...windows.values())).toBe(1);
    expect(layout.walkStats.windows).toBeGreaterThan(2); // the look-ahead budget cut it into windows
  });

  it("a walk's listings match delimiter listings, including shadowed names and placeholders", async () => {
    const store = new MemoryObjectStore("t");
    // More than 16 sub-directories: fewer are simply all listed at once, no walk needed.
    const names = ["w/a/1", "w/a/2", "w/b/x", "w/b/x/y", "w/b/x-1", "w/c/", "w/c/in/", "w/d/e/f/g", "w/e/1", "w/f/1", "w/g/1", "w/h/1", "w/top",
      ...Array.from({ length: 20 }, (_, i) => `w/s${String(i).padStart(2, "0")}/${i}`)];
    for (const n of names) store.put(n, "1");
    const walked = setup(store, 4);
    const plain = setup(store, 4);
    // Trigger the walk on w/ (a then b opened in order), then compare every directory.
    await walked.fs.list("/w");
    await walked.fs.list("/w/a");
    await walked.fs.list("/w/b");
    await settle();
    expect(walked.layout.walkStats.windows).toBeGreaterThan(0);
    for (const dir of ["/w/c", "/w/c/in", "/w/d", "/w/d/e", "/w/d/e/f", "/w/e", "/w/h", "/w/b/x", "/w/s00", "/w/s19"]) {
      expect(await walked.fs.list(dir), dir).toEqual(await plain.fs.list(dir));
    }
  });
  it("walks on below sub-directories listed already (a small fan-out), so no level waits for the walker", async () => {
    // The shape of the bench's wide tree: a few study folders, each with one folder in it.
    const store = new RecordingStore("t");
    for (let d = 1; d <= 10; d++) for (let i = 1; i <= 6; i++) store.put(`study${d}/${i % 2 ? "sub/" : ""}${i}.dcm`, "x");
    store.put("series/1.dcm", "x");
    const { fs, layout } = setup(store, 2_000);
    await fs.list("/");
    await settle(); // the small fan-out lists series/ and study1..10/ ahead
    await fs.list("/series");
    await fs.list("/study1");
    await settle();
    // Entering study1 after series is a walk; study2..10 are listed already, so the
    // walk goes on below them: their sub/ folders are listed before find gets there.
    for (let d = 2; d <= 10; d++) expect(layout.listings.peek(`study${d}/sub/`)?.isComplete, `study${d}/sub/`).toBe(true);
    const before = store.lists.length;
    const walked: string[] = [];
    for (let d = 2; d <= 10; d++) await find(fs, `/study${d}`, walked);
    expect(store.lists.length).toBe(before); // the rest of the walk asks for nothing
    expect(walked).toHaveLength(9 * 6);
    // Nothing listed twice: one request per prefix and key range.
    const seen = new Set(store.lists.map((l) => `${l.prefix}|${l.delimiter}|${l.startOffset}|${l.endOffset}`));
    expect(seen.size).toBe(store.lists.length);
  });
});

describe("readdir with attributes (READDIRPLUS)", () => {
  it("gives each entry what getattr gives it, in batches with real offsets; without it a small directory goes whole", async () => {
    const store = new MemoryObjectStore("t");
    for (let i = 0; i < 7; i++) store.put(`d/f${i}`, "x".repeat(i * 10), new Date(1_000_000 + i * 1000));
    store.put("d/sub/inner", "y");
    const { fs } = setup(store, 0);
    const seen: string[] = [];
    for (let off = 0; ;) {
      const b = await fs.readdir("/d", off, 3, true);
      if (b.names.length === 0) break;
      expect(b.attrs).toHaveLength(b.names.length);
      expect(b.nexts.every((n) => n > 0)).toBe(true); // never libfuse's buffered mode (it drops the attributes)
      for (const [i, name] of b.names.entries()) {
        if (name !== "." && name !== "..") expect(b.attrs![i], name).toEqual(await fs.getattr(`/d/${name}`));
        seen.push(name);
      }
      off = b.nexts[b.nexts.length - 1]!;
    }
    expect(seen).toEqual([".", "..", "f0", "f1", "f2", "f3", "f4", "f5", "f6", "sub"]);
    const plain = await fs.readdir("/d", 0, 3, false);
    expect(plain.attrs).toBeUndefined();
    expect(plain.nexts.every((n) => n === 0)).toBe(true);
    expect(plain.names).toHaveLength(10);
  });
});
