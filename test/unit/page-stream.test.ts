// Runs of pages streamed by the reader (read-ahead): each page is handed to
// its readers as soon as its bytes are in, not when the whole request is; a
// request cut short (or answered short) is retried from the start of its
// range, keeping the pages already handed out and skipping their bytes.
import { describe, expect, it } from "vitest";
import { LruBlockCache } from "../../src/cache/block-cache.js";
import { ObjectReader } from "../../src/read/object-reader.js";
import { TransientError } from "../../src/storage/errors.js";
import { MemoryObjectStore } from "../../src/storage/memory/memory-object-store.js";
import type { ByteRange, ByteSink, ObjectStreamer } from "../../src/storage/object-store.js";
import { RetryingObjectStore, RetryingStreamer } from "../../src/storage/retrying-object-store.js";
import { systemClock } from "../../src/util/clock.js";
import { MemoryLogger } from "../../src/util/log.js";

const opts = { wholeObjectLimit: 100, pageSize: 64, maxRequest: 256, prefetchConcurrency: 4, prefetchBudget: 10_000, prefetchInFlightBytes: 10_000 };
const data = Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 13 + 5) % 256));
const policy = { deadlineMs: 5_000, initialDelayMs: 1, maxDelayMs: 2 };

/** Attempt k delivers `plan[k].chunks` (sizes, from the start of the range), waiting on `gate` after `holdAfter` bytes, then ends or fails. */
class Scripted implements ObjectStreamer {
  attempts = 0;
  gate: Promise<void> = Promise.resolve();
  constructor(private readonly plan: { chunks: number[]; fail?: boolean; holdAfter?: number }[]) {}
  async stream(_name: string, _gen: string, range: ByteRange | undefined, sink: ByteSink): Promise<number> {
    const p = this.plan[Math.min(this.attempts++, this.plan.length - 1)]!;
    const body = data.subarray(range!.start, range!.end);
    let at = 0;
    for (const n of p.chunks) {
      // A fresh Buffer per chunk, as a socket read: the reader must not rely on them being one.
      await sink(Buffer.from(body.subarray(at, at + n)));
      at += n;
      if (p.holdAfter !== undefined && at === p.holdAfter) await this.gate;
    }
    if (p.fail) throw new TransientError("connection reset");
    return at;
  }
}

function setup(plan: ConstructorParameters<typeof Scripted>[0], deadlineMs = policy.deadlineMs) {
  const store = new MemoryObjectStore();
  const info = store.put("big", data);
  const log = new MemoryLogger();
  const scripted = new Scripted(plan);
  const reader = new ObjectReader(new RetryingObjectStore(store, systemClock, log, policy), new LruBlockCache(10_000), opts, log, undefined,
    new RetryingStreamer(scripted, systemClock, log, { ...policy, deadlineMs }, undefined, "read"));
  return { reader, scripted, t: { kind: "object" as const, name: "big", generation: info.generation, size: data.length } };
}

describe("streamed runs of pages", () => {
  it("hand each page to its reader as soon as its bytes are in", async () => {
    const { reader, scripted, t } = setup([{ chunks: [40, 40, 40, 136], holdAfter: 80 }]);
    let open!: () => void;
    scripted.gate = new Promise((r) => (open = r));
    reader.readAhead(t, 0, 256); // one request for pages 0..3
    // Page 0 is in after 80 bytes; the rest is held back.
    const first = await Promise.race([reader.read(t, 0, 64), new Promise((r) => setTimeout(() => r("held"), 500))]);
    expect(first).toEqual(data.subarray(0, 64));
    let later = false;
    const rest = reader.read(t, 64, 192).then((b) => ((later = true), b));
    await new Promise((r) => setTimeout(r, 50));
    expect(later).toBe(false);
    open();
    expect(await rest).toEqual(data.subarray(64));
    expect(scripted.attempts).toBe(1);
    expect(reader.stats.requests).toBe(1);
  });

  it("retry a request cut short, or answered short, from the start of its range; pages already out are kept", async () => {
    // Attempt 1: page 0 and part of page 1, then the connection resets. Attempt 2: 200 bytes of 256, ending
    // as if complete (a short answer). Attempt 3: all of it, in pieces that straddle the pages.
    const { reader, scripted, t } = setup([{ chunks: [64, 36], fail: true }, { chunks: [100, 100] }, { chunks: [30, 70, 100, 56] }]);
    reader.readAhead(t, 0, 256);
    expect(await reader.read(t, 0, 256)).toEqual(data);
    expect(scripted.attempts).toBe(3);
    expect(reader.stats.requests).toBe(1);
  });

  it("fetch a run in several requests when asked (a reader's first read-ahead), each byte once", async () => {
    const { reader, scripted, t } = setup([{ chunks: [64, 64] }]);
    reader.readAhead(t, 0, 256, 2);
    expect(await reader.read(t, 0, 256)).toEqual(data);
    expect(scripted.attempts).toBe(2);
    expect(reader.stats).toMatchObject({ requests: 2, requestBytes: 256 });
  });

  it("fail the pages not yet in when every attempt fails at the same place (no progress: the deadline ends it); those already in stay served", async () => {
    const { reader, scripted, t } = setup([{ chunks: [64, 10], fail: true }], 300);
    reader.readAhead(t, 0, 256);
    expect(await reader.read(t, 0, 64)).toEqual(data.subarray(0, 64));
    await expect(reader.read(t, 64, 64)).rejects.toThrow(/connection reset/);
    expect(scripted.attempts).toBeGreaterThan(1);
  });
});
