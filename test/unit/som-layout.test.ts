import { beforeEach, describe, expect, it, vi } from "vitest";
import { MemoryMetadata } from "../../src/metadata/memory/memory-metadata.js";
import { str, timestamp, type MetadataRecord } from "../../src/metadata/record.js";
import { isoTimestamp, renderSidecar } from "../../src/metadata/sidecar.js";
import type { Entry } from "../../src/namespace/namespace.js";
import { SomLayout, detectLayout } from "../../src/namespace/som-layout.js";
import { MemoryObjectStore } from "../../src/storage/memory/memory-object-store.js";
import { ManualClock } from "../../src/util/clock.js";
import { MemoryLogger } from "../../src/util/log.js";
import { names } from "../helpers/dirs.js";

let store: MemoryObjectStore;
let meta: MemoryMetadata;
let clock: ManualClock;
let log: MemoryLogger;
const layout = (withMetadata = true, seedCollections = true): SomLayout =>
  new SomLayout(store, {
    prefix: "", metadataTtlMs: 60_000, negativeTtlMs: 5_000, clock, log, mountTime: new Date(0),
    ...(withMetadata ? { metadata: meta } : {}), outageBackoffMs: 10_000, sidecarPatienceMs: 5_000, seedCollections,
  });

const col = (c: string, extra: MetadataRecord["properties"] = {}): MetadataRecord =>
  ({ key: [{ kind: "Collection", name: c }], properties: { uid: str(c), updated: timestamp(new Date(5000)), ...extra } });
const ent = (c: string, e: string): MetadataRecord =>
  ({ key: [{ kind: "Collection", name: c }, { kind: "Entity", name: e }], properties: { uid: str(e) } });
const img = (c: string, e: string, name: string, kind = "Image"): MetadataRecord =>
  ({ key: [{ kind: "Collection", name: c }, { kind: "Entity", name: e }, { kind, name }], properties: { uid: str(name), Modality: str("CT") } });

function text(e: Entry | undefined): string {
  if (e?.kind !== "file" || e.source.kind !== "inline") throw new Error("not a sidecar");
  return e.source.data.toString("utf8");
}

beforeEach(() => {
  store = new MemoryObjectStore();
  meta = new MemoryMetadata();
  clock = new ManualClock();
  log = new MemoryLogger();
  store.put("Collection/IRB1/Entity/P1/1.2.840.99.1.dcm", "dicom-1");
  store.put("Collection/IRB1/Entity/P1/report.txt", "report");
  store.put("Collection/IRB1/Entity/P1/sub/deep.dcm", "deep");
  store.put("Collection/IRB1/Entity/P1/clash.dcm", "c");
  store.put("Collection/IRB1/Entity/P1/clash.dcm.json", "{\"real\":true}\n");
  store.put("Collection/IRB1/Entity/P2/x.dcm", "x");
  store.put("elsewhere/ignored.dcm", "i");
  meta.put(
    col("IRB1"), col("Empty"), ent("IRB1", "P1"), ent("IRB1", "Ghost"),
    img("IRB1", "P1", "Collection/IRB1/Entity/P1/1.2.840.99.1.dcm"),
    img("IRB1", "P1", "Collection/IRB1/Entity/P1/report.txt", "Text"),
    img("IRB1", "P1", "Collection/IRB1/Entity/P1/sub/deep.dcm"),
    img("IRB1", "P1", "Collection/IRB1/Entity/P1/clash.dcm"),
    img("IRB1", "P1", "Collection/IRB1/Entity/P1/gone.dcm"),
  );
});

describe("SomLayout", () => {
  it("shows collections and entities as the union of objects and records, with sidecars", async () => {
    const ns = layout();
    const root = await ns.readdir("/");
    expect(names(root).sort()).toEqual(["Empty", "Empty.json", "IRB1", "IRB1.json"]);
    expect(root.get("Empty")?.kind).toBe("dir");
    expect(root.get("IRB1.json")?.mtime).toEqual(new Date(5000));
    const irb = await ns.readdir("/IRB1");
    expect(names(irb).sort()).toEqual(["Ghost", "Ghost.json", "P1", "P1.json", "P2"]);
    expect((await ns.readdir("/Empty")).size).toBe(0);
    expect((await ns.readdir("/IRB1/Ghost")).size).toBe(0);
  });

  it("names sidecars by the full file name, skips orphans and lets a real object win", async () => {
    const ns = layout();
    const p1 = await ns.readdir("/IRB1/P1");
    expect(names(p1).sort()).toEqual([
      "1.2.840.99.1.dcm", "1.2.840.99.1.dcm.json", "clash.dcm", "clash.dcm.json", "report.txt", "report.txt.json", "sub",
    ]);
    const real = p1.get("clash.dcm.json");
    expect(real?.kind === "file" && real.source.kind).toBe("object");
    expect(JSON.parse(text(p1.get("1.2.840.99.1.dcm.json")))).toEqual({ Modality: "CT", uid: "Collection/IRB1/Entity/P1/1.2.840.99.1.dcm" });
    expect(log.lines.some((l) => l.includes("gone.dcm has no object"))).toBe(true);
    expect(names((await ns.readdir("/IRB1/P1/sub"))).sort()).toEqual(["deep.dcm", "deep.dcm.json"]);
  });

  it("makes one query per listing and shares the entity's query with its sub-directories", async () => {
    const ns = layout();
    await ns.readdir("/");
    await ns.readdir("/IRB1");
    await ns.readdir("/IRB1/P1");
    await ns.readdir("/IRB1/P1/sub");
    await ns.lookup("/IRB1/P1/report.txt.json");
    expect(meta.queries).toEqual([
      { kind: "Collection" },
      { kind: "Entity", ancestor: [{ kind: "Collection", name: "IRB1" }] },
      { ancestor: [{ kind: "Collection", name: "IRB1" }, { kind: "Entity", name: "P1" }] },
    ]);
    expect(store.calls.stat).toBe(0);
  });

  it("lists a cold path two levels down in one round trip: the collection's listing, its sub-tree's first page and the root's at once", async () => {
    const ns = layout(false);
    const asked: string[] = [];
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const list = store.list.bind(store);
    vi.spyOn(store, "list").mockImplementation(async (o) => {
      asked.push(`${o.prefix}${o.delimiter ? "" : " (flat)"}`);
      await gate;
      return list(o);
    });
    const found = ns.lookup("/IRB1");
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    // All out before any answers: the root's listing, the collection's own, and one flat page below it.
    expect(asked.sort()).toEqual(["Collection/", "Collection/IRB1/Entity/", "Collection/IRB1/Entity/ (flat)"]);
    // The entity below, looked up before any of them answers: it waits for the flat page, asks nothing itself.
    const entity = ns.lookup("/IRB1/P1");
    const inside = ns.readdir("/IRB1/P1");
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(asked.length).toBe(3);
    open();
    expect((await found)?.kind).toBe("dir");
    expect((await entity)?.kind).toBe("dir");
    expect(names(await inside).sort()).toEqual(["1.2.840.99.1.dcm", "clash.dcm", "clash.dcm.json", "report.txt", "sub"]);
    expect(names(await ns.readdir("/IRB1")).sort()).toEqual(["P1", "P2"]);
    // Deeper too: the page held the whole sub-tree.
    expect(names(await ns.readdir("/IRB1/P1/sub")).length).toBeGreaterThan(0);
    expect(asked.length).toBe(3);
    // Looked up again once listed: no second page.
    await ns.lookup("/IRB1");
    expect(asked.length).toBe(3);
    // A sidecar's name is no directory, and below an entity a name may be a file: no listing for those.
    const cold = layout(false);
    await cold.lookup("/IRB1.json");
    await cold.lookup("/IRB1/P1/report.txt");
    expect(asked.slice(3).sort()).toEqual(["Collection/", "Collection/IRB1/Entity/", "Collection/IRB1/Entity/ (flat)"]);
  });

  it("lists alone what a collection's first page cuts off or fails to bring", async () => {
    const ns = layout(false);
    const asked: string[] = [];
    const list = store.list.bind(store);
    // A page of two objects: it ends inside the first entity, so no entity is held whole.
    vi.spyOn(store, "list").mockImplementation(async (o) => {
      asked.push(`${o.prefix}${o.delimiter ? "" : " (flat)"}`);
      return list(o.delimiter ? o : { ...o, maxResults: 2 });
    });
    const p1 = ns.readdir("/IRB1/P1");
    expect(names(await p1).sort()).toEqual(["1.2.840.99.1.dcm", "clash.dcm", "clash.dcm.json", "report.txt", "sub"]);
    expect(names(await ns.readdir("/IRB1/P2")).length).toBeGreaterThan(0);
    expect(asked).toContain("Collection/IRB1/Entity/ (flat)");
    expect(asked).toContain("Collection/IRB1/Entity/P1/");
    expect(asked).toContain("Collection/IRB1/Entity/P2/");
    // A first page that fails: what waited for it is listed alone.
    const failing = layout(false);
    vi.spyOn(store, "list").mockImplementation(async (o) => {
      asked.push(`${o.prefix}${o.delimiter ? "" : " (flat)"}`);
      if (!o.delimiter) throw new Error("503 from the flat listing");
      return list(o);
    });
    asked.length = 0;
    expect(names(await failing.readdir("/IRB1/P1")).length).toBe(5);
    expect(asked.sort()).toEqual(["Collection/", "Collection/IRB1/Entity/", "Collection/IRB1/Entity/ (flat)", "Collection/IRB1/Entity/P1/"]);
    // Names the listed root does not have, as a shell or viewer probes them: no page for them.
    asked.length = 0;
    await ns.readdir("/");
    const before = asked.length;
    expect(await ns.lookup("/.hidden")).toBeUndefined();
    expect(await ns.lookup("/NOPE")).toBeUndefined();
    expect(asked.length).toBe(before);
    // Without prefetch (--no-prefetch), no first page: each directory is listed when it is read.
    asked.length = 0;
    const plain = layout(false, false);
    expect(names(await plain.readdir("/IRB1/P1")).length).toBe(5);
    expect(asked.sort()).toEqual(["Collection/", "Collection/IRB1/Entity/", "Collection/IRB1/Entity/P1/"]);
  });

  it("hides the tree outside Collection/ and has no sidecars without a project", async () => {
    const ns = layout(false);
    expect(names((await ns.readdir("/")))).toEqual(["IRB1"]);
    expect(names((await ns.readdir("/IRB1/P1"))).sort()).toEqual(["1.2.840.99.1.dcm", "clash.dcm", "clash.dcm.json", "report.txt", "sub"]);
    expect(await ns.lookup("/elsewhere")).toBeUndefined();
  });

  it("serves listings without sidecars while Datastore is down, backs off, and recovers", async () => {
    const ns = layout();
    meta.down = true;
    const p1 = await ns.readdir("/IRB1/P1");
    expect(p1.get("1.2.840.99.1.dcm") !== undefined).toBe(true);
    expect(p1.get("1.2.840.99.1.dcm.json") !== undefined).toBe(false);
    expect(log.lines.filter((l) => l.startsWith("warn: Datastore failed")).length).toBe(1);
    const asked = meta.queries.length;
    clock.advance(6_000); // past the negative TTL, inside the back-off: no new query
    await ns.readdir("/IRB1/P1");
    expect(meta.queries.length).toBe(asked);
    meta.down = false;
    clock.advance(6_000); // past the back-off and the short TTL of the incomplete listing
    expect((await ns.readdir("/IRB1/P1")).get("1.2.840.99.1.dcm.json") !== undefined).toBe(true);
    expect(log.lines).toContain("info: Datastore answers again; sidecars are back");
  });

  it("waits for records only while they make progress, then lists without sidecars and picks them up later", async () => {
    const ns = layout();
    await ns.readdir("/IRB1"); // the lookups on the way are answered
    let release!: () => void;
    meta.hold = new Promise((r) => (release = r));
    const listing = ns.readdir("/IRB1/P1");
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    clock.advance(5_000); // no page for the patience: shown without sidecars
    const p1 = await listing;
    expect(p1.get("1.2.840.99.1.dcm")?.kind).toBe("file");
    expect(p1.get("1.2.840.99.1.dcm.json")).toBeUndefined();
    expect(log.lines).toContain("warn: Datastore has sent nothing for 5 s; listing without sidecar .json files until it answers (next try in 10 s)");
    const asked = meta.queries.length;
    release();
    await new Promise((r) => setImmediate(r));
    clock.advance(5_001); // past the short TTL of a listing without its records
    expect((await ns.readdir("/IRB1/P1")).get("1.2.840.99.1.dcm.json")?.kind).toBe("file");
    expect(meta.queries.length).toBe(asked); // the query that went on behind it was used, not asked again
    expect(log.lines).toContain("info: Datastore answers again; sidecars are back");
  });

  it("detects the layout from a top-level Collection/ prefix", async () => {
    expect(await detectLayout(store, "")).toBe("som");
    expect(await detectLayout(store, "elsewhere/")).toBe("raw");
  });
});

describe("sidecar rendering", () => {
  it("writes every type faithfully, keys sorted, 2-space indent, final newline", () => {
    const out = renderSidecar({
      z: { type: "integer", value: "9007199254740993" },
      a: { type: "timestamp", seconds: 1_700_000_000, nanos: 123_456_000 },
      n: { type: "null" },
      arr: { type: "array", value: [{ type: "string", value: "x" }, { type: "double", value: 1.5 }] },
      e: { type: "entity", value: { b: { type: "boolean", value: true }, a: { type: "array", value: [] } } },
      blob: { type: "blob", value: Buffer.from("hi") },
      k: { type: "key", value: [{ kind: "Collection", name: "c" }, { kind: "Entity", id: "42" }] },
      g: { type: "geo", latitude: 1.25, longitude: -2 },
      nan: { type: "double", value: Number.NaN },
      empty: { type: "entity", value: {} },
    }).toString("utf8");
    expect(out).toBe(`{
  "a": "2023-11-14T22:13:20.123456Z",
  "arr": [
    "x",
    1.5
  ],
  "blob": "aGk=",
  "e": {
    "a": [],
    "b": true
  },
  "empty": {},
  "g": {
    "latitude": 1.25,
    "longitude": -2
  },
  "k": ["Collection", "c", "Entity", 42],
  "n": null,
  "nan": "NaN",
  "z": 9007199254740993
}
`);
    // Same shape JSON.stringify(sorted, null, 2) gives, apart from the exact integer.
    expect(JSON.parse(out).arr).toEqual(["x", 1.5]);
  });

  it("keeps as many fraction digits as the timestamp has", () => {
    expect(isoTimestamp(0, 0)).toBe("1970-01-01T00:00:00.000Z");
    expect(isoTimestamp(-1, 500_000_000)).toBe("1969-12-31T23:59:59.500Z");
    expect(isoTimestamp(1, 1)).toBe("1970-01-01T00:00:01.000000001Z");
  });
});
