// The som layout through real mounts: GCS emulator + the official Datastore
// emulator, with the study published by `som upload` and edge cases written
// straight to Datastore.
import { mkdir, readFile, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { writeDemoStudy, type DemoPatient } from "../../src/dicom/demo-data.js";
import type { Emulator } from "../../src/emulator/server.js";
import { DatastoreMetadata } from "../../src/metadata/datastore/datastore-metadata.js";
import { str, type MetadataRecord, type RecordValue } from "../../src/metadata/record.js";
import { systemClock } from "../../src/util/clock.js";
import { silentLogger } from "../../src/util/log.js";
import { DatastoreEmulator, CountingProxy } from "../helpers/datastore.js";
import { emulatorStats, resetStats, startEmulator } from "../helpers/emulator.js";
import { sha256, sha256File, tempDir, treeHashes } from "../helpers/files.js";
import { TestMount, stopAllMounts } from "../helpers/mount.js";
import { Scrape, metricsUrl } from "../helpers/metrics.js";
import { run, som } from "../helpers/proc.js";

const C = "IRB41449";
const BIG = 1_100; // more than one GCS listing page (1,000) and several Datastore batches
let ds: DatastoreEmulator;
let proxy: CountingProxy;
let emu: Emulator;
let meta: DatastoreMetadata;
let patients: DemoPatient[];

const obj = (e: string, file: string): string => `Collection/${C}/Entity/${e}/${file}`;
const image = (e: string, name: string, props: Record<string, RecordValue>, kind = "Image"): MetadataRecord =>
  ({ key: [{ kind: "Collection", name: C }, { kind: "Entity", name: e }, { kind, name }], properties: { uid: str(name), ...props } });

async function put(records: MetadataRecord[]): Promise<void> {
  for (let i = 0; i < records.length; i += 500) {
    const batch = records.slice(i, i + 500);
    await meta.transact(batch.map((r) => r.key), () => batch);
  }
}

const EXOTIC: Record<string, RecordValue> = {
  big: { type: "integer", value: "9007199254740993" },
  negative: { type: "integer", value: "-9223372036854775808" },
  ratio: { type: "double", value: 0.1 },
  acquired: { type: "timestamp", seconds: 1_700_000_000, nanos: 123_456_000 },
  nothing: { type: "null" },
  flags: { type: "array", value: [{ type: "boolean", value: true }, { type: "string", value: "ü/é \"q\"" }] },
  nested: { type: "entity", value: { z: { type: "integer", value: "1" }, a: { type: "entity", value: { deep: { type: "string", value: "yes" } } } } },
  raw: { type: "blob", value: Buffer.from([0, 1, 2, 255]) },
  where: { type: "geo", latitude: 37.4275, longitude: -122.1697 },
  parent: { type: "key", value: [{ kind: "Collection", name: C }, { kind: "Entity", name: "SUID102" }] },
};

const EXOTIC_TEXT = `{
  "acquired": "2023-11-14T22:13:20.123456Z",
  "big": 9007199254740993,
  "flags": [
    true,
    "ü/é \\"q\\""
  ],
  "negative": -9223372036854775808,
  "nested": {
    "a": {
      "deep": "yes"
    },
    "z": 1
  },
  "nothing": null,
  "parent": ["Collection", "${C}", "Entity", "SUID102"],
  "ratio": 0.1,
  "raw": "AAEC/w==",
  "uid": "${obj("SUID102", "exotic.dcm")}",
  "where": {
    "latitude": 37.4275,
    "longitude": -122.1697
  }
}
`;

beforeAll(async () => {
  ds = await DatastoreEmulator.start();
  proxy = await CountingProxy.start(ds.host);
  meta = new DatastoreMetadata({
    project: ds.project, emulatorHost: ds.host, rpcTimeoutMs: 30_000,
    retry: { deadlineMs: 60_000, initialDelayMs: 100, maxDelayMs: 2_000 }, clock: systemClock, log: silentLogger,
  });
  // Objects the uploader would not make: a big entity, a collision, an object without a record.
  const seed = await tempDir("som-seed");
  const put1 = async (name: string, data: string | Buffer): Promise<void> => {
    await mkdir(join(seed, name, ".."), { recursive: true });
    await writeFile(join(seed, name), data);
  };
  for (let i = 0; i < BIG; i++) await put1(obj("BIG", `img-${String(i).padStart(4, "0")}.dcm`), `big image ${i}\n`);
  await put1(obj("SUID102", "clash.dcm"), "clash image\n");
  await put1(obj("SUID102", "clash.dcm.json"), "{\"real\": \"object\"}\n");
  await put1(obj("SUID102", "exotic.dcm"), "exotic\n");
  await put1(obj("SUID102", "norecord.dcm"), "no record\n");
  await put1(obj("SUID102", "sub/deep.dcm"), "deep\n");
  await put1("notsom/other.txt", "outside the som tree\n");
  emu = await startEmulator({ buckets: { study: seed } });

  // The study itself, published the way users do it.
  patients = await writeDemoStudy(await tempDir("study"), { patients: 2, series: 1, instancesPerSeries: 4, rows: 32, columns: 32 });
  const env = { STORAGE_EMULATOR_HOST: emu.url, ...ds.env };
  for (const p of patients) {
    const r = await som(["upload", "--bucket", "study", "--collection", C, "--entity", p.entity, ...p.files,
      "--metadata", JSON.stringify({ Modality: "CT", AccessionNumber: p.accessionNumber }),
      "--entity-metadata", JSON.stringify({ PatientSex: "F", PatientAge: "061Y", IMAGE_COUNT: 4 }),
      "--collection-metadata", JSON.stringify({ irb: "approved" })], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Published 5 files`);
  }
  await put([
    { key: [{ kind: "Collection", name: "EmptyStudy" }], properties: { uid: str("EmptyStudy"), note: str("records only") } },
    { key: [{ kind: "Collection", name: C }, { kind: "Entity", name: "GHOST" }], properties: { uid: str("GHOST") } },
    { key: [{ kind: "Collection", name: C }, { kind: "Entity", name: "BIG" }], properties: { uid: str("BIG") } },
    image("SUID101", obj("SUID101", "missing.dcm"), {}),
    image("SUID102", obj("SUID102", "clash.dcm"), { Modality: str("MR") }),
    image("SUID102", obj("SUID102", "exotic.dcm"), EXOTIC),
    image("SUID102", obj("SUID102", "sub/deep.dcm"), { depth: { type: "integer", value: "2" } }),
    ...Array.from({ length: BIG }, (_, i) => image("BIG", obj("BIG", `img-${String(i).padStart(4, "0")}.dcm`), { n: { type: "integer", value: String(i) } })),
  ]);
}, 180_000);

afterEach(stopAllMounts);
afterAll(async () => {
  // Each step runs even if one before it failed: no emulator outlives the file.
  await Promise.allSettled([stopAllMounts()]);
  await Promise.allSettled([meta?.close(), proxy?.close(), emu?.close(), ds?.stop()]);
});

const mount = (extra: string[] = []): Promise<TestMount> =>
  TestMount.start("study", emu.url, ["--project", ds.project, ...extra], undefined, { DATASTORE_EMULATOR_HOST: proxy.host });

async function list(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

describe("som layout", () => {
  it("shows collections, entities and files with a sidecar beside each record's subject", async () => {
    const m = await mount();
    expect(m.stderr).toContain("layout: som");
    expect(await list(m.dir)).toEqual(["EmptyStudy", "EmptyStudy.json", C, `${C}.json`]);
    expect(await list(join(m.dir, C))).toEqual(["BIG", "BIG.json", "GHOST", "GHOST.json", "SUID101", "SUID101.json", "SUID102", "SUID102.json"]);
    const p = patients[0]!;
    const names = p.files.map((f) => f.slice(f.lastIndexOf("/") + 1));
    expect(await list(join(m.dir, C, p.entity))).toEqual(names.flatMap((n) => [n, `${n}.json`]).sort());
    for (const f of p.files) {
      expect(await sha256File(join(m.dir, C, p.entity, f.slice(f.lastIndexOf("/") + 1)))).toBe(await sha256File(f));
    }
    // Dotted names: the sidecar is the full name plus .json, never the stem.
    expect(names[0]).toMatch(/^1\.2\.826\..*\.dcm$/);
    await expect(stat(join(m.dir, C, p.entity, "1.json"))).rejects.toMatchObject({ code: "ENOENT" });
    // Objects deeper under an entity are sub-directories, with their sidecars.
    expect(await list(join(m.dir, C, "SUID102", "sub"))).toEqual(["deep.dcm", "deep.dcm.json"]);
  });

  it("writes each record as sorted, indented JSON whose size stat reports", async () => {
    const m = await mount();
    const p = patients[0]!;
    const dir = join(m.dir, C, p.entity);
    const img = p.files[0]!.slice(p.files[0]!.lastIndexOf("/") + 1);
    const sidecars = [join(m.dir, `${C}.json`), join(m.dir, C, `${p.entity}.json`), join(dir, `${img}.json`), join(dir, "report.txt.json")];
    for (const s of sidecars) {
      const text = await readFile(s, "utf8");
      expect((await stat(s)).size).toBe(Buffer.byteLength(text));
      const parsed = JSON.parse(text) as Record<string, unknown>;
      const sorted = Object.fromEntries(Object.keys(parsed).sort().map((k) => [k, parsed[k]]));
      expect(text).toBe(`${JSON.stringify(sorted, null, 2)}\n`);
      expect(parsed.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3,9}Z$/);
      expect(parsed.updated).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3,9}Z$/);
    }
    const col = JSON.parse(await readFile(sidecars[0]!, "utf8")) as Record<string, unknown>;
    expect(Object.keys(col).sort()).toEqual(["created", "irb", "uid", "updated"]);
    expect(col.uid).toBe(C);
    const ent = JSON.parse(await readFile(sidecars[1]!, "utf8")) as Record<string, unknown>;
    expect(ent).toMatchObject({ uid: p.entity, PatientSex: "F", PatientAge: "061Y", IMAGE_COUNT: 4 });

    // Image: uid = object name, storage_* from the upload response, custom fields.
    const rec = JSON.parse(await readFile(sidecars[2]!, "utf8")) as Record<string, string>;
    const name = obj(p.entity, img);
    const live = await (await fetch(`${emu.url}/storage/v1/b/study/o/${encodeURIComponent(name)}`)).json() as Record<string, string>;
    expect(rec).toMatchObject({
      uid: name, Modality: "CT", AccessionNumber: p.accessionNumber,
      storage_bucket: "study", storage_name: name, storage_size: live.size, storage_crc32c: live.crc32c,
      storage_md5Hash: live.md5Hash, storage_etag: live.etag, storage_updated: live.updated, storage_contentType: "application/dicom",
      url: `https://storage.googleapis.com/study/${name}`,
    });
    // The report is a Text record, shown the same way.
    const [textRecord] = (await meta.query({ ancestor: [{ kind: "Collection", name: C }, { kind: "Entity", name: p.entity }] }))
      .filter((r) => r.key[2]?.kind === "Text");
    expect(textRecord?.key[2]).toEqual({ kind: "Text", name: obj(p.entity, "report.txt") });
    expect(JSON.parse(await readFile(sidecars[3]!, "utf8"))).toMatchObject({ uid: obj(p.entity, "report.txt"), storage_contentType: "text/plain" });
  });

  it("renders every Datastore value type faithfully (64-bit integers, microseconds, nested, blobs, keys)", async () => {
    const m = await mount();
    const text = await readFile(join(m.dir, C, "SUID102", "exotic.dcm.json"), "utf8");
    expect(text).toBe(EXOTIC_TEXT);
  });

  it("keeps the union, orphan and collision rules", async () => {
    const m = await mount();
    // Records without objects: empty directories with their sidecars.
    expect(await list(join(m.dir, "EmptyStudy"))).toEqual([]);
    expect(JSON.parse(await readFile(join(m.dir, "EmptyStudy.json"), "utf8"))).toEqual({ note: "records only", uid: "EmptyStudy" });
    expect(await list(join(m.dir, C, "GHOST"))).toEqual([]);
    // An image record without its object shows nothing; an object without a record has no sidecar.
    const s101 = await list(join(m.dir, C, "SUID101"));
    expect(s101.some((n) => n.startsWith("missing.dcm"))).toBe(false);
    const s102 = await list(join(m.dir, C, "SUID102"));
    expect(s102).toContain("norecord.dcm");
    expect(s102).not.toContain("norecord.dcm.json");
    // A real object named like a sidecar wins.
    expect(await readFile(join(m.dir, C, "SUID102", "clash.dcm.json"), "utf8")).toBe("{\"real\": \"object\"}\n");
    // Nothing outside Collection/ in the som layout; all of it in the raw one.
    await expect(stat(join(m.dir, "notsom"))).rejects.toMatchObject({ code: "ENOENT" });
    await m.stop();
    const raw = await mount(["--layout", "raw"]);
    expect(await list(raw.dir)).toEqual(["Collection", "notsom"]);
  });

  it("lists with one Datastore query per directory and a bounded number of GCS listings, nothing per file", async () => {
    // How many RPCs one query for BIG's records takes on this emulator (it answers in batches).
    const probe = new DatastoreMetadata({ project: ds.project, emulatorHost: ds.host, rpcTimeoutMs: 30_000, retry: { deadlineMs: 30_000, initialDelayMs: 100, maxDelayMs: 1_000 }, clock: systemClock, log: silentLogger });
    expect((await probe.query({ ancestor: [{ kind: "Collection", name: C }, { kind: "Entity", name: "BIG" }] })).length).toBe(BIG + 1);
    const bigPages = probe.requests;
    await probe.close();
    expect(bigPages).toBeGreaterThan(1);

    // Without prefetch, so every request below is one a listing asked for.
    const m = await mount(["--no-prefetch", "--metrics-port", "0"]);
    proxy.reset();
    await resetStats(emu.url);
    await readdir(m.dir);
    expect(proxy.count("runQuery")).toBe(1);
    await readdir(join(m.dir, C));
    expect(proxy.count("runQuery")).toBe(2);
    const ls = await run("ls", ["-l", join(m.dir, C, "BIG")]);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout.trim().split("\n").length).toBe(1 + 2 * BIG); // "total" + files + sidecars
    expect(proxy.count("runQuery")).toBe(2 + bigPages);
    const gcs = await emulatorStats(emu.url);
    expect(gcs.list).toBeGreaterThanOrEqual(1 + 1 + 2); // root, collection, and BIG: more than one page
    expect(gcs.list).toBeLessThanOrEqual(1 + 1 + 1 + 16); // ... its first page, then at most 16 key ranges in parallel
    const sidecar = JSON.parse(await readFile(join(m.dir, C, "BIG", "img-1099.dcm.json"), "utf8")) as { n: number };
    expect(sidecar.n).toBe(1099);
    const find = await run("find", [join(m.dir, C, "BIG"), "-type", "f"]);
    expect(find.stdout.trim().split("\n").length).toBe(2 * BIG);
    expect(proxy.total()).toBe(2 + bigPages); // no lookups, no per-file queries
    expect((await emulatorStats(emu.url)).metadata).toBe(0);
    // Metrics count the three queries (however many pages), their records, and the layout.
    const s = await Scrape.of(metricsUrl(m));
    expect(s.sum("som_datastore_queries_total", { status: "ok" })).toBe(3);
    expect(s.sum("som_datastore_queries_total")).toBe(3);
    expect(s.sum("som_datastore_records_total")).toBeGreaterThanOrEqual(BIG + 1);
    expect(s.sum("som_datastore_query_duration_seconds_count")).toBe(3);
    expect(s.sum("som_mount_info", { layout: "som" })).toBe(1);
  });

  it("with prefetch, lists a few sub-directories ahead: still one query per directory", async () => {
    const m = await mount();
    proxy.reset();
    const settle = async (): Promise<void> => {
      let last = -1;
      for (let i = 0; i < 50 && proxy.total() !== last; i++) {
        last = proxy.total();
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    await readdir(m.dir);
    await settle();
    // The root's query, then one Entity query for each of its two collections (a small fan-out).
    const kinds = (): string[] => proxy.queries().map((q) => q.kind?.[0]?.name ?? "(kindless)");
    expect(kinds()).toEqual(["Collection", "Entity", "Entity"]);
    proxy.reset();
    expect((await list(join(m.dir, C))).length).toBe(8);
    await settle();
    // Listing the collection asked nothing for itself (it was listed ahead); its four entities
    // are listed ahead in turn, one kindless ancestor query each.
    expect(kinds()).toEqual(["(kindless)", "(kindless)", "(kindless)", "(kindless)"]);
  });

  it("copies an entity with cp -r and rsync, sidecars included, and a second rsync moves nothing", async () => {
    const m = await mount();
    const dest = await tempDir("som-copy");
    const cp = await run("cp", ["-r", join(m.dir, C, "SUID102"), join(dest, "cp")]);
    expect(cp.code, cp.stderr).toBe(0);
    const copied = await treeHashes(join(dest, "cp"));
    expect([...copied.keys()].sort()).toEqual([
      "clash.dcm", "clash.dcm.json", "exotic.dcm", "exotic.dcm.json", "norecord.dcm",
      ...patients[1]!.files.map((f) => f.slice(f.lastIndexOf("/") + 1)).flatMap((n) => [n, `${n}.json`]),
      "sub/deep.dcm", "sub/deep.dcm.json",
    ].sort());
    expect(copied.get("exotic.dcm.json")).toBe(sha256(EXOTIC_TEXT));
    for (const f of patients[1]!.files) expect(copied.get(f.slice(f.lastIndexOf("/") + 1))).toBe(await sha256File(f));
    const first = await run("rsync", ["-a", "--stats", `${join(m.dir, C, "SUID102")}/`, join(dest, "rs")]);
    expect(first.code, first.stderr).toBe(0);
    expect(await treeHashes(join(dest, "rs"))).toEqual(copied);
    const again = await run("rsync", ["-a", "--stats", `${join(m.dir, C, "SUID102")}/`, join(dest, "rs")]);
    expect(again.stdout).toMatch(/Number of regular files transferred: 0/);
  });
});
