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

export interface DemoPatient {
  /** Entity name (a coded patient id). */
  entity: string;
  /** Local files: images, then a report. */
  files: string[];
  accessionNumber: string;
}

/**
 * A study laid out for `som upload`: one folder per coded patient with its CT
 * images (named by SOP instance UID, dots and all) and a text report.
 */
export async function writeDemoStudy(dir: string, opts: DemoDataOptions & { patients: number }): Promise<DemoPatient[]> {
  const out: DemoPatient[] = [];
  for (let p = 1; p <= opts.patients; p++) {
    const entity = `SUID${100 + p}`;
    const accessionNumber = `ACC${2000 + p}`;
    const folder = join(dir, entity);
    await mkdir(folder, { recursive: true });
    const files: string[] = [];
    for (let i = 1; i <= opts.instancesPerSeries; i++) {
      const instanceUid = uid(2, p, 1, i);
      const path = join(folder, `${instanceUid}.dcm`);
      await writeFile(path, syntheticDicom({
        patientId: entity, studyUid: uid(2, p), seriesUid: uid(2, p, 1), instanceUid,
        instanceNumber: i, rows: opts.rows, columns: opts.columns, accessionNumber,
      }));
      files.push(path);
    }
    const report = join(folder, "report.txt");
    await writeFile(report, `Patient ${entity}, accession ${accessionNumber}: synthetic CT, no findings.\n`);
    files.push(report);
    out.push({ entity, files, accessionNumber });
  }
  return out;
}
