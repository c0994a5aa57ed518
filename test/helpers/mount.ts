// Real mounts for tests: `som mount` runs as its own process (the daemon), and
// every mount is unmounted afterwards even when the test failed.
import type { ChildProcess } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { fuseMountAt } from "../../src/fuse/mount-table.js";
import { UnmountError, unmount } from "../../src/fuse/unmount.js";
import { spawnSom, waitExit, waitForStderr } from "./proc.js";
import { tempDir } from "./files.js";

export class TestMount {
  stderr = "";

  private constructor(readonly dir: string, readonly child: ChildProcess) {
    child.stderr!.on("data", (d: Buffer) => (this.stderr += d.toString()));
  }

  static async start(bucket: string, endpoint: string, extra: string[] = [], dir?: string, env: NodeJS.ProcessEnv = {}): Promise<TestMount> {
    let mnt = dir;
    if (!mnt) {
      mnt = join(await tempDir("mnt"), "mnt");
      await mkdir(mnt);
    }
    // The emulator is named by its variable, as with the Google tools: no credentials are sent.
    // Body pages given back for reuse are filled with 0xa5 (util/page-pool.ts): a page reused while
    // something still reads it shows in every test's hashes as wrong bytes, not stale ones.
    const child = spawnSom(["mount", bucket, mnt, ...extra], { STORAGE_EMULATOR_HOST: endpoint, SOM_PAGE_PERTURB: "165", ...env });
    const m = new TestMount(mnt, child);
    live.add(m);
    // The daemon says so once the kernel has sent FUSE init (a stale mount may still be listed before that).
    await waitForStderr(child, / info: mounted gs:\/\//, m.stderr).catch((err: unknown) => {
      throw new Error(`som mount did not mount: ${err instanceof Error ? err.message : String(err)}`);
    });
    if (!(await fuseMountAt(mnt))) throw new Error(`the daemon says mounted but ${mnt} is not: ${m.stderr}`);
    return m;
  }

  /** SIGTERM the daemon and make sure nothing is left mounted. */
  async stop(): Promise<void> {
    live.delete(this);
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGTERM");
      await waitExit(this.child).catch(() => this.child.kill("SIGKILL"));
    }
    if (await fuseMountAt(this.dir)) {
      try {
        unmount(this.dir, true);
      } catch (err) {
        // Another TestMount on the same directory (a remount) may have gone first.
        if (!(err instanceof UnmountError && err.errno === 22)) throw err;
      }
    }
  }
}

const live = new Set<TestMount>();

export async function stopAllMounts(): Promise<void> {
  await Promise.all([...live].map((m) => m.stop()));
}
