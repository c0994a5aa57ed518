// The disk tier: blocks survive a remount; a flipped byte, a truncated
// block, a block of another key or a lost index never serve wrong bytes; a
// crash loses at most what was being written; it stays within its size,
// leaves 5% of its file system free, copes with a full disk, and refuses a
// second daemon on the same directory.
import { randomBytes } from "node:crypto";
import { readFileSync, readSync } from "node:fs";
import { mkdir, readFile, readdir, rm, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DiskCache, defaultDiskOptions } from "../../src/cache/disk/disk-cache.js";
import { DirLockedError } from "../../src/cache/disk/dir-lock.js";
import { LruBlockCache } from "../../src/cache/block-cache.js";
import { ObjectReader, defaultFillOptions } from "../../src/read/object-reader.js";
import { MemoryObjectStore } from "../../src/storage/memory/memory-object-store.js";
import { RetryingStreamer } from "../../src/storage/retrying-object-store.js";
import { systemClock } from "../../src/util/clock.js";
import { MemoryLogger } from "../../src/util/log.js";
import { tempDir } from "../helpers/files.js";
import { run } from "../helpers/proc.js";

const open = (dir: string, maxBytes = 64 * 2 ** 20, log = new MemoryLogger()): Promise<DiskCache> =>
  DiskCache.open({ ...defaultDiskOptions, dir, maxBytes, log });

/** Every block file under the cache directory. */
async function blockFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else out.push(join(d, e.name));
    }
  };
  await walk(join(dir, "som-cache-v1", "blocks"));
  return out;
}

const opened: DiskCache[] = [];
const tmpfs: string[] = [];
afterEach(async () => {
  for (const c of opened.splice(0)) await c.close().catch(() => undefined);
  for (const t of tmpfs.splice(0)) {
    // Busy means something (the cache's lock, a block file) was left open: detach it, and fail.
    const r = await run("umount", [t]);
    if (r.code !== 0) {
      await run("umount", ["-l", t]);
      throw new Error(`${t} was still in use after the test: ${r.stderr}`);
    }
  }
});

describe("DiskCache", () => {
  it("keeps blocks across a remount, keyed by name and generation", async () => {
    const dir = await tempDir("disk");
    const a = await open(dir);
    const data = randomBytes(300_000);
    await a.write("1\u00000\u0000obj", [data.subarray(0, 100), data.subarray(100)]);
    expect(a.has("1\u00000\u0000obj")).toBe(true);
    expect(a.has("2\u00000\u0000obj")).toBe(false); // another generation is another block
    await a.close();
    const b = await open(dir);
    opened.push(b);
    expect(await b.read("1\u00000\u0000obj", data.length)).toEqual(data);
    expect(await b.read("1\u00000\u0000obj", data.length - 1)).toBeUndefined(); // not the length expected: not served
  });

  it("never serves a flipped byte, a truncated block, or another key's block: it drops them", async () => {
    const dir = await tempDir("disk-bad");
    const c = await open(dir);
    opened.push(c);
    const blocks = ["flip", "cut", "swap", "other"].map((n) => ({ key: `1\u00000\u0000${n}`, data: randomBytes(50_000) }));
    for (const b of blocks) await c.write(b.key, [b.data]);
    const files = await blockFiles(dir);
    expect(files).toHaveLength(4);
    // A block file holds the block's bytes alone (its header is an attribute of the file).
    const fileOf = async (key: string): Promise<string> => {
      const data = blocks.find((b) => b.key === key)!.data;
      for (const f of files) if ((await readFile(f)).equals(data)) return f;
      throw new Error(key);
    };
    const flip = await fileOf(blocks[0]!.key);
    const f = await readFile(flip);
    f[f.length - 10] = f[f.length - 10]! ^ 0x40;
    await writeFile(flip, f);
    await truncate(await fileOf(blocks[1]!.key), 1000);
    await writeFile(await fileOf(blocks[2]!.key), await readFile(await fileOf(blocks[3]!.key)));
    for (const b of blocks.slice(0, 3)) expect(await c.read(b.key, b.data.length)).toBeUndefined();
    expect(c.stats.corrupt).toBe(3);
    expect(c.has(blocks[0]!.key)).toBe(false); // dropped, so the next read fetches it again
    expect(await blockFiles(dir)).toHaveLength(1);
    expect(await c.read(blocks[3]!.key, 50_000)).toEqual(blocks[3]!.data);
  });

  it("hands out a block's descriptor for the kernel only once the whole file was checked, and never after it changed", async () => {
    const dir = await tempDir("disk-verified");
    const c = await open(dir);
    opened.push(c);
    const data = randomBytes(3 * defaultDiskOptions.pageSize + 99);
    const key = "7\u0000all\u0000ct/001.dcm";
    await c.write(key, [data]);
    const [file] = await blockFiles(dir);
    expect((await readFile(file!)).equals(data)).toBe(true); // the bytes alone: the kernel can read the file as the object
    expect(c.verifiedFd(key, data.length)).toBeUndefined(); // not checked
    expect(await c.read(key, data.length)).toEqual(data);
    expect(c.verifiedFd(key, data.length)).toBeUndefined(); // read in here is not checked for the kernel
    expect(await c.verify(key, data.length)).toBe(true);
    const fd = c.verifiedFd(key, data.length);
    expect(fd).toBeGreaterThan(0);
    const back = Buffer.alloc(data.length);
    expect(readSync(fd!, back, 0, back.length, 0)).toBe(data.length);
    expect(back.equals(data)).toBe(true);
    expect(c.verifiedFd(key, data.length - 1)).toBeUndefined(); // not the length expected
    // Changed in place after the check (same inode, new ctime): not handed out, and the next read finds it bad.
    const f = await readFile(file!);
    f[10] = f[10]! ^ 1;
    await writeFile(file!, f);
    expect(c.verifiedFd(key, data.length)).toBeUndefined();
    expect(await c.read(key, data.length)).toBeUndefined();
    expect(c.stats.corrupt).toBe(1);
  });

  it("checks a whole block on its own thread for the kernel (verify): intact is handed out, bad is dropped, changed is not trusted", async () => {
    const dir = await tempDir("disk-verify");
    const w = await open(dir);
    const page = defaultDiskOptions.pageSize;
    const blocks = Array.from({ length: 3 }, (_, i) => ({ key: `8\u0000all\u0000ct/00${i}.dcm`, data: randomBytes(2 * page + 10 * i + 1) }));
    for (const b of blocks) await w.write(b.key, [b.data]);
    await w.close();
    // After a remount nothing has been checked. Flip a byte in the last page of block 1's file.
    const files = await blockFiles(dir);
    let bad = "";
    for (const file of files) if ((await readFile(file)).equals(blocks[1]!.data)) bad = file;
    expect(bad).not.toBe("");
    const f = await readFile(bad);
    f[f.length - 3] = f[f.length - 3]! ^ 0x40;
    await writeFile(bad, f);
    const c = await open(dir);
    opened.push(c);
    const [good, flipped, other] = blocks as [typeof blocks[0], typeof blocks[0], typeof blocks[0]];
    // Urgent or queued, all at once: each answered on its own merits.
    expect(await Promise.all([c.verify(good.key, good.data.length, true), c.verify(flipped.key, flipped.data.length), c.verify(other.key, other.data.length)])).toEqual([true, false, true]);
    const fd = c.verifiedFd(good.key, good.data.length);
    expect(fd).toBeGreaterThan(0);
    const back = Buffer.alloc(good.data.length);
    expect(readSync(fd!, back, 0, back.length, 0)).toBe(back.length);
    expect(back.equals(good.data)).toBe(true);
    expect(c.stats.corrupt).toBe(1);
    expect(c.has(flipped.key)).toBe(false); // dropped: the reader fetches it again
    expect(await blockFiles(dir)).toHaveLength(2);
    expect(await c.verify(flipped.key, flipped.data.length)).toBe(false); // gone, not checked again
    expect(c.verifiedFd(other.key, other.data.length - 1)).toBeUndefined(); // not the length expected
    // The checks read nothing in here: the only bytes counted served are the file handed out.
    expect(c.stats.readBytes).toBe(good.data.length);
    // A block changed after its check is not handed out; checked again, it is found bad and dropped.
    const otherFile = files.find((p) => p !== bad && readFileSync(p).equals(other.data))!;
    const g = await readFile(otherFile);
    g[page + 5] = g[page + 5]! ^ 1;
    await writeFile(otherFile, g);
    expect(c.verifiedFd(other.key, other.data.length)).toBeUndefined();
    expect(await c.verify(other.key, other.data.length)).toBe(false);
    expect(c.has(other.key)).toBe(false);
    expect(c.stats.corrupt).toBe(2);
  });

  it("checks what a reader waits on first, even when it was asked for ahead of it", async () => {
    const dir = await tempDir("disk-hurry");
    const c = await open(dir);
    opened.push(c);
    const blocks = Array.from({ length: 30 }, (_, i) => ({ key: `9\u0000all\u0000s/${i}`, data: randomBytes(300_000) }));
    for (const b of blocks) await c.write(b.key, [b.data]);
    const order: number[] = [];
    // 30 checks asked ahead (the thread takes four at a time), then a reader waits on the last one.
    const ahead = blocks.map((b, i) => c.verify(b.key, b.data.length).then((ok) => (order.push(i), ok)));
    const waited = c.verify(blocks[29]!.key, blocks[29]!.data.length, true);
    expect(await waited).toBe(true);
    expect(order.filter((i) => i !== 29).length).toBeLessThanOrEqual(4); // at most the four on the thread before it
    expect(await Promise.all(ahead)).toEqual(blocks.map(() => true));
  });

  it("checks its most recently used whole objects as a remount starts, behind any reader: good ones pass through without a wait, a bad one is dropped", async () => {
    const dir = await tempDir("disk-recent");
    const w = await open(dir);
    const whole = Array.from({ length: 5 }, (_, i) => ({ key: `7\u0000all\u0000ct/${i}.dcm`, data: randomBytes(300_000 + i) }));
    const extent = { key: "7\u0000e0\u0000sm/slide.dcm", data: randomBytes(300_000) };
    for (const b of [...whole, extent]) await w.write(b.key, [b.data]); // the extent is the most recent
    await w.close();
    const files = await blockFiles(dir);
    const flippedFile = files.find((f) => readFileSync(f).equals(whole[3]!.data))!;
    const f = await readFile(flippedFile);
    f[100] = f[100]! ^ 1;
    await writeFile(flippedFile, f);

    const c = await open(dir);
    opened.push(c);
    // Most recent first: the extent (its header says so: passed over, kept, and not counted), then
    // 4 (300,004 bytes); 3 would pass the byte budget, and so would every one after it.
    expect(await c.checkRecent({ block: "all", files: 10, bytes: 600_004, maxBlockBytes: 8 * 2 ** 20 })).toBe(1);
    expect(c.has(extent.key)).toBe(true);
    // Three more files: 3 (bad: dropped), 2, 1; 0 is left.
    expect(await c.checkRecent({ block: "all", files: 3, bytes: 10 * 2 ** 20, maxBlockBytes: 8 * 2 ** 20 })).toBe(2);
    expect(c.stats.checkedAtStart).toBe(3);
    expect(c.stats.corrupt).toBe(1);
    expect(c.has(whole[3]!.key)).toBe(false);
    for (const i of [4, 2, 1]) {
      const fd = c.verifiedFd(whole[i]!.key, whole[i]!.data.length); // no verify asked: checked already
      expect(fd).toBeGreaterThan(0);
      const back = Buffer.alloc(whole[i]!.data.length);
      expect(readSync(fd!, back, 0, back.length, 0)).toBe(back.length);
      expect(back.equals(whole[i]!.data)).toBe(true);
    }
    expect(c.verifiedFd(whole[0]!.key, whole[0]!.data.length)).toBeUndefined();
    expect(await c.verify(whole[4]!.key, whole[4]!.data.length, true)).toBe(true);
    expect(c.stats.checkWaits).toBe(0);
    expect(await c.verify(whole[0]!.key, whole[0]!.data.length, true)).toBe(true);
    expect(c.stats.checkWaits).toBe(1);
  });

  it("checks a remount's recent files behind what a reader waits on", async () => {
    const dir = await tempDir("disk-recent-order");
    const w = await open(dir);
    const blocks = Array.from({ length: 30 }, (_, i) => ({ key: `9\u0000all\u0000s/${i}`, data: randomBytes(300_000) }));
    for (const b of blocks) await w.write(b.key, [b.data]);
    await w.close();
    const c = await open(dir);
    opened.push(c);
    const all = c.checkRecent({ block: "all", files: 30, bytes: 2 ** 30, maxBlockBytes: 2 ** 30 });
    // Block 0 is the least recently used: the last of the 30 queued. A reader waits on it.
    expect(await c.verify(blocks[0]!.key, blocks[0]!.data.length, true)).toBe(true);
    const doneBefore = blocks.slice(1).filter((b) => c.verifiedFd(b.key, b.data.length) !== undefined).length;
    expect(doneBefore).toBeLessThanOrEqual(4); // at most the four on the thread before it
    expect(await all).toBe(29); // 0 was checked for the reader before the start's walk reached it: passed over
  });

  it("serves a page of an extent after checking only that page, and drops the extent when a page is bad", async () => {
    const dir = await tempDir("disk-pages");
    const c = await open(dir);
    opened.push(c);
    const page = defaultDiskOptions.pageSize;
    const data = randomBytes(4 * page + 1234); // a short last page
    const key = "5\u0000e0\u0000slide.svs";
    await c.write(key, [data.subarray(0, 777), data.subarray(777)]);
    expect(await c.readRange(key, data.length, 4 * page, 1234)).toEqual(data.subarray(4 * page));
    expect(await c.readRange(key, data.length, page, 2 * page)).toEqual(data.subarray(page, 3 * page));
    // A flipped byte in page 2 (the file is open already: the check is on every read, not at open).
    const [file] = await blockFiles(dir);
    const f = await readFile(file!);
    const at = f.length - data.length + 2 * page + 99;
    f[at] = f[at]! ^ 1;
    await writeFile(file!, f);
    expect(await c.readRange(key, data.length, 0, page)).toEqual(data.subarray(0, page)); // page 0 is still good
    expect(await c.readRange(key, data.length, 2 * page, page)).toBeUndefined();
    expect(c.stats.corrupt).toBe(1);
    expect(c.has(key)).toBe(false);
    expect(await blockFiles(dir)).toHaveLength(0);
  });

  it("streams a block straight to its file: restarts cleanly, refuses a short one, leaves nothing when aborted", async () => {
    const dir = await tempDir("disk-stream");
    const c = await open(dir);
    opened.push(c);
    const data = randomBytes(3 * 2 ** 20 + 777); // several 1 MiB flushes and a short last page
    const key = "9\u0000e0\u0000stream";
    const w = (await c.writer(key, data.length))!;
    expect(await c.writer(key, data.length)).toBeUndefined(); // one writer per block
    await w.append(data.subarray(0, 2 ** 21)); // a first attempt, cut short by the network...
    await w.restart();
    for (let at = 0; at < data.length; at += 65_536) await w.append(data.subarray(at, at + 65_536));
    await w.commit();
    expect(await c.read(key, data.length)).toEqual(data);
    expect(await c.readRange(key, data.length, 3 * 2 ** 20, 777)).toEqual(data.subarray(3 * 2 ** 20));

    const short = (await c.writer("9\u0000e1\u0000stream", 1000))!;
    await short.append(randomBytes(999));
    await expect(short.commit()).rejects.toThrow(/got 999 of 1000 bytes/);
    await short.abort();
    expect(c.has("9\u0000e1\u0000stream")).toBe(false);
    expect(await readdir(join(dir, "som-cache-v1", "tmp"))).toEqual([]);
    expect(await blockFiles(dir)).toHaveLength(1);
  });

  it("rebuilds from the blocks when the index is lost, and adopts blocks a crash left unjournaled", async () => {
    const dir = await tempDir("disk-index");
    const a = await open(dir);
    const blocks = Array.from({ length: 5 }, (_, i) => ({ key: `7\u0000${i}\u0000big`, data: randomBytes(10_000) }));
    for (const b of blocks) await a.write(b.key, [b.data]);
    await a.close();
    await rm(join(dir, "som-cache-v1", "index"));
    await rm(join(dir, "som-cache-v1", "journal"));
    const log = new MemoryLogger();
    const b = await open(dir, 64 * 2 ** 20, log);
    expect(b.blocks).toBe(5);
    for (const x of blocks) expect(await b.read(x.key, x.data.length)).toEqual(x.data);
    expect(log.lines.some((l) => l.includes("scanned after no index: 5 block files, 5 not in the index"))).toBe(true);
    // A crash: no clean shutdown, the last block's journal line never written, a half-written temp file.
    await b.write("8\u00000\u0000late", [randomBytes(1000)]);
    const journal = join(dir, "som-cache-v1", "journal");
    const lines = (await readFile(journal, "utf8")).trim().split("\n");
    await writeFile(journal, `${lines.slice(0, -1).join("\n")}\nP abc`); // and a line cut short
    await writeFile(join(dir, "som-cache-v1", "tmp", "halfway"), "torn");
    b["lock"].release(); // the process "died": its lock is gone with it
    const c = await open(dir);
    opened.push(c);
    expect(c.blocks).toBe(6);
    expect(c.has("8\u00000\u0000late")).toBe(true);
    expect(await readdir(join(dir, "som-cache-v1", "tmp"))).toEqual([]);
  });

  it("stays within its size, least recently used out first", async () => {
    const dir = await tempDir("disk-size");
    const c = await open(dir, 1_000_000);
    opened.push(c);
    for (let i = 0; i < 30; i++) {
      await c.write(`1\u0000${i}\u0000f`, [randomBytes(100_000)]);
      if (i === 5) await c.read(`1\u00001\u0000f`, 100_000); // keep block 1 in use
    }
    expect(c.size).toBeLessThanOrEqual(1_000_000);
    const files = await blockFiles(dir);
    let bytes = 0;
    for (const f of files) bytes += (await stat(f)).size;
    expect(bytes).toBe(c.size);
    expect(c.has(`1\u000029\u0000f`)).toBe(true);
    expect(c.has(`1\u00000\u0000f`)).toBe(false);
    expect(c.stats.evicted).toBeGreaterThan(15);
  });

  it("leaves 5% of its file system free, and copes with a disk filled by others", async () => {
    const mnt = await tempDir("disk-tmpfs");
    expect((await run("mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt])).code).toBe(0);
    tmpfs.push(mnt);
    const c = await open(mnt, 1024 * 2 ** 20); // far more than the file system has
    for (let i = 0; i < 40; i++) await c.write(`1\u0000${i}\u0000f`, [randomBytes(500_000)]);
    const fsStat = await run("stat", ["-f", "-c", "%a %b", mnt]);
    const [avail, total] = fsStat.stdout.trim().split(" ").map(Number) as [number, number];
    expect(avail / total).toBeGreaterThanOrEqual(0.05);
    expect(c.blocks).toBeGreaterThan(20);
    await c.close();
    // Someone else fills the disk: blocks are no longer written, reads of what is there still work.
    await rm(join(mnt, "som-cache-v1"), { recursive: true });
    const d = await open(mnt, 1024 * 2 ** 20);
    opened.push(d);
    await d.write("1\u00000\u0000keep", [Buffer.from("kept")]);
    await run("dd", ["if=/dev/zero", `of=${join(mnt, "filler")}`, "bs=1M", "count=16"]);
    d["space"].at = 0; // measure the file system again now
    await d.write("1\u00001\u0000more", [randomBytes(500_000)]);
    expect(d.has("1\u00001\u0000more")).toBe(false);
    expect(d.stats.skipped).toBeGreaterThan(0);
    expect(await d.read("1\u00000\u0000keep", 4)).toEqual(Buffer.from("kept"));
  });

  it("keeps serving when its journal and index cannot be written, says so once, and still releases the directory", async () => {
    const dir = await tempDir("disk-unwritable");
    const log = new MemoryLogger();
    const c = await open(dir, 64 * 2 ** 20, log);
    const a = randomBytes(70_000);
    const b = randomBytes(90_000);
    await c.write("1\u00000\u0000a", [a]);
    // The journal's appends (and the index's rewrite, which empties the journal) now fail.
    const journal = join(dir, "som-cache-v1", "journal");
    await rm(journal);
    await mkdir(journal);
    await c.write("1\u00000\u0000b", [b]);
    await vi.waitFor(() => expect(log.lines.filter((l) => l.startsWith("warn:"))).toHaveLength(1), { timeout: 5_000 });
    expect(await c.read("1\u00000\u0000a", a.length)).toEqual(a);
    expect(await c.read("1\u00000\u0000b", b.length)).toEqual(b);
    await c.close(); // resolves: what it could not write is not its caller's failure
    const warns = log.lines.filter((l) => l.startsWith("warn:"));
    expect(warns).toHaveLength(1);
    expect(warns[0]).toMatch(/its (journal|index) could not be written \(EISDIR/);
    // No clean shutdown was recorded: the next start (the disk writable again) scans and finds both.
    await rm(journal, { recursive: true });
    const log2 = new MemoryLogger();
    const d = await open(dir, 64 * 2 ** 20, log2); // the lock was released
    opened.push(d);
    expect(log2.lines.join("\n")).toContain("scanned after an unclean shutdown: 2 block files");
    expect(await d.read("1\u00000\u0000a", a.length)).toEqual(a);
    expect(await d.read("1\u00000\u0000b", b.length)).toEqual(b);
  });

  it("refuses a second daemon on the same directory, naming the first", async () => {
    const dir = await tempDir("disk-lock");
    const a = await open(dir);
    opened.push(a);
    await expect(open(dir)).rejects.toBeInstanceOf(DirLockedError);
    await expect(open(dir)).rejects.toThrow(`cache directory ${dir} is in use by another som mount (pid ${process.pid})`);
  });

  it("drops an offer when its write queue is full, rather than hold the bytes", async () => {
    const dir = await tempDir("disk-queue");
    await mkdir(dir, { recursive: true });
    const c = await DiskCache.open({ ...defaultDiskOptions, dir, maxBytes: 64 * 2 ** 20, queueBytes: 300_000, writers: 1, log: new MemoryLogger() });
    opened.push(c);
    const results = Array.from({ length: 5 }, (_, i) => c.offer(`1\u0000${i}\u0000q`, [randomBytes(100_000)]));
    expect(results).toEqual([true, true, true, false, false]);
    expect(c.stats.skipped).toBe(2);
  });
  it("tells whoever offered a block when it is on disk: its own write, one already under way, or one already there", async () => {
    const dir = await tempDir("disk-settled");
    await mkdir(dir, { recursive: true });
    const c = await DiskCache.open({ ...defaultDiskOptions, dir, maxBytes: 64 * 2 ** 20, writers: 1, log: new MemoryLogger() });
    opened.push(c);
    const key = "1\u00000\u0000s";
    const heard: string[] = [];
    const settled = (who: string) => new Promise<void>((r) => c.offer(key, [randomBytes(100_000)], () => {
      heard.push(`${who}:${c.has(key)}`);
      r();
    }));
    const first = settled("first");
    const second = settled("second"); // the same block while the first write is under way
    await Promise.all([first, second]);
    await settled("third"); // already there
    expect(heard.sort()).toEqual(["first:true", "second:true", "third:true"]);
  });

  it("offers again, from memory, every block its full write queue skipped: a fast copy leaves all it read on disk", async () => {
    const dir = await tempDir("disk-reoffer");
    await mkdir(dir, { recursive: true });
    const log = new MemoryLogger();
    // A queue of two small objects at a time and one writer: most offers find no room.
    const disk = await DiskCache.open({ ...defaultDiskOptions, dir, maxBytes: 64 * 2 ** 20, queueBytes: 250_000, writers: 1, pageSize: 64 * 1024, log });
    opened.push(disk);
    const store = new MemoryObjectStore("t");
    const small = Array.from({ length: 40 }, (_, i) => ({ ...store.put(`s/${i}`, randomBytes(100_000)), size: 100_000 }));
    const big = { ...store.put("big", randomBytes(1_000_000)), size: 1_000_000 };
    const reader = new ObjectReader(store, new LruBlockCache(64 * 2 ** 20),
      { wholeObjectLimit: 200_000, pageSize: 64 * 1024, maxRequest: 256 * 1024, prefetchConcurrency: 8, prefetchBudget: 32 * 2 ** 20, prefetchInFlightBytes: 8 * 2 ** 20 },
      log, { cache: disk, streamer: new RetryingStreamer(store, systemClock, log), fill: defaultFillOptions });
    const targets = [...small, big].map((o) => ({ kind: "object" as const, name: o.name, generation: o.generation, size: o.size }));
    await Promise.all(targets.map((t) => reader.read(t, 0, t.size)));
    expect(disk.stats.skipped).toBeGreaterThan(0); // the queue was full for some
    await reader.flushToDisk();
    await disk.close();
    const again = await DiskCache.open({ ...defaultDiskOptions, dir, maxBytes: 64 * 2 ** 20, pageSize: 64 * 1024, log });
    opened.push(again);
    for (const t of small) expect(again.has(`${t.generation}\u0000all\u0000${t.name}`), t.name).toBe(true);
    for (let e = 0; e < 4; e++) expect(again.has(`${big.generation}\u0000e${e}\u0000big`), `extent ${e}`).toBe(true);
    // And the bytes are the object's.
    const back = await again.read(`${small[7]!.generation}\u0000all\u0000s/7`, 100_000);
    expect(back?.equals(await store.read("s/7", small[7]!.generation))).toBe(true);
  });
  it("with passthrough, prefetch only checks what the disk tier holds (nothing into memory); a bad one is fetched again", async () => {
    const dir = await tempDir("disk-backs");
    await mkdir(dir, { recursive: true });
    const log = new MemoryLogger();
    const store = new MemoryObjectStore("t");
    const objects = Array.from({ length: 6 }, (_, i) => ({ kind: "object" as const, ...store.put(`ct/${i}`, randomBytes(150_000 + i)), size: 150_000 + i }));
    const opts = { wholeObjectLimit: 200_000, pageSize: 64 * 1024, maxRequest: 256 * 1024, prefetchConcurrency: 8, prefetchBudget: 32 * 2 ** 20, prefetchInFlightBytes: 8 * 2 ** 20 };
    const first = await DiskCache.open({ ...defaultDiskOptions, dir, maxBytes: 64 * 2 ** 20, pageSize: 64 * 1024, log });
    const writer = new ObjectReader(store, new LruBlockCache(64 * 2 ** 20), opts, log, { cache: first, streamer: new RetryingStreamer(store, systemClock, log), fill: defaultFillOptions });
    for (const t of objects) await writer.read(t, 0, t.size);
    await writer.flushToDisk();
    await first.close();
    // Object 4's block gets a flipped byte.
    for (const f of await blockFiles(dir)) {
      const b = await readFile(f);
      if (!b.equals(await store.read("ct/4", objects[4]!.generation))) continue;
      b[77] = b[77]! ^ 1;
      await writeFile(f, b);
    }
    const disk = await DiskCache.open({ ...defaultDiskOptions, dir, maxBytes: 64 * 2 ** 20, pageSize: 64 * 1024, log });
    opened.push(disk);
    const memory = new LruBlockCache(64 * 2 ** 20);
    const reader = new ObjectReader(store, memory, opts, log, { cache: disk, streamer: new RetryingStreamer(store, systemClock, log), fill: defaultFillOptions, backs: () => true });
    for (const t of objects) expect(reader.backingFd(t)).toBeUndefined(); // nothing checked yet
    for (const t of objects) expect(reader.prefetchHead(t)).toBe(true);
    // Object 4, fetched again, into memory and (in the background) back to disk.
    const key4 = `${objects[4]!.generation}\u0000all\u0000ct/4`;
    await vi.waitFor(() => expect([reader.stats.requests, memory.size, disk.has(key4)]).toEqual([1, objects[4]!.size, true]), { timeout: 5000 });
    expect(objects.filter((t) => reader.backingFd(t) !== undefined).map((t) => t.name)).toEqual(["ct/0", "ct/1", "ct/2", "ct/3", "ct/5"]);
    expect(disk.stats.corrupt).toBe(1);
    expect(memory.size).toBe(objects[4]!.size); // only the fetched one came into memory
    // Written back, it is checked like any other before its file is handed out (an open asks).
    expect(await reader.prepareBacking(objects[4]!, true)).toBe(true);
    // What the kernel would read: exactly each object's bytes.
    for (const t of objects) {
      const fd = reader.backingFd(t)!;
      const back = Buffer.alloc(t.size);
      expect(readSync(fd, back, 0, t.size, 0)).toBe(t.size);
      expect(back.equals(await store.read(t.name, t.generation)), t.name).toBe(true);
    }
  });

  it("lets a big object's extents leave the memory cache once they are on disk, and serves them from disk after", async () => {
    const dir = await tempDir("disk-leave");
    await mkdir(dir, { recursive: true });
    const log = new MemoryLogger();
    const disk = await DiskCache.open({ ...defaultDiskOptions, dir, maxBytes: 64 * 2 ** 20, pageSize: 64 * 1024, log });
    opened.push(disk);
    const store = new MemoryObjectStore("t");
    const bigBytes = randomBytes(1_000_000);
    const smallBytes = randomBytes(100_000);
    const big = { kind: "object" as const, ...store.put("big", bigBytes), size: bigBytes.length };
    const small = { kind: "object" as const, ...store.put("small", smallBytes), size: smallBytes.length };
    const memory = new LruBlockCache(64 * 2 ** 20);
    const reader = new ObjectReader(store, memory,
      { wholeObjectLimit: 200_000, pageSize: 64 * 1024, maxRequest: 256 * 1024, prefetchConcurrency: 8, prefetchBudget: 32 * 2 ** 20, prefetchInFlightBytes: 8 * 2 ** 20 },
      log, { cache: disk, streamer: new RetryingStreamer(store, systemClock, log), fill: defaultFillOptions });
    expect((await reader.read(big, 0, big.size)).equals(bigBytes)).toBe(true);
    expect((await reader.read(small, 0, small.size)).equals(smallBytes)).toBe(true);
    // Each of the big object's 4 extents goes to disk, and then out of memory; the small object stays.
    await vi.waitFor(() => expect(memory.size).toBe(smallBytes.length), { timeout: 5000 });
    for (let e = 0; e < 4; e++) expect(disk.has(`${big.generation}\u0000e${e}\u0000big`), `extent ${e}`).toBe(true);
    const requests = reader.stats.requests;
    const hits = reader.stats.diskHits;
    // Read again, at odd offsets across page and extent boundaries: the same bytes, from disk, no request.
    for (const [offset, length] of [[0, 1_000_000], [65_000, 300_000], [262_143, 2], [999_990, 100]] as const) {
      const into = Buffer.alloc(length);
      const n = await reader.readInto(big, offset, length, into);
      expect(into.subarray(0, n).equals(bigBytes.subarray(offset, offset + length))).toBe(true);
    }
    expect(reader.stats.requests).toBe(requests);
    expect(reader.stats.diskHits).toBeGreaterThan(hits);
    expect(memory.size).toBe(smallBytes.length); // the disk reads did not come back into memory
  });
});
