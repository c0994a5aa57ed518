// What a mount does when Datastore hangs or goes away: images keep working,
// sidecars disappear (and come back when Datastore does), nothing hangs.
import { readFile, readdir } from "node:fs/promises";
import { basename, join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { writeDemoStudy, type DemoPatient } from "../../src/dicom/demo-data.js";
import type { Emulator } from "../../src/emulator/server.js";
import { DatastoreEmulator } from "../helpers/datastore.js";
import { startEmulator } from "../helpers/emulator.js";
import { sha256File, tempDir, treeHashes } from "../helpers/files.js";
import { TestMount, stopAllMounts } from "../helpers/mount.js";
import { run, som } from "../helpers/proc.js";

const C = "IRB9";
let ds: DatastoreEmulator;
let emu: Emulator;
let patient: DemoPatient;

beforeAll(async () => {
  ds = await DatastoreEmulator.start();
  emu = await startEmulator({ buckets: { study: undefined } });
  patient = (await writeDemoStudy(await tempDir("outage-study"), { patients: 1, series: 1, instancesPerSeries: 3, rows: 32, columns: 32 }))[0]!;
  const r = await som(["upload", "--bucket", "study", "--collection", C, "--entity", patient!.entity, ...patient!.files], { STORAGE_EMULATOR_HOST: emu.url, ...ds.env });
  expect(r.code, r.stderr).toBe(0);
}, 120_000);

afterEach(stopAllMounts);
afterAll(async () => {
  // Each step runs even if one before it failed: no emulator outlives the file.
  await Promise.allSettled([stopAllMounts()]);
  await Promise.allSettled([emu?.close(), ds?.stop()]);
});

const TTL_S = 1;
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, TTL_S * 1000 + 600)); // metadata TTL + kernel attr timeout

async function timed<T>(f: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t = performance.now();
  const value = await f();
  return { value, ms: performance.now() - t };
}

describe("Datastore outage while mounted", () => {
  it("keeps images readable, hides sidecars while Datastore hangs or is gone, and never hangs", async () => {
    const m = await TestMount.start("study", emu.url, ["--project", ds.project, "--metadata-ttl", String(TTL_S)], undefined, ds.env);
    const dir = join(m.dir, C, patient.entity);
    const names = patient.files.map((f) => basename(f));
    const withSidecars = names.flatMap((n) => [n, `${n}.json`]).sort();
    expect((await readdir(dir)).sort()).toEqual(withSidecars);
    const image = join(dir, names[0]!);
    const want = await sha256File(patient.files[0]!);

    // 1. Hung: the emulator accepts connections but answers nothing.
    ds.pause();
    try {
      await settle();
      const hung = await timed(() => readdir(dir));
      expect(hung.value.sort()).toEqual(names.sort()); // files, no sidecars
      // A listing waits at most 5 s for a Datastore that sends nothing, far inside the 45 s FUSE limit.
      expect(hung.ms).toBeLessThan(15_000);
      expect(await sha256File(image)).toBe(want);
      await settle();
      // Inside the back-off nobody waits on Datastore again.
      const fast = await timed(() => readdir(dir));
      expect(fast.value.sort()).toEqual(names.sort());
      expect(fast.ms).toBeLessThan(2_000);
      await expect(readFile(join(dir, `${names[0]}.json`))).rejects.toMatchObject({ code: "ENOENT" });
    } finally {
      ds.resume();
    }
    expect(m.stderr).toMatch(/warn: Datastore (has sent nothing for 5 s|is failing); listing without sidecar \.json files until it answers/);

    // 2. Back: sidecars return once the back-off (10 s) has passed.
    const back = Date.now() + 30_000;
    while (!(await readdir(dir)).includes(`${names[0]}.json`)) {
      expect(Date.now()).toBeLessThan(back);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(m.stderr).toContain("Datastore answers again");
    expect(JSON.parse(await readFile(join(dir, `${names[0]}.json`), "utf8"))).toMatchObject({ uid: `Collection/${C}/Entity/${patient.entity}/${names[0]}` });

    // 3. Gone: the emulator process is stopped for good; connections are refused.
    await ds.stop();
    await settle();
    const gone = await timed(() => readdir(dir));
    expect(gone.value.sort()).toEqual(names.sort());
    expect(gone.ms).toBeLessThan(5_000);
    const dest = await tempDir("outage-copy");
    const cp = await run("cp", ["-r", dir, join(dest, "e")]);
    expect(cp.code, cp.stderr).toBe(0);
    const copied = await treeHashes(join(dest, "e"));
    expect([...copied.keys()].sort()).toEqual(names.sort());
    for (const f of patient.files) expect(copied.get(basename(f))).toBe(await sha256File(f));
    // The root and collection listings are served from GCS alone.
    expect(await readdir(m.dir)).toEqual([C]);
    await m.stop();
    expect(m.child.exitCode).toBe(0);
  });
});
