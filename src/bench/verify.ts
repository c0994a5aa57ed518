// Benchmarks check what they measured: every tool must produce the same bytes.
import { createHash } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import { join, relative } from "node:path";

async function hashes(dir: string, ignore: (name: string) => boolean): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (!ignore(e.name)) out.set(relative(dir, p), createHash("sha256").update(await readFile(p)).digest("hex"));
    }
  };
  await walk(dir);
  return out;
}

/** undefined when both trees hold the same files with the same bytes, else what differs. */
export async function sameTree(a: string, b: string, opts: { ignore: (name: string) => boolean }): Promise<string | undefined> {
  const [x, y] = await Promise.all([hashes(a, opts.ignore), hashes(b, opts.ignore)]);
  for (const [k, v] of y) if (x.get(k) !== v) return `${k} ${x.has(k) ? "differs" : "is missing"}`;
  for (const k of x.keys()) if (!y.has(k)) return `${k} is extra`;
  return undefined;
}
