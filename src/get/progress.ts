// How `som get` shows progress: a redrawn bar on a terminal, a plain line
// every few seconds otherwise (logs, CI), nothing with --quiet.
import { formatSize } from "../util/size.js";

export interface Progress {
  begin(files: number, bytes: number): void;
  /** Bytes received (counted as they arrive, for throughput; negative when a retry discards them). */
  bytes(n: number): void;
  /** A file found complete on disk: it leaves the totals. */
  skip(bytes: number): void;
  fileDone(): void;
  end(): void;
}

export const silentProgress: Progress = { begin() {}, bytes() {}, skip() {}, fileDone() {}, end() {} };

abstract class Measured implements Progress {
  protected files = 0;
  protected totalFiles = 0;
  protected received = 0;
  protected totalBytes = 0;
  protected started = 0;
  /** Skipped files may be found before begin() sets the totals. */
  private skippedFiles = 0;
  private skippedBytes = 0;
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

  skip(bytes: number): void {
    this.skippedFiles++;
    this.skippedBytes += bytes;
  }

  fileDone(): void {
    this.files++;
  }

  end(): void {
    if (this.timer) clearInterval(this.timer);
    this.show(true);
  }

  protected remaining(): { files: number; bytes: number } {
    return { files: this.totalFiles - this.skippedFiles, bytes: this.totalBytes - this.skippedBytes };
  }

  protected stats(): { rate: number; eta: string; pct: number } {
    // Totals exclude what was already on disk.
    const totalBytes = this.totalBytes - this.skippedBytes;
    const totalFiles = this.totalFiles - this.skippedFiles;
    const secs = Math.max(0.001, (this.now() - this.started) / 1000);
    const rate = this.received / secs;
    const left = totalBytes - this.received;
    const eta = rate > 0 && left > 0 ? `${Math.ceil(left / rate)} s` : "-";
    const pct = totalBytes > 0 ? this.received / totalBytes : totalFiles > 0 ? this.files / totalFiles : 1;
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
    this.write(`\rProgress |${bar}| ${(pct * 100).toFixed(1)}%  ${this.files}/${this.remaining().files} files  ${formatSize(this.received)}/${formatSize(this.remaining().bytes)}  ${formatSize(rate)}/s  ETA ${eta}\x1b[K${final ? "\n" : ""}`);
  }
}

export class LineProgress extends Measured {
  constructor(private readonly write: (s: string) => void, intervalMs = 5_000) {
    super(intervalMs);
  }

  protected show(final: boolean): void {
    if (final) return; // the summary follows
    const { rate, eta, pct } = this.stats();
    this.write(`progress: ${(pct * 100).toFixed(0)}%, ${this.files}/${this.remaining().files} files, ${formatSize(this.received)} of ${formatSize(this.remaining().bytes)}, ${formatSize(rate)}/s, ETA ${eta}\n`);
  }
}
