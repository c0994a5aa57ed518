// The FUSE adapter answers every call exactly once with a number: a result,
// the errno of its error, or EIO when an operation outlives its deadline —
// except readdir, which waits for a listing as long as the listing makes
// progress (a big directory is not an error).
import { describe, expect, it } from "vitest";
import type { Attr, SomFilesystem } from "../../src/fs/filesystem.js";
import { FsError } from "../../src/fs/errors.js";
import { fuseOps } from "../../src/fuse/adapter.js";
import { MemoryLogger } from "../../src/util/log.js";

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);
const after = <T>(ms: number, v: T): Promise<T> => new Promise((r) => setTimeout(() => r(v), ms));

function opsOver(fs: Partial<SomFilesystem>, deadlineMs: number) {
  const log = new MemoryLogger();
  return { ops: fuseOps(fs as SomFilesystem, log, { deadlineMs, readdirBatch: 16 }), log };
}

/** Calls a FUSE op and collects every answer it gives within `waitMs`. */
async function answers(call: (cb: (...a: unknown[]) => void) => void, waitMs: number): Promise<unknown[][]> {
  const got: unknown[][] = [];
  call((...a) => got.push(a));
  await new Promise((r) => setTimeout(r, waitMs));
  return got;
}

describe("fuse adapter", () => {
  it("answers EIO once when an operation outlives its deadline, and logs it", async () => {
    const { ops, log } = opsOver({ getattr: never }, 40);
    const got = await answers((cb) => ops.getattr!("/stuck", cb as never), 120);
    expect(got).toEqual([[-5]]);
    expect(log.lines).toContain("error: getattr /stuck: no answer in 0 s; answering EIO");
  });

  it("gives readdir no deadline: a listing still arriving is not an error", async () => {
    const { ops } = opsOver({ readdir: () => after(150, { names: ["a"], modes: [0o100000], nexts: [3] }) }, 40);
    const got = await answers((cb) => ops.readdir!("/big", 0, 0, cb as never), 250);
    expect(got).toEqual([[0, ["a"], [0o100000], [3]]]);
  });

  it("maps errors to their errno and answers only once", async () => {
    const { ops, log } = opsOver({ open: () => Promise.reject(new FsError("ENOENT", "no such file")) }, 1000);
    const got = await answers((cb) => ops.open!("/nope", 0, cb as never), 20);
    expect(got).toEqual([[-2]]);
    expect(log.lines).toContain("debug: open /nope: no such file");
    const { ops: ops2 } = opsOver({ getattr: () => after(60, {} as Attr) }, 30);
    expect(await answers((cb) => ops2.getattr!("/late", cb as never), 120)).toEqual([[-5]]); // the late result is dropped
  });
});
