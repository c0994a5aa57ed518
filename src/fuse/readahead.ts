// The kernel reads ahead of a FUSE reader only as far as the mount's
// backing device allows — 128 KiB unless raised, whatever the filesystem
// told it in max_readahead — so a sequential reader's requests arrive
// 256 KiB at a time. Raising it (in sysfs; root only) lets them arrive as
// large as libfuse 3 and the kernel allow, 1 MiB: an eighth of the round
// trips of libfuse 2's 128 KiB reads for the same bytes.
import { writeFile } from "node:fs/promises";
import { mounts } from "./mount-table.js";

/** What som asks of the kernel for one reader (also its max_readahead). */
export const MAX_READAHEAD = 2 * 1024 * 1024;

/** Sets the read-ahead of the FUSE mount at `mountpoint`; resolves with why not when it cannot. */
export async function raiseReadahead(mountpoint: string, bytes = MAX_READAHEAD): Promise<string | undefined> {
  // The last one listed is the one on top (a mount over a stale one).
  const rec = (await mounts()).filter((m) => m.mountpoint === mountpoint && m.fstype.startsWith("fuse")).pop();
  if (!rec) return `${mountpoint} is not a FUSE mount`;
  try {
    await writeFile(`/sys/class/bdi/${rec.device}/read_ahead_kb`, `${Math.floor(bytes / 1024)}\n`);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
