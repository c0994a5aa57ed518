// Scratch directories for a test file or a bench run, all removed at its
// end. A mount still below one (a test that failed before unmounting, a
// daemon killed mid-run) is detached first, so nothing is deleted through
// it, and named to the caller.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { detachBelow } from "../fuse/unmount.js";

export class ScratchDirs {
  private readonly made = new Set<string>();

  constructor(private readonly prefix: string) {}

  async make(tag: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), `${this.prefix}-${tag}-`));
    this.made.add(dir);
    return dir;
  }

  /** The directories made so far, forgotten (to keep them). */
  forget(): string[] {
    const dirs = [...this.made];
    this.made.clear();
    return dirs;
  }

  /** Removes every directory made; resolves with the mounts it had to detach below them. */
  async removeAll(): Promise<string[]> {
    const dirs = this.forget();
    const detached = await detachBelow(dirs);
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    return detached;
  }
}
