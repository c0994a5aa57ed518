// Random and sequential access to a big whole-slide image, the way
// mountpoint-s3 benchmarks itself: fio jobs (bs=256k, ioengine=sync,
// time-based) through som (memory only, and with --cache-dir) and rclone
// mount (its defaults, and --vfs-cache-mode full), each on a fresh mount
// and a fresh cache; the transport limit for random reads (the same ranged
// GETs with as many in flight, straight from the emulator); and the time to
// the first byte of a tile on a fresh mount.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { clean, runTimed, scratch, warmFiles, type EmulatorProcess } from "../harness.js";
import { peakRssMiB, rcloneMount, somMount, type BenchMount } from "../mounts.js";
import { median } from "../harness.js";
import type { Measurement, Target } from "../report.js";
import { mediaUrl, randomRangesMiBps } from "../transport.js";

export interface RandomContext {
  emulator: EmulatorProcess;
  log: (s: string) => void;
  bucket: string;
  name: string;
  /** The local file the emulator serves the object from (read into the page cache before the first job). */
  file: string;
  size: number;
  cacheSize: string;
  latencyMs: number;
  /** Seconds per fio job. */
  runtime: number;
}

const PAGE = 256 * 1024;

interface Tool {
  name: string;
  start(cacheDir: string): Promise<BenchMount>;
  /** Whether its peak RSS counts for the memory target (som with the disk tier). */
  rss?: boolean;
}

async function fio(file: string, rw: "read" | "randread", threads: number, runtime: number): Promise<number> {
  const t = await runTimed("fio", [
    "--name=bench", `--filename=${file}`, "--bs=256k", `--rw=${rw}`, "--ioengine=sync", "--fallocate=none", "--readonly",
    `--numjobs=${threads}`, "--time_based", `--runtime=${runtime}`, "--group_reporting", "--output-format=json",
  ]);
  const r = JSON.parse(t.stdout) as { jobs: { read: { bw_bytes: number } }[] };
  return r.jobs[0]!.read.bw_bytes / 2 ** 20;
}

export async function benchRandom(ctx: RandomContext): Promise<{ measurements: Measurement[]; targets: Target[] }> {
  const { emulator, bucket, name } = ctx;
  const work = await scratch("random");
  const cacheMiB = Number(/^(\d+)MiB$/.exec(ctx.cacheSize)?.[1] ?? "0");
  const tools: Tool[] = [
    { name: "som", start: () => somMount(emulator, bucket, ["--cache-size", ctx.cacheSize]) },
    { name: "som --cache-dir", start: (dir) => somMount(emulator, bucket, ["--cache-size", ctx.cacheSize, "--cache-dir", dir]), rss: true },
    { name: "rclone mount", start: () => rcloneMount(emulator, bucket) },
    { name: "rclone mount --vfs-cache-mode full", start: (dir) => rcloneMount(emulator, bucket, ["--vfs-cache-mode", "full", "--cache-dir", dir]) },
  ];
  const measurements: Measurement[] = [];
  const got = new Map<string, number>();
  let rss = 0;
  /** A fresh mount and a fresh cache directory for one measurement. */
  const withMount = async <T>(tool: Tool, body: (m: BenchMount) => Promise<T>): Promise<T> => {
    const cacheDir = join(work, "cache");
    await clean(cacheDir);
    await mkdir(cacheDir, { recursive: true });
    const m = await tool.start(cacheDir);
    try {
      const out = await body(m);
      if (tool.rss) rss = Math.max(rss, await peakRssMiB(m.pid));
      return out;
    } finally {
      await m.stop();
      await clean(cacheDir);
    }
  };

  await warmFiles(ctx.file);
  const jobs = [["read", 1], ["read", 4], ["randread", 1], ["randread", 4]] as const;
  for (const [rw, threads] of jobs) {
    const scenario = `f: fio ${rw === "read" ? "sequential" : "random"} 256 KiB reads, ${threads} thread${threads > 1 ? "s" : ""}, ${ctx.size >= 2 ** 30 ? `${(ctx.size / 2 ** 30).toFixed(0)} GiB` : `${(ctx.size / 2 ** 20).toFixed(0)} MiB`} slide, cold`;
    for (const tool of tools) {
      const mibps = await withMount(tool, (m) => fio(join(m.dir, name), rw, threads, ctx.runtime));
      ctx.log(`${scenario}: ${tool.name} ${mibps.toFixed(1)} MiB/s`);
      got.set(`${rw}|${threads}|${tool.name}`, mibps);
      measurements.push({ scenario, tool: tool.name, runs: [mibps], unit: "MiB/s" });
    }
    if (rw === "randread") {
      const measured = await randomRangesMiBps(mediaUrl(emulator.url, bucket, name), ctx.size, threads, PAGE, Math.min(10, ctx.runtime));
      const computed = (threads * PAGE) / 2 ** 20 / (ctx.latencyMs / 1000);
      got.set(`limit|${threads}`, computed);
      ctx.log(`${scenario}: transport ${measured.toFixed(1)} MiB/s, uncached limit ${computed.toFixed(1)} MiB/s`);
      measurements.push({ scenario, tool: `transport: ${threads} ranged GETs of 256 KiB in flight (script)`, runs: [measured], unit: "MiB/s" });
      measurements.push({ scenario, tool: `uncached limit: ${threads} × 256 KiB per ${ctx.latencyMs} ms`, runs: [computed], unit: "MiB/s" });
    }
  }

  // Time to the first byte: one 256 KiB read in the middle of the slide, on a fresh mount.
  const ttfb = "g: time to first byte (256 KiB from the middle of the slide, fresh mount)";
  const middle = Math.floor(ctx.size / 2 / PAGE);
  for (const tool of tools) {
    const runs: number[] = [];
    for (let i = 0; i < 3; i++) {
      runs.push(await withMount(tool, async (m) => (await runTimed("dd", [`if=${join(m.dir, name)}`, "of=/dev/null", "bs=256k", "count=1", `skip=${middle + i * 7}`])).seconds * 1000));
    }
    ctx.log(`${ttfb}: ${tool.name} ${median(runs).toFixed(0)} ms`);
    measurements.push({ scenario: ttfb, tool: `${tool.name} (dd)`, runs, unit: "ms" });
  }
  const curlRuns: number[] = [];
  for (let i = 0; i < 3; i++) {
    const start = (middle + i * 7) * PAGE;
    curlRuns.push((await runTimed("curl", ["--no-progress-meter", "--fail", "-r", `${start}-${start + PAGE - 1}`, "-o", "/dev/null", mediaUrl(emulator.url, bucket, name)])).seconds * 1000);
  }
  measurements.push({ scenario: ttfb, tool: "transport: one ranged GET (curl)", runs: curlRuns, unit: "ms" });
  await clean(work);

  const v = (k: string): number => got.get(k)!;
  const targets: Target[] = [];
  for (const threads of [1, 4]) {
    const scenario = `f: fio random 256 KiB reads, ${threads} thread${threads > 1 ? "s" : ""}`;
    targets.push(
      { scenario, text: `som (no disk tier) ≥ 0.8 × the uncached limit (${v(`limit|${threads}`).toFixed(1)} MiB/s)`, ratio: v(`randread|${threads}|som`) / v(`limit|${threads}`), limit: 0.8, atLeast: true },
      { scenario, text: "som --cache-dir ≥ 1.5 × rclone mount --vfs-cache-mode full", ratio: v(`randread|${threads}|som --cache-dir`) / v(`randread|${threads}|rclone mount --vfs-cache-mode full`), limit: 1.5, atLeast: true },
    );
  }
  targets.push({ scenario: "f: memory", text: `som --cache-dir peak RSS ≤ --cache-size + 150 MiB (ratio to ${cacheMiB + 150} MiB)`, ratio: rss / (cacheMiB + 150), limit: 1 });
  measurements.push({ scenario: "f: memory", tool: `som --cache-dir daemon peak RSS over the fio jobs (--cache-size ${ctx.cacheSize})`, runs: [rss], unit: "MiB" });
  return { measurements, targets };
}
