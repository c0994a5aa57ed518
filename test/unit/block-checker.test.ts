// The block checker's thread: a thread that cannot even start turns checking
// off for good (one warning), instead of being started again for every
// check; what was queued is answered, never left waiting; only a file that
// is gone, not one it cannot open, is called bad. (Checks of real block
// files: test/unit/disk-cache.test.ts.)
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { BlockChecker } from "../../src/cache/disk/block-checker.js";
import { tempDir } from "../helpers/files.js";

describe("BlockChecker", () => {
  it("stops checking, once and for all, when its thread dies before answering anything", async () => {
    const dir = await tempDir("checker-broken");
    const bad = join(dir, "worker.mjs");
    await writeFile(bad, 'throw new Error("cannot load the checker");\n');
    const broken: string[] = [];
    const c = new BlockChecker((why) => broken.push(why), pathToFileURL(bad));
    const asks = Array.from({ length: 10 }, (_, i) => c.check({ path: `/nowhere/${i}`, expect: { key: "k" }, length: 1 }));
    const results = await Promise.all(asks);
    for (const r of results) expect(r).toMatchObject({ ok: false, bad: false });
    expect(broken).toHaveLength(1);
    expect(broken[0]).toContain("cannot load the checker");
    // Later checks are answered at once, with the reason, and start no thread.
    expect(await c.check({ path: "/nowhere/later", expect: { key: "k" }, length: 1 }, "urgent")).toMatchObject({ ok: false, why: broken[0] });
    expect(broken).toHaveLength(1);
    await c.close();
  });

  it("calls a missing block file bad, but not one it merely cannot open (no descriptors left, say)", async () => {
    const dir = await tempDir("checker-open");
    const file = join(dir, "plain");
    await writeFile(file, "x");
    const c = new BlockChecker();
    expect(await c.check({ path: join(dir, "gone"), expect: { key: "k" }, length: 1 })).toMatchObject({ ok: false, why: "file missing", bad: true });
    // ENOTDIR stands for the open errors that say nothing of the block (EMFILE, ENFILE, EACCES).
    expect(await c.check({ path: join(file, "x"), expect: { key: "k" }, length: 1 })).toMatchObject({ ok: false, bad: false });
    await c.close();
  });

  it("a closing thread is asked to end, and ends once it has loaded; it is not stopped while it loads", async () => {
    // Terminating a thread while it loads koffi (which reads the header attributes) aborted the
    // whole process ("FATAL ERROR: Error::ThrowAsJavaScriptException napi_throw"): a mount
    // unmounted just after its checks began. The real thread, loaded, ends when asked:
    const real = new BlockChecker();
    expect(await real.check({ path: "/nowhere", expect: { key: "k" }, length: 1 })).toMatchObject({ ok: false });
    expect(await real.close()).toBe("ended");
    // One still loading (300 ms, standing in for koffi's load) is let finish, then ends.
    const dir = await tempDir("checker-exit");
    const slow = join(dir, "slow.mjs");
    const handler = `const { parentPort } = await import("node:worker_threads");
      parentPort.on("message", (r) => { if (r.op === "exit") { writeFileSync(${JSON.stringify(join(dir, "loaded"))}, "y"); parentPort.close(); } });`;
    await writeFile(slow, `import { writeFileSync } from "node:fs";\nAtomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);\n${handler}\n`);
    const c = new BlockChecker(() => undefined, pathToFileURL(slow));
    void c.check({ path: "/nowhere", expect: { key: "k" }, length: 1 }); // starts the thread
    expect(await c.close()).toBe("ended");
    expect(await readFile(join(dir, "loaded"), "utf8")).toBe("y");
    // One that does not end when asked is terminated after the grace.
    const deaf = join(dir, "deaf.mjs");
    await writeFile(deaf, `const { parentPort } = await import("node:worker_threads");\nparentPort.on("message", () => undefined);\n`);
    const d = new BlockChecker(() => undefined, pathToFileURL(deaf), 100);
    void d.check({ path: "/nowhere", expect: { key: "k" }, length: 1 });
    await new Promise((r) => setTimeout(r, 200)); // loaded by then
    expect(await d.close()).toBe("terminated");
  });

  it("answers every check once it is closed", async () => {
    const c = new BlockChecker();
    await c.close();
    expect(await c.check({ path: "/nowhere", expect: { key: "k" }, length: 1 })).toMatchObject({ ok: false, bad: false });
  });
});
