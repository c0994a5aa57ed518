// Through a mount, with the emulator failing 20% of requests with 503 and
// cutting 20% of bodies mid-stream: every byte still arrives intact, because
// reads are retried and small objects are verified against their CRC32C.
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { writeDemoData } from "../../src/dicom/demo-data.js";
import type { Emulator } from "../../src/emulator/server.js";
import { emulatorStats, startEmulator } from "../helpers/emulator.js";
import { tempDir, treeHashes, writeRandomFile } from "../helpers/files.js";
import { TestMount, stopAllMounts } from "../helpers/mount.js";
import { run } from "../helpers/proc.js";

let emu: Emulator;
let seed: string;

beforeAll(async () => {
  seed = await tempDir("faults");
  await writeDemoData(join(seed, "idc"), { series: 2, instancesPerSeries: 10, rows: 128, columns: 128 });
  await writeRandomFile(join(seed, "big.bin"), 40 * 2 ** 20);
  emu = await startEmulator({ buckets: { flaky: seed } });
});

afterAll(async () => {
  await stopAllMounts();
  await emu?.close();
});

it("cp -r through a mount of a flaky endpoint is byte-identical", async () => {
  const m = await TestMount.start("flaky", emu.url);
  await fetch(`${emu.url}/_emulator/faults`, { method: "POST", body: JSON.stringify({ errorRate: 0.2, cutRate: 0.2, seed: 7 }) });
  const dest = await tempDir("faults-dest");
  const r = await run("cp", ["-r", `${m.dir}/.`, dest]);
  expect(r.code, r.stderr).toBe(0);
  expect(await treeHashes(dest)).toEqual(await treeHashes(seed));
  const s = await emulatorStats(emu.url);
  expect(s.injected503).toBeGreaterThan(0);
  expect(s.cut).toBeGreaterThan(0);
});
