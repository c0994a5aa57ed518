import { printable } from "./printable.js";

/**
 * A leveled logger writing one line per event to stderr (or a given sink).
 * Messages quote object names from buckets and paths from local users:
 * control characters are escaped here, once for every line.
 */
export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 };

export class StreamLogger implements Logger {
  constructor(
    private readonly level: LogLevel = "info",
    private readonly write: (line: string) => void = (line) => process.stderr.write(line),
    private readonly tag = "som",
  ) {}

  private emit(level: LogLevel, msg: string): void {
    if (RANK[level] < RANK[this.level]) return;
    this.write(`${new Date().toISOString()} ${this.tag} ${level}: ${printable(msg)}\n`);
  }

  debug(msg: string): void { this.emit("debug", msg); }
  info(msg: string): void { this.emit("info", msg); }
  warn(msg: string): void { this.emit("warn", msg); }
  error(msg: string): void { this.emit("error", msg); }
}

/** Collects lines in memory; for tests. */
export class MemoryLogger implements Logger {
  readonly lines: string[] = [];
  debug(msg: string): void { this.lines.push(`debug: ${printable(msg)}`); }
  info(msg: string): void { this.lines.push(`info: ${printable(msg)}`); }
  warn(msg: string): void { this.lines.push(`warn: ${printable(msg)}`); }
  error(msg: string): void { this.lines.push(`error: ${printable(msg)}`); }
}

export const silentLogger: Logger = new StreamLogger("silent");
