// Imaging Data Commons-sized namespaces (issue 9's targets), each side by
// side in one run, on an emulator of its own holding synthetic buckets:
//   - ls -f of a root of 200,000 series at 30 ms against rclone lsf --dirs-only;
//   - ls -f of a root of 1,000,000 series at 100 ms: time, daemon memory,
//     time to the first entries (streaming), and rclone's serial paging once;
//   - find over 5,000 series × 20 instances at 30 ms against rclone lsf -R --fast-list;
//   - one known series on a never-listed root: requests it takes.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { SyntheticTable } from "../../emulator/synthetic.js";
import { EmulatorProcess, runTimed, type Timed } from "../harness.js";
import { peakRssMiB, somMount, type BenchMount } from "../mounts.js";
import { value, type Measurement, type Target } from "../report.js";

export interface ListingContext {
  runs: number;
  log: (s: string) => void;
}

const ROOT_200K = "idc200k:200000x1";
const ROOT_1M = "idc1m:1000000x1";
const WALK = "walk:5000x20";

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? "0") / 1024;
}

const q = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;
const sh = (cmd: string): Promise<Timed> => runTimed("bash", ["-c", cmd]);

/** Runs `cmd` and checks it printed `want` (a count). */
async function counted(cmd: string, want: number, what: string): Promise<Timed> {
  const t = await sh(cmd);
  const got = Number(t.stdout.trim());
  if (got !== want) throw new Error(`${what}: expected ${want} entries, got ${got}`);
  return t;
}

export async function benchListing(ctx: ListingContext): Promise<{ measurements: Measurement[]; targets: Target[] }> {
  const emu = await EmulatorProcess.start([], [ROOT_200K, ROOT_1M, WALK]);
  const rclone = (args: string): string => `rclone ${args} --config /dev/null --gcs-endpoint ${emu.url}/storage/v1/ --gcs-anonymous`;
  const runs = new Map<string, number[]>();
  const cores = new Map<string, number[]>();
  const add = (key: string, t: Timed | number, unit = "s"): void => {
    const v = typeof t === "number" ? t : t.seconds;
    runs.set(key, [...(runs.get(key) ?? []), v]);
    if (typeof t !== "number") cores.set(key, [...(cores.get(key) ?? []), t.coresBusy]);
    ctx.log(`${key}: ${v.toFixed(unit === "s" ? 2 : 0)} ${unit}`);
  };
  const withMount = async <T>(bucket: string, f: (m: BenchMount) => Promise<T>): Promise<T> => {
    const m = await somMount(emu, bucket);
    try {
      return await f(m);
    } finally {
      await m.stop();
    }
  };
  // A series that exists in the 1M root, for the lookup of a known series.
  const known = new SyntheticTable("idc1m", [{ prefix: "", folders: 1_000_000, filesPerFolder: 1, naming: "uuid", objectSize: 64, seed: 1 }]).nameAt(654_321).split("/")[0]!;

  try {
    for (let i = 0; i < ctx.runs; i++) {
      await emu.faults({ latencyMs: 30, bandwidth: 0 });
      await withMount("idc200k", async (m) => add("a|som ls -f", await counted(`ls -f ${q(m.dir)} | wc -l`, 200_002, "som ls -f")));
      add("a|rclone lsf --dirs-only", await counted(`${rclone("lsf --dirs-only :gcs:idc200k")} | wc -l`, 200_000, "rclone lsf"));

      await withMount("walk", async (m) => {
        await emu.resetStats();
        add("c|som find -type f", await counted(`find ${q(m.dir)} -type f | wc -l`, 100_000, "som find"));
        add("c|som list requests", (await emu.stats()).list!, "requests");
      });
      add("c|rclone lsf -R --fast-list", await counted(`${rclone("lsf -R --fast-list :gcs:walk")} | wc -l`, 105_000, "rclone lsf -R"));

      await withMount("idc1m", async (m) => {
        await emu.resetStats();
        const t = await sh(`ls ${q(join(m.dir, known))}/ | wc -l`);
        if (t.stdout.trim() !== "1") throw new Error(`known series: ${t.stdout}`);
        add("d|som requests for a known series", (await emu.stats()).requests!, "requests");
      });

      await emu.faults({ latencyMs: 100, bandwidth: 0 });
      await withMount("idc1m", async (m) => add("b|som first entries (ls -f, head -3)", await sh(`ls -f ${q(m.dir)} | head -3 >/dev/null`)));
      await withMount("idc1m", async (m) => {
        const before = await rssMiB(m.pid);
        add("b|som ls -f", await counted(`ls -f ${q(m.dir)} | wc -l`, 1_000_002, "som ls -f 1M"));
        add("b|som daemon RSS growth after listing", (await rssMiB(m.pid)) - before, "MiB");
        add("b|som daemon peak RSS", await peakRssMiB(m.pid), "MiB");
      });
    }
    // Serial paging of the million-series root: once, as the reference the issue quotes (~100 s).
    add("b|rclone lsf --dirs-only (serial paging)", await counted(`${rclone("lsf --dirs-only :gcs:idc1m")} | wc -l`, 1_000_000, "rclone lsf 1M"));
  } finally {
    await emu.stop();
  }

  const scen: Record<string, string> = {
    a: "listing: root of 200,000 series, 30 ms per request",
    b: "listing: root of 1,000,000 series, 100 ms per request",
    c: "listing: find over 5,000 series × 20 instances, 30 ms",
    d: "listing: a known series on a never-listed 1,000,000 root",
  };
  const unitOf = (key: string): Measurement["unit"] => (key.includes("requests") ? "requests" : key.includes("RSS") ? "MiB" : "s");
  const measurements: Measurement[] = [...runs.entries()].map(([key, r]) => {
    const [s, tool] = key.split("|") as [string, string];
    return { scenario: scen[s]!, tool, runs: r, unit: unitOf(key), ...(cores.has(key) ? { cores: cores.get(key)! } : {}) };
  });
  const v = (key: string): number => value({ scenario: "", tool: "", runs: runs.get(key)!, unit: "s" });
  const targets: Target[] = [
    { scenario: scen.a!, text: "som ls -f ≤ 0.25 × rclone lsf --dirs-only", ratio: v("a|som ls -f") / v("a|rclone lsf --dirs-only"), limit: 0.25 },
    { scenario: scen.b!, text: "som ls -f completes in ≤ 15 s (ratio to 15 s)", ratio: v("b|som ls -f") / 15, limit: 1 },
    { scenario: scen.b!, text: "som daemon peak RSS ≤ 600 MiB (ratio to 600 MiB)", ratio: v("b|som daemon peak RSS") / 600, limit: 1 },
    { scenario: scen.b!, text: "RSS growth after listing 1,000,000 entries ≤ 250 MiB (ratio to 250 MiB)", ratio: v("b|som daemon RSS growth after listing") / 250, limit: 1 },
    { scenario: scen.c!, text: "som find ≤ 1.0 × rclone lsf -R --fast-list", ratio: v("c|som find -type f") / v("c|rclone lsf -R --fast-list"), limit: 1 },
    { scenario: scen.d!, text: "requests for ls of a known series ≤ 6 (ratio to 6)", ratio: v("d|som requests for a known series") / 6, limit: 1 },
  ];
  return { measurements, targets };
}
