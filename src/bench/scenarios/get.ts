// som get of a 200 × 0.5 MB series against the parallel downloaders people
// use today: gcloud storage cp -r and rclone copy --transfers 16.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { SOM, clean, runTimed, scratch, type EmulatorProcess, type Timed } from "../harness.js";
import { value, type Measurement, type Target } from "../report.js";
import type { DatastoreEmulator } from "../../dev/datastore-emulator.js";
import { sameTree } from "../verify.js";

export interface GetContext {
  emulator: EmulatorProcess;
  datastore: DatastoreEmulator;
  runs: number;
  log: (s: string) => void;
  /** The published series: local copy, entity name and object prefix in bucket "bench". */
  seriesDir: string;
  entity: string;
  seriesPrefix: string;
}

export async function benchGet(ctx: GetContext): Promise<{ measurements: Measurement[]; targets: Target[] }> {
  const { emulator, datastore, entity, seriesPrefix: prefix } = ctx;
  const work = await scratch("get");
  const env = { STORAGE_EMULATOR_HOST: emulator.url, ...datastore.env };
  const gcloudEnv = emulator.gcloudEnv(join(work, "gcloud"));
  const tools: { tool: string; run: (dest: string) => Promise<Timed>; tree: (dest: string) => string }[] = [
    {
      tool: "som get (default --jobs 32)",
      run: (dest) => runTimed(SOM, ["get", "--outfolder", dest, "--suid", entity, "--bucket", "bench", "--collection", "BENCH", "--quiet"], env),
      tree: (dest) => join(dest, "BENCH", entity),
    },
    {
      tool: "gcloud storage cp -r",
      run: async (dest) => {
        await mkdir(dest, { recursive: true });
        return runTimed("gcloud", ["storage", "cp", "-r", `gs://bench/${prefix}`, dest], gcloudEnv);
      },
      tree: (dest) => join(dest, entity),
    },
    {
      tool: "rclone copy --transfers 16",
      run: (dest) => runTimed("rclone", ["copy", `:gcs:bench/${prefix}`, join(dest, entity), "--transfers", "16", ...emulator.rcloneFlags()]),
      tree: (dest) => join(dest, entity),
    },
  ];
  const runs = new Map<string, number[]>(tools.map((t) => [t.tool, []]));
  const cores = new Map<string, number[]>(tools.map((t) => [t.tool, []]));
  for (let i = 0; i < ctx.runs; i++) {
    for (const t of tools) {
      await runTimed("sync", []);
      const dest = join(work, `out-${i}-${runs.size}-${t.tool.split(" ")[0]}`);
      const timed = await t.run(dest);
      runs.get(t.tool)!.push(timed.seconds);
      cores.get(t.tool)!.push(timed.coresBusy);
      ctx.log(`get: ${t.tool}: ${timed.seconds.toFixed(2)} s, ${timed.coresBusy.toFixed(1)} cores busy`);
      // Every tool must have fetched the same bytes (som also writes its .json records).
      const mismatch = await sameTree(t.tree(dest), ctx.seriesDir, { ignore: (n) => n.endsWith(".json") });
      if (mismatch) throw new Error(`${t.tool} produced a different tree: ${mismatch}`);
      await clean(dest);
    }
  }
  await clean(work);
  const scenario = "get: 200 × 0.5 MB series";
  const measurements: Measurement[] = tools.map((t) => ({ scenario, tool: t.tool, runs: runs.get(t.tool)!, unit: "s", cores: cores.get(t.tool)! }));
  const [som, gcloud, rclone] = measurements.map(value) as [number, number, number];
  return {
    measurements,
    targets: [{ scenario, text: "som get ≤ 1.0 × the faster of gcloud storage cp -r and rclone copy --transfers 16", ratio: som / Math.min(gcloud, rclone), limit: 1.0 }],
  };
}
