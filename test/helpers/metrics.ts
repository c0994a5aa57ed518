// Scraping a mount's Prometheus endpoint in tests.
import { expect } from "vitest";
import type { TestMount } from "./mount.js";

/** Prometheus text exposition: every sample, by name, with its labels. */
interface Sample { name: string; labels: Record<string, string>; value: number }

function parseMetrics(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) types.set(t[1]!, t[2]!);
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { samples, types };
}

export class Scrape {
  constructor(readonly samples: Sample[], readonly types: Map<string, string>) {}
  static async of(url: string): Promise<Scrape> {
    const r = await fetch(url);
    expect(r.status).toBe(200);
    const { samples, types } = parseMetrics(await r.text());
    return new Scrape(samples, types);
  }
  /** The sum of the samples of `name` whose labels include `labels`. */
  sum(name: string, labels: Record<string, string> = {}): number {
    return this.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
  }
  has(name: string): boolean {
    return this.samples.some((s) => s.name === name);
  }
}

export const metricsUrl = (m: TestMount): string => {
  const u = /metrics at (http:\/\/\S+\/metrics)/.exec(m.stderr)?.[1];
  if (!u) throw new Error(`no metrics URL in the log: ${m.stderr}`);
  return u;
};

