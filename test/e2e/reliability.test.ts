// Defects found under faults and hostile input, each shown fixed through a
// real mount: a lazy unmount lets reads in progress finish; one 503 at
// start-up does not fail the mount; a replaced object is picked up by the
// next open with a size to match; control characters never reach the log
// raw. (Credentials with an explicit endpoint: test/e2e/google-path.test.ts.)
import { randomBytes } from "node:crypto";
import { spawn } from "node:child_process";
import { open, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Emulator } from "../../src/emulator/server.js";
import { fuseMountAt } from "../../src/fuse/mount-table.js";
import { emulatorStats, startEmulator } from "../helpers/emulator.js";
import { sha256, tempDir } from "../helpers/files.js";
import { TestMount, stopAllMounts } from "../helpers/mount.js";
import { run, som, waitExit } from "../helpers/proc.js";

let emu: Emulator;
const BIG = randomBytes(12 * 2 ** 20); // ranged blocks: read a block at a time

async function upload(name: string, body: Buffer | string): Promise<void> {
  const r = await fetch(`${emu.url}/upload/storage/v1/b/rel/o?uploadType=media&name=${encodeURIComponent(name)}`, { method: "POST", body });
  expect(r.status).toBe(200);
}

async function faults(body: Record<string, unknown>): Promise<void> {
  await fetch(`${emu.url}/_emulator/faults`, { method: "POST", body: JSON.stringify(body) });
}

/** Resolves once `check` holds, polling (for events outside this process: a reader's progress, a log line). */
async function until(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  emu = await startEmulator({ buckets: { rel: undefined } });
  await upload("big.bin", BIG);
  await upload("r/small.bin", "first version, short\n");
  await upload("r/other.bin", "x");
});

afterEach(async () => {
  await faults({ bandwidth: 0, failNext: 0, errorRate: 0 });
  await stopAllMounts();
});
afterAll(async () => emu?.close());

describe("defects fixed", () => {
  it("som umount --lazy lets a read in progress finish, then the daemon exits and nothing is left mounted", async () => {
    const m = await TestMount.start("rel", emu.url, ["--no-prefetch"]);
    await faults({ bandwidth: 3 * 2 ** 20 }); // 12 MiB at 3 MiB/s: a read of several seconds
    const out = join(await tempDir("lazy"), "copy");
    const reader = spawn("dd", [`if=${join(m.dir, "big.bin")}`, `of=${out}`, "bs=128k", "status=none"]);
    await until(async () => ((await stat(out).catch(() => undefined))?.size ?? 0) > 0, "the reader's first bytes");
    const u = await som(["umount", "--lazy", m.dir]);
    expect(u.code, u.stderr).toBe(0);
    expect(await fuseMountAt(m.dir)).toBeUndefined(); // detached at once
    expect(await waitExit(reader, 60_000)).toBe(0);
    expect(sha256(await readFile(out))).toBe(sha256(BIG));
    expect(await waitExit(m.child, 20_000)).toBe(0); // the daemon goes once the file is closed
    expect(m.stderr).toMatch(/was unmounted; serving the 1 files still open until they are closed/);
  });

  it("one 503 on the start-up bucket check does not fail the mount", async () => {
    await faults({ failNext: 1 });
    const m = await TestMount.start("rel", emu.url);
    expect(await readFile(join(m.dir, "r", "other.bin"), "utf8")).toBe("x");
    expect((await emulatorStats(emu.url)).injected503).toBeGreaterThanOrEqual(1);
  });

  it("after an object is replaced, the next open reads the new generation with its size; open handles stay all-or-ESTALE", async () => {
    await upload("big2.bin", BIG);
    const m = await TestMount.start("rel", emu.url, ["--no-prefetch"]);
    const small = join(m.dir, "r", "small.bin");
    expect((await stat(small)).size).toBe(21);
    // A handle opened before the replacement, having read its first block.
    const held = await open(join(m.dir, "big2.bin"), "r");
    const head = Buffer.alloc(1024);
    await held.read(head, 0, 1024, 0);
    expect(head).toEqual(BIG.subarray(0, 1024));

    const v2 = "second version, which is longer than the first one\n";
    await upload("r/small.bin", v2);
    await upload("big2.bin", randomBytes(100));
    // The listing still names the old generation: this open pins it, and its read finds it gone.
    const first = await run("cat", [small]);
    expect(first.code).not.toBe(0);
    expect(first.stderr).toMatch(/Stale file handle/);
    // The next open reads the new object, whole, and stat agrees on its size.
    const second = await run("cat", [small]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toBe(v2);
    expect((await stat(small)).size).toBe(Buffer.byteLength(v2));
    // The handle opened on the old generation never mixes in the new one.
    await expect(held.read(Buffer.alloc(1024), 0, 1024, 8 * 2 ** 20)).rejects.toMatchObject({ errno: -116 }); // ESTALE
    await held.close();
  });

  it("escapes control characters from object names and local paths in every log line", async () => {
    const evil = "esc\u001b[31mred\u001b[0m\u0007";
    await upload(`${evil}/inside.txt`, "i");
    await upload(evil, "an object named like the folder");
    const m = await TestMount.start("rel", emu.url, ["--debug"]);
    await run("ls", [m.dir]); // the listing: "both an object and a prefix" for the evil name
    await run("stat", [join(m.dir, "nope\u001b]0;title\u0007")]); // a local user's path, in a debug line
    await until(() => m.stderr.includes("nope\\u001b]0;title\\u0007"), "the debug line for the missing path");
    expect(m.stderr).toContain("esc\\u001b[31mred\\u001b[0m\\u0007 is both an object and a prefix");
    // eslint-disable-next-line no-control-regex
    expect(m.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
  });
});
