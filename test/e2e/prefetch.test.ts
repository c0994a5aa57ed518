// Read-ahead and series prefetch through a real mount, judged by what the
// emulator saw: every object fetched once, several requests in flight while
// a program reads one file after another, and no extra requests for random
// access. (Speed itself is the benchmark's job.)
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, stat, writeFile, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Emulator } from "../../src/emulator/server.js";
import { emulatorStats, resetStats, startEmulator } from "../helpers/emulator.js";
import { sha256, sha256File, tempDir, treeHashes, writeRandomFile } from "../helpers/files.js";
import { Scrape, metricsUrl } from "../helpers/metrics.js";
import { TestMount, stopAllMounts } from "../helpers/mount.js";
import { run, som, waitExit, waitForStderr } from "../helpers/proc.js";
import { fuseMountAt } from "../../src/fuse/mount-table.js";

const FILES = 40;
const MiB = 2 ** 20;
let emu: Emulator;
let seed: string;

beforeAll(async () => {
  seed = await tempDir("prefetch-seed");
  await mkdir(join(seed, "s1"), { recursive: true });
  for (let i = 0; i < FILES; i++) await writeRandomFile(join(seed, "s1", `f${String(i).padStart(3, "0")}.dcm`), 256 * 1024);
  await mkdir(join(seed, "big"));
  await writeRandomFile(join(seed, "big", "volume.bin"), 24 * MiB); // six 4 MiB blocks
  await writeFile(join(seed, "README.txt"), "x\n");
  emu = await startEmulator({ buckets: { series: seed }, faults: { latencyMs: 20 } });
});
beforeEach(() => resetStats(emu.url));
afterEach(stopAllMounts);
afterAll(async () => {
  await Promise.allSettled([stopAllMounts()]);
  await emu?.close();
});

/**
 * A gauge the daemon moves after the fact (a release reaches it after close returns; a file is
 * registered once its bytes land): polled for up to 5 s until `ok`; its last value.
 */
async function settled(url: string, name: string, ok: (v: number) => boolean): Promise<number> {
  let v = (await Scrape.of(url)).sum(name);
  for (let i = 0; i < 50 && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 100));
    v = (await Scrape.of(url)).sum(name);
  }
  return v;
}

async function expectPinnedFiles(m: TestMount, n: number): Promise<void> {
  expect(await settled(metricsUrl(m), "som_fuse_pinned_files", (v) => v === n)).toBe(n);
}

/** Reads s1's first two files (so the binding answers their opens), then opens f001: by the binding. */
async function openedByBinding(m: TestMount): Promise<FileHandle> {
  const url = metricsUrl(m);
  const dir = join(m.dir, "s1");
  expect((await run("bash", ["-c", `cat ${dir}/f000.dcm ${dir}/f001.dcm > /dev/null`])).code).toBe(0);
  expect(await settled(url, "som_fuse_resident_files", (v) => v >= 2)).toBeGreaterThanOrEqual(2);
  const opens = (await Scrape.of(url)).sum("som_fuse_native_opens_total");
  const fh = await open(join(dir, "f001.dcm"), "r");
  expect((await Scrape.of(url)).sum("som_fuse_native_opens_total")).toBe(opens + 1);
  return fh;
}

describe("prefetch through a mount", () => {
  it("cp -r of a series: each file fetched once, many in flight while cp reads one at a time", async () => {
    const m = await TestMount.start("series", emu.url);
    const dest = join(await tempDir("prefetch-cp"), "s1");
    const cp = await run("cp", ["-r", join(m.dir, "s1"), dest]);
    expect(cp.code, cp.stderr).toBe(0);
    expect(await treeHashes(dest)).toEqual(await treeHashes(join(seed, "s1")));
    const stats = await emulatorStats(emu.url);
    expect(stats.media).toBe(FILES);
    expect(stats.maxConcurrent).toBeGreaterThanOrEqual(8);
  });

  it("cp -r: files already in memory when cp opens them are read by the binding itself (pinned reads)", async () => {
    const m = await TestMount.start("series", emu.url, ["--metrics-port", "0"]);
    const dest = join(await tempDir("prefetch-pinned"), "s1");
    const cp = await run("cp", ["-r", join(m.dir, "s1"), dest]);
    expect(cp.code, cp.stderr).toBe(0);
    expect(await treeHashes(dest)).toEqual(await treeHashes(join(seed, "s1")));
    const s = await Scrape.of(metricsUrl(m));
    // The series prefetcher has all but the first few files in memory before cp opens them.
    expect(s.sum("som_fuse_pinned_reads_total")).toBeGreaterThanOrEqual(FILES / 2);
    expect(s.sum("som_fuse_pinned_read_bytes_total")).toBeGreaterThanOrEqual((FILES / 2) * 256 * 1024);
    expect(s.sum("som_fuse_pinned_read_bytes_total")).toBeLessThanOrEqual(FILES * 256 * 1024);
    await expectPinnedFiles(m, 0); // every one released
  });

  it("files the prefetcher holds are opened by the binding itself: no open reaches JavaScript, nothing is fetched again", async () => {
    const m = await TestMount.start("series", emu.url, ["--metrics-port", "0"]);
    const url = metricsUrl(m);
    const dir = join(m.dir, "s1");
    const names = Array.from({ length: FILES }, (_, i) => `f${String(i).padStart(3, "0")}.dcm`);
    // A first pass in listing order: the series prefetcher fetches them all and registers each as it lands.
    expect((await run("bash", ["-c", `cd ${dir} && cat ${names.join(" ")} > /dev/null`])).code).toBe(0);
    expect(await settled(url, "som_fuse_resident_files", (v) => v >= FILES)).toBe(FILES);
    await writeFile("/proc/sys/vm/drop_caches", "1"); // the reads below reach the mount
    await resetStats(emu.url);
    const before = await Scrape.of(url);
    for (const n of names) expect(sha256(await readFile(join(dir, n)))).toBe(sha256(await readFile(join(seed, "s1", n))));
    const after = await Scrape.of(url);
    expect(after.sum("som_fuse_native_opens_total") - before.sum("som_fuse_native_opens_total")).toBe(FILES);
    expect(after.sum("som_fuse_operation_duration_seconds_count", { op: "open" })).toBe(before.sum("som_fuse_operation_duration_seconds_count", { op: "open" }));
    expect(after.sum("som_fuse_pinned_reads_total")).toBeGreaterThan(before.sum("som_fuse_pinned_reads_total"));
    expect((await emulatorStats(emu.url)).media).toBe(0);
    // Each release reaches the daemon too (after close returns).
    expect(await settled(url, "som_open_files", (v) => v === 0)).toBe(0);
    await expectPinnedFiles(m, 0);
  });

  it("a file the binding answers opens for lapses with its listing: a replaced object reads anew after --metadata-ttl", async () => {
    const put = async (name: string, body: Buffer): Promise<void> => {
      const r = await fetch(`${emu.url}/upload/storage/v1/b/series/o?uploadType=media&name=${encodeURIComponent(name)}`, { method: "POST", body });
      expect(r.status).toBe(200);
    };
    const v1 = [0, 1, 2].map(() => randomBytes(100_000));
    for (const [i, b] of v1.entries()) await put(`s2/g${i}.dcm`, b);
    const m = await TestMount.start("series", emu.url, ["--metrics-port", "0", "--metadata-ttl", "2"]);
    const url = metricsUrl(m);
    const dir = join(m.dir, "s2");
    expect((await run("bash", ["-c", `cd ${dir} && cat g0.dcm g1.dcm g2.dcm > /dev/null`])).code).toBe(0);
    expect(await settled(url, "som_fuse_resident_files", (v) => v >= 3)).toBe(3);
    const v2 = randomBytes(120_000);
    await put("s2/g1.dcm", v2);
    await new Promise((r) => setTimeout(r, 2_500)); // the listing, the kernel's attributes and the registration lapse
    expect(sha256(await readFile(join(dir, "g1.dcm")))).toBe(sha256(v2));
    expect((await stat(join(dir, "g1.dcm"))).size).toBe(v2.length);
  });

  it("a file the binding opened keeps its bytes when the memory cache drops them, reads byte for byte, and lets go on close", async () => {
    // 8 MiB: a memory cache of 2 MiB, so reading more of the series evicts the first files.
    const m = await TestMount.start("series", emu.url, ["--metrics-port", "0", "--cache-size", "8MiB"]);
    const url = metricsUrl(m);
    const dir = join(m.dir, "s1");
    const fh = await openedByBinding(m);
    try {
      expect((await run("bash", ["-c", `cat ${dir}/f0[1-3]*.dcm > /dev/null`])).code).toBe(0);
      expect(await settled(url, "som_fuse_resident_held_bytes", (v) => v > 0)).toBe(256 * 1024);
      await writeFile("/proc/sys/vm/drop_caches", "1");
      await resetStats(emu.url);
      const got = Buffer.alloc(256 * 1024);
      expect((await fh.read(got, 0, got.length, 0)).bytesRead).toBe(got.length);
      expect(sha256(got)).toBe(sha256(await readFile(join(seed, "s1", "f001.dcm"))));
      expect((await emulatorStats(emu.url)).media).toBe(0);
    } finally {
      await fh.close();
    }
    expect(await settled(url, "som_fuse_resident_held_bytes", (v) => v === 0)).toBe(0);
    await expectPinnedFiles(m, 0);
  });

  it("after a lazy unmount, a file the binding opened is still served, and the daemon exits once it is closed", async () => {
    const m = await TestMount.start("series", emu.url, ["--metrics-port", "0"]);
    const fh = await openedByBinding(m);
    try {
      const u = await som(["umount", "--lazy", m.dir]);
      expect(u.code, u.stderr).toBe(0);
      expect(await fuseMountAt(m.dir)).toBeUndefined(); // detached at once
      await writeFile("/proc/sys/vm/drop_caches", "1");
      const got = Buffer.alloc(256 * 1024);
      expect((await fh.read(got, 0, got.length, 0)).bytesRead).toBe(got.length);
      expect(sha256(got)).toBe(sha256(await readFile(join(seed, "s1", "f001.dcm"))));
      await new Promise((r) => setTimeout(r, 1_500)); // the daemon polls its open files every second
      expect(m.child.exitCode).toBeNull(); // still serving the open file
    } finally {
      await fh.close();
    }
    expect(await waitExit(m.child, 20_000)).toBe(0);
    expect(m.stderr).toMatch(/serving the 1 files still open until they are closed/);
  });

  it("a pinned file reads byte for byte after the memory cache has dropped its bytes, and is unpinned on close", async () => {
    // 8 MiB: a memory cache of 2 MiB, so reading more of the series evicts the first file.
    const m = await TestMount.start("series", emu.url, ["--metrics-port", "0", "--cache-size", "8MiB"]);
    const url = metricsUrl(m);
    const path = join(m.dir, "s1", "f000.dcm");
    const src = await readFile(join(seed, "s1", "f000.dcm"));
    expect(sha256(await readFile(path))).toBe(sha256(src)); // now in memory
    const fh = await open(path, "r"); // so pinned at open
    try {
      await expectPinnedFiles(m, 1);
      const rest = await run("bash", ["-c", `cat ${join(m.dir, "s1")}/f0[1-3]*.dcm > /dev/null`]);
      expect(rest.code, rest.stderr).toBe(0);
      const before = await Scrape.of(url);
      expect(before.sum("som_cache_evictions_total", { tier: "memory" })).toBeGreaterThan(0);
      // Drop the kernel's copy too, so the reads below reach the mount.
      await writeFile("/proc/sys/vm/drop_caches", "1");
      await resetStats(emu.url);
      const got = Buffer.alloc(src.length);
      for (const [at, len] of [[100_000, 5_000], [0, src.length], [src.length - 10, 10]] as const) {
        const { bytesRead } = await fh.read(got, at, len, at);
        expect(bytesRead).toBe(len);
      }
      expect(sha256(got)).toBe(sha256(src));
      const after = await Scrape.of(url);
      expect(after.sum("som_fuse_pinned_reads_total")).toBeGreaterThan(before.sum("som_fuse_pinned_reads_total"));
      expect((await emulatorStats(emu.url)).media).toBe(0); // from the pinned bytes, not fetched again
    } finally {
      await fh.close();
    }
    await expectPinnedFiles(m, 0);
  });

  it("a viewer's header scan then full read: every file fetched once, the scan prefetches the rest", async () => {
    const m = await TestMount.start("series", emu.url);
    const dir = join(m.dir, "s1");
    const scan = await run("bash", ["-c", `for f in ${dir}/*.dcm; do head -c 4096 "$f" > /dev/null; done`]);
    expect(scan.code, scan.stderr).toBe(0);
    const afterScan = await emulatorStats(emu.url);
    expect(afterScan.media).toBe(FILES);
    expect(afterScan.maxConcurrent).toBeGreaterThanOrEqual(8);
    const all = await run("bash", ["-c", `cat ${dir}/*.dcm | sha256sum`]);
    const local = await run("bash", ["-c", `cat ${join(seed, "s1")}/*.dcm | sha256sum`]);
    expect(all.stdout).toBe(local.stdout);
    expect((await emulatorStats(emu.url)).media).toBe(FILES); // the pixel pass came from the cache
  });

  it("sequential read of a big object reads ahead in long parallel requests, each byte once", async () => {
    const m = await TestMount.start("series", emu.url);
    const size = (await stat(join(seed, "big", "volume.bin"))).size;
    expect(await sha256File(join(m.dir, "big", "volume.bin"))).toBe(await sha256File(join(seed, "big", "volume.bin")));
    const stats = await emulatorStats(emu.url);
    expect(stats.mediaBytes).toBe(size);
    // Runs of up to 8 MiB, but for the first read; a reader's first runs (windows up to 32 MiB: its
    // first ~40 MiB) go in requests of 2 MiB, so it is not held to one stream's speed while it starts.
    expect(stats.media).toBeLessThanOrEqual(Math.ceil(Math.min(size, 40 * MiB) / (2 * MiB)) + Math.ceil(Math.max(0, size - 40 * MiB) / (8 * MiB)) + 2);
    expect(stats.maxConcurrent).toBeGreaterThanOrEqual(2);
  });

  it("a mount touches its read-ahead's memory as it starts (--prealloc auto), and a cold read takes no fresh memory", async () => {
    const m = await TestMount.start("series", emu.url, ["--metrics-port", "0"]);
    await waitForStderr(m.child, / info: (\d+) MiB of memory ready for read-ahead \(--prealloc\)/, m.stderr);
    const mib = Number(/ info: (\d+) MiB of memory ready/.exec(m.stderr)![1]);
    // One sequential reader's downloads in flight and read-ahead landed, within --cache-size (512 MiB).
    expect(mib).toBeGreaterThanOrEqual(128);
    expect(mib).toBeLessThan(512);
    const before = await Scrape.of(metricsUrl(m));
    expect(before.sum("som_body_pages_total", { how: "prefilled" })).toBe(mib * 4);
    expect(before.sum("som_body_pages_total", { how: "made" })).toBe(0);
    expect(await sha256File(join(m.dir, "big", "volume.bin"))).toBe(await sha256File(join(seed, "big", "volume.bin")));
    const after = await Scrape.of(metricsUrl(m));
    expect(after.sum("som_body_pages_total", { how: "made" })).toBe(0);
    expect(after.sum("som_body_pages_total", { how: "reused" })).toBeGreaterThanOrEqual(24 * 4);
  });

  it("--prealloc 0, a mount with a disk tier, and one without read-ahead touch nothing ahead: a cold read makes its pages", async () => {
    const cacheDir = await tempDir("prealloc-disk");
    for (const extra of [["--prealloc", "0"], ["--cache-dir", cacheDir], ["--no-prefetch"]]) {
      const m = await TestMount.start("series", emu.url, ["--metrics-port", "0", ...extra]);
      expect(await sha256File(join(m.dir, "big", "volume.bin"))).toBe(await sha256File(join(seed, "big", "volume.bin")));
      const s = await Scrape.of(metricsUrl(m));
      expect(s.sum("som_body_pages_total", { how: "prefilled" }), extra.join(" ")).toBe(0);
      expect(s.sum("som_body_pages_total", { how: "made" }), extra.join(" ")).toBeGreaterThan(0);
      expect(m.stderr).not.toMatch(/ready for read-ahead/);
      await m.stop();
    }
  });

  it("a big object streamed twice at once and read at random besides, with a small cache: byte for byte, and its pages' memory is read into again", async () => {
    const m = await TestMount.start("series", emu.url, ["--metrics-port", "0", "--cache-size", "16MiB"]);
    const file = join(m.dir, "big", "volume.bin");
    const want = await readFile(join(seed, "big", "volume.bin"));
    // O_DIRECT: every read reaches the daemon (none is answered from the kernel's page cache), so
    // both streams and the tiles read pages the cache drops behind them and evicts under them,
    // while their memory is handed to the next responses (filled with 0xa5 when given back).
    const stream = (): Promise<string> => run("bash", ["-c", `dd if=${file} iflag=direct bs=1M status=none | sha256sum`]).then((r) => r.stdout.split(" ")[0]!);
    const tiles = async (): Promise<void> => {
      let x = 777;
      for (let i = 0; i < 24; i++) {
        x = (x * 1103515245 + 12345) % 2 ** 31;
        const page = x % (want.length / (256 * 1024));
        const r = await run("bash", ["-c", `dd if=${file} iflag=direct bs=256K count=1 skip=${page} status=none | sha256sum`]);
        expect(r.stdout.split(" ")[0], `tile ${page}`).toBe(sha256(want.subarray(page * 256 * 1024, (page + 1) * 256 * 1024)));
      }
    };
    const [a, b] = await Promise.all([stream(), stream(), tiles()]);
    expect(a).toBe(sha256(want));
    expect(b).toBe(sha256(want));
    const s = await Scrape.of(metricsUrl(m));
    expect(s.sum("som_body_pages_recycled_total")).toBeGreaterThan(16);
    // Beyond the pages touched as the mount started (--prealloc: 4 MiB with this cache).
    expect(s.sum("som_body_pages_total", { how: "reused" }) - s.sum("som_body_pages_total", { how: "prefilled" })).toBeGreaterThan(16);
  });

  it("random access fetches only the 256 KiB pages it touches", async () => {
    const m = await TestMount.start("series", emu.url);
    const file = join(m.dir, "big", "volume.bin");
    // 4 KiB in the middle of blocks 4, 1 and 3 (kernel read-ahead stays inside the block).
    for (const block of [4, 1, 3]) {
      const dd = await run("dd", [`if=${file}`, "of=/dev/null", "bs=4096", "count=1", `skip=${(block * 4 * MiB + MiB) / 4096}`]);
      expect(dd.code, dd.stderr).toBe(0);
    }
    const stats = await emulatorStats(emu.url);
    expect(stats.media).toBe(3);
    expect(stats.mediaBytes).toBe(3 * 256 * 1024);
  });
});
