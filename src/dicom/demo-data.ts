// The demo dataset: a few CT series laid out as an Imaging Data Commons bucket
// (<series_uuid>/<instance_uuid>.dcm) plus a few other files.
import { randomUUID } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { syntheticDicom, uid } from "./synthetic.js";

export interface DemoDataOptions {
  series: number;
  instancesPerSeries: number;
  rows: number;
  columns: number;
}

/** Writes the dataset under `dir`; returns the object names written. */
export async function writeDemoData(dir: string, opts: DemoDataOptions = { series: 3, instancesPerSeries: 12, rows: 128, columns: 128 }): Promise<string[]> {
  const names: string[] = [];
  const put = async (name: string, data: Buffer | string): Promise<void> => {
    const path = join(dir, name);
    await mkdir(join(path, ".."), { recursive: true });
    await writeFile(path, data);
    names.push(name);
  };
  for (let s = 1; s <= opts.series; s++) {
    const seriesUuid = randomUUID();
    for (let i = 1; i <= opts.instancesPerSeries; i++) {
      const dcm = syntheticDicom({
        patientId: `DEMO${s}`, studyUid: uid(1, s), seriesUid: uid(1, s, 1), instanceUid: uid(1, s, 1, i),
        instanceNumber: i, rows: opts.rows, columns: opts.columns, accessionNumber: `ACC${1000 + s}`,
      });
      await put(`${seriesUuid}/${randomUUID()}.dcm`, dcm);
    }
  }
  await put("README.txt", "A generated demo dataset: synthetic CT series, one folder per series.\n");
  await put("manifests/series.csv", "series,instances\n");
  return names;
}
