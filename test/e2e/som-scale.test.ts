// The som layout at scale through a real mount, with the official Datastore
// emulator: a collection of 5,000 entities and an entity of 3,000 images
// list completely, each listing being one Datastore query followed page by
// page (cursor) while the GCS listing runs beside it. (The full 100,000 /
// 10,000 is shown on the layout itself in test/unit/som-scale.test.ts: this
// emulator takes minutes to store and query that many records.)
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Emulator } from "../../src/emulator/server.js";
import { SyntheticTable, type SyntheticSpec } from "../../src/emulator/synthetic.js";
import { str, type MetadataRecord } from "../../src/metadata/record.js";
import { CountingProxy, DatastoreEmulator } from "../helpers/datastore.js";
import { startEmulator } from "../helpers/emulator.js";
import { TestMount, stopAllMounts } from "../helpers/mount.js";
import { run } from "../helpers/proc.js";

const WIDE = 5_000;
const DEEP = 3_000;
const SPECS: SyntheticSpec[] = [
  { prefix: "Collection/WIDE/Entity/", folders: WIDE, filesPerFolder: 1, naming: "uid", objectSize: 8, seed: 3 },
  { prefix: "Collection/DEEP/Entity/", folders: 1, filesPerFolder: DEEP, naming: "uid", objectSize: 8, seed: 4 },
];
const table = new SyntheticTable("scale", SPECS);
const allNames = Array.from({ length: table.size }, (_, i) => table.nameAt(i));
const wideEntities = allNames.filter((n) => n.startsWith("Collection/WIDE/")).map((n) => n.split("/")[3]!);
const deepObjects = allNames.filter((n) => n.startsWith("Collection/DEEP/"));
const deepEntity = deepObjects[0]!.split("/")[3]!;

let ds: DatastoreEmulator;
let proxy: CountingProxy;
let emu: Emulator;

async function faults(body: Record<string, unknown>): Promise<{ holding: number }> {
  return (await (await fetch(`${emu.url}/_emulator/faults`, { method: "POST", body: JSON.stringify(body) })).json()) as { holding: number };
}

const mount = (): Promise<TestMount> =>
  TestMount.start("scale", emu.url, ["--project", ds.project, "--no-prefetch"], undefined, { DATASTORE_EMULATOR_HOST: proxy.host });

beforeAll(async () => {
  ds = await DatastoreEmulator.start("som-scale");
  proxy = await CountingProxy.start(ds.host);
  emu = await startEmulator({ synthetic: { scale: SPECS } });
  const records: MetadataRecord[] = [
    { key: [{ kind: "Collection", name: "WIDE" }], properties: { uid: str("WIDE") } },
    { key: [{ kind: "Collection", name: "DEEP" }], properties: { uid: str("DEEP") } },
    { key: [{ kind: "Collection", name: "DEEP" }, { kind: "Entity", name: deepEntity }], properties: { uid: str(deepEntity) } },
    ...wideEntities.map((e): MetadataRecord => ({ key: [{ kind: "Collection", name: "WIDE" }, { kind: "Entity", name: e }], properties: { uid: str(e) } })),
    ...deepObjects.map((o): MetadataRecord => ({
      key: [{ kind: "Collection", name: "DEEP" }, { kind: "Entity", name: deepEntity }, { kind: "Image", name: o }], properties: { uid: str(o), Modality: str("SM") },
    })),
  ];
  await ds.putMany(records);
}, 120_000);

afterEach(async () => {
  await faults({ holdRangeLists: false }).catch(() => undefined);
  await stopAllMounts();
});
afterAll(async () => {
  await Promise.allSettled([proxy?.close(), emu?.close()]);
  await ds?.stop();
});

describe("the som layout at scale", () => {
  it(`lists a collection of ${WIDE.toLocaleString("en-US")} entities completely: one query, followed page by page`, async () => {
    const m = await mount();
    proxy.reset();
    const r = await run("bash", ["-c", `ls -f '${join(m.dir, "WIDE")}'`]);
    expect(r.code, r.stderr).toBe(0);
    const names = r.stdout.trim().split("\n").filter((n) => n !== "." && n !== "..");
    expect(names).toHaveLength(2 * WIDE);
    expect(new Set(names)).toEqual(new Set(wideEntities.flatMap((e) => [e, `${e}.json`])));
    // One query for the collection's entities (plus the root's and the lookup's), its pages followed by cursor.
    const entityQueries = proxy.queries().filter((q) => q.kind?.[0]?.name === "Entity");
    expect(entityQueries).toHaveLength(1);
    const continuations = proxy.bodies.filter((b) => b.method === "runQuery" && b.body.includes("startCursor"));
    expect(continuations.length).toBeGreaterThanOrEqual(Math.floor(WIDE / 300) - 1);
    const sidecar = JSON.parse(await readFile(join(m.dir, "WIDE", `${wideEntities[4321]}.json`), "utf8")) as { uid: string };
    expect(sidecar.uid).toBe(wideEntities[4321]);
  });

  it(`lists an entity of ${DEEP.toLocaleString("en-US")} images with a sidecar for each`, async () => {
    const m = await mount();
    const r = await run("bash", ["-c", `ls -f '${join(m.dir, "DEEP", deepEntity)}' | grep -c '\\.json$'; ls -f '${join(m.dir, "DEEP", deepEntity)}' | wc -l`]);
    expect(r.stdout.trim().split("\n").map(Number)).toEqual([DEEP, 2 * DEEP + 2]);
    const last = deepObjects[DEEP - 1]!.split("/").pop()!;
    const sidecar = JSON.parse(await readFile(join(m.dir, "DEEP", deepEntity, `${last}.json`), "utf8")) as { uid: string; Modality: string };
    expect(sidecar).toEqual({ uid: deepObjects[DEEP - 1], Modality: "SM" });
  });

  it("runs the Datastore query beside the GCS listing, not after it", async () => {
    const m = await mount();
    await run("ls", [m.dir]); // the root, so WIDE's lookup is cached
    proxy.reset();
    await faults({ holdRangeLists: true });
    const listing = run("bash", ["-c", `ls -f '${join(m.dir, "WIDE")}' | wc -l`]);
    // While the GCS listing is held after its first page, the entity query is already being paged.
    await proxy.waitFor(() => proxy.bodies.filter((b) => b.method === "runQuery" && b.body.includes("startCursor")).length >= 3);
    expect((await faults({})).holding).toBeGreaterThan(0);
    expect(proxy.queries().filter((q) => q.kind?.[0]?.name === "Entity")).toHaveLength(1);
    expect(proxy.bodies.filter((b) => b.method === "runQuery" && b.body.includes("startCursor")).length).toBeGreaterThanOrEqual(3);
    await faults({ holdRangeLists: false });
    expect(Number((await listing).stdout.trim())).toBe(2 * WIDE + 2);
  });
});

