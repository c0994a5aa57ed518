// Running som as a service, through real mounts: Prometheus metrics checked
// against what the emulator saw, structured logs, file and directory modes,
// requester-pays buckets, shared-link limits, and som status.
import { open, readFile, readdir, stat, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeDemoData } from "../../src/dicom/demo-data.js";
import type { Emulator } from "../../src/emulator/server.js";
import { fuseMountAt } from "../../src/fuse/mount-table.js";
import type { MountStatus } from "../../src/metrics/snapshot.js";
import { emulatorStats, startEmulator, type EmulatorStats } from "../helpers/emulator.js";
import { sha256, sha256File, tempDir, treeHashes, writeRandomFile } from "../helpers/files.js";
import { TestMount, stopAllMounts } from "../helpers/mount.js";
import { Scrape, metricsUrl } from "../helpers/metrics.js";
import { run, som } from "../helpers/proc.js";

const MiB = 2 ** 20;
let emu: Emulator;
let seed: string;
/** An object name with a terminal escape and a bidi override in it (GCS forbids newlines). */
const HOSTILE = "evil\u001b[2J\u202ename.bin";

beforeAll(async () => {
  seed = await tempDir("ops");
  await writeDemoData(join(seed, "idc"), { series: 2, instancesPerSeries: 10, rows: 128, columns: 128 });
  await writeRandomFile(join(seed, "big.bin"), 24 * MiB);
  await mkdir(join(seed, "small"));
  for (let i = 0; i < 20; i++) await writeFile(join(seed, "small", `f${String(i).padStart(2, "0")}.txt`), `file ${i}\n`);
  emu = await startEmulator({ buckets: { ops: seed, paid: seed, flaky: seed } });
  const r = await fetch(`${emu.url}/upload/storage/v1/b/ops/o?uploadType=media&name=${encodeURIComponent(HOSTILE)}`, { method: "POST", body: "hostile bytes\n" });
  expect(r.status).toBe(200);
}, 60_000);

afterAll(async () => {
  await stopAllMounts();
  await emu?.close();
});

const diff = (a: EmulatorStats, b: EmulatorStats): EmulatorStats =>
  Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - (a[k as keyof EmulatorStats] ?? 0)])) as EmulatorStats;

/** Scrapes until the daemon and the emulator both stand still (prefetches finishing). */
async function settled(url: string, before: EmulatorStats): Promise<{ s: Scrape; e: EmulatorStats }> {
  let last = "";
  for (let i = 0; i < 50; i++) {
    const s = await Scrape.of(url);
    const e = diff(before, await emulatorStats(emu.url));
    const key = JSON.stringify([s.sum("som_gcs_requests_total"), e.requests, e.mediaBytes]);
    if (key === last) return { s, e };
    last = key;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("the mount never went quiet");
}

describe("Prometheus metrics", () => {
  it("count FUSE operations, requests, bytes, cache use, prefetch, open files and listings as the emulator saw them", async () => {
    const before = await emulatorStats(emu.url);
    const m = await TestMount.start("ops", emu.url, ["--metrics-port", "0"]);
    const url = metricsUrl(m);
    expect(new URL(url).hostname).toBe("127.0.0.1"); // loopback unless --metrics-address

    const dest = await tempDir("ops-cp");
    expect((await run("cp", ["-r", join(m.dir, "idc"), dest])).code).toBe(0);
    expect(await treeHashes(join(dest, "idc"))).toEqual(await treeHashes(join(seed, "idc")));
    const readsBefore = (await Scrape.of(url)).sum("som_fuse_operation_duration_seconds_count", { op: "read" });
    expect(await sha256File(join(m.dir, "big.bin"))).toBe(await sha256File(join(seed, "big.bin")));
    // libfuse 3 with the mount's read-ahead raised: 24 MiB read in order arrives in reads of up to
    // 1 MiB (libfuse 2 took 192 of 128 KiB; the kernel's default read-ahead, 96 of 256 KiB).
    const bigReads = (await Scrape.of(url)).sum("som_fuse_operation_duration_seconds_count", { op: "read" }) - readsBefore;
    expect(bigReads).toBeGreaterThanOrEqual(24);
    expect(bigReads).toBeLessThanOrEqual(32);
    expect((await run("cat", [join(m.dir, "nope.dcm")])).code).not.toBe(0);
    // Drop the kernel's copy of a file and read it again: the daemon's memory cache answers.
    const series = (await readdir(join(m.dir, "idc"), { withFileTypes: true })).find((d) => d.isDirectory())!.name;
    const again = join(m.dir, "idc", series);
    const first = (await readdir(again))[0]!;
    expect((await run("dd", [`if=${join(again, first)}`, "iflag=nocache", "count=0", "status=none"])).code).toBe(0);
    expect(await sha256File(join(again, first))).toBe(await sha256File(join(seed, "idc", series, first)));

    const { s, e } = await settled(url, before);
    // Every request the emulator answered is counted once, by kind, with the bytes it sent.
    expect(s.sum("som_gcs_requests_total", { kind: "read" })).toBe(e.media);
    expect(s.sum("som_gcs_requests_total", { kind: "list" })).toBe(e.list);
    expect(s.sum("som_gcs_requests_total", { kind: "stat" })).toBe(e.metadata);
    expect(s.sum("som_gcs_requests_total", { kind: "bucket" })).toBe(e.bucket);
    expect(s.sum("som_gcs_requests_total")).toBe(e.requests);
    expect(s.sum("som_gcs_received_bytes_total", { kind: "read" })).toBe(e.mediaBytes);
    expect(s.sum("som_gcs_request_duration_seconds_count")).toBe(e.requests);
    expect(s.sum("som_gcs_retries_total")).toBe(0);
    // FUSE operations: 20 + 1 + 1 files opened (by JavaScript, or by the binding when the series
    // prefetcher had the file in memory first), 24 MiB in reads of at most 1 MiB, the missing name's ENOENT.
    expect(s.sum("som_fuse_operation_duration_seconds_count", { op: "open" }) + s.sum("som_fuse_native_opens_total")).toBeGreaterThanOrEqual(22);
    expect(s.sum("som_fuse_operation_duration_seconds_count", { op: "read" })).toBeGreaterThanOrEqual(24);
    expect(s.sum("som_fuse_errors_total", { op: "getattr", errno: "ENOENT" })).toBeGreaterThanOrEqual(1);
    expect(s.sum("som_fuse_errors_total", { errno: "EIO" })).toBe(0);
    // The memory cache: hits from the re-read, within its capacity.
    expect(s.sum("som_cache_hits_total", { tier: "memory" })).toBeGreaterThan(0);
    expect(s.sum("som_cache_misses_total", { tier: "memory" })).toBeGreaterThan(0);
    expect(s.sum("som_cache_bytes", { tier: "memory" })).toBeGreaterThan(0);
    expect(s.sum("som_cache_bytes", { tier: "memory" })).toBeLessThanOrEqual(s.sum("som_cache_capacity_bytes", { tier: "memory" }));
    expect(s.has("som_cache_bytes") && s.samples.some((x) => x.labels.tier === "disk")).toBe(false);
    // cp -r of a series prefetches the rest of it, and reads what was prefetched.
    expect(s.sum("som_prefetch_bytes_total")).toBeGreaterThan(0);
    expect(s.sum("som_prefetch_used_bytes_total")).toBeGreaterThan(0);
    expect(s.sum("som_prefetch_used_bytes_total") + s.sum("som_prefetch_wasted_bytes_total")).toBeLessThanOrEqual(s.sum("som_prefetch_bytes_total"));
    // Listings: the root, idc/ and its series at least, every entry cached.
    expect(s.sum("som_listings_total")).toBeGreaterThanOrEqual(4);
    expect(s.sum("som_listing_cache_entries")).toBeGreaterThanOrEqual(20 + 2 + 3);
    expect(s.sum("som_mount_info", { bucket: "ops", layout: "raw" })).toBe(1);
    expect(s.sum("process_resident_memory_bytes")).toBeGreaterThan(0);
    // Names follow Prometheus conventions.
    for (const [name, type] of s.types) {
      if (!name.startsWith("som_")) continue;
      if (type === "counter") expect(name).toMatch(/_total$/);
      if (type === "histogram") expect(name).toMatch(/_seconds$/);
    }

    // Open files: one held open shows, and goes once closed.
    const fh = await open(join(m.dir, "big.bin"), "r");
    expect((await Scrape.of(url)).sum("som_open_files")).toBe(1);
    await fh.close();
    let openNow = 1;
    for (let i = 0; i < 50 && openNow !== 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      openNow = (await Scrape.of(url)).sum("som_open_files");
    }
    expect(openNow).toBe(0);
    await m.stop();
  });

  it("count each 503 and its retry, and a disk tier's bytes", async () => {
    const before = await emulatorStats(emu.url);
    const cacheDir = await tempDir("ops-disk");
    const m = await TestMount.start("flaky", emu.url, ["--metrics-port", "0", "--cache-dir", cacheDir, "--no-prefetch"]);
    const url = metricsUrl(m);
    await fetch(`${emu.url}/_emulator/faults`, { method: "POST", body: JSON.stringify({ errorRate: 0.3, seed: 11 }) });
    try {
      const dest = await tempDir("ops-flaky");
      expect((await run("cp", ["-r", join(m.dir, "small"), dest])).code).toBe(0);
      expect(await treeHashes(join(dest, "small"))).toEqual(await treeHashes(join(seed, "small")));
    } finally {
      await fetch(`${emu.url}/_emulator/faults`, { method: "POST", body: JSON.stringify({ errorRate: 0 }) });
    }
    const { s, e } = await settled(url, before);
    expect(e.injected503).toBeGreaterThan(0);
    expect(s.sum("som_gcs_requests_total", { status: "503" })).toBe(e.injected503);
    expect(s.sum("som_gcs_retries_total")).toBe(e.injected503);
    expect(s.sum("som_gcs_requests_total")).toBe(e.requests);
    expect(s.sum("som_fuse_errors_total", { errno: "EIO" })).toBe(0);
    // Small whole files go to the disk tier as they are read.
    await m.stop();
    expect(s.sum("som_cache_capacity_bytes", { tier: "disk" })).toBe(10 * 2 ** 30);
    expect(s.has("som_disk_cache_written_bytes_total")).toBe(true);
  });
});

describe("structured logs", () => {
  it("--log-format json --log-file: one JSON event per line with its fields, control characters escaped", async () => {
    const dir = await tempDir("ops-logs");
    const mnt = join(dir, "mnt");
    await mkdir(mnt);
    const logFile = join(dir, "som.log");
    const env = { STORAGE_EMULATOR_HOST: emu.url };
    const r = await som(["mount", "ops", mnt, "--background", "--log-format", "json", "--log-level", "debug", "--log-file", logFile], env);
    expect(r.code, r.stderr).toBe(0);
    try {
      const names = await readdir(mnt);
      const shown = names.find((n) => n.startsWith("evil"));
      expect(shown).toBeDefined();
      expect(sha256(await readFile(join(mnt, shown!)))).toBe(sha256("hostile bytes\n"));
    } finally {
      expect((await som(["umount", mnt])).code).toBe(0);
    }
    for (let i = 0; i < 50 && (await fuseMountAt(mnt)); i++) await new Promise((res) => setTimeout(res, 100));
    const raw = await readFile(logFile);
    // eslint-disable-next-line no-control-regex
    expect(/[\u0000-\u0009\u000b-\u001f\u007f]/.test(raw.toString("latin1"))).toBe(false);
    expect(raw.toString("utf8")).not.toContain("\u202e");
    const events = raw.toString("utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const ev of events) {
      expect(typeof ev.time).toBe("string");
      expect(["debug", "info", "warn", "error"]).toContain(ev.level);
      expect(typeof ev.msg).toBe("string");
    }
    expect(events.some((ev) => ev.level === "info" && String(ev.msg).startsWith("mounted gs://ops/"))).toBe(true);
    // The read of the hostile object: its real name comes back out of the JSON, with every field.
    const read = events.find((ev) => ev.msg === "gcs read" && ev.path === HOSTILE);
    expect(read).toMatchObject({ level: "debug", bucket: "ops", status: "ok", bytes: 14 });
    expect(read!.generation).toMatch(/^\d+$/);
    expect(typeof read!.duration_ms).toBe("number");
  });

  it("text format: fields as key=value, escaped; --log-level warn keeps info out", async () => {
    const m = await TestMount.start("ops", emu.url, ["--log-level", "debug"]);
    await readFile(join(m.dir, "small", "f01.txt"));
    await m.stop();
    const line = m.stderr.split("\n").find((l) => l.includes(" som debug: gcs read ") && l.includes("path=small/f01.txt"));
    expect(line).toMatch(/^\S+Z som debug: gcs read bucket=ops path=small\/f01.txt generation=\d+ status=ok bytes=7 duration_ms=\d+$/);
    expect(m.stderr).not.toContain("\u001b");

    const dir = await tempDir("ops-quiet");
    const mnt = join(dir, "mnt");
    await mkdir(mnt);
    const logFile = join(dir, "som.log");
    const r = await som(["mount", "ops", mnt, "--background", "--log-level", "warn", "--log-file", logFile], { STORAGE_EMULATOR_HOST: emu.url });
    expect(r.code, r.stderr).toBe(0);
    await readFile(join(mnt, "small", "f01.txt"));
    expect((await som(["umount", mnt])).code).toBe(0);
    expect(await readFile(logFile, "utf8")).not.toMatch(/ som (info|debug): /);
  });
});

describe("permissions", () => {
  it("ls -l takes every entry's size, time and mode from the listing (READDIRPLUS): no lookup per file", async () => {
    const m = await TestMount.start("ops", emu.url, ["--metrics-port", "0", "--file-mode", "0640"]);
    const url = metricsUrl(m);
    const lookups = async (): Promise<number> => (await Scrape.of(url)).sum("som_fuse_operation_duration_seconds_count", { op: "getattr" });
    const before = await lookups();
    const ls = await run("ls", ["-l", "--time-style=+%s", join(m.dir, "small")]);
    expect(ls.code, ls.stderr).toBe(0);
    const rows = ls.stdout.trim().split("\n").slice(1).map((l) => l.split(/\s+/));
    expect(rows.map((r) => r[6])).toEqual(Array.from({ length: 20 }, (_, i) => `f${String(i).padStart(2, "0")}.txt`));
    for (const r of rows) {
      expect(r[0]).toBe("-rw-r-----");
      expect(Number(r[4])).toBe((await stat(join(seed, "small", r[6]!))).size);
    }
    // The directory itself is looked up; its 20 files are not (libfuse 2 made 20 lookups here).
    const afterLs = await lookups();
    expect(afterLs - before).toBeLessThanOrEqual(2);
    // And the kernel keeps what READDIRPLUS told it: stat of each file asks nothing more, and agrees with ls.
    for (const r of rows) {
      const st = await stat(join(m.dir, "small", r[6]!));
      expect(st.size).toBe(Number(r[4]));
      expect(Math.floor(st.mtimeMs / 1000)).toBe(Number(r[5]));
    }
    expect(await lookups()).toBe(afterLs);
    await m.stop();
  });

  it("--file-mode and --dir-mode set what ls -l shows", async () => {
    const m = await TestMount.start("ops", emu.url, ["--file-mode", "0640", "--dir-mode", "750"]);
    expect((await stat(join(m.dir, "small"))).mode & 0o7777).toBe(0o750);
    expect((await stat(join(m.dir, "small", "f00.txt"))).mode & 0o7777).toBe(0o640);
    expect((await stat(m.dir)).mode & 0o7777).toBe(0o750);
    await m.stop();
    const bad = await som(["mount", "ops", "/tmp", "--file-mode", "0999"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("--file-mode must be an octal mode");
  });
});

describe("requester pays", () => {
  it("is refused without --billing-project, as GCS does, and served with it on every request", async () => {
    await fetch(`${emu.url}/_emulator/requester-pays`, { method: "POST", body: JSON.stringify({ bucket: "paid", enabled: true }) });
    try {
      const refused = await TestMount.start("paid", emu.url).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(Error);
      await stopAllMounts();
      const mnt = join(await tempDir("ops-paid"), "mnt");
      await mkdir(mnt);
      const r = await som(["mount", "paid", mnt], { STORAGE_EMULATOR_HOST: emu.url });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('bucket "paid" is requester pays: give --billing-project PROJECT');
      const before = await emulatorStats(emu.url);
      const m = await TestMount.start("paid", emu.url, ["--billing-project", "my-lab-123"]);
      const dest = await tempDir("ops-paid-cp");
      expect((await run("cp", ["-r", join(m.dir, "idc"), dest])).code).toBe(0);
      expect(await treeHashes(join(dest, "idc"))).toEqual(await treeHashes(join(seed, "idc")));
      await m.stop();
      const e = diff(before, await emulatorStats(emu.url));
      expect(e.media).toBeGreaterThan(0);
      expect(e.unbilled).toBe(0);
      // The emulator is faithful: gcloud storage is refused too, and served with its own --billing-project.
      const gcloud = (extra: string[]): ReturnType<typeof run> => run("gcloud", ["storage", "cat", "gs://paid/small/f03.txt", ...extra], {
        env: { CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE: `${emu.url}/`, CLOUDSDK_AUTH_ACCESS_TOKEN: "emulator", CLOUDSDK_CORE_DISABLE_PROMPTS: "1", CLOUDSDK_CORE_PROJECT: "som-test", CLOUDSDK_CONFIG: join(dest, ".gcloud") },
      });
      const no = await gcloud([]);
      expect(no.code).not.toBe(0);
      expect(no.stderr).toMatch(/requester pays/i);
      const yes = await gcloud(["--billing-project", "my-lab-123"]);
      expect(yes.code, yes.stderr).toBe(0);
      expect(yes.stdout).toBe("file 3\n");
    } finally {
      await fetch(`${emu.url}/_emulator/requester-pays`, { method: "POST", body: JSON.stringify({ bucket: "paid", enabled: false }) });
    }
  });
});

describe("shared-link limits", () => {
  it("--limit-bytes-per-sec holds a cold read to the rate, and says so in metrics", async () => {
    const m = await TestMount.start("ops", emu.url, ["--limit-bytes-per-sec", "4MiB", "--metrics-port", "0"]);
    const t0 = performance.now();
    expect(await sha256File(join(m.dir, "big.bin"))).toBe(await sha256File(join(seed, "big.bin")));
    const seconds = (performance.now() - t0) / 1000;
    // 24 MiB at 4 MiB/s: the first 4 MiB (the burst) at once, the last
    // request's excess over the burst (at most 8 MiB - 4 MiB) early, the rest
    // at the rate: at least (24 - 4 - 4) / 4 = 4 s, however fast the machine.
    expect(seconds).toBeGreaterThanOrEqual(3.9);
    const s = await Scrape.of(metricsUrl(m));
    expect(s.sum("som_throttled_seconds_total", { limit: "bytes" })).toBeGreaterThan(1);
    await m.stop();
  });

  it("--limit-ops-per-sec holds requests to the rate", async () => {
    const before = await emulatorStats(emu.url);
    const m = await TestMount.start("ops", emu.url, ["--limit-ops-per-sec", "5", "--no-prefetch"]);
    const t0 = performance.now();
    const dest = await tempDir("ops-ops");
    expect((await run("cp", ["-r", join(m.dir, "small"), dest])).code).toBe(0);
    const seconds = (performance.now() - t0) / 1000;
    await m.stop();
    const e = diff(before, await emulatorStats(emu.url));
    expect(await treeHashes(join(dest, "small"))).toEqual(await treeHashes(join(seed, "small")));
    // 20 files, one request each, plus the listing: at 5 per second with a burst of 5, over 3 s.
    expect(e.media).toBe(20);
    expect(seconds).toBeGreaterThanOrEqual(3);
  });
});

describe("som status", () => {
  it("lists every mount on the host from its daemon, as text and as JSON, and forgets dead ones", async () => {
    const a = await TestMount.start("ops", emu.url, ["--metrics-port", "0"]);
    const b = await TestMount.start("gs://ops/idc", emu.url, ["--cache-dir", await tempDir("ops-status-disk")]);
    await readFile(join(a.dir, "small", "f02.txt"));
    await readFile(join(a.dir, "small", "f02.txt"));
    // A socket left by a daemon that died.
    const dir = "/run/som";
    await mkdir(dir, { recursive: true });
    const stale = join(dir, "2147483646.sock");
    await writeFile(stale, "");

    const j = await som(["status", "--json"]);
    expect(j.code, j.stderr).toBe(0);
    const { mounts } = JSON.parse(j.stdout) as { mounts: MountStatus[] };
    const sa = mounts.find((x) => x.mountpoint === a.dir);
    const sb = mounts.find((x) => x.mountpoint === b.dir);
    expect(sa).toMatchObject({ bucket: "ops", prefix: "", layout: "raw", pid: a.child.pid, metricsUrl: metricsUrl(a) });
    expect(sb).toMatchObject({ bucket: "ops", prefix: "idc/", layout: "raw", pid: b.child.pid });
    expect(sb!.cache.disk).toBeDefined();
    expect(sa!.cache.disk).toBeUndefined();
    expect(sa!.uptimeSeconds).toBeGreaterThanOrEqual(0);
    // The same figures Prometheus sees.
    const s = await Scrape.of(metricsUrl(a));
    expect(sa!.gcs.requests).toBe(s.sum("som_gcs_requests_total"));
    expect(sa!.cache.memory.hits).toBe(s.sum("som_cache_hits_total", { tier: "memory" }));
    expect(sa!.cache.memory.capacity).toBe(s.sum("som_cache_capacity_bytes", { tier: "memory" }));
    expect(sa!.gcs.errors).toBe(0);
    await expect(stat(stale)).rejects.toThrow();

    const t = await som(["status"]);
    expect(t.code).toBe(0);
    expect(t.stdout.split("\n")[0]).toMatch(/^MOUNTPOINT\s+SOURCE\s+LAYOUT\s+UP\s+MEMORY CACHE \(HIT\)/);
    expect(t.stdout).toContain(`${a.dir} `);
    expect(t.stdout).toContain("gs://ops/idc/");

    await a.stop();
    await b.stop();
    const after = JSON.parse((await som(["status", "--json"])).stdout) as { mounts: MountStatus[] };
    expect(after.mounts.some((x) => x.mountpoint === a.dir || x.mountpoint === b.dir)).toBe(false);
  });
});
