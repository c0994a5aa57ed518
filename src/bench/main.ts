// npm run bench: starts the emulators with injected latency and bandwidth,
// generates its data, runs each scenario side by side with the reference
// tools in one run, prints the ratios and writes docs/BENCHMARKS.md.
// Not part of the test suite: these machines are shared and noisy, so only
// ratios measured in one run mean anything.
import { mkdir, writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { Command } from "commander";
import { DatastoreEmulator } from "../dev/datastore-emulator.js";
import { parseSize } from "../util/size.js";
import { makeData } from "./data.js";
import { EmulatorProcess, ROOT, SOM, removeScratch, runTimed, scratch } from "./harness.js";
import { machine, table, targetsTable, type Measurement, type Target } from "./report.js";
import { benchGet } from "./scenarios/get.js";
import { benchListing } from "./scenarios/listing.js";
import { benchSoak } from "./scenarios/soak.js";
import { benchMounts } from "./scenarios/mount.js";
import { benchRandom } from "./scenarios/random.js";

interface Flags {
  runs: string;
  only?: string;
  latency: string;
  bandwidth: string;
  out: string;
  bigMib: string;
  cacheSize: string;
  soakMinutes: string;
  slideMib: string;
  fioSeconds: string;
}

async function toolVersions(): Promise<string> {
  const first = async (cmd: string, args: string[]): Promise<string> =>
    runTimed(cmd, args).then((t) => t.stdout.split("\n")[0]!.trim(), () => `${cmd}: unavailable`);
  const [rclone, gcloud] = await Promise.all([first("rclone", ["version"]), first("gcloud", ["version"])]);
  return `som 0.1.0 on Node ${process.versions.node}; ${rclone}; ${gcloud}`;
}

async function main(): Promise<void> {
  const f = new Command("bench")
    .option("--runs <n>", "runs per tool (the median is reported)", "3")
    .option("--only <scenarios>", "comma-separated: get, mount, random, listing, soak")
    .option("--slide-mib <n>", "size of the whole-slide image for the random scenario, in MiB", "1024")
    .option("--fio-seconds <n>", "length of each fio job", "15")
    .option("--soak-minutes <n>", "length of the soak", "10")
    .option("--big-mib <n>", "size of the big volume in MiB", "512")
    .option("--cache-size <size>", "som mount --cache-size", "512MiB")
    .option("--latency <ms>", "injected per request", "30")
    .option("--bandwidth <size>", "per response stream per second", "64MiB")
    .option("--out <file>", "report file", join(ROOT, "docs/BENCHMARKS.md"))
    .parse(process.argv)
    .opts<Flags>();
  const runs = Number(f.runs);
  const faults = { latencyMs: Number(f.latency), bandwidth: parseSize(f.bandwidth) };
  const only = f.only ? new Set(f.only.split(",")) : undefined;
  const log = (s: string): void => void process.stderr.write(`bench: ${s}\n`);

  const root = await scratch("data");
  log("generating data");
  const data = await makeData(root, Number(f.bigMib), !only || only.has("random") ? Number(f.slideMib) : 0);
  const emulator = await EmulatorProcess.start(["bench", `big=${data.bigDir}`, `wide=${data.wideDir}`, ...(data.slideDir ? [`slide=${data.slideDir}`] : [])]);
  const datastore = await DatastoreEmulator.start("som-bench");
  const measurements: Measurement[] = [];
  const targets: Target[] = [];
  try {
    log("publishing the series with som upload");
    await runTimed(SOM, ["upload", "--bucket", "bench", "--collection", "BENCH", "--entity", data.entity, "--quiet", ...data.seriesFiles],
      { STORAGE_EMULATOR_HOST: emulator.url, ...datastore.env });
    await emulator.faults(faults);
    const seriesPrefix = `Collection/BENCH/Entity/${data.entity}`;
    if (!only || only.has("get")) {
      const r = await benchGet({ emulator, datastore, runs, log, seriesDir: data.seriesDir, entity: data.entity, seriesPrefix });
      measurements.push(...r.measurements);
      targets.push(...r.targets);
    }
    if (!only || only.has("mount")) {
      const r = await benchMounts({ emulator, runs, log, seriesDir: data.seriesDir, seriesPrefix, bigFile: data.bigFile, cacheSize: f.cacheSize });
      measurements.push(...r.measurements);
      targets.push(...r.targets);
    }
    if (data.slideDir && data.slideSize) {
      const r = await benchRandom({
        emulator, log, bucket: "slide", name: "slide.dcm", file: join(data.slideDir, "slide.dcm"), size: data.slideSize, cacheSize: f.cacheSize, latencyMs: faults.latencyMs, runtime: Number(f.fioSeconds),
      });
      measurements.push(...r.measurements);
      targets.push(...r.targets);
    }
    if (!only || only.has("listing")) {
      const r = await benchListing({ runs, log });
      measurements.push(...r.measurements);
      targets.push(...r.targets);
    }
    if (!only || only.has("soak")) {
      const r = await benchSoak({ minutes: Number(f.soakMinutes), cacheSize: f.cacheSize, log });
      measurements.push(...r.measurements);
      targets.push(...r.targets);
    }
  } finally {
    await emulator.stop();
    await datastore.stop();
    await removeScratch(); // the data, mount points, disk caches and the emulator's port file
  }

  const versions = await toolVersions();
  const settings = `GCS emulator (som-emulator, own process) with ${faults.latencyMs} ms per request and ${f.bandwidth}/s per response stream; ` +
    `Datastore emulator without injected latency; ${runs} runs per tool, interleaved, median reported; ` +
    `som mount --cache-size ${f.cacheSize}; mounts (and disk caches) started fresh for every cold run; rclone mount with its defaults (no VFS cache) unless it says --vfs-cache-mode full, read-only; ` +
    `fio jobs ${f.fioSeconds} s each.`;
  const doc = `# Benchmarks

Measured by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}. Only the ratios matter: these machines are shared and noisy,
so every tool runs in the same session, interleaved, against the same emulator.

- Machine: ${machine()}
- Settings: ${settings}
- Versions: ${versions}

## Targets

${targetsTable(targets)}

## Timings

${table(measurements)}

## Reading the numbers

"cores busy" is the machine-wide CPU use during a run (this machine has ${cpus().length} cores), emulator and
client together: a run near ${cpus().length}.0 was bound by CPU, not by the injected latency or bandwidth. The
emulator is a Node process too and pays the same per-byte cost for every client, so on a 2-core machine a
client that spends more CPU per byte than a Go binary (rclone) loses wall time to it even when it keeps more
requests in flight. Warm reads through any FUSE mount also pay one round trip to the daemon per open and
read cached pages more slowly than a local file system does.
`;
  await mkdir(dirname(f.out), { recursive: true });
  await writeFile(f.out, doc);
  process.stdout.write(`${targetsTable(targets)}\n\n${table(measurements)}\n\nwritten to ${f.out}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
