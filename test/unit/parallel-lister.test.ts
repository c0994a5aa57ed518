// The parallel lister must give exactly what paging through a listing one
// page after another gives, in the same (UTF-8 byte) order, for any names:
// property tests over UUIDs, DICOM UIDs, Unicode, skewed and clustered
// distributions, and nested names whose prefixes straddle the split points.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareUtf8 } from "../../src/listing/key-order.js";
import { sortedUuid } from "../../src/emulator/synthetic.js";
import { planSplit } from "../../src/listing/key-space.js";
import { listOrdered } from "../../src/listing/parallel-lister.js";
import { MemoryObjectStore } from "../../src/storage/memory/memory-object-store.js";
import type { ListPage, ObjectStore } from "../../src/storage/object-store.js";
import { PriorityLimiter } from "../../src/util/limiter.js";

type Key = { key: string; prefix: boolean };

function merged(page: ListPage): Key[] {
  const out: Key[] = [...page.objects.map((o) => ({ key: o.name, prefix: false })), ...page.prefixes.map((p) => ({ key: p, prefix: true }))];
  return out.sort((a, b) => compareUtf8(a.key, b.key));
}

/** Serial paging with the page token, as any client does it. */
async function serial(store: ObjectStore, prefix: string, delimiter: string | undefined, maxResults: number): Promise<Key[]> {
  const out: Key[] = [];
  let pageToken: string | undefined;
  do {
    const page = await store.list({ prefix, maxResults, ...(delimiter ? { delimiter } : {}), ...(pageToken ? { pageToken } : {}) });
    out.push(...merged(page));
    pageToken = page.nextPageToken;
  } while (pageToken);
  return out;
}

async function parallel(store: ObjectStore, prefix: string, delimiter: string | undefined, pageSize: number, maxPieces: number, concurrency = 4): Promise<{ keys: Key[]; requests: number }> {
  const keys: Key[] = [];
  let requests = 0;
  await listOrdered(store, { prefix, ...(delimiter ? { delimiter } : {}) }, {
    limiter: new PriorityLimiter(concurrency, compareUtf8), tier: 0, seq: 0, maxPieces, pageSize,
    onProgress: (_, r) => (requests = r),
  }, merged, (chunk, dropFirst) => keys.push(...chunk.slice(dropFirst ? 1 : 0)));
  return { keys, requests };
}

function storeOf(names: Iterable<string>): MemoryObjectStore {
  const s = new MemoryObjectStore();
  for (const n of names) s.put(n, "x");
  return s;
}

// Name generators: each a distribution real buckets have.
const hex = (n: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: n, maxLength: n });
const uuidNames = fc.uuid().map((u) => `${u}/${u.slice(0, 8)}.dcm`);
const dicomUids = fc.array(fc.integer({ min: 0, max: 99_999 }), { minLength: 2, maxLength: 6 }).map((p) => `1.2.840.${p.join(".")}.dcm`);
const unicode = fc.string({ unit: "binary", minLength: 1, maxLength: 12 }).filter((s) => !/[\r\n]/.test(s) && Buffer.byteLength(s) <= 1024);
// Most names in one narrow corner of the key space, a few anywhere.
const skewed = fc.oneof({ weight: 9, arbitrary: hex(6).map((h) => `zzzz${h}`) }, { weight: 1, arbitrary: hex(10) });
// A few tight clusters: the first page shows one of them only.
const clustered = fc.tuple(fc.constantFrom("1.2.3.", "1.2.9.", "7f", "ab/", "ab0", "~"), hex(5)).map(([stem, tail]) => stem + tail);
// Short segments over a small alphabet: the same prefix holds objects on both sides of many cuts.
const nested = fc.array(fc.string({ unit: fc.constantFrom("a", "b", "-", "0"), minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 }).map((s) => s.join("/"));

const DISTRIBUTIONS: Record<string, fc.Arbitrary<string>> = { uuidNames, dicomUids, unicode, skewed, clustered, nested };

describe("listOrdered", () => {
  for (const [label, names] of Object.entries(DISTRIBUTIONS)) {
    it(`gives what serial paging gives: ${label}`, async () => {
      await fc.assert(fc.asyncProperty(
        fc.uniqueArray(names, { minLength: 0, maxLength: 400, size: "large" }),
        fc.constantFrom(undefined, "/"),
        fc.integer({ min: 2, max: 13 }),
        fc.integer({ min: 2, max: 9 }),
        async (list, delimiter, pageSize, maxPieces) => {
          const store = storeOf(list);
          const want = await serial(store, "", delimiter, pageSize);
          const got = await parallel(store, "", delimiter, pageSize, maxPieces);
          expect(got.keys).toEqual(want);
        },
      ), { numRuns: 60 });
    });
  }

  it("lists under a prefix and stays inside it", async () => {
    await fc.assert(fc.asyncProperty(fc.uniqueArray(nested, { maxLength: 300, size: "large" }), fc.constantFrom("a/", "a-", "b/a/", "0"), async (list, prefix) => {
      const store = storeOf([...list, "a", "a0", "b", "zz/top"]);
      const want = await serial(store, prefix, "/", 5);
      expect((await parallel(store, prefix, "/", 5, 4)).keys).toEqual(want);
      expect((await parallel(store, prefix, undefined, 5, 4)).keys).toEqual(await serial(store, prefix, undefined, 5));
    }), { numRuns: 60 });
  });

  it("a full-size listing of 20,000 UUID folders: same result, split into many parallel ranges", async () => {
    const store = storeOf(Array.from({ length: 20_000 }, (_, i) => `${crypto.randomUUID()}/${i}.dcm`));
    const want = await serial(store, "", "/", 1000);
    let inFlight = 0;
    let maxInFlight = 0;
    const counting: ObjectStore = Object.assign(Object.create(store) as MemoryObjectStore, {
      list: async (o: Parameters<ObjectStore["list"]>[0]) => {
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        try {
          return await store.list(o);
        } finally {
          inFlight--;
        }
      },
    });
    const got = await parallel(counting, "", "/", 1000, 16, 8);
    expect(got.keys).toEqual(want);
    expect(want).toHaveLength(20_000);
    // 20 pages of names at least; the adaptive split wastes few requests on empty pieces.
    expect(got.requests).toBeGreaterThanOrEqual(20);
    expect(got.requests).toBeLessThan(80);
    expect(maxInFlight).toBe(8);
  });

  it("rejects when a request fails, and stops asking", async () => {
    const store = storeOf(Array.from({ length: 5000 }, (_, i) => `k${String(i).padStart(5, "0")}`));
    let calls = 0;
    const failing: ObjectStore = Object.assign(Object.create(store) as MemoryObjectStore, {
      list: async (o: Parameters<ObjectStore["list"]>[0]) => {
        if (++calls === 3) throw new Error("boom");
        return store.list(o);
      },
    });
    await expect(parallel(failing, "", undefined, 100, 8, 1)).rejects.toThrow("boom");
    expect(calls).toBeLessThan(10);
  });
});

describe("planSplit", () => {
  it("cuts the rest of a UUID range evenly, as many pieces as the first page's density says", () => {
    // The first 1,000 of a million UUID folders: ~999 pages remain.
    const sample = Array.from({ length: 1000 }, (_, i) => `${sortedUuid(i, 1_000_000, 7, 0)}/`);
    const plan = planSplit({ prefix: "", first: sample[0]!, lo: sample[999]!, hi: undefined, sample, pageEntries: 1000, pageSize: 1000, maxPieces: 64, maxTailPieces: 64 });
    expect(plan.estimatedPages).toBeGreaterThan(800);
    expect(plan.estimatedPages).toBeLessThan(2000);
    expect(plan.splits.length).toBe(63);
    expect([...plan.splits].sort(compareUtf8)).toEqual(plan.splits);
    expect(compareUtf8(plan.splits[0]!, sample[999]!)).toBeGreaterThan(0);
    // Evenly spread over the hex digits: the middle cut is near "8".
    expect(plan.splits[31]!.startsWith("7") || plan.splits[31]!.startsWith("8")).toBe(true);
  });

  it("stays strictly inside (lo, hi)", () => {
    fc.assert(fc.property(hex(6), hex(6), fc.integer({ min: 2, max: 50 }), (a, b, n) => {
      const [lo, hi] = compareUtf8(a, b) < 0 ? [a, b] : [b, a];
      if (lo === hi) return;
      const { splits } = planSplit({ prefix: "", first: "", lo, hi, sample: [lo, hi], pageEntries: 1000, pageSize: 1000, maxPieces: n, maxTailPieces: n });
      let prev = lo;
      for (const s of splits) {
        expect(compareUtf8(s, prev)).toBeGreaterThan(0);
        expect(compareUtf8(s, hi)).toBeLessThan(0);
        prev = s;
      }
    }));
  });
});
