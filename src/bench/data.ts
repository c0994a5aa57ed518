// The benchmark's data, generated locally and then served by the emulator:
// a 200 × 0.5 MB CT series (published with som upload, records included), a
// 512 MiB volume, a wide tree (a 1,200-entry directory and more), and for the
// random-access scenario a 1 GiB whole-slide DICOM.
import { randomBytes } from "node:crypto";
import { mkdir, open, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { writeDemoStudy } from "../dicom/demo-data.js";
import { writeSlideDicom } from "../dicom/slide.js";

export interface BenchData {
  seriesDir: string;
  entity: string;
  /** Local files of the series, for som upload. */
  seriesFiles: string[];
  bigDir: string;
  bigFile: string;
  wideDir: string;
  /** A whole-slide DICOM (slide.dcm), when asked for. */
  slideDir?: string;
  slideSize?: number;
}

export async function makeData(root: string, bigMiB: number, slideMiB = 0): Promise<BenchData> {
  const [patient] = await writeDemoStudy(join(root, "series"), { patients: 1, series: 1, instancesPerSeries: 200, rows: 512, columns: 512 });
  const entity = patient!.entity;
  // The study helper adds a report; the series is the 200 images.
  const seriesFiles = patient!.files.filter((f) => f.endsWith(".dcm"));
  await import("node:fs/promises").then((fs) => fs.rm(join(root, "series", entity, "report.txt")));

  const bigDir = join(root, "big");
  await mkdir(bigDir, { recursive: true });
  const bigFile = join(bigDir, "volume.bin");
  const fh = await open(bigFile, "w");
  const chunk = randomBytes(8 * 2 ** 20);
  for (let i = 0; i < bigMiB / 8; i++) {
    chunk.writeUInt32LE(i, 0); // every chunk distinct, so a misplaced block can't hash the same
    await fh.write(chunk);
  }
  await fh.close();

  const wideDir = join(root, "wide");
  await mkdir(join(wideDir, "series"), { recursive: true });
  for (let i = 1; i <= 1200; i++) await writeFile(join(wideDir, "series", `${String(i).padStart(4, "0")}.dcm`), `instance ${i}\n`);
  for (let d = 1; d <= 10; d++) {
    await mkdir(join(wideDir, `study${d}`, "sub"), { recursive: true });
    for (let i = 1; i <= 50; i++) await writeFile(join(wideDir, `study${d}`, i % 2 ? "sub" : "", `${i}.dcm`), `file ${d}/${i}\n`);
  }
  const out: BenchData = { seriesDir: join(root, "series", entity), entity, seriesFiles, bigDir, bigFile, wideDir };
  if (slideMiB > 0) {
    const slideDir = join(root, "slide");
    await mkdir(slideDir);
    const slide = await writeSlideDicom(join(slideDir, "slide.dcm"), slideMiB * 2 ** 20);
    return { ...out, slideDir, slideSize: slide.size };
  }
  return out;
}
