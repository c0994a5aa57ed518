import { describe, expect, it } from "vitest";
import { LruBlockCache } from "../../src/cache/block-cache.js";
import { SomFilesystem } from "../../src/fs/filesystem.js";
import { RawLayout } from "../../src/namespace/raw-layout.js";
import { ObjectReader } from "../../src/read/object-reader.js";
import { IntegrityError, TransientError } from "../../src/storage/errors.js";
import { MemoryObjectStore } from "../../src/storage/memory/memory-object-store.js";
import type { ByteRange } from "../../src/storage/object-store.js";
import { RetryingObjectStore } from "../../src/storage/retrying-object-store.js";
import { ManualClock, systemClock } from "../../src/util/clock.js";
import { MemoryLogger } from "../../src/util/log.js";

const opts = { wholeObjectLimit: 100, pageSize: 64, maxRequest: 256, prefetchConcurrency: 4, prefetchBudget: 1_000, prefetchInFlightBytes: 1_000 };
const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7) % 256));

function setup() {
  const store = new MemoryObjectStore();
  const cache = new LruBlockCache(10_000);
  const retrying = new RetryingObjectStore(store, systemClock, new MemoryLogger(), { deadlineMs: 5_000, initialDelayMs: 1, maxDelayMs: 2 });
  const reader = new ObjectReader(retrying, cache, opts);
  return { store, cache, reader };
}

describe("ObjectReader", () => {
  it("fetches a small object whole, once, and serves ranges from it", async () => {
    const { store, reader } = setup();
    const info = store.put("small", bytes(90));
    const t = { kind: "object" as const, name: "small", generation: info.generation, crc32c: info.crc32c!, size: 90 };
    expect(await reader.read(t, 10, 20)).toEqual(bytes(90).subarray(10, 30));
    expect(await reader.read(t, 80, 50)).toEqual(bytes(90).subarray(80));
    expect(store.calls.read).toBe(1);
  });

  it("retries a whole read whose CRC32C does not match", async () => {
    const { store, reader } = setup();
    const info = store.put("small", bytes(90));
    store.corruptNextReads = 2;
    const t = { kind: "object" as const, name: "small", generation: info.generation, crc32c: info.crc32c!, size: 90 };
    expect(await reader.read(t, 0, 90)).toEqual(bytes(90));
    expect(store.calls.read).toBe(3);
  });

  it("reads large objects in pages, one request per run of missing pages, stitching across boundaries", async () => {
    const { store, reader } = setup();
    const data = bytes(1000);
    const info = store.put("large", data);
    const t = { kind: "object" as const, name: "large", generation: info.generation, size: 1000 };
    expect(await reader.read(t, 60, 200)).toEqual(data.subarray(60, 260));
    expect(store.calls.read).toBe(2); // pages 0..4: runs of at most 4 pages (maxRequest 256)
    expect(await reader.read(t, 0, 1000)).toEqual(data);
    // Pages 5..15 were missing: 3 more runs, no page twice.
    expect(store.calls.read).toBe(5);
    expect(reader.stats.requestBytes).toBe(1000);
  });

  it("shares one request among concurrent readers of a block", async () => {
    const { store, reader } = setup();
    const info = store.put("large", bytes(1000));
    const t = { kind: "object" as const, name: "large", generation: info.generation, size: 1000 };
    await Promise.all(Array.from({ length: 10 }, () => reader.read(t, 0, 64)));
    expect(store.calls.read).toBe(1);
  });

  it("keeps an open file on its generation: a replaced object answers ESTALE, never mixed bytes", async () => {
    const store = new MemoryObjectStore();
    store.put("f", bytes(1000));
    const layout = new RawLayout(store, { prefix: "", metadataTtlMs: 0, negativeTtlMs: 0, clock: new ManualClock(), log: new MemoryLogger(), mountTime: new Date(0) });
    const fs = new SomFilesystem(layout, new ObjectReader(store, new LruBlockCache(10_000), opts), { uid: 0, gid: 0, readAhead: { initial: 128, max: 512, slack: 32, chunk: 256, afterJump: 256 }, randomAfter: 2 });
    const fd = await fs.open("/f", 0);
    expect(await fs.read(fd, 0, 64)).toEqual(bytes(1000).subarray(0, 64));
    store.put("f", Buffer.alloc(1000, 1));
    await expect(fs.read(fd, 500, 64)).rejects.toMatchObject({ code: "ESTALE" });
    await expect(fs.open("/f", 1)).rejects.toMatchObject({ code: "EROFS" });
  });
});

describe("RetryingObjectStore", () => {
  it("gives up at the deadline, with backoff on the injected clock", async () => {
    const clock = new ManualClock();
    let calls = 0;
    const failing = {
      bucket: "x",
      checkBucket: async () => undefined,
      list: async () => ({ objects: [], prefixes: [] }),
      stat: async () => { throw new TransientError("503"); },
      read: async (_n: string, _g: string, _r?: ByteRange) => {
        calls++;
        throw new IntegrityError("bad crc");
      },
      readBytes: async () => {
        calls++;
        throw new IntegrityError("bad crc");
      },
    };
    const r = new RetryingObjectStore(failing, clock, new MemoryLogger(), { deadlineMs: 1_000, initialDelayMs: 100, maxDelayMs: 400 }, () => 1);
    const p = r.read("n", "1");
    const outcome = p.then(() => "ok", (e: Error) => e.message);
    for (let i = 0; i < 300; i++) {
      await new Promise((res) => setImmediate(res));
      clock.advance(10);
    }
    expect(await outcome).toBe("bad crc");
    // delays 100, 200, 400, 400 fit in 1,000 ms; the next would not.
    expect(calls).toBe(4);
  });
});
