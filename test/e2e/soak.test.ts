// The soak, one minute of it (npm run bench runs ten): 32 readers through a
// mount while the service goes clean, flaky (5% 503s, 2% cut bodies), 50%
// 503s, and slow, in turns. Not one wrong byte, no failed read, memory
// bounded; then SIGTERM with readers still reading exits 0 and leaves
// nothing mounted.
import { createHash, randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { soak, soakPhases, type SoakFile } from "../../src/bench/soak.js";
import type { Emulator } from "../../src/emulator/server.js";
import { fuseMountAt } from "../../src/fuse/mount-table.js";
import { startEmulator } from "../helpers/emulator.js";
import { tempDir } from "../helpers/files.js";
import { TestMount, stopAllMounts } from "../helpers/mount.js";
import { waitExit } from "../helpers/proc.js";

const CACHE_MIB = 64;
let emu: Emulator;
const files: SoakFile[] = [];

beforeAll(async () => {
  const seed = await tempDir("soak");
  await mkdir(join(seed, "s"));
  // 100 files, ~150 MB: mostly small, some medium, four big enough for ranged blocks.
  const sizes = [
    ...Array.from({ length: 80 }, (_, i) => 1024 + ((i * 7919) % 1_000_000)),
    ...Array.from({ length: 16 }, (_, i) => 2 * 2 ** 20 + i * 250_000),
    ...Array.from({ length: 4 }, () => 12 * 2 ** 20),
  ];
  for (const [i, size] of sizes.entries()) {
    const data = randomBytes(size);
    const path = `s/f${String(i).padStart(3, "0")}.bin`;
    await writeFile(join(seed, path), data);
    files.push({ path, size, sha256: createHash("sha256").update(data).digest("hex") });
  }
  emu = await startEmulator({ buckets: { soak: seed } });
});
afterAll(async () => {
  await stopAllMounts();
  await emu?.close();
});

describe("soak (one minute)", () => {
  it("32 readers under switching faults: no wrong byte, no failed read, memory bounded; SIGTERM mid-read exits 0, nothing left mounted", async () => {
    const m = await TestMount.start("soak", emu.url, ["--cache-size", `${CACHE_MIB}MiB`]);
    const r = await soak({
      mountDir: m.dir, daemonPid: m.child.pid!, files, readers: 32, durationMs: 60_000, phases: soakPhases(15_000),
      setFaults: async (f) => emu.faults.update(f), sampleEveryMs: 1_000, warmupFraction: 0.25,
    });
    console.log(`soak: ${r.reads} reads (${(r.bytes / 2 ** 20).toFixed(0)} MiB), ${r.wrong} wrong, ${r.errors} failed; RSS peak ${r.peakMiB.toFixed(0)} MiB, slope ${r.slopeMiBPerMinute.toFixed(1)} MiB/min; by phase ${JSON.stringify(r.readsByPhase)}`);
    expect(r.wrong, r.wrongSamples.join("\n")).toBe(0);
    expect(r.errors, r.errorSamples.join("\n")).toBe(0);
    expect(r.reads).toBeGreaterThan(500);
    expect(Object.keys(r.readsByPhase)).toHaveLength(4); // every phase was read through
    expect(emu.stats.snapshot().injected503).toBeGreaterThan(50);
    expect(emu.stats.snapshot().cut).toBeGreaterThan(0);
    // Measured: ~227 MiB with 32 readers (their reads in flight are outside --cache-size).
    expect(r.peakMiB).toBeLessThan(CACHE_MIB + 200);

    // SIGTERM while 8 readers are mid-read: exit 0, nothing mounted.
    const mediaBefore = emu.stats.snapshot().media;
    const readers = Array.from({ length: 8 }, (_, i) => soak({
      mountDir: m.dir, daemonPid: m.child.pid!, files: [files[96 + (i % 4)]!], readers: 1, durationMs: 5_000, phases: soakPhases(5_000).slice(3),
      setFaults: async (f) => emu.faults.update(f), sampleEveryMs: 5_000, warmupFraction: 1,
    }));
    // Under way: their requests reach the emulator (each read takes seconds at 200 ms per request).
    while (emu.stats.snapshot().media < mediaBefore + 8) await new Promise((res) => setImmediate(res));
    m.child.kill("SIGTERM");
    expect(await waitExit(m.child, 20_000)).toBe(0);
    expect(await fuseMountAt(m.dir)).toBeUndefined();
    await Promise.all(readers);
    await m.stop();
  }, 120_000);
});
