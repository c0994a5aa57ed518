// The benchmark's moving parts: the GCS emulator as its own process (with
// injected latency and bandwidth), the Datastore emulator, the client
// commands' environments, and timing of whole commands.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import type { FaultOptions } from "../emulator/faults.js";
import { ScratchDirs } from "../dev/scratch.js";

export const ROOT = resolve(import.meta.dirname, "../..");
export const SOM = join(ROOT, "bin/som");

export interface Timed {
  seconds: number;
  stdout: string;
  stderr: string;
  /** Average number of CPU cores busy machine-wide while it ran (0..cores). */
  coresBusy: number;
}

/** Machine-wide busy and total CPU time so far, in clock ticks (/proc/stat). */
export function cpuTicks(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

export function coresBusy(before: { busy: number; total: number }, after: { busy: number; total: number }): number {
  const total = after.total - before.total;
  return total > 0 ? ((after.busy - before.busy) / total) * cpus().length : 0;
}

export class CommandFailed extends Error {}

/** Runs a command to completion; throws with its output if it fails. */
export function runTimed(cmd: string, args: string[], env: Record<string, string> = {}, cwd?: string): Promise<Timed> {
  return new Promise((resolvePromise, reject) => {
    const t = performance.now();
    const cpu0 = cpuTicks();
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], ...(cwd ? { cwd } : {}) });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    // "close", not "exit": exit can come before the last of stdout has been read.
    child.on("close", (code) => {
      const seconds = (performance.now() - t) / 1000;
      if (code === 0) resolvePromise({ seconds, stdout, stderr, coresBusy: coresBusy(cpu0, cpuTicks()) });
      else reject(new CommandFailed(`${cmd} ${args.slice(0, 8).join(" ")}${args.length > 8 ? " …" : ""} exited ${code}:\n${stderr.slice(-2000)}`));
    });
  });
}

/** Every scratch directory of this run, removed at its end (removeScratch). */
const scratchDirs = new ScratchDirs("som-bench");

export function scratch(tag: string): Promise<string> {
  return scratchDirs.make(tag);
}

/** Removes the run's scratch directories (the data, mount points, disk caches, the emulator's port file). */
export async function removeScratch(): Promise<void> {
  await scratchDirs.removeAll();
}

/** som-emulator in its own process, so the harness never competes with it for an event loop. */
export class EmulatorProcess {
  /** `dataDir`: where it keeps uploaded objects' bytes (seeded buckets are served from their own directories). */
  private constructor(private readonly child: ChildProcess, readonly url: string, readonly dataDir: string) {}

  /** `buckets` seeded from directories ("name=dir"); `synthetic` generated ("name:FOLDERSxFILES"). */
  static async start(buckets: string[], synthetic: string[] = []): Promise<EmulatorProcess> {
    const dir = await scratch("emulator");
    const portFile = join(dir, "port");
    const args = [...buckets.flatMap((b) => ["--bucket", b]), ...synthetic.flatMap((s) => ["--synthetic", s])];
    const dataDir = join(dir, "data");
    const child = spawn(join(ROOT, "bin/som-emulator"), [...args, "--port-file", portFile, "--data-dir", dataDir], {
      stdio: ["ignore", "ignore", "inherit"],
    });
    for (let i = 0; i < 200; i++) {
      const port = (await readFile(portFile, "utf8").catch(() => "")).trim();
      if (port) return new EmulatorProcess(child, `http://127.0.0.1:${port}`, dataDir);
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill();
    throw new Error("som-emulator did not start");
  }

  get pid(): number {
    return this.child.pid!;
  }

  async faults(f: Partial<FaultOptions>): Promise<void> {
    const r = await fetch(`${this.url}/_emulator/faults`, { method: "POST", body: JSON.stringify(f) });
    if (!r.ok) throw new Error(`setting faults: ${r.status}`);
  }

  async resetStats(): Promise<void> {
    await fetch(`${this.url}/_emulator/reset`, { method: "POST" });
  }

  async stats(): Promise<Record<string, number>> {
    return (await (await fetch(`${this.url}/_emulator/stats`)).json()) as Record<string, number>;
  }

  /** Environment for gcloud storage against this emulator. */
  gcloudEnv(configDir: string): Record<string, string> {
    return {
      CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE: `${this.url}/`, CLOUDSDK_AUTH_ACCESS_TOKEN: "bench",
      CLOUDSDK_CORE_DISABLE_PROMPTS: "1", CLOUDSDK_CORE_PROJECT: "bench", CLOUDSDK_CONFIG: configDir,
    };
  }

  /** rclone flags for an on-the-fly remote on this emulator. */
  rcloneFlags(): string[] {
    return ["--config", "/dev/null", "--gcs-endpoint", `${this.url}/storage/v1/`, "--gcs-anonymous"];
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const gone = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGTERM");
    await gone;
  }
}

/**
 * Reads the files the emulator serves from into the page cache, untimed: `path` is a seeded bucket's
 * directory (or file) or the emulator's data directory (uploaded objects). The mount scenario's
 * remount runs drop the kernel's caches, so without this the first cold read after them would also
 * wait on this machine's disk, which real GCS has no part in (and the tools measured after it would
 * not).
 */
export async function warmFiles(path: string): Promise<void> {
  // Through bash, for the redirect: runTimed keeps a command's stdout.
  await runTimed("bash", ["-c", 'find "$1" -type f -exec cat {} + > /dev/null', "warm", path]);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Runs `once` `runs` times (after `setup` each time) and returns every duration in seconds. */
export async function repeat(runs: number, once: () => Promise<number>, setup?: () => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    await setup?.();
    out.push(await once());
  }
  return out;
}

export async function clean(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
