import { printable } from "./printable.js";

/**
 * A leveled logger writing one line per event to stderr (or a given sink).
 * Messages quote object names from buckets and paths from local users:
 * control characters are escaped here, once for every line.
 *
 * An event may carry fields (bucket, path, generation, status, duration...):
 * in the text format they follow the message as key=value; in the JSON
 * format (--log-format json) each is a property beside time, level and msg.
 */
export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
export const LOG_LEVELS: LogLevel[] = ["debug", "info", "warn", "error", "silent"];
export type LogFormat = "text" | "json";
const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 };

/** key=value, the value quoted when it holds a space, a quote or an equals sign. */
function textField(key: string, v: string | number | boolean): string {
  const s = printable(String(v));
  return `${key}=${/[\s"=]/.test(s) || s === "" ? JSON.stringify(s) : s}`;
}

/**
 * One JSON object per line. JSON.stringify escapes C0 controls but leaves
 * DEL, C1 and bidi controls raw; printable() escapes those as \uXXXX, which
 * is also a JSON escape: a JSON reader gets the original text back.
 */
function jsonLine(obj: Record<string, unknown>): string {
  return printable(JSON.stringify(obj));
}

/** The fields that have a value, in order. */
function present(fields: LogFields | undefined): [string, string | number | boolean][] {
  return fields ? Object.entries(fields).filter((e): e is [string, string | number | boolean] => e[1] !== undefined) : [];
}

export class StreamLogger implements Logger {
  constructor(
    private readonly level: LogLevel = "info",
    private readonly write: (line: string) => void = (line) => process.stderr.write(line),
    private readonly tag = "som",
    private readonly format: LogFormat = "text",
  ) {}

  private emit(level: LogLevel, msg: string, fields?: LogFields): void {
    if (RANK[level] < RANK[this.level]) return;
    const time = new Date().toISOString();
    const defined = present(fields);
    if (this.format === "json") {
      this.write(`${jsonLine({ time, level, msg, ...Object.fromEntries(defined) })}\n`);
      return;
    }
    const tail = defined.map(([k, v]) => ` ${textField(k, v)}`).join("");
    this.write(`${time} ${this.tag} ${level}: ${printable(msg)}${tail}\n`);
  }

  debug(msg: string, fields?: LogFields): void { this.emit("debug", msg, fields); }
  info(msg: string, fields?: LogFields): void { this.emit("info", msg, fields); }
  warn(msg: string, fields?: LogFields): void { this.emit("warn", msg, fields); }
  error(msg: string, fields?: LogFields): void { this.emit("error", msg, fields); }
}

/** Collects lines in memory; for tests. */
export class MemoryLogger implements Logger {
  readonly lines: string[] = [];
  private add(level: string, msg: string, fields?: LogFields): void {
    const tail = present(fields).map(([k, v]) => ` ${textField(k, v)}`).join("");
    this.lines.push(`${level}: ${printable(msg)}${tail}`);
  }
  debug(msg: string, fields?: LogFields): void { this.add("debug", msg, fields); }
  info(msg: string, fields?: LogFields): void { this.add("info", msg, fields); }
  warn(msg: string, fields?: LogFields): void { this.add("warn", msg, fields); }
  error(msg: string, fields?: LogFields): void { this.add("error", msg, fields); }
}

export const silentLogger: Logger = new StreamLogger("silent");
