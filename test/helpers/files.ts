import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, open, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { detachBelow } from "../../src/fuse/unmount.js";

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
const made = new Set<string>();

export async function tempDir(tag: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `som-test-${tag}-`));
  made.add(dir);
  return dir;
}

/**
 * Removes every scratch directory this file made (kept when SOM_TEST_KEEP is
 * set, to look at after a failure). A mount still below one is detached
 * first, so nothing is deleted through it, and then reported: a test must
 * unmount what it mounts.
 */
export async function removeTempDirs(): Promise<void> {
  const dirs = [...made];
  made.clear();
  if (process.env.SOM_TEST_KEEP) {
    if (dirs.length > 0) console.error(`kept ${dirs.length} scratch directories (SOM_TEST_KEEP): ${dirs.join(" ")}`);
    return;
  }
  const left = await detachBelow(dirs);
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
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
