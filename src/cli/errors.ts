// How the CLI reports mistakes: one line on stderr, a non-zero exit, and a
// stack trace only with --debug.
import { CommanderError, type Command } from "commander";
import { printable } from "../util/printable.js";

let debug = process.argv.includes("--debug");

export function setDebug(on: boolean): void {
  debug = on;
}

/** A mistake the user can fix; its message is the whole story. */
export class UsageError extends Error {}

export function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

export function fail(err: unknown, code = 1): never {
  // Commander has already printed its one line (or the help text).
  if (err instanceof CommanderError) process.exit(err.exitCode === 1 ? 2 : err.exitCode);
  const prog = process.argv[1]?.endsWith("som-emulator") ? "som-emulator" : "som";
  process.stderr.write(`${prog}: ${printable(describe(err))}\n`);
  if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack.split("\n").map(printable).join("\n")}\n`);
  process.exit(code);
}

/** Commander's own errors (unknown option, missing argument) become one line and exit 2. */
export function installFriendlyErrors(program: Command, prog = "som"): void {
  program.exitOverride();
  program.configureOutput({
    writeErr: (s) => process.stderr.write(printable(s.replace(/^error: /, `${prog}: `).replace(/\n$/, "")) + "\n"),
  });
  program.showSuggestionAfterError(true);
}
