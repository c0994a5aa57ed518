// som umount <mountpoint>: detach a som mount; its daemon notices and exits.
import { Command } from "commander";
import { fuseMountAt } from "../fuse/mount-table.js";
import { UsageError } from "./errors.js";

export function umountCommand(): Command {
  return new Command("umount")
    .description("unmount a som mount")
    .argument("<mountpoint>")
    .option("--lazy", "detach even if files are open (they finish first)")
    .action(async (mountpoint: string, flags: { lazy?: boolean }) => {
      if (!(await fuseMountAt(mountpoint))) throw new UsageError(`${mountpoint} is not mounted`);
      const { unmount } = await import("../fuse/unmount.js"); // koffi: only when unmounting
      unmount(mountpoint, !!flags.lazy);
    });
}
