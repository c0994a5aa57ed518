// Pinned reads: an open file whose whole content is in memory is handed to
// the binding before the open is answered, and taken back before release;
// big objects and files not cached yet are not; the bytes pinned at once
// are capped. The binding's side (libfuse's thread copying from the pinned
// Buffers) is shown through a real mount in test/e2e/prefetch.test.ts.
import { describe, expect, it } from "vitest";
import { LruBlockCache } from "../../src/cache/block-cache.js";
import { SomFilesystem } from "../../src/fs/filesystem.js";
import { fuseOps } from "../../src/fuse/adapter.js";
import { ReadPins, type PinTarget } from "../../src/fuse/read-pins.js";
import { RawLayout } from "../../src/namespace/raw-layout.js";
import { ObjectReader } from "../../src/read/object-reader.js";
import { MemoryObjectStore } from "../../src/storage/memory/memory-object-store.js";
import { ManualClock } from "../../src/util/clock.js";
import { MemoryLogger } from "../../src/util/log.js";

const opts = { wholeObjectLimit: 100, pageSize: 64, maxRequest: 256, prefetchConcurrency: 4, prefetchBudget: 1_000, prefetchInFlightBytes: 1_000 };
const bytes = (n: number, seed = 7): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * seed) % 256));

/** The binding as a test sees it: what is pinned, and the order of pins and answers. */
class RecordingTarget implements PinTarget {
  readonly pinned = new Map<number, Buffer>();
  readonly events: string[] = [];
  pin(fd: number, parts: Buffer[]): boolean {
    this.pinned.set(fd, Buffer.concat(parts));
    this.events.push(`pin ${fd}`);
    return true;
  }
  unpin(fd: number): boolean {
    this.events.push(`unpin ${fd}`);
    return this.pinned.delete(fd);
  }
  pinStats(): number[] {
    return [0, 0, this.pinned.size];
  }
}

function setup(maxPinned = 10_000) {
  const store = new MemoryObjectStore();
  store.put("small", bytes(90));
  store.put("other", bytes(80, 11));
  store.put("big", bytes(1000));
  const layout = new RawLayout(store, { prefix: "", metadataTtlMs: 60_000, negativeTtlMs: 0, clock: new ManualClock(), log: new MemoryLogger(), mountTime: new Date(0) });
  const reader = new ObjectReader(store, new LruBlockCache(10_000), opts);
  const fs = new SomFilesystem(layout, reader, { uid: 0, gid: 0, readAhead: { initial: 128, max: 512, slack: 32, chunk: 256, afterJump: 256 }, randomAfter: 2 });
  const target = new RecordingTarget();
  const pins = new ReadPins(maxPinned);
  pins.attach(target);
  const ops = fuseOps(fs, new MemoryLogger(), { deadlineMs: 1_000, readdirBatch: 16 }, undefined, pins);
  const call = <T extends unknown[]>(f: (cb: (...a: T) => void) => void): Promise<T> => new Promise((r) => f((...a) => {
    target.events.push(`answer ${String(a[0])}`);
    r(a);
  }));
  const open = async (path: string): Promise<number> => {
    const [code, fd] = await call<[number, number?]>((cb) => ops.open!(path, 0, cb));
    expect(code).toBe(0);
    return fd!;
  };
  const release = (path: string, fd: number): Promise<[number]> => call<[number]>((cb) => ops.release!(path, fd, cb));
  return { store, fs, reader, target, pins, open, release };
}

describe("pinned reads", () => {
  it("pins a small object already in memory before answering its open, and unpins it on release", async () => {
    const { fs, target, pins, open, release } = setup();
    // First open: nothing cached yet, so no pin; reading it brings it into memory.
    const first = await open("/small");
    expect(target.pinned.size).toBe(0);
    expect(await fs.read(first, 0, 200)).toEqual(bytes(90));
    await release("/small", first);
    // Second open: pinned with exactly the object's bytes, before the kernel hears of the handle.
    const fd = await open("/small");
    expect(target.pinned.get(fd)).toEqual(bytes(90));
    expect(target.events.slice(-2)).toEqual([`pin ${fd}`, "answer 0"]);
    expect(pins.pinnedBytes).toBe(90);
    await release("/small", fd);
    expect(target.pinned.size).toBe(0);
    expect(target.events.slice(-2)).toEqual([`unpin ${fd}`, "answer 0"]);
    expect(pins.pinnedBytes).toBe(0);
  });

  it("never pins a big object (read in pages) or one not in memory", async () => {
    const { fs, target, open } = setup();
    const big = await open("/big");
    expect(await fs.read(big, 0, 1000)).toEqual(bytes(1000));
    expect(await open("/big")).toBeGreaterThan(0);
    expect(await open("/other")).toBeGreaterThan(0);
    expect(target.pinned.size).toBe(0);
  });

  it("pins no more bytes at once than its cap, and counts a release's bytes back", async () => {
    const { fs, target, pins, open, release } = setup(150);
    for (const p of ["/small", "/other"]) {
      const fd = await open(p);
      await fs.read(fd, 0, 100);
      await release(p, fd);
    }
    const a = await open("/small");
    const b = await open("/other"); // 90 + 80 > 150: answered by JavaScript instead
    expect([...target.pinned.keys()]).toEqual([a]);
    expect(await fs.read(b, 0, 100)).toEqual(bytes(80, 11));
    await release("/small", a);
    const c = await open("/other");
    expect([...target.pinned.keys()]).toEqual([c]);
    expect(pins.pinnedBytes).toBe(80);
  });

  it("refuses to pin before the binding is attached", () => {
    const pins = new ReadPins(1_000);
    expect(pins.pin(1, [bytes(10)])).toBe(false);
    expect(pins.stats()).toEqual({ reads: 0, bytes: 0, pinned: 0 });
  });
});
