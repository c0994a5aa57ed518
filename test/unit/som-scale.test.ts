// The som layout at full scale on the layout itself: a collection of
// 100,000 entities and an entity of 10,000 images (GCS: a synthetic
// namespace; Datastore: the in-memory source, since the official emulator
// takes minutes at this size — test/e2e/som-scale.test.ts runs it smaller).
import { describe, expect, it } from "vitest";
import { SyntheticTable, type SyntheticSpec } from "../../src/emulator/synthetic.js";
import { MemoryMetadata } from "../../src/metadata/memory/memory-metadata.js";
import { str } from "../../src/metadata/record.js";
import { SomLayout } from "../../src/namespace/som-layout.js";
import { MemoryObjectStore } from "../../src/storage/memory/memory-object-store.js";
import { ManualClock } from "../../src/util/clock.js";
import { MemoryLogger } from "../../src/util/log.js";

const SPECS: SyntheticSpec[] = [
  { prefix: "Collection/WIDE/Entity/", folders: 100_000, filesPerFolder: 1, naming: "uid", objectSize: 8, seed: 3 },
  { prefix: "Collection/DEEP/Entity/", folders: 1, filesPerFolder: 10_000, naming: "uid", objectSize: 8, seed: 4 },
];

describe("the som layout at full scale", () => {
  it("lists a collection of 100,000 entities and an entity of 10,000 images completely, one query per listing", async () => {
    const table = new SyntheticTable("scale", SPECS);
    const store = new MemoryObjectStore("scale", table);
    const meta = new MemoryMetadata();
    const names = Array.from({ length: table.size }, (_, i) => table.nameAt(i));
    const wide = names.filter((n) => n.startsWith("Collection/WIDE/")).map((n) => n.split("/")[3]!);
    const deep = names.filter((n) => n.startsWith("Collection/DEEP/"));
    const deepEntity = deep[0]!.split("/")[3]!;
    meta.put({ key: [{ kind: "Collection", name: "WIDE" }], properties: { uid: str("WIDE") } });
    meta.put(...wide.map((e) => ({ key: [{ kind: "Collection", name: "WIDE" }, { kind: "Entity", name: e }], properties: { uid: str(e) } })));
    meta.put(...deep.map((o) => ({ key: [{ kind: "Collection", name: "DEEP" }, { kind: "Entity", name: deepEntity }, { kind: "Image", name: o }], properties: { uid: str(o) } })));
    const layout = new SomLayout(store, {
      prefix: "", metadataTtlMs: 60_000, negativeTtlMs: 5_000, clock: new ManualClock(), log: new MemoryLogger(), mountTime: new Date(0),
      metadata: meta, outageBackoffMs: 10_000, sidecarPatienceMs: 5_000,
    });

    const w = await layout.readdir("/WIDE");
    expect(w.size).toBe(2 * 100_000); // every entity and its sidecar
    expect(w.get(wide[99_999]!)?.kind).toBe("dir");
    expect(w.get(`${wide[12_345]}.json`)?.kind).toBe("file");
    const d = await layout.readdir(`/DEEP/${deepEntity}`);
    expect(d.size).toBe(2 * 10_000);
    expect(d.get(`${deep[9_999]!.split("/").pop()}.json`)?.kind).toBe("file");
    // Root (for the lookups), WIDE, DEEP, and DEEP's entity: one query each (a cold lookup lists
    // the directory it looks up beside its parent, so not in this order).
    expect(meta.queries.map((q) => q.kind ?? "(kindless)").sort()).toEqual(["(kindless)", "Collection", "Entity", "Entity"]);
  });
});
