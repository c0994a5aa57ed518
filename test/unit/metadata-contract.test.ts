// One contract, every metadata source: the in-memory double and the REST
// client against the official Datastore emulator must agree on queries
// (kind, ancestor, equality, key order, paging), transactions, exact values
// and how an outage looks — so the double the layout tests use can't drift.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DatastoreMetadata } from "../../src/metadata/datastore/datastore-metadata.js";
import { MetadataUnavailableError } from "../../src/metadata/errors.js";
import { MemoryMetadata } from "../../src/metadata/memory/memory-metadata.js";
import type { MetadataSink, MetadataSource } from "../../src/metadata/metadata-store.js";
import { keyString, str, type KeyPath, type MetadataRecord, type Properties } from "../../src/metadata/record.js";
import { systemClock } from "../../src/util/clock.js";
import { silentLogger } from "../../src/util/log.js";
import { DatastoreEmulator, freePort } from "../helpers/datastore.js";

type Source = MetadataSource & MetadataSink;

const col = (c: string): KeyPath => [{ kind: "Collection", name: c }];
const ent = (c: string, e: string): KeyPath => [...col(c), { kind: "Entity", name: e }];
const rec = (key: KeyPath, properties: Properties): MetadataRecord => ({ key, properties });

const EXACT: Properties = {
  big: { type: "integer", value: "9007199254740993" },
  min: { type: "integer", value: "-9223372036854775808" },
  when: { type: "timestamp", seconds: 1_700_000_000, nanos: 123_456_000 },
  ratio: { type: "double", value: 0.1 },
  flag: { type: "boolean", value: true },
  nothing: { type: "null" },
  raw: { type: "blob", value: Buffer.from([0, 1, 254, 255]) },
  parent: { type: "key", value: ent("C1", "E1") },
  where: { type: "geo", latitude: 37.4275, longitude: -122.1697 },
  nested: { type: "entity", value: { deep: str("yes"), list: { type: "array", value: [str("ü"), { type: "integer", value: "3" }] } } },
};

async function put(s: Source, records: MetadataRecord[]): Promise<void> {
  for (let i = 0; i < records.length; i += 250) {
    const batch = records.slice(i, i + 250);
    await s.transact(batch.map((r) => r.key), () => batch);
  }
}

const FAST = { deadlineMs: 1_500, initialDelayMs: 50, maxDelayMs: 200 };
let ds: DatastoreEmulator;
beforeAll(async () => {
  ds = await DatastoreEmulator.start("contract");
}, 120_000);
afterAll(async () => ds?.stop());

const impls: [string, () => Source, () => Promise<Source>][] = [
  ["MemoryMetadata", () => new MemoryMetadata("contract"), async () => Object.assign(new MemoryMetadata("contract"), { down: true })],
  [
    "DatastoreMetadata (official emulator)",
    () => new DatastoreMetadata({ project: "contract", emulatorHost: ds.host, rpcTimeoutMs: 30_000, clock: systemClock, log: silentLogger }),
    async () => new DatastoreMetadata({ project: "contract", emulatorHost: `127.0.0.1:${await freePort()}`, rpcTimeoutMs: 500, retry: FAST, clock: systemClock, log: silentLogger }),
  ],
];

for (const [label, make, makeDown] of impls) {
  describe(`MetadataSource contract: ${label}`, () => {
    // Each implementation gets its own collection names: the emulator keeps what the earlier run wrote.
    const C = `${label.split(" ")[0]}-C`;
    let s: Source;
    beforeAll(async () => {
      s = make();
      await put(s, [
        rec(col(C), { uid: str(C) }),
        rec(ent(C, "E2"), { uid: str("E2"), group: str("b") }),
        rec(ent(C, "E1"), { uid: str("E1"), group: str("a") }),
        rec([...ent(C, "E1"), { kind: "Image", name: "Collection/x/1.dcm" }], { uid: str("1"), AccessionNumber: str("ACC1") }),
        rec([...ent(C, "E1"), { kind: "Text", name: "Collection/x/r.txt" }], { uid: str("r") }),
        rec([...ent(C, "E2"), { kind: "Image", name: "Collection/x/2.dcm" }], { uid: str("2"), AccessionNumber: str("ACC1") }),
        rec(ent(`${C}-other`, "E1"), { uid: str("elsewhere") }),
      ]);
    }, 60_000);

    it("queries by kind under an ancestor, in key order", async () => {
      const r = await s.query({ kind: "Entity", ancestor: col(C) });
      expect(r.map((x) => keyString(x.key))).toEqual([keyString(ent(C, "E1")), keyString(ent(C, "E2"))]);
    });

    it("a kindless ancestor query holds the ancestor itself and every descendant", async () => {
      const r = await s.query({ ancestor: ent(C, "E1") });
      expect(r.map((x) => x.key[x.key.length - 1]!.kind).sort()).toEqual(["Entity", "Image", "Text"]);
    });

    it("filters by a string property", async () => {
      const r = await s.query({ kind: "Image", ancestor: col(C), where: { property: "AccessionNumber", equals: "ACC1" } });
      expect(r).toHaveLength(2);
      expect(await s.query({ kind: "Entity", ancestor: col(C), where: { property: "group", equals: "b" } })).toHaveLength(1);
    });

    it("keeps every value exactly: 64-bit integers, microseconds, blobs, keys, nested values", async () => {
      await put(s, [rec(ent(C, "EXACT"), EXACT)]);
      const [back] = await s.query({ kind: "Entity", ancestor: col(C), where: { property: "nested.deep", equals: "never" } });
      expect(back).toBeUndefined();
      const got = (await s.query({ kind: "Entity", ancestor: col(C) })).find((r) => keyString(r.key) === keyString(ent(C, "EXACT")))!;
      expect(got.properties).toEqual(EXACT);
    });

    it("transacts read-modify-write: sees what is there, writes what it returns", async () => {
      const key = ent(C, "COUNTER");
      for (let i = 0; i < 3; i++) {
        await s.transact([key], ([cur]) => [rec(key, { n: { type: "integer", value: String(cur?.properties.n?.type === "integer" ? Number(cur.properties.n.value) + 1 : 1) } })]);
      }
      const [c] = (await s.query({ ancestor: key }));
      expect(c!.properties.n).toEqual({ type: "integer", value: "3" });
    });

    it("returns every result of a big query, page by page", async () => {
      const big = Array.from({ length: 750 }, (_, i) => rec([...col(`${C}-big`), { kind: "Entity", name: `e${String(i).padStart(4, "0")}` }], { uid: str(String(i)) }));
      await put(s, big);
      let pages = 0;
      const r = await s.query({ kind: "Entity", ancestor: col(`${C}-big`) }, { onPage: () => pages++ });
      expect(r.map((x) => keyString(x.key))).toEqual(big.map((x) => keyString(x.key)));
      expect(pages).toBeGreaterThanOrEqual(1);
    }, 60_000);

    it("an outage is MetadataUnavailableError (what the layout hides sidecars on)", async () => {
      const down = await makeDown();
      await expect(down.query({ kind: "Collection" })).rejects.toBeInstanceOf(MetadataUnavailableError);
    });
  });
}
