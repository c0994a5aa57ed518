// The FUSE adapter answers every call exactly once with a number: a result,
// the errno of its error, or EIO when an operation outlives its deadline —
// except readdir, which waits for a listing as long as the listing makes
// progress (a big directory is not an error). Timers are faked: exact.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
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

/** Calls a FUSE op, lets `ms` of (fake) time pass, and returns every answer it gave. */
async function answers(call: (cb: (...a: unknown[]) => void) => void, ms: number): Promise<unknown[][]> {
  const got: unknown[][] = [];
  call((...a) => got.push(a));
  await vi.advanceTimersByTimeAsync(ms);
  return got;
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("fuse adapter", () => {
  it("answers EIO once, exactly at the deadline, with one log line", async () => {
    const { ops, log } = opsOver({ getattr: never }, 40_000);
    const got: unknown[][] = [];
    ops.getattr!("/stuck", ((...a: unknown[]) => got.push(a)) as never);
    await vi.advanceTimersByTimeAsync(39_999);
    expect(got).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(got).toEqual([[-5]]);
    await vi.advanceTimersByTimeAsync(100_000);
    expect(got).toEqual([[-5]]);
    expect(log.lines).toEqual(["error: getattr /stuck: no answer in 40 s; answering EIO"]);
  });

  it("gives readdir no deadline: a listing still arriving is not an error", async () => {
    const { ops } = opsOver({ readdir: () => after(10 * 60_000, { names: ["a"], modes: [0o100000], nexts: [3] }) }, 40_000);
    expect(await answers((cb) => ops.readdir!("/big", 0, 0, false, cb as never), 10 * 60_000)).toEqual([[0, ["a"], [0o100000], [3], undefined]]);
  });

  it("maps errors to their errno, and a late result after the deadline is dropped", async () => {
    const { ops, log } = opsOver({ open: () => Promise.reject(new FsError("ENOENT", "no such file")) }, 1000);
    expect(await answers((cb) => ops.open!("/nope", 0, cb as never), 0)).toEqual([[-2]]);
    expect(log.lines).toContain("debug: open /nope: no such file");
    const { ops: ops2 } = opsOver({ getattr: () => after(60, {} as Attr) }, 30);
    expect(await answers((cb) => ops2.getattr!("/late", cb as never), 120)).toEqual([[-5]]);
  });

  it("logs the same failure of the same file once a minute, not once per kernel read", async () => {
    const { ops, log } = opsOver({ readInto: () => Promise.reject(new Error("HTTP 403 forbidden")) }, 1000);
    for (let i = 0; i < 5; i++) await answers((cb) => ops.read!("/f", 1, Buffer.alloc(8), 8, i * 8, cb as never), 0);
    expect(log.lines.filter((l) => l.startsWith("error: "))).toEqual(["error: read /f @0+8: HTTP 403 forbidden"]);
    expect(log.lines.filter((l) => l.startsWith("debug: "))).toHaveLength(4);
    await answers(() => undefined, 60_000);
    await answers((cb) => ops.read!("/f", 1, Buffer.alloc(8), 8, 0, cb as never), 0);
    expect(log.lines.filter((l) => l.startsWith("error: "))).toHaveLength(2);
  });
});
