// The transport limit, measured in the same run as the mounts: the same bytes
// fetched straight from the emulator by curl (one process, N transfers in
// flight) or, for random reads, by a small loop with N requests in flight.
// A mount can't beat these; the targets say how close it must come.
import { Agent, request } from "node:http";
import { join } from "node:path";
import { runTimed, type Timed } from "./harness.js";

export function mediaUrl(endpoint: string, bucket: string, name: string): string {
  return `${endpoint}/download/storage/v1/b/${bucket}/o/${encodeURIComponent(name)}?alt=media`;
}

/** One object fetched as `parallel` equal ranged GETs at once, each to its own file in `outDir`. */
export function curlRanges(url: string, size: number, parallel: number, outDir: string): Promise<Timed> {
  const part = Math.ceil(size / parallel);
  const args = ["--parallel", "--parallel-max", String(parallel), "--no-progress-meter", "--fail"];
  for (let i = 0; i * part < size; i++) {
    if (i > 0) args.push("--next");
    args.push("-r", `${i * part}-${Math.min(size, (i + 1) * part) - 1}`, "-o", join(outDir, `part-${String(i).padStart(3, "0")}`), url);
  }
  return runTimed("curl", args);
}

/** Many objects fetched whole, `parallel` at once, each to its own file in `outDir`. */
export function curlObjects(urls: { url: string; file: string }[], parallel: number, outDir: string): Promise<Timed> {
  const args = ["--parallel", "--parallel-max", String(parallel), "--no-progress-meter", "--fail"];
  urls.forEach((u, i) => {
    if (i > 0) args.push("--next");
    args.push("-o", join(outDir, u.file), u.url);
  });
  return runTimed("curl", args);
}

/** MiB/s of random aligned `bytes`-long ranged GETs of an object, `threads` in flight, for `seconds`. */
export async function randomRangesMiBps(url: string, size: number, threads: number, bytes: number, seconds: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: threads });
  const get = (start: number): Promise<number> => new Promise((resolve, reject) => {
    const req = request(url, { agent, headers: { range: `bytes=${start}-${start + bytes - 1}` } }, (res) => {
      let n = 0;
      res.on("data", (d: Buffer) => (n += d.length));
      res.on("end", () => resolve(n));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
  const until = performance.now() + seconds * 1000;
  const t0 = performance.now();
  let total = 0;
  await Promise.all(Array.from({ length: threads }, async () => {
    while (performance.now() < until) {
      const n = await get(Math.floor(Math.random() * Math.floor(size / bytes)) * bytes);
      total += n; // not `total += await`: that reads total before the wait and loses the others' bytes
    }
  }));
  agent.destroy();
  return total / 2 ** 20 / ((performance.now() - t0) / 1000);
}
