import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { BarProgress, LineProgress } from "../../src/get/progress.js";

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("som get progress", () => {
  it("redraws a bar with files, bytes, throughput and ETA on a terminal", () => {
    const out: string[] = [];
    const p = new BarProgress((s) => out.push(s), 10);
    p.begin(4, 4 * 2 ** 20);
    p.skip(2 ** 20); // one file already on disk leaves the totals
    p.bytes(2 ** 20);
    p.fileDone();
    vi.advanceTimersByTime(100);
    expect(out.at(-1)).toMatch(/^\rProgress \|===>\s+\| 33\.3%  1\/3 files  1\.0 MiB\/3\.0 MiB  .*\/s  ETA \d+ s\x1b\[K$/);
    p.bytes(2 * 2 ** 20);
    p.fileDone();
    p.fileDone();
    p.end();
    expect(out.at(-1)).toMatch(/^\rProgress \|==========\| 100\.0%  3\/3 files  3\.0 MiB\/3\.0 MiB .*ETA -\x1b\[K\n$/);
  });

  it("prints a plain line every interval when not on a terminal, and nothing at the end", () => {
    const out: string[] = [];
    const p = new LineProgress((s) => out.push(s), 5_000);
    p.begin(10, 10 * 2 ** 20);
    p.bytes(5 * 2 ** 20);
    vi.advanceTimersByTime(4_999);
    expect(out).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^progress: 50%, 0\/10 files, 5\.0 MiB of 10\.0 MiB, .*\/s, ETA \d+ s\n$/);
    p.end();
    expect(out).toHaveLength(1);
  });
});
