// One contract, every ObjectStore: the in-memory double and the real GCS
// client against the emulator must agree, so the double can't drift.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Emulator } from "../../src/emulator/server.js";
import { NotFoundError, BucketNotFoundError, IntegrityError } from "../../src/storage/errors.js";
import { sliceBytes } from "../../src/storage/bytes.js";
import { GcsObjectStore } from "../../src/storage/gcs/gcs-object-store.js";
import { MemoryObjectStore } from "../../src/storage/memory/memory-object-store.js";
import { listEverything } from "../../src/listing/parallel-lister.js";
import type { ListOptions, ObjectInfo, ObjectStore, ObjectStreamer } from "../../src/storage/object-store.js";
import { startEmulator } from "../helpers/emulator.js";

const FILES: Record<string, string> = { "a/1.dcm": "one", "a/2.dcm": "two!", "a/sub/3.dcm": "three", "b.txt": "bee", "c d/#?.txt": "odd" };

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmulator({ buckets: { contract: undefined } });
  for (const [name, body] of Object.entries(FILES)) {
    await fetch(`${emu.url}/upload/storage/v1/b/contract/o?uploadType=media&name=${encodeURIComponent(name)}`, { method: "POST", body });
  }
});
afterAll(async () => emu?.close());

/** Follows nextPageToken to the end, as any client does. */
async function listAll(store: ObjectStore, opts: ListOptions): Promise<{ objects: ObjectInfo[]; prefixes: string[] }> {
  const objects: ObjectInfo[] = [];
  const prefixes: string[] = [];
  let pageToken: string | undefined;
  do {
    const page = await store.list(pageToken ? { ...opts, pageToken } : opts);
    objects.push(...page.objects);
    prefixes.push(...page.prefixes);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return { objects, prefixes };
}

const impls: [string, () => ObjectStore & ObjectStreamer][] = [
  ["MemoryObjectStore", () => {
    const m = new MemoryObjectStore("contract");
    for (const [name, body] of Object.entries(FILES)) m.put(name, body);
    return m;
  }],
  ["GcsObjectStore (emulator)", () => new GcsObjectStore({ bucket: "contract", endpoint: emu.url, anonymous: true })],
];

for (const [label, make] of impls) {
  describe(`ObjectStore contract: ${label}`, () => {
    it("lists one level with a delimiter, across pages", async () => {
      const s = make();
      const all = await listAll(s, { prefix: "", delimiter: "/", maxResults: 1 });
      expect(all.objects.map((o) => o.name)).toEqual(["b.txt"]);
      expect(all.prefixes).toEqual(["a/", "c d/"]);
      const a = await listAll(s, { prefix: "a/", delimiter: "/" });
      expect(a.objects.map((o) => [o.name, o.size])).toEqual([["a/1.dcm", 3], ["a/2.dcm", 4]]);
      expect(a.prefixes).toEqual(["a/sub/"]);
    });

    it("lists in parallel key ranges with the same result as paging", async () => {
      const s = make();
      for (const q of [{ prefix: "", delimiter: "/" }, { prefix: "" }, { prefix: "a/" }]) {
        const serial = await listAll(s, q);
        const parallel = await listEverything(s, q, 4);
        expect(parallel.objects.map((o) => o.name)).toEqual(serial.objects.map((o) => o.name));
        expect(parallel.prefixes).toEqual(serial.prefixes);
      }
    });

    it("stats objects and reports missing ones as NotFoundError", async () => {
      const s = make();
      const info = await s.stat("c d/#?.txt");
      expect(info.size).toBe(3);
      expect(info.generation).toMatch(/^\d+$/);
      expect(info.crc32c).toBeDefined();
      await expect(s.stat("nope")).rejects.toBeInstanceOf(NotFoundError);
    });

    it("reads whole objects and ranges of a pinned generation", async () => {
      const s = make();
      const info = await s.stat("a/sub/3.dcm");
      expect((await s.read(info.name, info.generation, undefined, info.crc32c)).toString()).toBe("three");
      expect((await s.read(info.name, info.generation, { start: 1, end: 4 })).toString()).toBe("hre");
      await expect(s.read(info.name, "1")).rejects.toBeInstanceOf(NotFoundError);
    });

    it("reads bytes as received (chunks), verified the same way", async () => {
      const s = make();
      const info = await s.stat("a/sub/3.dcm");
      expect(sliceBytes(await s.readBytes(info.name, info.generation, undefined, info.crc32c), 0, 100).toString()).toBe("three");
      expect(sliceBytes(await s.readBytes(info.name, info.generation, { start: 1, end: 4 }), 0, 100).toString()).toBe("hre");
      await expect(s.readBytes(info.name, info.generation, undefined, "AAAAAA==")).rejects.toBeInstanceOf(IntegrityError);
      await expect(s.readBytes(info.name, "1")).rejects.toBeInstanceOf(NotFoundError);
    });

    it("streams whole objects and ranges to a sink, waiting on it", async () => {
      const s = make();
      const info = await s.stat("a/sub/3.dcm");
      const got: Buffer[] = [];
      const sink = async (c: Buffer): Promise<void> => {
        await new Promise((r) => setTimeout(r, 1)); // a slow disk
        got.push(Buffer.from(c));
      };
      expect(await s.stream(info.name, info.generation, undefined, sink)).toBe(5);
      expect(Buffer.concat(got).toString()).toBe("three");
      got.length = 0;
      expect(await s.stream(info.name, info.generation, { start: 2, end: 5 }, sink)).toBe(3);
      expect(Buffer.concat(got).toString()).toBe("ree");
      await expect(s.stream(info.name, "1", undefined, sink)).rejects.toBeInstanceOf(NotFoundError);
    });
  });
}

it("GcsObjectStore reports a missing bucket", async () => {
  await expect(new GcsObjectStore({ bucket: "nope", endpoint: emu.url, anonymous: true }).checkBucket()).rejects.toBeInstanceOf(BucketNotFoundError);
});
