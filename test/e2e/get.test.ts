// som get against both emulators: the default and --query-images gets, the
// same tree as cp -r from a mount, reruns, a killed run resumed, hostile
// object names, an unknown suid, missing objects and injected failures.
import { spawn } from "node:child_process";
import { readdir, readFile, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { writeDemoStudy, type DemoPatient } from "../../src/dicom/demo-data.js";
import type { Emulator } from "../../src/emulator/server.js";
import { DatastoreMetadata } from "../../src/metadata/datastore/datastore-metadata.js";
import { str } from "../../src/metadata/record.js";
import { systemClock } from "../../src/util/clock.js";
import { silentLogger } from "../../src/util/log.js";
import { DatastoreEmulator } from "../helpers/datastore.js";
import { emulatorStats, resetStats, startEmulator } from "../helpers/emulator.js";
import { sha256File, tempDir, treeHashes, writeRandomFile } from "../helpers/files.js";
import { TestMount, stopAllMounts } from "../helpers/mount.js";
import { SOM, run, som, waitExit } from "../helpers/proc.js";

const C = "IRB777";
let ds: DatastoreEmulator;
let emu: Emulator;
let env: NodeJS.ProcessEnv;
let patients: DemoPatient[];
let volume: string;

async function putObject(name: string, body: string): Promise<void> {
  const r = await fetch(`${emu.url}/upload/storage/v1/b/study/o?uploadType=media&name=${encodeURIComponent(name)}`, { method: "POST", body });
  expect(r.status).toBe(200);
}

async function setFaults(f: Record<string, number>): Promise<void> {
  await fetch(`${emu.url}/_emulator/faults`, { method: "POST", body: JSON.stringify(f) });
}

const get = (out: string, suid: string, extra: string[] = []): ReturnType<typeof som> =>
  som(["get", "--outfolder", out, "--project", ds.project, "--suid", suid, "--bucket", "study", "--collection", C, ...extra], env);

beforeAll(async () => {
  ds = await DatastoreEmulator.start();
  emu = await startEmulator({ buckets: { study: undefined } });
  env = { STORAGE_EMULATOR_HOST: emu.url, DATASTORE_EMULATOR_HOST: ds.host, DATASTORE_PROJECT_ID: ds.project };
  const local = await tempDir("get-study");
  patients = await writeDemoStudy(local, { patients: 4, series: 1, instancesPerSeries: 6, rows: 64, columns: 64 });
  volume = join(local, "SUID101", "volume.nii");
  await writeRandomFile(volume, 40 * 2 ** 20 + 12345); // fetched as parallel ranged parts
  patients[0]!.files.push(volume);
  for (const p of patients) {
    const r = await som(["upload", "--bucket", "study", "--collection", C, "--entity", p.entity, ...p.files,
      "--metadata", JSON.stringify({ Modality: "CT", AccessionNumber: p.accessionNumber })], env);
    expect(r.code, r.stderr).toBe(0);
  }
  // SUID103: a record whose object is gone. SUID104: objects no local file may be named after.
  const meta = new DatastoreMetadata({ project: ds.project, emulatorHost: ds.host, rpcTimeoutMs: 30_000, retry: { deadlineMs: 30_000, initialDelayMs: 100, maxDelayMs: 1_000 }, clock: systemClock, log: silentLogger });
  const gone = `Collection/${C}/Entity/SUID103/gone.dcm`;
  const key = [{ kind: "Collection", name: C }, { kind: "Entity", name: "SUID103" }, { kind: "Image", name: gone }];
  await meta.transact([key], () => [{ key, properties: { uid: str(gone) } }]);
  await meta.close();
  for (const hostile of ["../../../escape.txt", "bad\u0001name.dcm", "a//b.dcm", "..", "sub/../../up.dcm"]) {
    await putObject(`Collection/${C}/Entity/SUID104/${hostile}`, "hostile\n");
  }
}, 180_000);

afterEach(async () => {
  await stopAllMounts();
  await setFaults({ latencyMs: 0, bandwidth: 0, errorRate: 0, cutRate: 0 });
});
afterAll(async () => {
  await Promise.allSettled([stopAllMounts()]);
  await Promise.allSettled([emu?.close(), ds?.stop()]);
});

describe("som get", () => {
  it("fetches an entity's images and metadata: the tree and bytes cp -r from the mount gives", async () => {
    const out = await tempDir("get-out");
    await resetStats(emu.url);
    const r = await get(out, "SUID101");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Collecting available images...\nFound 8 images for suid SUID101 in collection IRB777\n/);
    expect(r.stdout).toMatch(/Downloaded 8 files \(.*\) in .* s/);
    const p = patients[0]!;
    const got = await treeHashes(join(out, C, "SUID101"));
    for (const f of p.files) expect(got.get(basename(f))).toBe(await sha256File(f));
    expect([...got.keys()].sort()).toEqual(p.files.map((f) => basename(f)).flatMap((n) => [n, `${n}.json`]).sort());
    expect((await emulatorStats(emu.url)).media).toBeGreaterThanOrEqual(7 + 6); // 7 whole files + the volume in 8 MiB parts

    const m = await TestMount.start("study", emu.url, ["--project", ds.project], undefined, { DATASTORE_EMULATOR_HOST: ds.host });
    const copy = await tempDir("get-cp");
    const cp = await run("cp", ["-r", join(m.dir, C, "SUID101"), join(copy, "SUID101")]);
    expect(cp.code, cp.stderr).toBe(0);
    expect(got).toEqual(await treeHashes(join(copy, "SUID101")));
    expect(await readFile(join(out, C, "SUID101.json"), "utf8")).toBe(await readFile(join(m.dir, C, "SUID101.json"), "utf8"));

    // A rerun finds everything complete and fetches no bytes.
    await resetStats(emu.url);
    const again = await get(out, "SUID101");
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain("Downloaded 0 files");
    expect(again.stdout).toContain("8 already complete");
    expect((await emulatorStats(emu.url)).media).toBe(0);
    const quiet = await get(out, "SUID101", ["--quiet"]);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stdout + quiet.stderr).toBe("");
  });

  it("--billing-project reads a requester-pays bucket, which refuses som get without it", async () => {
    const rp = (enabled: boolean): Promise<Response> => fetch(`${emu.url}/_emulator/requester-pays`, { method: "POST", body: JSON.stringify({ bucket: "study", enabled }) });
    await rp(true);
    try {
      const refused = await get(await tempDir("get-rp-no"), "SUID102");
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/requester pays bucket but no user project/);
      const out = await tempDir("get-rp");
      await resetStats(emu.url);
      const r = await get(out, "SUID102", ["--billing-project", "my-lab-123"]);
      expect(r.code, r.stderr).toBe(0);
      const p = patients[1]!;
      const got = await treeHashes(join(out, C, "SUID102"));
      for (const f of p.files) expect(got.get(basename(f))).toBe(await sha256File(f));
      const s = await emulatorStats(emu.url);
      expect(s.media).toBeGreaterThanOrEqual(p.files.length);
      expect(s.unbilled).toBe(0);
    } finally {
      await rp(false);
    }
  });

  it("--query-images fetches the Image records with that AccessionNumber in the collection", async () => {
    const out = await tempDir("get-acc");
    const p = patients[1]!;
    const r = await get(out, p.accessionNumber, ["--query-images"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Found 6 images for suid ${p.accessionNumber} in collection ${C}`);
    const images = p.files.filter((f) => f.endsWith(".dcm"));
    const got = await treeHashes(join(out, C, p.entity));
    expect([...got.keys()].sort()).toEqual(images.map((f) => basename(f)).flatMap((n) => [n, `${n}.json`]).sort());
    for (const f of images) expect(got.get(basename(f))).toBe(await sha256File(f));
    expect(await readdir(join(out, C))).toEqual([p.entity, `${p.entity}.json`].sort());
  });

  it("says so in one line when nothing matches", async () => {
    const out = await tempDir("get-none");
    const r = await get(out, "NOPE");
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`som: No entity with uid NOPE in collection ${C}\n`);
    const q = await get(out, "NOPE", ["--query-images"]);
    expect(q.code).toBe(1);
    expect(q.stderr).toBe(`som: No image with AccessionNumber NOPE in collection ${C}\n`);
    expect(await readdir(out)).toEqual([]);
  });

  it("resumes a run killed half-way without ever leaving a truncated file under its final name", async () => {
    const out = await tempDir("get-kill");
    await setFaults({ latencyMs: 20, bandwidth: 4 * 2 ** 20 });
    const child = spawn(SOM, ["get", "--outfolder", out, "--project", ds.project, "--suid", "SUID101", "--bucket", "study", "--collection", C, "--jobs", "2"], {
      env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"],
    });
    const dir = join(out, C, "SUID101");
    const deadline = Date.now() + 30_000;
    // Kill once some images are done and the big volume is partly written.
    for (;;) {
      const names = await readdir(dir).catch(() => [] as string[]);
      const partial = await stat(join(dir, ".volume.nii.som-partial")).catch(() => undefined);
      if (names.filter((n) => n.endsWith(".dcm")).length >= 2 && partial && partial.size > 0) break;
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGKILL");
    await waitExit(child);
    const p = patients[0]!;
    const before = await readdir(dir);
    expect(before).not.toContain("volume.nii");
    for (const n of before.filter((x) => !x.startsWith(".") && !x.endsWith(".json"))) {
      expect(await sha256File(join(dir, n))).toBe(await sha256File(p.files.find((f) => basename(f) === n)!));
    }
    const completeBefore = before.filter((x) => !x.startsWith(".") && !x.endsWith(".json")).length;
    expect(completeBefore).toBeGreaterThanOrEqual(2);
    expect(completeBefore).toBeLessThan(8);

    await setFaults({ latencyMs: 0, bandwidth: 0 });
    await resetStats(emu.url);
    const r = await get(out, "SUID101");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${completeBefore} already complete`);
    const stats = await emulatorStats(emu.url);
    expect(stats.media).toBe(8 - completeBefore - 1 + 6); // the rest, the volume in six parts
    const got = await treeHashes(dir);
    for (const f of p.files) expect(got.get(basename(f))).toBe(await sha256File(f));
    expect((await readdir(dir)).some((n) => n.endsWith(".som-partial"))).toBe(false);
  });

  it("refuses object names that would land outside the output folder, and keeps the rest", async () => {
    const root = await tempDir("get-hostile");
    const out = join(root, "a", "b", "out");
    const r = await get(out, "SUID104");
    expect(r.code).toBe(1);
    for (const n of ["../../../escape.txt", "bad\\u0001name.dcm", "a//b.dcm", "sub/../../up.dcm"]) {
      expect(r.stderr).toContain(`gs://study/Collection/${C}/Entity/SUID104/${n}: refused, not written`);
    }
    expect(r.stderr).not.toContain("\u0001"); // the control character itself never reaches the terminal
    expect(r.stderr).toMatch(/refused, not written: it has a "\.\." part, so it would land outside/);
    expect(r.stderr).toMatch(/refused, not written: it contains control characters/);
    const everything = await run("find", [root]);
    expect(everything.stdout).not.toMatch(/escape\.txt|up\.dcm|name\.dcm|b\.dcm/);
    const p = patients[3]!;
    const got = await treeHashes(join(out, C, "SUID104"));
    for (const f of p.files) expect(got.get(basename(f))).toBe(await sha256File(f));
  });

  it("reports a file that can't be fetched at the end with a non-zero exit, keeping the others", async () => {
    const out = await tempDir("get-missing");
    const r = await get(out, "SUID103");
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("Found 8 images for suid SUID103");
    expect(r.stderr).toContain(`gs://study/Collection/${C}/Entity/SUID103/gone.dcm: a record names it, but the bucket has no such object`);
    const got = await treeHashes(join(out, C, "SUID103"));
    for (const f of patients[2]!.files) expect(got.get(basename(f))).toBe(await sha256File(f));
  });

  it("ends byte-identical while the emulator fails 20% of requests and cuts 20% of bodies", async () => {
    const out = await tempDir("get-faults");
    await resetStats(emu.url);
    await setFaults({ errorRate: 0.2, cutRate: 0.2, seed: 7 });
    const r = await get(out, "SUID101");
    expect(r.code, r.stderr).toBe(0);
    const stats = await emulatorStats(emu.url);
    expect(stats.injected503).toBeGreaterThan(0);
    expect(stats.cut).toBeGreaterThan(0);
    const got = await treeHashes(join(out, C, "SUID101"));
    for (const f of patients[0]!.files) expect(got.get(basename(f))).toBe(await sha256File(f));
  });
});
