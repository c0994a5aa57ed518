// Benchmark results: rows of timings, ratios against a reference, and the
// markdown written to docs/BENCHMARKS.md.
import { cpus, totalmem } from "node:os";
import { median } from "./harness.js";

export type Unit = "s" | "MiB" | "requests" | "MiB/s" | "ms" | "faults";

export interface Measurement {
  scenario: string;
  tool: string;
  /** Every run, seconds (or MiB for memory rows). */
  runs: number[];
  unit: Unit;
  /** Average cores busy machine-wide during each run, when measured. */
  cores?: number[];
}

export interface Target {
  scenario: string;
  /** What the target is, in words: "som get ≤ 1.0 × the faster of gcloud and rclone". */
  text: string;
  ratio: number;
  limit: number;
  /** Met when ratio >= limit (a throughput), not <= (a time). */
  atLeast?: boolean;
}

export function value(m: Measurement): number {
  return median(m.runs);
}

export function table(ms: Measurement[]): string {
  const lines = ["| scenario | tool | median | runs | cores busy |", "| --- | --- | ---: | --- | ---: |"];
  for (const m of ms) {
    const fmt = (x: number): string => (m.unit === "s" ? `${x.toFixed(2)} s` : m.unit === "MiB/s" ? `${x.toFixed(1)} MiB/s` : `${x.toFixed(0)} ${m.unit}`);
    const cores = m.cores?.length ? median(m.cores).toFixed(1) : "";
    lines.push(`| ${m.scenario} | ${m.tool} | ${fmt(value(m))} | ${m.runs.map(fmt).join(", ")} | ${cores} |`);
  }
  return lines.join("\n");
}

export function targetsTable(ts: Target[]): string {
  const lines = ["| scenario | target | measured | met |", "| --- | --- | ---: | --- |"];
  for (const t of ts) lines.push(`| ${t.scenario} | ${t.text} | ${t.ratio.toFixed(2)} | ${(t.atLeast ? t.ratio >= t.limit : t.ratio <= t.limit) ? "yes" : "**no**"} |`);
  return lines.join("\n");
}

export function machine(): string {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model ?? "unknown CPU"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux, Node ${process.versions.node}`;
}
