// Generates the demo's local files: a som study (one folder per coded patient)
// and an Imaging Data Commons style tree. Prints the patients as JSON lines.
import { writeDemoData, writeDemoStudy } from "../../dist/dicom/demo-data.js";

const [dir] = process.argv.slice(2);
const patients = await writeDemoStudy(`${dir}/study`, { patients: 3, series: 1, instancesPerSeries: 24, rows: 128, columns: 128 });
await writeDemoData(`${dir}/idc`, { series: 2, instancesPerSeries: 12, rows: 128, columns: 128 });
for (const p of patients) console.log(JSON.stringify(p));
