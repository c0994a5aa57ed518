// som status: the mounts on this host, as each daemon reports itself over its
// status socket (status/status-socket.ts).
import { Command } from "commander";
import type { MountStatus } from "../metrics/snapshot.js";
import { readStatuses } from "../status/status-socket.js";
import { formatSize } from "../util/size.js";
import { printable } from "../util/printable.js";

function duration(s: number): string {
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

const pct = (v: number | null): string => (v === null ? "-" : `${(v * 100).toFixed(0)}%`);

function row(m: MountStatus): string[] {
  const disk = m.cache.disk;
  return [
    m.mountpoint,
    `gs://${m.bucket}/${m.prefix}`,
    m.layout,
    duration(m.uptimeSeconds),
    `${formatSize(m.cache.memory.bytes)}/${formatSize(m.cache.memory.capacity)} ${pct(m.cache.memory.hitRate)}`,
    disk ? `${formatSize(disk.bytes)}/${formatSize(disk.capacity)} ${pct(disk.hitRate)}` : "-",
    String(m.gcs.requests),
    String(m.gcs.errors + m.fuse.errors + m.datastore.errors),
    pct(m.prefetch.efficiency),
    String(m.openFiles),
  ].map(printable);
}

export function statusText(mounts: MountStatus[]): string {
  if (mounts.length === 0) return "no som mounts on this host\n";
  const rows = [["MOUNTPOINT", "SOURCE", "LAYOUT", "UP", "MEMORY CACHE (HIT)", "DISK CACHE (HIT)", "REQUESTS", "ERRORS", "PREFETCH", "OPEN"], ...mounts.map(row)];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n") + "\n";
}

export function statusCommand(): Command {
  return new Command("status")
    .description("show the som mounts on this host: source, uptime, caches, requests, errors, prefetch efficiency")
    .option("--json", "print the daemons' reports as JSON")
    .action(async (f: { json?: boolean }) => {
      const { mounts, unanswered } = await readStatuses();
      if (f.json) process.stdout.write(`${JSON.stringify({ mounts, unanswered }, null, 2)}\n`);
      else process.stdout.write(statusText(mounts));
      for (const u of unanswered) process.stderr.write(`som: the daemon with pid ${u.pid} did not answer (${printable(u.error)})\n`);
    });
}
