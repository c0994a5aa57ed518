// A synthetic bucket must behave exactly like a bucket holding the same
// objects: the same listings (every query shape), lookups and bytes.
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { listObjects, type ListQuery } from "../../src/emulator/list.js";
import { BucketTable } from "../../src/emulator/object-table.js";
import { SyntheticTable, parseSyntheticSpec, sortedUid, sortedUuid, syntheticBytes, type SyntheticSpec } from "../../src/emulator/synthetic.js";
import { compareUtf8 } from "../../src/listing/key-order.js";
import { crc32cBase64 } from "../../src/util/crc32c.js";

const SPECS: SyntheticSpec[] = [
  { prefix: "", folders: 40, filesPerFolder: 3, naming: "uuid", objectSize: 10, seed: 3 },
];
const SOM_SPECS: SyntheticSpec[] = [
  { prefix: "Collection/WIDE/Entity/", folders: 30, filesPerFolder: 1, naming: "uid", objectSize: 5, seed: 1 },
  { prefix: "Collection/DEEP/Entity/", folders: 1, filesPerFolder: 50, naming: "uid", objectSize: 5, seed: 2 },
];

/** The same objects, stored one by one. */
function materialize(t: SyntheticTable): BucketTable {
  const b = new BucketTable(t.name);
  for (let i = 0; i < t.size; i++) b.put(t.at(i));
  return b;
}

const page = (r: ReturnType<typeof listObjects>): unknown => ({ items: r.items.map((o) => o.name), prefixes: r.prefixes, next: r.nextPageToken });

describe("synthetic namespaces", () => {
  it("generate sorted, distinct names: UUIDs and DICOM UIDs", () => {
    for (const gen of [sortedUuid, sortedUid]) {
      const names = Array.from({ length: 5000 }, (_, i) => gen(i, 5000, 9, 0));
      expect(new Set(names).size).toBe(5000);
      for (let i = 1; i < names.length; i++) expect(compareUtf8(names[i - 1]!, names[i]!)).toBeLessThan(0);
    }
    expect(sortedUuid(123, 1_000_000, 1, 0)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(sortedUid(5, 10, 1, 0)).toMatch(/^1\.2\.826\.0\.1\.3680043\.10\.511\.0\.[1-9]\d{19}$/);
  });

  for (const [label, specs] of [["idc", SPECS], ["som, two prefixes", SOM_SPECS]] as const) {
    it(`list like the same objects stored (${label})`, () => {
      const syn = new SyntheticTable("s", specs);
      const real = materialize(syn);
      expect(syn.size).toBe(real.size);
      for (let i = 0; i < syn.size; i++) expect(syn.nameAt(i)).toBe(real.nameAt(i));
      const names = Array.from({ length: syn.size }, (_, i) => syn.nameAt(i));
      const key = fc.oneof(fc.constantFrom(...names), fc.constantFrom(...names).map((n) => n.slice(0, n.length >> 1)), fc.string({ maxLength: 6 }));
      fc.assert(fc.property(
        fc.record({
          prefix: fc.oneof(fc.constant(""), key.map((k) => k.slice(0, 12))),
          delimiter: fc.constantFrom(undefined, "/", "."),
          startOffset: fc.option(key, { nil: undefined }),
          endOffset: fc.option(key, { nil: undefined }),
          maxResults: fc.integer({ min: 1, max: 30 }),
        }),
        (raw) => {
          const q = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)) as ListQuery;
          // Page through both to the end; every page must be the same.
          let token: string | undefined;
          do {
            const a = listObjects(syn, { ...q, ...(token ? { pageToken: token } : {}) });
            const b = listObjects(real, { ...q, ...(token ? { pageToken: token } : {}) });
            expect(page(a)).toEqual(page(b));
            token = a.nextPageToken;
          } while (token);
        },
      ), { numRuns: 300 });
      for (const n of names.slice(0, 20)) expect(syn.get(n)?.name).toBe(n);
      expect(syn.get(`${names[3]}x`)).toBeUndefined();
    });
  }

  it("hold bytes derived from the name, with matching hashes", () => {
    const t = new SyntheticTable("s", SPECS);
    const o = t.at(17);
    const data = syntheticBytes(o.name, o.size);
    expect(data).toHaveLength(10);
    expect(o.crc32c).toBe(crc32cBase64(data));
    expect(o.md5Hash).toBe(createHash("md5").update(data).digest("base64"));
    expect(() => t.put(o)).toThrow(/read-only/);
  });

  it("seek instead of scanning: a delimiter page over a million folders is fast", () => {
    const t = new SyntheticTable("idc", [{ prefix: "", folders: 1_000_000, filesPerFolder: 20, naming: "uuid", objectSize: 1, seed: 1 }]);
    const mid = t.nameAt(10_000_000);
    const began = performance.now();
    const r = listObjects(t, { delimiter: "/", startOffset: mid });
    const ms = performance.now() - began;
    expect(r.prefixes).toHaveLength(1000);
    expect(r.prefixes[0]).toBe(mid.slice(0, 37));
    // Work per page is bounded by the page, not by the 20 million objects (a scan takes seconds).
    expect(ms).toBeLessThan(500);
  });

  it("parse the command-line form", () => {
    expect(parseSyntheticSpec("1000000x1")).toMatchObject({ prefix: "", folders: 1_000_000, filesPerFolder: 1, naming: "uuid" });
    expect(parseSyntheticSpec("100x2,prefix=Collection/C/Entity,naming=uid,size=9,seed=4"))
      .toEqual({ prefix: "Collection/C/Entity/", folders: 100, filesPerFolder: 2, naming: "uid", objectSize: 9, seed: 4 });
    expect(() => parseSyntheticSpec("lots")).toThrow(/FOLDERSxFILES/);
    expect(() => parseSyntheticSpec("1x1,colour=red")).toThrow(/unknown option/);
  });
});
