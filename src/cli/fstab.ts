// mount.fuse.som: what mount(8) runs for `mount -t fuse.som SOURCE DIR -o ...`
// and for fstab lines of type fuse.som. It is called as
//   mount.fuse.som SOURCE DIR [-sfnv] [-N ns] [-o opt[,opt...]] [-t type]
// and turns each -o option into the som mount flag of the same name
// (cache_size=2G -> --cache-size 2G, allow_other -> --allow-other), drops the
// options that are mount(8)'s or systemd's business, and starts the daemon
// with --background, so mount returns once the mount answers.
import { UsageError } from "./errors.js";

/** Options meant for mount(8), systemd or the kernel, which som has nothing to do with (som is always read-only). */
const IGNORED = new Set([
  "rw", "ro", "defaults", "auto", "noauto", "user", "nouser", "users", "owner", "group", "_netdev", "nofail",
  "dev", "nodev", "suid", "nosuid", "exec", "noexec", "async", "sync", "atime", "noatime", "relatime", "strictatime",
  "nodiratime", "diratime", "lazytime", "loud", "silent", "background", "foreground",
]);

export interface FstabCall {
  /** Arguments for `som` (starting with "mount"). */
  args: string[];
  /** -f: pretend (mount(8)'s fake mode): check the options, mount nothing. */
  fake: boolean;
  verbose: boolean;
}

/** The som arguments for one mount.fuse.som call. */
export function fstabArgs(argv: string[]): FstabCall {
  const positional: string[] = [];
  const options: string[] = [];
  let fake = false;
  let verbose = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-o") options.push(...(argv[++i] ?? "").split(","));
    else if (a.startsWith("-o")) options.push(...a.slice(2).split(","));
    else if (a === "-t" || a === "-N") i++;
    else if (/^-[sfnv]+$/.test(a)) {
      fake ||= a.includes("f");
      verbose ||= a.includes("v");
    } else if (a.startsWith("-")) throw new UsageError(`mount.fuse.som: unknown argument ${a}`);
    else positional.push(a);
  }
  if (positional.length !== 2) throw new UsageError("usage: mount.fuse.som BUCKET|gs://BUCKET[/PREFIX] MOUNTPOINT [-o option[,option...]]");
  const args = ["mount", positional[0]!, positional[1]!];
  for (const o of options) {
    if (o === "") continue;
    const eq = o.indexOf("=");
    const key = eq < 0 ? o : o.slice(0, eq);
    if (IGNORED.has(key) || key.startsWith("x-") || key === "comment") continue;
    if (!/^[a-z][a-z0-9_-]*$/.test(key)) throw new UsageError(`mount.fuse.som: bad option "${o}"`);
    const flag = `--${key.replace(/_/g, "-")}`;
    if (flag === "--background" || flag === "--foreground") continue;
    args.push(flag);
    if (eq >= 0) args.push(o.slice(eq + 1));
  }
  args.push("--background");
  return { args, fake, verbose };
}
