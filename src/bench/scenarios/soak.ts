// The soak in `npm run bench`: ten minutes of 32 readers through a mount
// while the emulator switches between clean, flaky (5% 503s, 2% cut
// bodies), 50% 503s and slow (200 ms) every 30 s. Reported: reads, wrong
// bytes (must be none), failed reads, peak RSS and its slope after warm-up.
import { createHash, randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { EmulatorProcess, clean, scratch } from "../harness.js";
import { somMount } from "../mounts.js";
import type { Measurement, Target } from "../report.js";
import { soak, soakPhases, type SoakFile } from "../soak.js";

export interface SoakContext {
  minutes: number;
  cacheSize: string;
  log: (s: string) => void;
}

export async function benchSoak(ctx: SoakContext): Promise<{ measurements: Measurement[]; targets: Target[]; summary: string }> {
  const root = await scratch("soak");
  const files: SoakFile[] = [];
  // 600 files, ~350 MB: a few hundred KB each, some megabytes, eight big enough for ranged blocks.
  const sizes = [
    ...Array.from({ length: 560 }, (_, i) => 1024 + ((i * 7919) % 700_000)),
    ...Array.from({ length: 32 }, (_, i) => 2 * 2 ** 20 + i * 150_000),
    ...Array.from({ length: 8 }, () => 12 * 2 ** 20),
  ];
  await mkdir(join(root, "s"), { recursive: true });
  for (const [i, size] of sizes.entries()) {
    const data = randomBytes(size);
    const path = `s/f${String(i).padStart(3, "0")}.bin`;
    await writeFile(join(root, path), data);
    files.push({ path, size, sha256: createHash("sha256").update(data).digest("hex") });
  }
  const emu = await EmulatorProcess.start([`soak=${root}`]);
  const m = await somMount(emu, "soak", ["--cache-size", ctx.cacheSize]);
  try {
    const r = await soak({
      mountDir: m.dir, daemonPid: m.pid, files, readers: 32, durationMs: ctx.minutes * 60_000, phases: soakPhases(30_000),
      setFaults: (f) => emu.faults(f), sampleEveryMs: 5_000, warmupFraction: 0.2, log: ctx.log,
    });
    const stats = await emu.stats();
    const scenario = `soak: ${ctx.minutes} min, 32 readers, faults switching every 30 s (--cache-size ${ctx.cacheSize})`;
    const cacheMiB = Number(/^(\d+)MiB$/.exec(ctx.cacheSize)?.[1] ?? "0");
    const summary = `${r.reads.toLocaleString("en-US")} reads (${(r.bytes / 2 ** 30).toFixed(1)} GiB), ${r.wrong} with wrong bytes, ${r.errors} failed` +
      `${r.errorSamples.length ? ` (${r.errorSamples.join("; ")})` : ""}; ${stats.injected503} injected 503s, ${stats.cut} cut bodies; ` +
      `RSS peak ${r.peakMiB.toFixed(0)} MiB, slope after warm-up ${r.slopeMiBPerMinute.toFixed(2)} MiB/min; reads by phase ${JSON.stringify(r.readsByPhase)}.`;
    ctx.log(summary);
    return {
      summary,
      measurements: [
        { scenario, tool: "som reads", runs: [r.reads], unit: "requests" },
        { scenario, tool: "som daemon peak RSS", runs: [r.peakMiB], unit: "MiB" },
        { scenario, tool: "som daemon RSS slope after warm-up (MiB/min)", runs: [r.slopeMiBPerMinute], unit: "MiB" },
      ],
      targets: [
        { scenario, text: "reads with wrong bytes or failed: 0 (count)", ratio: r.wrong + r.errors, limit: 0 },
        { scenario, text: "RSS flat after warm-up: |slope| ≤ 1 MiB/min", ratio: Math.abs(r.slopeMiBPerMinute), limit: 1 },
        ...(cacheMiB ? [{ scenario, text: `peak RSS ≤ --cache-size + 200 MiB (ratio to ${cacheMiB + 200} MiB)`, ratio: r.peakMiB / (cacheMiB + 200), limit: 1 }] : []),
      ],
    };
  } finally {
    await m.stop();
    await emu.stop();
    await clean(root);
  }
}
