// How `som get` shows progress: a redrawn bar on a terminal, a plain line
// every few seconds otherwise (logs, CI), nothing with --quiet.
import { formatSize } from "../util/size.js";

export interface Progress {
  begin(files: number, bytes: number): void;
  /** Bytes received (counted as they arrive, for throughput). */
  bytes(n: number): void;
  fileDone(): void;
  end(): void;
}

export const silentProgress: Progress = { begin() {}, bytes() {}, fileDone() {}, end() {} };

abstract class Measured implements Progress {
  protected files = 0;
  protected totalFiles = 0;
  protected received = 0;
  protected totalBytes = 0;
  protected started = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs: number, protected readonly now: () => number = () => performance.now()) {}

  begin(files: number, bytes: number): void {
    this.totalFiles = files;
    this.totalBytes = bytes;
    this.started = this.now();
    this.timer = setInterval(() => this.show(false), this.intervalMs);
    this.timer.unref();
  }

  bytes(n: number): void {
    this.received += n;
  }

  fileDone(): void {
    this.files++;
  }

  end(): void {
    if (this.timer) clearInterval(this.timer);
    this.show(true);
  }

  protected stats(): { rate: number; eta: string; pct: number } {
    const secs = Math.max(0.001, (this.now() - this.started) / 1000);
    const rate = this.received / secs;
    const left = this.totalBytes - this.received;
    const eta = rate > 0 && left > 0 ? `${Math.ceil(left / rate)} s` : "-";
    const pct = this.totalBytes > 0 ? this.received / this.totalBytes : this.totalFiles > 0 ? this.files / this.totalFiles : 1;
    return { rate, eta, pct: Math.min(1, pct) };
  }

  protected abstract show(final: boolean): void;
}

export class BarProgress extends Measured {
  constructor(private readonly write: (s: string) => void, private readonly width = 30) {
    super(100);
  }

  protected show(final: boolean): void {
    const { rate, eta, pct } = this.stats();
    const filled = Math.round(pct * this.width);
    const bar = `${"=".repeat(filled)}${filled < this.width ? ">" : ""}${" ".repeat(Math.max(0, this.width - filled - 1))}`;
    this.write(`\rProgress |${bar}| ${(pct * 100).toFixed(1)}%  ${this.files}/${this.totalFiles} files  ${formatSize(this.received)}/${formatSize(this.totalBytes)}  ${formatSize(rate)}/s  ETA ${eta}\x1b[K${final ? "\n" : ""}`);
  }
}

export class LineProgress extends Measured {
  constructor(private readonly write: (s: string) => void, intervalMs = 5_000) {
    super(intervalMs);
  }

  protected show(final: boolean): void {
    if (final) return; // the summary follows
    const { rate, eta, pct } = this.stats();
    this.write(`progress: ${(pct * 100).toFixed(0)}%, ${this.files}/${this.totalFiles} files, ${formatSize(this.received)} of ${formatSize(this.totalBytes)}, ${formatSize(rate)}/s, ETA ${eta}\n`);
  }
}
