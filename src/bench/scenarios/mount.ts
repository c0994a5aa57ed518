// Reading through mounts, as researchers do it: cp -r of a series, cat of a
// big volume, warm re-reads, ls -l and find — som against rclone mount on the
// same emulator, with rclone copy / gcloud storage cp as the parallel
// download reference, curl with as many transfers in flight as the
// transport limit, and local files as the warm reference; and a series
// copied again after a remount, from the disk tier.
import { mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { clean, runTimed, scratch, warmFiles, type EmulatorProcess, type Timed } from "../harness.js";
import { floorMount, peakRssMiB, rcloneMount, somMount, usage, type BenchMount } from "../mounts.js";
import { value, type Measurement, type Target, type Unit } from "../report.js";
import { curlObjects, curlRanges, mediaUrl } from "../transport.js";
import { sameTree } from "../verify.js";

export interface MountContext {
  emulator: EmulatorProcess;
  runs: number;
  log: (s: string) => void;
  /** Local copies of what the buckets hold. */
  seriesDir: string;
  seriesPrefix: string;
  bigFile: string;
  cacheSize: string;
}

/**
 * A warm read, three times over; the median stands for the run (one
 * disturbance on a shared machine shouldn't). Used for som and the local
 * reference, whose ratio is a target; rclone mount's warm read is as slow as
 * its cold one and is measured once.
 */
const warm = async (cmd: string): Promise<Timed> => {
  const ts = [await sh(cmd), await sh(cmd), await sh(cmd)].sort((a, b) => a.seconds - b.seconds);
  return ts[1]!;
};

/** Runs a timed shell step after flushing earlier writes, so one step's writeback doesn't slow the next. */
const sh = async (cmd: string): Promise<Timed> => {
  await runTimed("sync", []);
  return runTimed("bash", ["-c", cmd]);
};
const synced = async (cmd: string, args: string[], env: Record<string, string> = {}): Promise<Timed> => {
  await runTimed("sync", []);
  return runTimed(cmd, args, env);
};
/** Drops the kernel's page, dentry and inode caches (root): what a remount starts from. */
const dropKernelCaches = async (): Promise<void> => {
  await runTimed("sync", []);
  await writeFile("/proc/sys/vm/drop_caches", "3\n");
};
const q = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;

export async function benchMounts(ctx: MountContext): Promise<{ measurements: Measurement[]; targets: Target[] }> {
  const { emulator } = ctx;
  const work = await scratch("mounts");
  const gcloudEnv = emulator.gcloudEnv(join(work, "gcloud"));
  const runs = new Map<string, number[]>();
  const cores = new Map<string, number[]>();
  const add = (key: string, t: Timed): void => {
    runs.set(key, [...(runs.get(key) ?? []), t.seconds]);
    cores.set(key, [...(cores.get(key) ?? []), t.coresBusy]);
    ctx.log(`${key}: ${t.seconds.toFixed(2)} s, ${t.coresBusy.toFixed(1)} cores busy`);
  };
  // Where the CPU went in the transfers measured against the transport limit: this machine's
  // CPU speed moves for minutes at a time, and a slow spell costs som's daemon more than curl.
  const cpu = new Map<string, { unit: Unit; runs: number[] }>();
  const withCpu = async (key: string, procs: Record<string, number>, step: () => Promise<Timed>): Promise<Timed> => {
    const before = await Promise.all(Object.values(procs).map(usage));
    const t = await step();
    const after = await Promise.all(Object.values(procs).map(usage));
    const note = (row: string, unit: Unit, v: number): void => void cpu.set(row, { unit, runs: [...(cpu.get(row)?.runs ?? []), v] });
    Object.keys(procs).forEach((name, j) => {
      const [a, b] = [before[j]!, after[j]!];
      note(`${key}: CPU of ${name}`, "ms", b.cpuMs - a.cpuMs);
      // First touches of memory: on a VM that returns free memory to its host they cost it a fault
      // too after an idle spell, and system time shows it (see util/page-pool.ts).
      note(`${key}: CPU of ${name}, system`, "ms", b.systemMs - a.systemMs);
      note(`${key}: minor page faults of ${name}`, "faults", b.faults - a.faults);
    });
    return t;
  };
  let rss = 0;
  let remountMedia = 0;
  const seriesName = ctx.seriesPrefix.split("/").pop()!;
  // som shows Collection/C/Entity/E as C/E.
  const somSeries = (m: BenchMount): string => join(m.dir, ctx.seriesPrefix.replace(/^Collection\/([^/]+)\/Entity\//, "$1/"));

  for (let i = 0; i < ctx.runs; i++) {
    // The transport limit: the same 200 objects, 64 in flight, by one curl — measured just before
    // som's copy, so that the ratio between them spans seconds of this shared machine, not a minute.
    const dl = join(work, `dl-${i}`);
    const files = (await readdir(ctx.seriesDir)).sort();
    await mkdir(dl, { recursive: true });
    await warmFiles(emulator.dataDir);
    await runTimed("sync", []);
    add("a|transport: curl, 64 objects in flight", await withCpu("a|curl, 64 in flight", { "the emulator": emulator.pid },
      () => curlObjects(files.map((f) => ({ url: mediaUrl(emulator.url, "bench", `${ctx.seriesPrefix}/${f}`), file: f })), 64, dl)));
    const badCurl = await sameTree(dl, ctx.seriesDir, { ignore: () => false });
    if (badCurl) throw new Error(`curl fetched a different tree: ${badCurl}`);
    await clean(dl);

    // a + c: cp -r of the series, cold then warm, through each mount.
    for (const [tool, start, path] of [
      ["som", () => somMount(emulator, "bench", ["--cache-size", ctx.cacheSize]), somSeries],
      ["rclone mount", () => rcloneMount(emulator, "bench"), (m: BenchMount) => join(m.dir, ctx.seriesPrefix)],
    ] as const) {
      await warmFiles(emulator.dataDir);
      const m = await start();
      try {
        const dest = join(work, `cp-${i}-${tool.replace(" ", "-")}`);
        const copy = (): Promise<Timed> => sh(`cp -r ${q(path(m))} ${q(dest)}`);
        add(`a|${tool} cp -r (cold)`, await (tool === "som" ? withCpu("a|som cp -r (cold)", { "the emulator": emulator.pid, "som's daemon": m.pid }, copy) : copy()));
        const bad = await sameTree(dest, ctx.seriesDir, { ignore: () => false });
        if (bad) throw new Error(`${tool}: cp -r produced a different tree: ${bad}`);
        await clean(dest);
        // Warm: the same bytes read again (cat, so a local copy's in-kernel copy_file_range doesn't compare apples with oranges).
        add(`c|${tool} read series (warm)`, await (tool === "som" ? warm : sh)(`cat ${q(path(m))}/* > /dev/null`));
        if (tool === "som") rss = Math.max(rss, await peakRssMiB(m.pid));
      } finally {
        await m.stop();
      }
    }
    await warmFiles(emulator.dataDir);
    add("a|rclone copy --transfers 16", await synced("rclone", ["copy", `:gcs:bench/${ctx.seriesPrefix}`, dl, "--transfers", "16", ...emulator.rcloneFlags()]));
    await clean(dl);
    await mkdir(dl, { recursive: true });
    await warmFiles(emulator.dataDir);
    add("a|gcloud storage cp -r", await synced("gcloud", ["storage", "cp", "-r", `gs://bench/${ctx.seriesPrefix}`, dl], gcloudEnv));
    await clean(dl);
    add("c|local read series (page cache)", await warm(`cat ${q(ctx.seriesDir)}/* > /dev/null`));

    // h: the series again after a remount, from the disk tier (0 media requests), against a local copy.
    {
      const cacheDir = join(work, `disk-${i}`);
      const first = await somMount(emulator, "bench", ["--cache-size", ctx.cacheSize, "--cache-dir", cacheDir]);
      try {
        await sh(`cp -r ${q(somSeries(first))} ${q(join(work, "fill"))}`);
      } finally {
        await first.stop();
        await clean(join(work, "fill"));
      }
      await emulator.resetStats();
      const again = await somMount(emulator, "bench", ["--cache-size", ctx.cacheSize, "--cache-dir", cacheDir]);
      try {
        const dest = join(work, `again-${i}`);
        add("h|som cp -r after a remount (disk tier)", await sh(`cp -r ${q(somSeries(again))} ${q(dest)}`));
        const bad = await sameTree(dest, ctx.seriesDir, { ignore: () => false });
        if (bad) throw new Error(`som cp -r after a remount produced a different tree: ${bad}`);
        await clean(dest);
        // The same copy again on that mount, with nothing left to check or list: the kernel's caches
        // dropped (as after a remount), so every lookup and open goes through FUSE, but the disk tier's
        // files warm again (as the local copy's are), which the kernel reads itself (passthrough).
        await dropKernelCaches();
        await sh(`find ${q(cacheDir)} -type f -path '*/blocks/*' -exec cat {} + > /dev/null`);
        add("h|som cp -r again on that mount, kernel caches dropped, disk tier's files warm", await sh(`cp -r ${q(somSeries(again))} ${q(dest)}`));
        await clean(dest);
      } finally {
        await again.stop();
      }
      remountMedia = Math.max(remountMedia, (await emulator.stats()).media ?? 0);
      await clean(cacheDir);
      // Below that, FUSE itself: the series from a libfuse 3 filesystem in C that holds it in memory.
      const floor = await floorMount(ctx.seriesDir);
      try {
        const dest = join(work, `floor-${i}`);
        await dropKernelCaches();
        add("h|C libfuse 3 from memory, kernel caches dropped (FUSE floor, no JavaScript)", await sh(`cp -r ${q(floor.dir)} ${q(dest)}`));
        const bad = await sameTree(dest, ctx.seriesDir, { ignore: () => false });
        if (bad) throw new Error(`the C floor's cp -r produced a different tree: ${bad}`);
        await clean(dest);
      } finally {
        await floor.stop();
      }
      // And the floor for a series on local disk: the same C filesystem, each open answered with the
      // local file as its backing file (passthrough, as som does from its disk tier).
      const ptFloor = await floorMount(ctx.seriesDir, { passthrough: true });
      try {
        const dest = join(work, `floor-pt-${i}`);
        await dropKernelCaches();
        await sh(`cat ${q(ctx.seriesDir)}/* > /dev/null`); // the backing files' pages warm, as the disk tier's are
        add("h|C libfuse 3.17 passthrough to local files, kernel caches dropped (floor with passthrough)", await sh(`cp -r ${q(ptFloor.dir)} ${q(dest)}`));
        const bad = await sameTree(dest, ctx.seriesDir, { ignore: () => false });
        if (bad) throw new Error(`the C passthrough floor's cp -r produced a different tree: ${bad}`);
        await clean(dest);
      } finally {
        await ptFloor.stop();
      }
      const dest = join(work, `local-${i}`);
      await sh(`cat ${q(ctx.seriesDir)}/* > /dev/null`); // the page cache warm, as the disk tier's files are
      add("h|local cp -r (page cache)", await sh(`cp -r ${q(ctx.seriesDir)} ${q(dest)}`));
      await clean(dest);
    }

    // b: cat of the 512 MiB volume. First the transport limit: the same 512 MiB as 32 ranged GETs in
    // flight, by one curl, just before som's cold cat (as in a).
    const parts = join(work, `parts-${i}`);
    await mkdir(parts, { recursive: true });
    const bigSize = (await stat(ctx.bigFile)).size;
    await warmFiles(ctx.bigFile);
    await runTimed("sync", []);
    add("b|transport: curl, 32 ranged GETs in flight", await withCpu("b|curl, 32 ranges", { "the emulator": emulator.pid },
      () => curlRanges(mediaUrl(emulator.url, "big", "volume.bin"), bigSize, 32, parts)));
    if (i === 0) {
      const [a, b] = await Promise.all([`cat ${q(parts)}/part-* | sha256sum`, `sha256sum < ${q(ctx.bigFile)}`].map((c) => runTimed("bash", ["-c", c]).then((t) => t.stdout.split(" ")[0])));
      if (a !== b) throw new Error("curl ranges gave different bytes");
    }
    await clean(parts);
    // b + c: the cat through each mount, cold then warm.
    for (const [tool, start] of [
      ["som", () => somMount(emulator, "big", ["--cache-size", ctx.cacheSize])],
      ["rclone mount", () => rcloneMount(emulator, "big")],
    ] as const) {
      await warmFiles(ctx.bigFile);
      const m = await start();
      try {
        const out = join(work, `cat-${i}`);
        const cat = (): Promise<Timed> => sh(`cat ${q(join(m.dir, "volume.bin"))} > ${q(out)}`);
        add(`b|${tool} cat (cold)`, await (tool === "som" ? withCpu("b|som cat (cold)", { "the emulator": emulator.pid, "som's daemon": m.pid }, cat) : cat()));
        if (i === 0) {
          const [a, b] = await Promise.all([out, ctx.bigFile].map((f) => runTimed("sha256sum", [f]).then((t) => t.stdout.split(" ")[0])));
          if (a !== b) throw new Error(`${tool}: cat gave different bytes`);
        }
        await clean(out);
        add(`c|${tool} cat (warm)`, await (tool === "som" ? warm : sh)(`cat ${q(join(m.dir, "volume.bin"))} > /dev/null`));
        if (tool === "som") rss = Math.max(rss, await peakRssMiB(m.pid));
      } finally {
        await m.stop();
      }
    }
    const gout = join(work, `gcp-${i}`);
    await warmFiles(ctx.bigFile);
    add("b|gcloud storage cp", await synced("gcloud", ["storage", "cp", "gs://big/volume.bin", gout], gcloudEnv));
    await clean(gout);
    add("c|local cat (page cache)", await warm(`cat ${q(ctx.bigFile)} > /dev/null`));

    // d: ls -l of a 1,200-entry directory and find over the whole tree, cold.
    {
      const m = await somMount(emulator, "wide");
      try {
        add("d|som ls -l (1,200 entries)", await sh(`ls -l ${q(join(m.dir, "series"))} > /dev/null`));
      } finally {
        await m.stop();
      }
      const m2 = await somMount(emulator, "wide");
      try {
        add("d|som find (whole tree)", await sh(`find ${q(m2.dir)} > /dev/null`));
      } finally {
        await m2.stop();
      }
      add("d|rclone lsl (1,200 entries)", await synced("rclone", ["lsl", ":gcs:wide/series", ...emulator.rcloneFlags()]));
      add("d|rclone lsl (whole tree)", await synced("rclone", ["lsl", ":gcs:wide", ...emulator.rcloneFlags()]));
    }
  }
  await clean(work);

  const scen: Record<string, string> = {
    a: `a: cp -r of a 200 × 0.5 MB series (${seriesName})`, b: "b: cat of a 512 MiB object", c: "c: warm re-read", d: "d: listing",
    h: "h: the series after a remount (--cache-dir)",
  };
  const measurements: Measurement[] = [...runs.entries()].map(([key, r]) => {
    const [s, tool] = key.split("|") as [string, string];
    return { scenario: scen[s]!, tool, runs: r, unit: "s", cores: cores.get(key)! };
  });
  for (const [key, { unit, runs: r }] of cpu) {
    const [s, tool] = key.split("|") as [string, string];
    measurements.push({ scenario: scen[s]!, tool, runs: r, unit });
  }
  measurements.push({ scenario: "e: memory", tool: `som daemon peak RSS (--cache-size ${ctx.cacheSize})`, runs: [rss], unit: "MiB" });
  measurements.push({ scenario: scen.h!, tool: "media requests after the remount (most in a run)", runs: [remountMedia], unit: "requests" });
  const v = (key: string): number => value({ scenario: "", tool: "", runs: runs.get(key)!, unit: "s" });
  const cacheMiB = Number(/^(\d+)MiB$/.exec(ctx.cacheSize)?.[1] ?? "0");
  const targets: Target[] = [
    { scenario: scen.a!, text: "som cp -r ≤ 1.25 × rclone copy --transfers 16", ratio: v("a|som cp -r (cold)") / v("a|rclone copy --transfers 16"), limit: 1.25 },
    { scenario: scen.a!, text: "som cp -r ≤ 1.25 × the transport limit (curl, 64 objects in flight)", ratio: v("a|som cp -r (cold)") / v("a|transport: curl, 64 objects in flight"), limit: 1.25 },
    { scenario: scen.b!, text: "som cat ≤ 1.0 × gcloud storage cp", ratio: v("b|som cat (cold)") / v("b|gcloud storage cp"), limit: 1.0 },
    { scenario: scen.b!, text: "som cat ≤ 1.5 × the transport limit (curl, 32 ranged GETs in flight)", ratio: v("b|som cat (cold)") / v("b|transport: curl, 32 ranged GETs in flight"), limit: 1.5 },
    { scenario: scen.h!, text: "som cp -r after a remount ≤ 2 × local cp -r", ratio: v("h|som cp -r after a remount (disk tier)") / v("h|local cp -r (page cache)"), limit: 2 },
    // Not som's: whether any filesystem on libfuse 3's high-level API could meet the line above on this machine.
    { scenario: scen.h!, text: "reference: the C libfuse 3 floor ≤ 2 × local cp -r", ratio: v("h|C libfuse 3 from memory, kernel caches dropped (FUSE floor, no JavaScript)") / v("h|local cp -r (page cache)"), limit: 2 },
    { scenario: scen.h!, text: "reference: the C passthrough floor ≤ 2 × local cp -r", ratio: v("h|C libfuse 3.17 passthrough to local files, kernel caches dropped (floor with passthrough)") / v("h|local cp -r (page cache)"), limit: 2 },
    { scenario: scen.h!, text: "media requests after the remount: 0 (count)", ratio: remountMedia, limit: 0 },
    { scenario: scen.c!, text: "som warm read of the series ≤ 2 × local", ratio: v("c|som read series (warm)") / v("c|local read series (page cache)"), limit: 2 },
    { scenario: scen.c!, text: "som warm cat ≤ 2 × local cat", ratio: v("c|som cat (warm)") / v("c|local cat (page cache)"), limit: 2 },
    { scenario: scen.d!, text: "som ls -l ≤ 1.5 × rclone lsl (1,200 entries)", ratio: v("d|som ls -l (1,200 entries)") / v("d|rclone lsl (1,200 entries)"), limit: 1.5 },
    { scenario: scen.d!, text: "som find ≤ 1.5 × rclone lsl (whole tree)", ratio: v("d|som find (whole tree)") / v("d|rclone lsl (whole tree)"), limit: 1.5 },
    { scenario: "e: memory", text: `peak RSS ≤ --cache-size + 150 MiB (ratio to ${cacheMiB + 150} MiB)`, ratio: rss / (cacheMiB + 150), limit: 1 },
  ];
  return { measurements, targets };
}
