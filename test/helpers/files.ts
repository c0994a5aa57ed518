import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, readdir } from "node:fs/promises";
import { join, relative } from "node:path";
import { ScratchDirs } from "../../src/dev/scratch.js";

export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return h.digest("hex");
}

export const sha256 = (b: Buffer | string): string => createHash("sha256").update(b).digest("hex");

export async function writeRandomFile(path: string, size: number): Promise<void> {
  const f = await open(path, "w");
  try {
    for (let done = 0; done < size; ) {
      const n = Math.min(8 << 20, size - done);
      await f.write(randomBytes(n));
      done += n;
    }
  } finally {
    await f.close();
  }
}

/** Scratch directories made by this test file, removed after it (setup.ts). */
const scratch = new ScratchDirs("som-test");

export function tempDir(tag: string): Promise<string> {
  return scratch.make(tag);
}

/**
 * Removes every scratch directory this file made (kept when SOM_TEST_KEEP is
 * set, to look at after a failure), and fails for a mount still below one:
 * a test must unmount what it mounts.
 */
export async function removeTempDirs(): Promise<void> {
  if (process.env.SOM_TEST_KEEP) {
    const kept = scratch.forget();
    if (kept.length > 0) console.error(`kept ${kept.length} scratch directories (SOM_TEST_KEEP): ${kept.join(" ")}`);
    return;
  }
  const left = await scratch.removeAll();
  if (left.length > 0) throw new Error(`left mounted by the tests, detached now: ${left.join(", ")}`);
}

/** Relative path -> sha256 of every file under dir. */
export async function treeHashes(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.set(relative(dir, p), await sha256File(p));
    }
  };
  await walk(dir);
  return out;
}
