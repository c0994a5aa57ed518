// som mount <bucket> <mountpoint>: option parsing and the daemon's lifecycle
// (signals, external unmount, --background hand-off). The work is in
// app/mount-app.ts.
import { spawn } from "node:child_process";
import { openSync, writeSync } from "node:fs";
import { tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { Command, Option } from "commander";
import type { MountConfig } from "../app/mount-app.js";
import { defaultListingOptions } from "../listing/listing-options.js";
import { parseSize } from "../util/size.js";
import { StreamLogger, type LogFormat, type LogLevel } from "../util/log.js";
import { billingArg, checkBucket, datastoreProject, idArg, intInRange, positiveInt, prefixArg, storageTarget } from "./common.js";
import { UsageError, describe, setDebug } from "./errors.js";

interface MountFlags {
  endpoint?: string;
  anonymous?: boolean;
  prefix?: string;
  cacheSize: string;
  metadataTtl: string;
  uid?: string;
  gid?: string;
  allowOther?: boolean;
  background?: boolean;
  foreground?: boolean;
  logFile?: string;
  debug?: boolean;
  layout: string;
  project?: string;
  prefetch: boolean;
  listConcurrency: string;
  listingCacheEntries: string;
  cacheDir?: string;
  cacheDirSize: string;
  fileMode: string;
  dirMode: string;
  billingProject?: string;
  metricsPort?: string;
  metricsAddress: string;
  logFormat: LogFormat;
  logLevel?: LogLevel;
  limitBytesPerSec?: string;
  limitOpsPerSec?: string;
  prealloc: string;
}

/** An octal permission mode, 0 to 0777 ("0644", "644", "0o644"). */
function modeArg(flag: string, v: string): number {
  const m = /^(?:0o?)?([0-7]{1,3})$/i.exec(v);
  if (!m) throw new UsageError(`${flag} must be an octal mode such as 0444 or 0755, not "${v}"`);
  return parseInt(m[1]!, 8);
}

/** --limit-bytes-per-sec and --limit-ops-per-sec. */
function limitArgs(f: MountFlags): { limitBytesPerSec?: number; limitOpsPerSec?: number } {
  const out: { limitBytesPerSec?: number; limitOpsPerSec?: number } = {};
  if (f.limitBytesPerSec !== undefined) {
    let n: number;
    try {
      n = parseSize(f.limitBytesPerSec);
    } catch (e) {
      throw new UsageError(`bad --limit-bytes-per-sec: ${describe(e)}`);
    }
    // Below this a single 256 KiB page takes seconds and every read risks the operation deadline.
    if (n < 2 ** 20) throw new UsageError("--limit-bytes-per-sec must be at least 1MiB");
    out.limitBytesPerSec = n;
  }
  if (f.limitOpsPerSec !== undefined) out.limitOpsPerSec = intInRange("--limit-ops-per-sec", f.limitOpsPerSec, 1, 1_000_000);
  return out;
}

/** --cache-dir and --cache-dir-size, checked. */
function cacheDirArgs(f: MountFlags, mountpoint: string): { cacheDir?: string; cacheDirSize: number } {
  let size: number;
  try {
    size = parseSize(f.cacheDirSize);
  } catch (e) {
    throw new UsageError(`bad --cache-dir-size: ${describe(e)}`);
  }
  if (size < 16 * 2 ** 20) throw new UsageError("--cache-dir-size must be at least 16MiB");
  if (f.cacheDir === undefined) return { cacheDirSize: size };
  const dir = resolve(f.cacheDir);
  const mnt = resolve(mountpoint);
  if (dir === mnt || dir.startsWith(`${mnt}/`)) throw new UsageError(`--cache-dir ${f.cacheDir} is inside the mountpoint; put it on a local disk`);
  return { cacheDir: dir, cacheDirSize: size };
}

/** --prealloc: "auto" or a size no larger than --cache-size (its memory is the cache's). */
function preallocArg(v: string, cacheSize: number): number | "auto" {
  if (v === "auto") return "auto";
  let n: number;
  try {
    n = parseSize(v);
  } catch (e) {
    throw new UsageError(`bad --prealloc: ${describe(e)}, or auto`);
  }
  if (n > cacheSize) throw new UsageError("--prealloc must be at most --cache-size: the memory it touches is the cache's");
  return n;
}

/** Listings and attributes trusted for at most a year: beyond, timer and kernel arithmetic stop meaning it. */
const MAX_TTL_SECONDS = 365 * 24 * 3600;

/** "bucket", or "gs://bucket[/prefix]" as the console and gsutil print it (the prefix then stands for --prefix). */
export function splitSource(source: string): { bucket: string; prefix?: string } {
  const m = /^gs:\/\/([^/]*)\/?(.*)$/.exec(source);
  if (!m) return { bucket: source };
  return m[2] ? { bucket: m[1]!, prefix: m[2] } : { bucket: m[1]! };
}

export function toConfig(source: string, mountpoint: string, f: MountFlags): MountConfig {
  const { bucket, prefix: inSource } = splitSource(source);
  checkBucket(bucket);
  if (inSource !== undefined && f.prefix !== undefined) throw new UsageError(`give the prefix once: in ${source} or with --prefix, not both`);
  let cacheSize: number;
  try {
    cacheSize = parseSize(f.cacheSize);
  } catch (e) {
    throw new UsageError(`bad --cache-size: ${describe(e)}`);
  }
  if (cacheSize < 1024 * 1024) throw new UsageError(`--cache-size must be at least 1MiB`);
  // The cache is memory: more than the machine has can only end in the OOM killer.
  if (cacheSize > totalmem()) throw new UsageError(`--cache-size ${f.cacheSize} is more than this machine's memory (${(totalmem() / 2 ** 30).toFixed(1)} GiB)`);
  const target = storageTarget(f.endpoint, !!f.anonymous);
  const prefix = prefixArg(inSource ?? f.prefix);
  const project = datastoreProject(f.project);
  return {
    bucket, mountpoint,
    ...target,
    ...(prefix ? { prefix } : {}),
    cacheSize,
    metadataTtlSeconds: intInRange("--metadata-ttl", f.metadataTtl, 0, MAX_TTL_SECONDS, `at most ${MAX_TTL_SECONDS} seconds (a year)`),
    uid: f.uid !== undefined ? idArg("--uid", f.uid) : process.getuid?.() ?? 0,
    gid: f.gid !== undefined ? idArg("--gid", f.gid) : process.getgid?.() ?? 0,
    allowOther: !!f.allowOther,
    debug: !!f.debug,
    prefetch: f.prefetch,
    listConcurrency: positiveInt("--list-concurrency", f.listConcurrency),
    ...cacheDirArgs(f, mountpoint),
    listingCacheEntries: positiveInt("--listing-cache-entries", f.listingCacheEntries),
    layout: f.layout as MountConfig["layout"],
    ...(project ? { project } : {}),
    fileMode: modeArg("--file-mode", f.fileMode),
    dirMode: modeArg("--dir-mode", f.dirMode),
    ...(f.billingProject !== undefined ? { billingProject: billingArg(f.billingProject) } : {}),
    ...(f.metricsPort !== undefined ? { metricsPort: intInRange("--metrics-port", f.metricsPort, 0, 65535) } : {}),
    metricsAddress: f.metricsAddress,
    ...limitArgs(f),
    prealloc: preallocArg(f.prealloc, cacheSize),
  };
}

/** The daemon's logger: --log-file (appended) or stderr, in --log-format, at --log-level. */
export function daemonLogger(f: Pick<MountFlags, "logFile" | "logFormat" | "logLevel" | "debug">): StreamLogger {
  const level: LogLevel = f.logLevel ?? (f.debug ? "debug" : "info");
  let write = (line: string): void => void process.stderr.write(line);
  if (f.logFile !== undefined) {
    let fd: number;
    try {
      fd = openSync(f.logFile, "a", 0o640);
    } catch (e) {
      throw new UsageError(`cannot write --log-file ${f.logFile}: ${describe(e)}`);
    }
    // Synchronous, like stderr to a file: lines are short and a crash must not lose the last ones.
    write = (line) => void writeSync(fd, line);
  }
  return new StreamLogger(level, write, "som", f.logFormat);
}

/** Runs the daemon in this process until signalled or unmounted from outside. */
async function runForeground(cfg: MountConfig, log: StreamLogger): Promise<void> {
  // Loaded here, not at the top: other subcommands shouldn't pay for FUSE and its native addons.
  const { startMount } = await import("../app/mount-app.js");
  const running = await startMount(cfg, log);
  const { mount, fs } = running;
  const where = `gs://${cfg.bucket}/${cfg.prefix ? `${cfg.prefix}/` : ""}`;
  log.info(`mounted ${where} at ${mount.mountpoint} (read-only); stop with Ctrl-C or som umount ${mount.mountpoint}`);
  process.send?.({ type: "ready" });
  if (process.send) process.disconnect();
  const stop = (signal: string): void => {
    log.info(`${signal}: unmounting ${mount.mountpoint}`);
    try {
      mount.unmount();
    } catch (e) {
      log.error(describe(e));
      process.exit(1);
    }
    void running.close().finally(() => process.exit(0));
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGHUP", () => stop("SIGHUP"));
  await mount.whenGone(() => fs.openFiles);
  await running.close();
  log.info(`${mount.mountpoint} was unmounted; exiting`);
  process.exit(0);
}

/** The message of an error line of the daemon's log (either format, or the CLI's own "som: ..."). */
function errorOf(line: string): string | undefined {
  if (line.startsWith("som: ")) return line.slice(5);
  if (line.startsWith("{")) {
    try {
      const e = JSON.parse(line) as { level?: string; msg?: string };
      return e.level === "error" ? e.msg : undefined;
    } catch {
      return undefined;
    }
  }
  const m = /^\S+ som error: (.*)$/.exec(line);
  return m ? m[1] : undefined;
}

/**
 * Starts the daemon as a detached child and returns once the mount answers,
 * or fails with the child's reason. The CLI process spawns; the daemon never does.
 */
async function runBackground(cfg: MountConfig, argv: string[], logFile: string): Promise<void> {
  const args = argv.slice(1).filter((a) => a !== "--background");
  const out = openSync(logFile, "a");
  const child = spawn(process.execPath, [...process.execArgv, ...args, "--foreground"], {
    detached: true, stdio: ["ignore", out, out, "ipc"],
  });
  const outcome = await new Promise<{ ok: true } | { ok: false; reason: string }>((resolvePromise) => {
    child.once("message", (m: { type?: string }) => {
      if (m?.type === "ready") resolvePromise({ ok: true });
    });
    child.once("exit", (code) => resolvePromise({ ok: false, reason: `the mount daemon exited (${code}); see ${logFile}` }));
  });
  if (!outcome.ok) {
    const { readFile } = await import("node:fs/promises");
    const lines = (await readFile(logFile, "utf8").catch(() => "")).trim().split("\n");
    throw new UsageError(lines.reverse().map(errorOf).find((m) => m !== undefined) ?? outcome.reason);
  }
  child.unref();
  child.disconnect?.();
  process.stdout.write(`mounted gs://${cfg.bucket}/${cfg.prefix ? `${cfg.prefix}/` : ""} at ${resolve(cfg.mountpoint)} (daemon pid ${child.pid}, log ${logFile})\n`);
}

export function mountCommand(): Command {
  return new Command("mount")
    .description("mount a GCS bucket (or a prefix of it) read-only at a directory")
    .argument("<bucket>", "bucket name, e.g. idc-open-data, or gs://bucket/prefix")
    .argument("<mountpoint>", "an existing empty directory")
    .option("--endpoint <url>", "storage endpoint, e.g. a private one; credentials are sent (default: $STORAGE_EMULATOR_HOST without credentials, else Google)")
    .option("--anonymous", "send no credentials (public buckets)")
    .option("--prefix <prefix>", "mount only this sub-tree of the bucket")
    .option("--cache-size <size>", "memory for cached object data (e.g. 512MiB, 2G)", "512MiB")
    .option("--prealloc <size>", "memory of --cache-size touched as the mount starts, so the first reads don't wait on page faults (auto: one reader's read-ahead, none with --cache-dir; 0: none)", "auto")
    .option("--metadata-ttl <seconds>", "how long listings and attributes are trusted", "60")
    .addOption(new Option("--layout <layout>", "som: Collection/<c>/Entity/<e>/<file> as <c>/<e>/<file>; raw: object names as paths").choices(["auto", "som", "raw"]).default("auto"))
    .option("--project <id>", "Datastore project for sidecar .json records (default: $GOOGLE_CLOUD_PROJECT, $DATASTORE_PROJECT_ID)")
    .option("--no-prefetch", "fetch only what is read: no read-ahead, no series or directory prefetch")
    .option("--cache-dir <dir>", "a disk cache for object bytes, below the memory cache (created if missing)")
    .option("--cache-dir-size <size>", "most the disk cache holds (it also always leaves 5% of its file system free)", "10GiB")
    .option("--list-concurrency <n>", "list requests in flight at once (big directories are listed in parallel key ranges)", String(defaultListingOptions.concurrency))
    .option("--listing-cache-entries <n>", "directory entries kept in memory across cached listings (~100 bytes each)", String(defaultListingOptions.entryBudget))
    .option("--uid <uid>", "owner shown for files (default: yours)")
    .option("--gid <gid>", "group shown for files (default: yours)")
    .option("--allow-other", "let other users see the mount (needs user_allow_other in /etc/fuse.conf)")
    .addOption(new Option("--foreground", "stay attached until unmounted (default)").conflicts("background"))
    .option("--background", "return once the mount answers; the daemon keeps running")
    .option("--file-mode <mode>", "permission bits shown for files (octal)", "0444")
    .option("--dir-mode <mode>", "permission bits shown for directories (octal)", "0555")
    .option("--billing-project <id>", "project billed for requests to a requester-pays bucket (sent as userProject)")
    .option("--limit-bytes-per-sec <size>", "most object bytes fetched per second (e.g. 50MiB), for shared links")
    .option("--limit-ops-per-sec <n>", "most requests sent to Cloud Storage per second")
    .option("--metrics-port <port>", "serve Prometheus metrics at http://ADDRESS:PORT/metrics (0: any free port, logged)")
    .option("--metrics-address <addr>", "address for --metrics-port", "127.0.0.1")
    .option("--log-file <path>", "append the daemon's log here (default: stderr; with --background a file in the temp directory)")
    .addOption(new Option("--log-format <format>", "one event per line as text or as JSON").choices(["text", "json"]).default("text"))
    .addOption(new Option("--log-level <level>", "least severe events logged (default: info, debug with --debug)").choices(["debug", "info", "warn", "error"]))
    .option("--debug", "verbose logging and stack traces")
    .action(async (bucket: string, mountpoint: string, flags: MountFlags) => {
      flags.debug ||= process.argv.includes("--debug"); // also given before the subcommand
      setDebug(flags.debug);
      const cfg = toConfig(bucket, mountpoint, flags);
      if (flags.background) {
        const logFile = flags.logFile ?? join(tmpdir(), `som-mount-${process.getuid?.() ?? 0}-${resolve(mountpoint).replace(/[^A-Za-z0-9]+/g, "_")}.log`);
        await runBackground(cfg, process.argv, logFile);
        return;
      }
      await runForeground(cfg, daemonLogger(flags));
    });
}


