// A soak: many readers reading files through a mount for a long time while
// the storage service misbehaves in turns (503s, bodies cut short, a storm
// of 503s, slow answers). Every read is checked against the file's SHA-256;
// the daemon's resident memory is sampled throughout and its trend after
// warm-up reported as a slope. Shared by `npm run bench` (10 minutes) and
// the suite (one minute).
//
// Each read is `dd iflag=nocache | sha256sum`: dd drops the pages it read,
// so the next read of the file goes to the daemon instead of the kernel's
// page cache.
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { FaultOptions } from "../emulator/faults.js";

export interface SoakFile {
  /** Path under the mount. */
  path: string;
  sha256: string;
  size: number;
}

export interface SoakPhase {
  label: string;
  ms: number;
  faults: Partial<FaultOptions>;
}

export interface SoakOptions {
  mountDir: string;
  daemonPid: number;
  files: SoakFile[];
  readers: number;
  durationMs: number;
  /** Cycled for the whole duration. */
  phases: SoakPhase[];
  setFaults: (f: Partial<FaultOptions>) => Promise<void>;
  sampleEveryMs: number;
  /** Share of the duration before memory is judged. */
  warmupFraction: number;
  log?: (s: string) => void;
}

export interface SoakReport {
  reads: number;
  bytes: number;
  /** Reads whose bytes differed from the file's, and the first few (file, phase). */
  wrong: number;
  wrongSamples: string[];
  /** Reads that failed (non-zero exit), with the first few messages. */
  errors: number;
  errorSamples: string[];
  rss: { seconds: number; mib: number }[];
  /** Least-squares trend of RSS after warm-up, MiB per minute. */
  slopeMiBPerMinute: number;
  peakMiB: number;
  readsByPhase: Record<string, number>;
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? "0") / 1024;
}

/** One read of a file through the mount: its SHA-256 and size, or the failure. */
function readOnce(path: string): Promise<{ sha256: string; ok: true } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    const keep = process.env.SOM_SOAK_KEEP_DIR;
    const script = keep
      ? 'f=$(mktemp -p "$2" "$(basename "$1").XXXX"); dd if="$1" iflag=nocache bs=1M status=none > "$f"; s=$?; sha256sum < "$f" | sed "s|-|$f|"; exit $s'
      : 'dd if="$1" iflag=nocache bs=1M status=none | sha256sum; exit ${PIPESTATUS[0]}';
    const child = spawn("bash", ["-c", script, "soak", path, keep ?? ""], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    // "close", not "exit": exit can come before the last of stdout has been read.
    child.on("close", (code) => resolve(code === 0 ? { ok: true, sha256: out.split(" ")[0]! } : { ok: false, error: err.trim() || `exit ${code}` }));
  });
}

/** Slope of y over x (least squares). */
export function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  const num = points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0);
  const den = points.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

export async function soak(o: SoakOptions): Promise<SoakReport> {
  const report: SoakReport = { reads: 0, bytes: 0, wrong: 0, wrongSamples: [], errors: 0, errorSamples: [], rss: [], slopeMiBPerMinute: 0, peakMiB: 0, readsByPhase: {} };
  const began = performance.now();
  const end = began + o.durationMs;
  let phase = o.phases[0]!;

  const switcher = (async (): Promise<void> => {
    for (let i = 0; performance.now() < end; i++) {
      phase = o.phases[i % o.phases.length]!;
      await o.setFaults(phase.faults);
      o.log?.(`soak: ${phase.label} for ${phase.ms / 1000} s`);
      await new Promise((r) => setTimeout(r, Math.min(phase.ms, Math.max(0, end - performance.now()))));
    }
  })();
  const sampler = (async (): Promise<void> => {
    while (performance.now() < end) {
      const mib = await rssMiB(o.daemonPid);
      report.rss.push({ seconds: (performance.now() - began) / 1000, mib });
      report.peakMiB = Math.max(report.peakMiB, mib);
      await new Promise((r) => setTimeout(r, o.sampleEveryMs));
    }
  })();
  let next = 0;
  const reader = async (): Promise<void> => {
    while (performance.now() < end) {
      const f = o.files[next++ % o.files.length]!;
      const label = phase.label;
      const r = await readOnce(join(o.mountDir, f.path));
      report.reads++;
      report.readsByPhase[label] = (report.readsByPhase[label] ?? 0) + 1;
      if (!r.ok) {
        report.errors++;
        if (report.errorSamples.length < 5) report.errorSamples.push(`${f.path}: ${r.error}`);
      } else if (r.sha256 !== f.sha256) {
        report.wrong++;
        if (report.wrongSamples.length < 10) report.wrongSamples.push(`${f.path} (${f.size} bytes) during "${label}": got ${r.sha256}, want ${f.sha256}`);
      } else {
        report.bytes += f.size;
      }
    }
  };
  await Promise.all([switcher, sampler, ...Array.from({ length: o.readers }, reader)]);
  await o.setFaults({ errorRate: 0, cutRate: 0, latencyMs: 0 });
  const judged = report.rss.filter((s) => s.seconds >= (o.durationMs / 1000) * o.warmupFraction);
  report.slopeMiBPerMinute = slope(judged.map((s) => ({ x: s.seconds / 60, y: s.mib })));
  return report;
}

/** The default phases: clean, 503s with cut bodies, a storm of 503s, slow answers. */
export function soakPhases(phaseMs: number): SoakPhase[] {
  return [
    { label: "clean", ms: phaseMs, faults: { errorRate: 0, cutRate: 0, latencyMs: 0 } },
    { label: "5% 503s + 2% cut bodies", ms: phaseMs, faults: { errorRate: 0.05, cutRate: 0.02, latencyMs: 0 } },
    { label: "50% 503s", ms: phaseMs, faults: { errorRate: 0.5, cutRate: 0, latencyMs: 0 } },
    { label: "200 ms per request", ms: phaseMs, faults: { errorRate: 0, cutRate: 0, latencyMs: 200 } },
  ];
}
