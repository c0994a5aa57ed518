import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { MemoryMetadata } from "../../src/metadata/memory/memory-metadata.js";
import { keyString, type RecordValue } from "../../src/metadata/record.js";
import { PublishError, Publisher, type PublishRequest } from "../../src/publish/publisher.js";
import { MemoryObjectStore } from "../../src/storage/memory/memory-object-store.js";
import { systemClock } from "../../src/util/clock.js";
import { MemoryLogger } from "../../src/util/log.js";
import { tempDir } from "../helpers/files.js";

let store: MemoryObjectStore;
let meta: MemoryMetadata;
let dir: string;
let now: Date;
const publisher = (): Publisher => new Publisher({
  writer: store, sink: meta, clock: systemClock, log: new MemoryLogger(), now: () => now,
  retry: { deadlineMs: 10_000, initialDelayMs: 0, maxDelayMs: 0 },
});
const req = (files: string[], extra: Partial<PublishRequest> = {}): PublishRequest =>
  ({ collection: "IRB1", entity: "P1", files, kind: "auto", replace: false, jobs: 4, prefix: "", ...extra });
const record = (...key: [string, string][]): Record<string, RecordValue> | undefined =>
  meta.records.get(keyString(key.map(([kind, name]) => ({ kind, name }))))?.properties;

beforeEach(async () => {
  store = new MemoryObjectStore("bkt");
  meta = new MemoryMetadata();
  dir = await tempDir("publish");
  now = new Date("2026-01-01T00:00:00Z");
  await writeFile(join(dir, "1.2.3.dcm"), "dicom bytes");
  await writeFile(join(dir, "report.txt"), "no findings\n");
});

describe("Publisher", () => {
  it("uploads under the som names and writes Collection, Entity, Image and Text records", async () => {
    const out = await publisher().publish(req([join(dir, "1.2.3.dcm"), join(dir, "report.txt")], { imageFields: { Modality: "CT" }, entityFields: { PatientSex: "M" } }));
    expect(out.map((o) => [o.objectName, o.outcome])).toEqual([
      ["Collection/IRB1/Entity/P1/1.2.3.dcm", "uploaded"], ["Collection/IRB1/Entity/P1/report.txt", "uploaded"],
    ]);
    const img = record(["Collection", "IRB1"], ["Entity", "P1"], ["Image", "Collection/IRB1/Entity/P1/1.2.3.dcm"]);
    expect(img).toMatchObject({
      uid: { type: "string", value: "Collection/IRB1/Entity/P1/1.2.3.dcm" },
      url: { type: "string", value: "https://storage.googleapis.com/bkt/Collection/IRB1/Entity/P1/1.2.3.dcm", indexed: false },
      storage_bucket: { value: "bkt" }, storage_size: { value: "11" }, storage_crc32c: { value: out[0]!.crc32c },
      storage_contentType: { value: "application/dicom" }, Modality: { value: "CT" },
    });
    expect(record(["Collection", "IRB1"], ["Entity", "P1"], ["Text", "Collection/IRB1/Entity/P1/report.txt"])).toBeDefined();
    expect(record(["Collection", "IRB1"], ["Entity", "P1"])).toMatchObject({ uid: { value: "P1" }, PatientSex: { value: "M" } });
    expect(record(["Collection", "IRB1"])).toMatchObject({ uid: { value: "IRB1" } });
  });

  it("is idempotent: a rerun uploads nothing, keeps created and bumps updated", async () => {
    await publisher().publish(req([join(dir, "1.2.3.dcm")], { entityFields: { PatientAge: "040Y" } }));
    const created = record(["Collection", "IRB1"], ["Entity", "P1"])!.created;
    now = new Date("2026-02-01T00:00:00Z");
    const uploads = store.calls.upload;
    const out = await publisher().publish(req([join(dir, "1.2.3.dcm")], { entityFields: { PatientSex: "F" } }));
    expect(out[0]!.outcome).toBe("unchanged");
    expect(store.calls.upload).toBe(uploads + 1); // one create attempt answered 412, no bytes replaced
    const ent = record(["Collection", "IRB1"], ["Entity", "P1"])!;
    expect(ent.created).toEqual(created);
    expect(ent.updated).toEqual({ type: "timestamp", seconds: Date.parse("2026-02-01T00:00:00Z") / 1000, nanos: 0 });
    expect(ent).toMatchObject({ PatientAge: { value: "040Y" }, PatientSex: { value: "F" } });
  });

  it("treats a lost upload response as done once the stored CRC32C matches", async () => {
    store.loseNextUploadResponses = 1;
    const out = await publisher().publish(req([join(dir, "1.2.3.dcm")]));
    expect(out[0]!.outcome).toBe("unchanged");
    expect((await store.stat("Collection/IRB1/Entity/P1/1.2.3.dcm")).size).toBe(11);
  });

  it("refuses different bytes under an existing name unless told to replace, then replaces that generation", async () => {
    await publisher().publish(req([join(dir, "1.2.3.dcm")]));
    const before = await store.stat("Collection/IRB1/Entity/P1/1.2.3.dcm");
    await writeFile(join(dir, "1.2.3.dcm"), "new dicom bytes");
    await expect(publisher().publish(req([join(dir, "1.2.3.dcm")]))).rejects.toThrow(/already exists with different content.*--replace/);
    const out = await publisher().publish(req([join(dir, "1.2.3.dcm")], { replace: true }));
    expect(out[0]!.outcome).toBe("replaced");
    const after = await store.stat("Collection/IRB1/Entity/P1/1.2.3.dcm");
    expect(after.generation).not.toBe(before.generation);
    expect(after.size).toBe(15);
  });

  it("rejects names that can't be folders and files that would collide", async () => {
    await expect(publisher().publish(req([join(dir, "1.2.3.dcm")], { entity: "a/b" }))).rejects.toBeInstanceOf(PublishError);
    await expect(publisher().publish(req([join(dir, "1.2.3.dcm")], { collection: ".." }))).rejects.toBeInstanceOf(PublishError);
    await expect(publisher().publish(req([join(dir, "1.2.3.dcm"), join(dir, ".", "1.2.3.dcm")]))).rejects.toThrow(/would both be stored as 1\.2\.3\.dcm/);
    expect(store.calls.upload).toBe(0);
  });

  it("writes no record for a file whose upload failed", async () => {
    await expect(publisher().publish(req([join(dir, "1.2.3.dcm"), join(dir, "absent.dcm")]))).rejects.toThrow(/ENOENT/);
    expect(meta.records.size).toBe(0);
  });
});
