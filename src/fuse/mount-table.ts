// Reading /proc/self/mountinfo: is a path a FUSE mount right now?
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export interface MountRecord {
  mountpoint: string;
  /** "major:minor" of the mounted file system (its name under /sys/class/bdi). */
  device: string;
  fstype: string;
  source: string;
  options: string;
}

export async function mounts(): Promise<MountRecord[]> {
  const text = await readFile("/proc/self/mountinfo", "utf8");
  const out: MountRecord[] = [];
  for (const line of text.split("\n")) {
    const dash = line.indexOf(" - ");
    if (dash < 0) continue;
    const left = line.slice(0, dash).split(" ");
    const right = line.slice(dash + 3).split(" ");
    out.push({ mountpoint: unescape(left[4] ?? ""), device: left[2] ?? "", options: left[5] ?? "", fstype: right[0] ?? "", source: unescape(right[1] ?? "") });
  }
  return out;
}

export async function fuseMountAt(path: string): Promise<MountRecord | undefined> {
  const abs = resolve(path);
  return (await mounts()).find((m) => m.mountpoint === abs && m.fstype.startsWith("fuse"));
}
