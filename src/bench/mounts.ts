// Mounts for the benchmark: som's daemon and `rclone mount`, each started
// fresh (cold caches) and stopped cleanly, and the daemon's peak RSS.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fuseMountAt } from "../fuse/mount-table.js";
import { raiseReadahead } from "../fuse/readahead.js";
import { unmount } from "../fuse/unmount.js";
import { ROOT, SOM, runTimed, scratch, type EmulatorProcess } from "./harness.js";

export interface BenchMount {
  dir: string;
  pid: number;
  stop(): Promise<void>;
}

/** Until `dir` is a FUSE mount and, when given, `ready` has resolved; throws if the child exits first or 30 s pass. */
async function waitMounted(dir: string, child: ChildProcess, log: () => string, ready?: Promise<void>): Promise<void> {
  const deadline = Date.now() + 30_000;
  let isReady = ready === undefined;
  void ready?.then(() => (isReady = true));
  while (!isReady || !(await fuseMountAt(dir))) {
    if (child.exitCode !== null) throw new Error(`mount exited ${child.exitCode}: ${log()}`);
    if (Date.now() > deadline) throw new Error(`mount did not appear: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stopChild(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode === null) {
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))]);
  }
  if (await fuseMountAt(dir)) unmount(dir, true);
}

export async function somMount(emulator: EmulatorProcess, bucket: string, extra: string[] = []): Promise<BenchMount> {
  const dir = join(await scratch("som-mnt"), "mnt");
  await mkdir(dir);
  // An IPC channel, as `som mount --background` starts its daemon: a mount is used once the daemon
  // says "ready" (its read-ahead raised, its endpoints up), as users get it, not as soon as it appears.
  const child = spawn(SOM, ["mount", bucket, dir, ...extra], { stdio: ["ignore", "ignore", "pipe", "ipc"], env: { ...process.env, STORAGE_EMULATOR_HOST: emulator.url } });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const ready = new Promise<void>((resolve) => child.on("message", (m: { type?: string }) => m?.type === "ready" && resolve()));
  await waitMounted(dir, child, () => err, ready);
  if (child.connected) child.disconnect();
  return { dir, pid: child.pid!, stop: () => stopChild(child, dir) };
}

/** rclone mount with its defaults (no VFS cache) unless `extra` says otherwise, read-only, as a user would start it. */
export async function rcloneMount(emulator: EmulatorProcess, bucket: string, extra: string[] = []): Promise<BenchMount> {
  const dir = join(await scratch("rclone-mnt"), "mnt");
  await mkdir(dir);
  const child = spawn("rclone", ["mount", `:gcs:${bucket}`, dir, "--read-only", ...emulator.rcloneFlags(), ...extra], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  await waitMounted(dir, child, () => err);
  return { dir, pid: child.pid!, stop: () => stopChild(child, dir) };
}

/**
 * scripts/bench/fuse-floor.c serving `source` (a flat directory) from memory:
 * FUSE's own cost, with som's mount options and read-ahead and no
 * JavaScript. Built here with cc against libfuse 3, as som's binding is.
 */
export async function floorMount(source: string, opts: { passthrough?: boolean } = {}): Promise<BenchMount> {
  const work = await scratch("fuse-floor");
  const bin = join(work, "fuse-floor");
  // The passthrough floor needs libfuse 3.17, the one setup builds for som's binding (Debian 12 has 3.14).
  const libfuse = join(ROOT, ".tools/libfuse3/lib");
  const env: Record<string, string> = opts.passthrough ? { PKG_CONFIG_PATH: join(libfuse, "pkgconfig") } : {};
  const flags = (await runTimed("pkg-config", ["--cflags", "--libs", "fuse3"], env)).stdout.trim().split(/\s+/);
  const extra = opts.passthrough ? ["-DFLOOR_PASSTHROUGH", `-Wl,-rpath,${libfuse}`] : [];
  await runTimed("cc", ["-O2", "-D_FILE_OFFSET_BITS=64", ...extra, join(ROOT, "scripts/bench/fuse-floor.c"), "-o", bin, ...flags]);
  const dir = join(work, "mnt");
  await mkdir(dir);
  // No auto_cache with passthrough: it marks re-opens keep-cache, which the kernel refuses for them (as for som).
  const mountOpts = `ro,attr_timeout=60,entry_timeout=60${opts.passthrough ? "" : ",auto_cache"}`;
  const child = spawn(bin, [source, dir, "-f", "-o", mountOpts], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  await waitMounted(dir, child, () => err);
  const why = await raiseReadahead(dir);
  if (why) {
    await stopChild(child, dir);
    throw new Error(`the C floor's read-ahead: ${why}`);
  }
  return { dir, pid: child.pid!, stop: () => stopChild(child, dir) };
}

/** What process `pid` has used so far: CPU time (user + system, and system alone) in ms (ticks of 10 ms), minor page faults. */
export async function usage(pid: number): Promise<{ cpuMs: number; systemMs: number; faults: number }> {
  const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]!.split(" ");
  return { cpuMs: (Number(fields[11]) + Number(fields[12])) * 10, systemMs: Number(fields[12]) * 10, faults: Number(fields[7]) };
}

/** Peak resident set size of a process so far (VmHWM), in MiB. */
export async function peakRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? "0");
  return kb / 1024;
}
