// What must keep holding against hostile input and other users: object
// names that try to climb out ("..", empty parts), overlong segments and
// Unicode twins never show as anything but safe names inside the mount; and
// another user can't see a mount unless it was made with --allow-other.
import { mkdir } from "node:fs/promises";
import { join, relative } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Emulator } from "../../src/emulator/server.js";
import { startEmulator } from "../helpers/emulator.js";
import { tempDir } from "../helpers/files.js";
import { TestMount, stopAllMounts } from "../helpers/mount.js";
import { run } from "../helpers/proc.js";

let emu: Emulator;
const NFC = "caf\u00e9.txt";
const NFD = "cafe\u0301.txt";
const LONG = "x".repeat(300);

async function upload(name: string, body: string): Promise<void> {
  const r = await fetch(`${emu.url}/upload/storage/v1/b/hostile/o?uploadType=media&name=${encodeURIComponent(name)}`, { method: "POST", body });
  expect(r.status).toBe(200);
}

beforeAll(async () => {
  emu = await startEmulator({ buckets: { hostile: undefined } });
  for (const [name, body] of [
    ["h/../escape.txt", "climbs"], ["h/../../etc/passwd", "climbs further"], ["../top.txt", "above the root"],
    ["h//double.txt", "empty part"], ["h/./dot.txt", "dot part"], [`h/${LONG}`, "too long"], [`h/${LONG}/inside.txt`, "too long a folder"],
    [`h/${NFC}`, "composed"], [`h/${NFD}`, "decomposed"], ["h/plain.txt", "plain"], ["/lead.txt", "leading slash"],
  ] as const) await upload(name, body);
});
afterEach(stopAllMounts);
afterAll(async () => emu?.close());

describe("hostile names", () => {
  it("show only as safe names inside the mount, twins apart, each with its own bytes", async () => {
    const m = await TestMount.start("hostile", emu.url);
    const found = await run("find", [m.dir, "-mindepth", "1"]);
    expect(found.code, found.stderr).toBe(0);
    const paths = found.stdout.trim().split("\n").map((p) => relative(m.dir, p));
    for (const p of paths) {
      expect(p.split("/").every((part) => part !== ".." && part !== "." && part !== "" && Buffer.byteLength(part) <= 255), p).toBe(true);
    }
    expect(paths.sort()).toEqual(["h", `h/${NFC}`, `h/${NFD}`, "h/plain.txt"].sort());
    expect((await run("cat", [join(m.dir, "h", NFC)])).stdout).toBe("composed");
    expect((await run("cat", [join(m.dir, "h", NFD)])).stdout).toBe("decomposed");
    // Asking for the dangerous names by path finds nothing.
    expect((await run("cat", [join(m.dir, "h", LONG)])).code).not.toBe(0);
    expect((await run("stat", [`${m.dir}/h/../escape.txt`])).code).not.toBe(0);
  });
});

describe("other users", () => {
  it("are refused without --allow-other, and let in with it", async () => {
    // A mountpoint other users can reach, so only FUSE's own check stands in the way.
    const base = await tempDir("others");
    await run("chmod", ["755", base]);
    const dir = join(base, "mnt");
    await mkdir(dir);
    const closed = await TestMount.start("hostile", emu.url, [], dir);
    const refused = await run("runuser", ["-u", "nobody", "--", "ls", closed.dir]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/Permission denied/);
    await closed.stop();
    const open = await TestMount.start("hostile", emu.url, ["--allow-other"], dir);
    const allowed = await run("runuser", ["-u", "nobody", "--", "cat", join(open.dir, "h", "plain.txt")]);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stdout).toBe("plain");
  });
});
