// Through a real FUSE mount of the project's GCS emulator: listing, reading,
// copying, rsync, DICOM parsing, big objects, odd names, and writes refused.
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeDemoData } from "../../src/dicom/demo-data.js";
import type { Emulator } from "../../src/emulator/server.js";
import { emulatorStats, resetStats, startEmulator } from "../helpers/emulator.js";
import { sha256, sha256File, tempDir, treeHashes, writeRandomFile } from "../helpers/files.js";
import { TestMount, stopAllMounts } from "../helpers/mount.js";
import { run } from "../helpers/proc.js";

const BIG = 300 * 1000 * 1000;
const ODD_NAMES = ["with space.txt", "ünïcødé ñame.txt", "hash#tag.txt", "question?.txt", "percent%20.txt", "plus+sign.txt", "1.2.840.99.1.dcm"];

let seed: string;
let emu: Emulator;
let m: TestMount;

async function upload(name: string, body: string): Promise<void> {
  const r = await fetch(`${emu.url}/upload/storage/v1/b/test/o?uploadType=media&name=${encodeURIComponent(name)}`, { method: "POST", body });
  expect(r.status).toBe(200);
}

beforeAll(async () => {
  seed = await tempDir("seed");
  await writeDemoData(join(seed, "idc"));
  await mkdir(join(seed, "many"));
  for (let i = 0; i < 1200; i++) await writeFile(join(seed, "many", `f${String(i).padStart(4, "0")}.txt`), `file ${i}\n`);
  await mkdir(join(seed, "names"));
  for (const n of ODD_NAMES) await writeFile(join(seed, "names", n), `contents of ${n}\n`);
  await mkdir(join(seed, "big"));
  await writeRandomFile(join(seed, "big", "obj300.bin"), BIG);
  emu = await startEmulator({ buckets: { test: seed } });
  // Shapes a directory tree cannot seed: a name that is both object and prefix, a placeholder.
  await upload("conflict", "i am a file\n");
  await upload("conflict/inner.txt", "inner\n");
  await upload("empty-dir/", "");
  m = await TestMount.start("test", emu.url);
});

afterAll(async () => {
  await stopAllMounts();
  await emu?.close();
});

describe("a read-only mount of a bucket", () => {
  it("lists directories with sizes and mtimes from the listing, one level at a time", async () => {
    const r = await run("ls", ["-l", "--time-style=+%s", join(m.dir, "names")]);
    expect(r.code).toBe(0);
    for (const n of ODD_NAMES) {
      const o = emu.store.bucket("test").get(`names/${n}`)!;
      const line = r.stdout.split("\n").find((l) => l.endsWith(` ${n}`));
      expect(line, n).toBeDefined();
      expect(line).toMatch(new RegExp(`^-r--r--r-- .* ${o.size} ${Math.floor(o.updated.getTime() / 1000)} `));
    }
    expect((await readdir(m.dir)).sort()).toEqual(["big", "conflict", "empty-dir", "idc", "many", "names"]);
  });

  it("stat gives the object's size and updated time", async () => {
    const st = await stat(join(m.dir, "big", "obj300.bin"));
    const o = emu.store.bucket("test").get("big/obj300.bin")!;
    expect(st.size).toBe(BIG);
    expect(Math.floor(st.mtimeMs / 1000)).toBe(Math.floor(o.updated.getTime() / 1000));
    expect(st.isFile()).toBe(true);
    expect((await stat(join(m.dir, "idc"))).isDirectory()).toBe(true);
  });

  it("ls -l and find of 1,200 files make no request per file", async () => {
    await resetStats(emu.url);
    const ls = await run("ls", ["-l", join(m.dir, "many")]);
    expect(ls.code).toBe(0);
    expect(ls.stdout.trim().split("\n").filter((l) => l.startsWith("-r"))).toHaveLength(1200);
    const find = await run("find", [join(m.dir, "many"), "-type", "f", "-size", "-20c"]);
    expect(find.stdout.trim().split("\n")).toHaveLength(1200);
    const s = await emulatorStats(emu.url);
    expect(s.media).toBe(0);
    expect(s.metadata).toBeLessThanOrEqual(2); // the directed lookup of "many" itself
    // The lookup, the first page of 1,000, then the rest cut into at most 16 key ranges listed in parallel.
    expect(s.list).toBeLessThanOrEqual(1 + 1 + 16);
  });

  it("cp -r copies every file byte for byte", async () => {
    const dest = await tempDir("cp");
    for (const d of ["idc", "names", "many"]) {
      const r = await run("cp", ["-r", join(m.dir, d), dest]);
      expect(r.code, r.stderr).toBe(0);
    }
    const want = await treeHashes(seed);
    const got = await treeHashes(dest);
    let compared = 0;
    for (const [rel, hash] of want) {
      if (rel.startsWith("big/")) continue;
      expect(got.get(rel), rel).toBe(hash);
      compared++;
    }
    expect(compared).toBe(got.size);
    expect(compared).toBeGreaterThan(1200 + 36);
  });

  it("cat of odd names returns their bytes", async () => {
    for (const n of ODD_NAMES) {
      const r = await run("cat", [join(m.dir, "names", n)]);
      expect(r.stdout).toBe(`contents of ${n}\n`);
    }
  });

  it("a second rsync -a transfers nothing and fetches no media", async () => {
    const dest = await tempDir("rsync");
    const first = await run("rsync", ["-a", "--stats", `${join(m.dir, "idc")}/`, dest]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/Number of regular files transferred: 38/);
    await resetStats(emu.url);
    const second = await run("rsync", ["-a", "--stats", `${join(m.dir, "idc")}/`, dest]);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/Number of regular files transferred: 0/);
    expect((await emulatorStats(emu.url)).media).toBe(0);
    const want = await treeHashes(join(seed, "idc"));
    expect(await treeHashes(dest)).toEqual(want);
  });

  it("dcmdump parses every DICOM file read through the mount", async () => {
    const series = (await readdir(join(m.dir, "idc"), { withFileTypes: true })).filter((e) => e.isDirectory() && e.name !== "manifests");
    expect(series).toHaveLength(3);
    let files = 0;
    for (const s of series) {
      for (const f of await readdir(join(m.dir, "idc", s.name))) {
        const r = await run("dcmdump", ["+E", join(m.dir, "idc", s.name, f)]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toContain("CTImageStorage");
        expect(r.stdout).toContain("(7fe0,0010) OW");
        files++;
      }
    }
    expect(files).toBe(36);
  });

  it("reads a 300 MB object whole and in random ranges", async () => {
    const src = join(seed, "big", "obj300.bin");
    const r = await run("sha256sum", [join(m.dir, "big", "obj300.bin")]);
    expect(r.stdout.split(" ")[0]).toBe(await sha256File(src));
    const want = await readFile(src);
    const fh = await open(join(m.dir, "big", "obj300.bin"), "r");
    try {
      let x = 12345;
      for (let i = 0; i < 25; i++) {
        x = (x * 1103515245 + 12345) % 2 ** 31;
        const len = 1 + (x % (3 << 20));
        const pos = x % (BIG - len);
        const buf = Buffer.alloc(len);
        const { bytesRead } = await fh.read(buf, 0, len, pos);
        expect(bytesRead).toBe(len);
        expect(sha256(buf)).toBe(sha256(want.subarray(pos, pos + len)));
      }
      const tail = Buffer.alloc(100);
      const { bytesRead } = await fh.read(tail, 0, 100, BIG - 10);
      expect(bytesRead).toBe(10);
    } finally {
      await fh.close();
    }
  });

  it("shows a name that is both an object and a prefix as the directory, with a warning", async () => {
    expect((await stat(join(m.dir, "conflict"))).isDirectory()).toBe(true);
    expect(await readdir(join(m.dir, "conflict"))).toEqual(["inner.txt"]);
    await readdir(m.dir);
    expect(m.stderr).toMatch(/conflict is both an object and a prefix; showing the directory/);
  });

  it("shows a placeholder object dir/ as an empty directory", async () => {
    expect((await stat(join(m.dir, "empty-dir"))).isDirectory()).toBe(true);
    expect(await readdir(join(m.dir, "empty-dir"))).toEqual([]);
  });

  it("refuses every write with EROFS and is mounted ro", async () => {
    const target = join(m.dir, "names", "with space.txt");
    const attempts: [string, string[]][] = [
      ["touch", [join(m.dir, "new.txt")]],
      ["mkdir", [join(m.dir, "newdir")]],
      ["rm", ["-f", target]],
      ["mv", [target, join(m.dir, "moved.txt")]],
      ["sh", ["-c", `echo x >> '${target}'`]],
      ["truncate", ["-s", "0", target]],
      ["chmod", ["777", target]],
    ];
    for (const [cmd, args] of attempts) {
      const r = await run(cmd, args);
      expect(r.code, `${cmd} ${args.join(" ")}`).not.toBe(0);
      expect(r.stderr).toMatch(/Read-only file system/);
    }
    expect(await readFile(target, "utf8")).toBe("contents of with space.txt\n");
    const mounts = await readFile("/proc/self/mounts", "utf8");
    const line = mounts.split("\n").find((l) => l.split(" ")[1] === m.dir)!;
    expect(line.split(" ")[3]!.split(",")).toContain("ro");
  });

  it("answers ENOENT for names that don't exist, and caches the miss", async () => {
    await resetStats(emu.url);
    for (let i = 0; i < 3; i++) await expect(stat(join(m.dir, "idc", "nope.dcm"))).rejects.toMatchObject({ code: "ENOENT" });
    const s = await emulatorStats(emu.url);
    expect(s.metadata + s.list).toBeLessThanOrEqual(2);
  });

  it("keeps mtimes stable across a remount", async () => {
    const p = join(m.dir, "names", "plus+sign.txt");
    const before = (await stat(p)).mtimeMs;
    await m.stop();
    m = await TestMount.start("test", emu.url, [], m.dir);
    expect((await stat(p)).mtimeMs).toBe(before);
    const stream = createReadStream(p);
    let text = "";
    for await (const c of stream) text += String(c);
    expect(text).toBe("contents of plus+sign.txt\n");
  });
});
