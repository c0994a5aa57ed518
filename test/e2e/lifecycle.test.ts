// The daemon's life: signals, stale mounts, som umount, --background, no
// child processes, and one clear line for every mistake.
import { mkdir, readFile, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Emulator } from "../../src/emulator/server.js";
import { fuseMountAt } from "../../src/fuse/mount-table.js";
import { unmount } from "../../src/fuse/unmount.js";
import { startEmulator } from "../helpers/emulator.js";
import { tempDir } from "../helpers/files.js";
import { TestMount, stopAllMounts } from "../helpers/mount.js";
import { run, som, waitExit } from "../helpers/proc.js";

let emu: Emulator;
let seed: string;

beforeAll(async () => {
  seed = await tempDir("life");
  await mkdir(join(seed, "s1"));
  await writeFile(join(seed, "s1", "a.dcm"), "not really dicom\n");
  emu = await startEmulator({ buckets: { life: seed } });
});

afterEach(async () => {
  await stopAllMounts();
});

afterAll(async () => {
  await emu?.close();
});

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

describe("mount lifecycle", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`${signal} unmounts cleanly and exits 0`, async () => {
      const m = await TestMount.start("life", emu.url);
      expect(await readdir(m.dir)).toEqual(["s1"]);
      m.child.kill(signal);
      expect(await waitExit(m.child)).toBe(0);
      expect(await fuseMountAt(m.dir)).toBeUndefined();
      expect(await readdir(m.dir)).toEqual([]);
    });
  }

  it("recovers a stale mount left by a killed daemon", async () => {
    const m = await TestMount.start("life", emu.url);
    m.child.kill("SIGKILL");
    await waitExit(m.child);
    const dead = await run("ls", [m.dir]);
    expect(dead.stderr).toMatch(/Transport endpoint is not connected/);
    const again = await TestMount.start("life", emu.url, [], m.dir);
    expect(await readFile(join(again.dir, "s1", "a.dcm"), "utf8")).toBe("not really dicom\n");
    expect(again.stderr).toMatch(/stale mount/);
  });

  it("som umount stops the daemon; umount of something not mounted fails with one line", async () => {
    const m = await TestMount.start("life", emu.url);
    const r = await som(["umount", m.dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(await waitExit(m.child)).toBe(0);
    const again = await som(["umount", m.dir]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toBe(`som: ${m.dir} is not mounted\n`);
  });

  it("--background returns once the mount answers; the daemon runs on", async () => {
    const dir = join(await tempDir("bg"), "mnt");
    await mkdir(dir);
    const log = join(dir, "..", "daemon.log");
    const r = await som(["mount", "life", dir, "--background", "--log-file", log], { STORAGE_EMULATOR_HOST: emu.url });
    try {
      expect(r.code, r.stderr).toBe(0);
      expect(await fuseMountAt(dir)).toBeDefined();
      expect(await readFile(join(dir, "s1", "a.dcm"), "utf8")).toBe("not really dicom\n");
      const pid = Number(/daemon pid (\d+)/.exec(r.stdout)![1]);
      expect((await som(["umount", dir])).code).toBe(0);
      expect(await gone(pid)).toBe(true);
      expect(await readFile(log, "utf8")).toMatch(/was unmounted; exiting/);
    } finally {
      if (await fuseMountAt(dir)) unmount(dir, true);
    }
  });

  it("--background fails with the reason and leaves nothing mounted", async () => {
    const dir = join(await tempDir("bgfail"), "mnt");
    await mkdir(dir);
    const r = await som(["mount", "no-such-bucket", dir, "--background"], { STORAGE_EMULATOR_HOST: emu.url });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/bucket "no-such-bucket" does not exist/);
    expect(await fuseMountAt(dir)).toBeUndefined();
  });

  it("--prefix mounts a sub-tree and --uid/--gid set the owner shown", async () => {
    const m = await TestMount.start("life", emu.url, ["--prefix", "s1", "--uid", "1234", "--gid", "5678", "--cache-size", "8MiB"]);
    expect(await readdir(m.dir)).toEqual(["a.dcm"]);
    const st = await stat(join(m.dir, "a.dcm"));
    expect([st.uid, st.gid]).toEqual([1234, 5678]);
  });

  it("takes the source as gs://bucket/prefix, as the console prints it", async () => {
    const m = await TestMount.start("gs://life/s1/", emu.url);
    expect(await readdir(m.dir)).toEqual(["a.dcm"]);
  });

  it("the daemon spawns no child processes while serving", async () => {
    const m = await TestMount.start("life", emu.url);
    await run("cat", [join(m.dir, "s1", "a.dcm")]);
    await run("ls", ["-lR", m.dir]);
    const tasks = await readdir(`/proc/${m.child.pid}/task`);
    let children = "";
    for (const t of tasks) children += await readFile(`/proc/${m.child.pid}/task/${t}/children`, "utf8");
    expect(children.trim()).toBe("");
  });
});

describe("mistakes get one line and a non-zero exit", () => {
  const cases: [string, (dir: string, file: string) => string[], RegExp][] = [
    ["missing arguments", () => ["mount"], /^som: missing required argument 'bucket'\n$/],
    ["an unknown option", (d) => ["mount", "life", d, "--bogus"], /^som: unknown option '--bogus'\n$/],
    ["a missing mountpoint", (d) => ["mount", "life", join(d, "nope")], /^som: mountpoint .*nope does not exist\n$/],
    ["a mountpoint that is a file", (_d, f) => ["mount", "life", f], /^som: mountpoint .* is not a directory\n$/],
    ["a bucket that does not exist", (d) => ["mount", "missing-bucket", d], /^som: bucket "missing-bucket" does not exist\n$/],
    ["an invalid bucket name", (d) => ["mount", "Bad_Bucket!", d], /^som: invalid bucket name "Bad_Bucket!": /],
    ["an unreachable endpoint", (d) => ["mount", "life", d, "--endpoint", "http://127.0.0.1:9", "--anonymous"], /^som: cannot reach the storage endpoint http:\/\/127\.0\.0\.1:9 \(.*ECONNREFUSED.*\)\n$/],
    ["a bad --cache-size", (d) => ["mount", "life", d, "--cache-size", "lots"], /^som: bad --cache-size: not a size: "lots"/],
    ["a --cache-size beyond this machine's memory", (d) => ["mount", "life", d, "--cache-size", "100TiB"], /^som: --cache-size 100TiB is more than this machine's memory \([\d.]+ GiB\)\n$/],
    ["a bad --prealloc", (d) => ["mount", "life", d, "--prealloc", "much"], /^som: bad --prealloc: not a size: "much" \(try 512MiB, 2G or a number of bytes\), or auto\n$/],
    ["a --prealloc beyond --cache-size", (d) => ["mount", "life", d, "--cache-size", "64MiB", "--prealloc", "65MiB"], /^som: --prealloc must be at most --cache-size: the memory it touches is the cache's\n$/],
    ["a bad --metadata-ttl", (d) => ["mount", "life", d, "--metadata-ttl", "-3"], /^som: --metadata-ttl must be a whole number/],
    ["a --metadata-ttl beyond a year", (d) => ["mount", "life", d, "--metadata-ttl", "99999999999"], /^som: --metadata-ttl must be at most 31536000 seconds \(a year\), not 99999999999\n$/],
    ["a --uid no user can have", (d) => ["mount", "life", d, "--uid", "99999999999"], /^som: --uid must be from 0 to 4294967294, not 99999999999\n$/],
    ["a --gid no group can have", (d) => ["mount", "life", d, "--gid", "4294967295"], /^som: --gid must be from 0 to 4294967294, not 4294967295\n$/],
    ["a --prefix that climbs out", (d) => ["mount", "life", d, "--prefix", "../.."], /^som: --prefix must name a folder inside the bucket \(no "\.", "\.\." or empty parts\), not "\.\.\/\.\."\n$/],
    ["a --prefix with an empty part", (d) => ["mount", "life", d, "--prefix", "a//b"], /^som: --prefix must name a folder inside the bucket/],
    ["a bad --cache-dir-size", (d) => ["mount", "life", d, "--cache-dir", join(d, "..", "c"), "--cache-dir-size", "10KiB"], /^som: --cache-dir-size must be at least 16MiB\n$/],
    ["a --cache-dir inside the mountpoint", (d) => ["mount", "life", d, "--cache-dir", join(d, "cache")], /^som: --cache-dir .*\/mnt\/cache is inside the mountpoint; put it on a local disk\n$/],
    ["a --cache-dir that is a file", (_d, f) => ["mount", "life", join(f, "..", "mnt"), "--cache-dir", f], /^som: --cache-dir .*\/file is not a directory\n$/],
    ["a prefix given twice", (d) => ["mount", "gs://life/a", d, "--prefix", "b"], /^som: give the prefix once: in gs:\/\/life\/a or with --prefix, not both\n$/],
    ["a gs:// source with a bad prefix", (d) => ["mount", "gs://life/../x", d], /^som: --prefix must name a folder inside the bucket/],
    ["a mountpoint that is not empty", (_d, f) => ["mount", "life", join(f, "..")], /^som: mountpoint .* is not empty \(som mounts only on an empty directory\)\n$/],
  ];
  for (const [what, args, message] of cases) {
    it(what, async () => {
      // An empty mountpoint, and a file beside it.
      const dir = join(await tempDir("err"), "mnt");
      await mkdir(dir);
      const file = join(dir, "..", "file");
      await writeFile(file, "x");
      const r = await som(args(dir, file), args(dir, file).includes("--endpoint") ? {} : { STORAGE_EMULATOR_HOST: emu.url });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(await fuseMountAt(dir)).toBeUndefined();
    });
  }

  it("--debug adds the stack trace", async () => {
    const dir = await tempDir("err");
    const r = await som(["mount", "missing-bucket", dir, "--debug"], { STORAGE_EMULATOR_HOST: emu.url });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/\n\s+at /);
  });
});
