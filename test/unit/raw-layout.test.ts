import { beforeEach, describe, expect, it } from "vitest";
import { RawLayout, normalizePrefix } from "../../src/namespace/raw-layout.js";
import { MemoryObjectStore } from "../../src/storage/memory/memory-object-store.js";
import { ManualClock } from "../../src/util/clock.js";
import { MemoryLogger } from "../../src/util/log.js";
import { names } from "../helpers/dirs.js";

let store: MemoryObjectStore;
let clock: ManualClock;
let log: MemoryLogger;
const layout = (prefix = ""): RawLayout =>
  new RawLayout(store, { prefix: normalizePrefix(prefix), metadataTtlMs: 60_000, negativeTtlMs: 5_000, clock, log, mountTime: new Date(0) });

beforeEach(() => {
  store = new MemoryObjectStore();
  clock = new ManualClock();
  log = new MemoryLogger();
  store.put("s1/a.dcm", "aaaa", new Date(1000));
  store.put("s1/b.dcm", "bb");
  store.put("s1/deep/c.dcm", "c");
  store.put("s2/", "");
  store.put("both", "file");
  store.put("both/inner", "x");
  store.put("odd//name", "x");
  store.put("top.txt", "t");
});

describe("RawLayout", () => {
  it("lists one level with sizes and mtimes from the listing", async () => {
    const ns = layout();
    const root = await ns.readdir("/");
    expect(names(root).sort()).toEqual(["both", "odd", "s1", "s2", "top.txt"]);
    const s1 = await ns.readdir("/s1");
    expect(s1.get("a.dcm")).toMatchObject({ kind: "file", size: 4, mtime: new Date(1000) });
    expect(s1.get("deep")).toMatchObject({ kind: "dir" });
  });

  it("shows a placeholder as an empty directory and skips names no file can have", async () => {
    const ns = layout();
    expect((await ns.readdir("/s2")).size).toBe(0);
    expect((await ns.readdir("/odd")).size).toBe(0); // "odd//name" has an empty segment
    expect(log.lines.some((l) => l.startsWith("debug: skipping odd//: a name no file or directory can have"))).toBe(true);
  });

  it("lets the directory win over an object of the same name, with a warning", async () => {
    const ns = layout();
    expect((await ns.lookup("/both"))?.kind).toBe("dir");
    expect(log.lines).toContain("warn: gs://memory/both is both an object and a prefix; showing the directory");
    expect((await ns.readdir("/")).get("both")?.kind).toBe("dir");
  });

  it("answers lookups from a cached listing without more requests", async () => {
    const ns = layout();
    await ns.readdir("/s1");
    const before = { ...store.calls };
    expect((await ns.lookup("/s1/a.dcm"))?.kind).toBe("file");
    expect(await ns.lookup("/s1/missing")).toBeUndefined();
    expect(store.calls).toEqual(before);
  });

  it("keeps the page a directed lookup of a directory fetched as its listing, when that page is the whole directory", async () => {
    const ns = layout();
    expect((await ns.lookup("/s1"))?.kind).toBe("dir"); // never listed: a directed lookup
    const before = { ...store.calls };
    const s1 = await ns.readdir("/s1");
    expect(names(s1).sort()).toEqual(["a.dcm", "b.dcm", "deep"]);
    expect(s1.get("a.dcm")).toMatchObject({ kind: "file", size: 4, mtime: new Date(1000) });
    expect((await ns.lookup("/s1/b.dcm"))?.kind).toBe("file");
    expect(store.calls).toEqual(before); // readdir and the child's lookup: no request
    // Past a page, the lookup's page is not a listing: readdir lists every page itself.
    for (let i = 0; i < 1500; i++) store.put(`wide/${String(i).padStart(4, "0")}`, "x");
    expect((await ns.lookup("/wide"))?.kind).toBe("dir");
    const lists = store.calls.list;
    expect((await ns.readdir("/wide")).size).toBe(1500);
    expect(store.calls.list - lists).toBeGreaterThanOrEqual(2);
  });

  it("caches misses for the negative TTL, then asks again", async () => {
    const ns = layout();
    expect(await ns.lookup("/nope")).toBeUndefined();
    const after = store.calls.stat;
    expect(await ns.lookup("/nope")).toBeUndefined();
    expect(store.calls.stat).toBe(after);
    store.put("nope", "now it exists");
    clock.advance(5_001);
    expect((await ns.lookup("/nope"))?.kind).toBe("file");
  });

  it("expires listings after the metadata TTL", async () => {
    const ns = layout();
    expect((await ns.readdir("/s1")).get("new.dcm") !== undefined).toBe(false);
    store.put("s1/new.dcm", "n");
    clock.advance(30_000);
    expect((await ns.readdir("/s1")).get("new.dcm") !== undefined).toBe(false);
    clock.advance(30_001);
    expect((await ns.readdir("/s1")).get("new.dcm") !== undefined).toBe(true);
  });

  it("mounts a sub-tree with --prefix", async () => {
    const ns = layout("/s1/");
    expect(names((await ns.readdir("/"))).sort()).toEqual(["a.dcm", "b.dcm", "deep"]);
    expect((await ns.lookup("/deep/c.dcm"))?.kind).toBe("file");
  });

  it("lists every page of a large directory", async () => {
    for (let i = 0; i < 2500; i++) store.put(`big/${i}`, "x");
    const ns = layout();
    const before = store.calls.list;
    expect((await ns.readdir("/big")).size).toBe(2500);
    expect(store.calls.list - before).toBeGreaterThanOrEqual(3);
  });

  it("rejects readdir of a file and of nothing", async () => {
    const ns = layout();
    await expect(ns.readdir("/top.txt")).rejects.toMatchObject({ code: "ENOTDIR" });
    await expect(ns.readdir("/none")).rejects.toMatchObject({ code: "ENOENT" });
  });
});
